# A representative configuration for TestDecodedModel: the decoded
# topology's typed fields are asserted one by one.

cluster "lvs" {
  key_file = "cluster.key"

  ssh {
    user             = "admin"
    port             = 2222
    known_hosts_file = "known_hosts"
    become           = true
  }
}

network "outside" {
  cidr = "192.168.3.7/24" # host bits are dropped
}

network "inside" {
  cidr = "192.168.0.0/24"
}

network "v6" {
  cidr = "2001:db8::/64"
}

node "h2g" {
  interface "eth0" {
    network = network.inside
    address = "192.168.0.18"
  }
  interface "eth1" {
    network = network.outside
    address = "192.168.3.18"
  }
  interface "eth2" {
    network = network.v6
    address = "2001:db8::18"
  }
  fence "lab" {}
}

node "c2g" {
  address = "c2g.example.net"
  interface "eth0" {
    network = network.inside
    address = "192.168.0.17"
  }
  interface "eth1" {
    network = network.outside
    address = "192.168.3.17"
  }
  interface "eth2" {
    network = network.v6
    address = "2001:db8::17"
  }
  ssh {
    user = "root"
    port = 22
  }
  fence "lab" {}
}

node "f400" {
  interface "eth0" {
    network = network.inside
    address = "192.168.0.3"
  }
}

heartbeat {
  interval = "200ms"
  deadtime = "1s"

  link "inside" {
    network = network.inside
  }
  link "outside" {
    network = network.outside
    mode    = "multicast"
    group   = "239.0.0.94"
  }
}

group "directors" {
  # Written lowest score first: the model sorts them.
  location {
    node  = node.c2g
    score = 100
  }
  location {
    node  = node.h2g
    score = 200
  }

  vip "outside" {
    address = "192.168.3.181"
  }
  vip "v6" {
    address = "2001:db8::181/64"
  }
  service "apache2" {}
  lsb "mon" {}
  ocf "ip" {
    type   = "IPaddr2"
    params = { ip = "192.168.0.181" }
  }
}

group "web" {
  nodes = [node.h2g, node.c2g]
  service "nginx" {
    unit = "nginx-custom.service"
  }
}

virtual_service "http" {
  vip  = vip.outside
  port = 80

  real_server "f400" {
    node = node.f400
  }
  real_server "outside" {
    address = "192.168.0.99"
    port    = 8080
    weight  = 3
  }
}
