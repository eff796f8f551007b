variable "site" {
  type    = string
  default = "192.168.0.0/16"
}

locals {
  vip = cidrhost(local.lan, 33)
  lan = cidrsubnet(var.site, 8, 0)
  name = format("%s-%d", "web", 1)
  tags = join(",", ["a", "b"])
  rack = lookup({ h2g = "r1" }, "h2g", "none")
}
cluster "web" {
  key_file = "cluster.key"
}

network "lan" {
  cidr = local.lan
}

network "hb" {
  cidr = "10.0.0.0/24"
}

node "h2g" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.31"
  }
  interface "eth1" {
    network = network.hb
    address = "10.0.0.1"
  }
  fence "lab" {}
}

node "c2g" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.32"
  }
  interface "eth1" {
    network = network.hb
    address = "10.0.0.2"
  }
  fence "lab" {}
}

heartbeat {
  link "lan" {
    network = network.lan
  }
  link "direct" {
    network = network.hb
  }
}

group "web" {
  nodes = [node.h2g, node.c2g]

  vip "www" {
    address = local.vip
  }
  service "apache2" {}
}
