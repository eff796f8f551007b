# Virtual IPs no node could hold: a node's own address, the network's
# broadcast and network addresses, and a prefix wider than the network.
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
  nodes = [node.h2g, node.c2g]

  vip "own" {
    address = "192.168.0.32"
  }
  vip "broadcast" {
    address = "192.168.0.255"
  }
  vip "network" {
    address = "192.168.0.0"
  }
  vip "wide" {
    address = "192.168.0.34/16"
  }
  vip "www" {
    address = "192.168.0.33/24"
  }
  service "apache2" {}
}
