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
}

node "f400" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.3"
  }
}

# f400 has no address on the management network.
monitor {
  network = network.hb
}
