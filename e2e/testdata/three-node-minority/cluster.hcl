# Three members: a partition without a majority stops its groups.
cluster "trio" {
  key_file = "cluster.key"
}

network "lan" {
  cidr = "192.168.0.0/24"
}

node "n1" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.11"
  }
}

node "n2" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.12"
  }
}

node "n3" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.13"
  }
}

heartbeat {
  interval = "50ms"
  warntime = "150ms"
  deadtime = "300ms"
  initdead = "3s"
  link "lan" {
    network = network.lan
  }
}

quorum {
  policy = "stop"
}

group "web" {
  nodes = [node.n1, node.n2, node.n3]
  vip "www" {
    address = "192.168.0.33/24"
  }
  ocf "apache" {
    type             = "Dummy"
    monitor_interval = "1s"
  }
}
