# Three members heartbeating on two networks, unicast on both (the
# default), fenced by the lab's power switch: losing one network is a
# warning, never a death.
cluster "trio" {
  key_file = "cluster.key"
}

network "lan" {
  cidr = "192.168.0.0/24"
}

network "hb" {
  cidr = "192.168.1.0/24"
}

node "n1" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.11"
  }
  interface "eth1" {
    network = network.hb
    address = "192.168.1.11"
  }
  fence "lab" {}
}

node "n2" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.12"
  }
  interface "eth1" {
    network = network.hb
    address = "192.168.1.12"
  }
  fence "lab" {}
}

node "n3" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.13"
  }
  interface "eth1" {
    network = network.hb
    address = "192.168.1.13"
  }
  fence "lab" {}
}

# The default interval; warntime and deadtime longer than the defaults
# (see TestThreeNodesLosingOneOfTwoLinksOnlyWarns).
heartbeat {
  interval = "20ms"
  warntime = "500ms"
  deadtime = "1s"
  initdead = "3s"
  link "lan" {
    network = network.lan
  }
  link "hb" {
    network = network.hb
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
