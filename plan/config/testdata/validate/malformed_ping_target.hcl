cluster "web" {
  key_file = "cluster.key"
}

network "lan" {
  cidr = "192.168.0.0/24"
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
  nodes        = [node.h2g, node.c2g]
  ping_targets = ["192.168.0.1", "192.168.0", "192.168.0.1/24"]

  vip "www" {
    address = "192.168.0.33"
  }
  service "apache2" {}
}
