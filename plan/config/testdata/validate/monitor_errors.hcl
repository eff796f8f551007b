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

monitor {
  network = network.hb
  listen  = "192.168.0.31"

  basic_auth {
    user = "prom:etheus"
  }

  threshold "load" {
    metric = "node load1"
    above  = 4
  }
  threshold "nothing" {
    metric = "node_load1"
  }
  threshold "band" {
    metric = "node_memory_MemAvailable_bytes"
    above  = 1e6
    below  = 2e6
  }
  threshold "rate" {
    metric = "node_network_receive_bytes_total{device=eth0}"
    above  = 1.5e7
    for    = "1m"
  }
}
