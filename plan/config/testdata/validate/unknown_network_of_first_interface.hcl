cluster "web" {
  key_file = "cluster.key"
}

network "lan" {
  cidr = "192.168.0.0/24"
}

node "h2g" {
  interface "eth0" {
    network = network.lna
    address = "192.168.0.31"
  }
}

node "c2g" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.32"
  }
}
