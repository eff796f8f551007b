variable "vip" {
  default = "192.168.0.33"
}

locals {
  heartbeat = "10.0.0.0/24"
}

cluster "web" {
  key_file = "cluster.key"
}

network "lan" {
  cidr = "192.168.0.0/24"
}

network "hb" {
  cidr = local.hearbeat
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
    address = var.vpi
  }
  service "apache2" {}
}
