# The guide's chapter 4.2 scenario (ipvsadm + Heartbeat + mon): an LVS-NAT
# director pair, h2g and c2g, in front of two real servers, f400 and dgx,
# that serve http and ftp.
#
#   client 192.168.3.12 ── outside 192.168.3.0/24 ── VIP 192.168.3.181 (eth1)
#                                 h2g .18 / c2g .17
#   f400 .3, dgx .27 ───── inside 192.168.0.0/24 ─── VIP 192.168.0.181 (eth0)
#                                 (the real servers' default gateway)

cluster "lvs" {
  # Replaces /etc/ha.d/authkeys; not committed (see README.md).
  key_file = "cluster.key"

  ssh {
    user             = "root"
    known_hosts_file = "known_hosts"
  }
}

network "outside" {
  cidr = "192.168.3.0/24"
}

network "inside" {
  cidr = "192.168.0.0/24"
}

# The directors (the guide's "LVS routers").

node "h2g" {
  interface "eth0" {
    network = network.inside
    address = "192.168.0.18"
  }
  interface "eth1" {
    network = network.outside
    address = "192.168.3.18"
  }
  labels = { role = "director" }

  # For `hactl lab`; use ipmi, redfish, ssh or command on real machines.
  fence "lab" {}
}

node "c2g" {
  interface "eth0" {
    network = network.inside
    address = "192.168.0.17"
  }
  interface "eth1" {
    network = network.outside
    address = "192.168.3.17"
  }
  labels = { role = "director" }

  fence "lab" {}
}

# The real servers. Their default gateway must be 192.168.0.181 (vip.inside),
# as in the guide: LVS-NAT rewrites the replies on their way back.

node "f400" {
  interface "eth0" {
    network = network.inside
    address = "192.168.0.3"
  }
  labels = { role = "real-server" }
}

node "dgx" {
  interface "eth0" {
    network = network.inside
    address = "192.168.0.27"
  }
  labels = { role = "real-server" }
}

# ha.cf: heartbeats on both of the directors' networks.
heartbeat {
  interval = "200ms"
  deadtime = "1s"
  warntime = "600ms"
  initdead = "10s"

  link "inside" {
    network = network.inside
  }
  link "outside" {
    network = network.outside
  }
}

# cib_tmp2.xml (list 4.2): ip_group with ip_resource1 (192.168.3.181 on eth1)
# and ip_resource2 (192.168.0.181 on eth0), h2g score 200, c2g score 100.
group "directors" {
  failback = true

  location {
    node  = node.h2g
    score = 200
  }
  location {
    node  = node.c2g
    score = 100
  }

  vip "outside" {
    address   = "192.168.3.181/24"
    interface = "eth1"
  }
  vip "inside" {
    address   = "192.168.0.181/24"
    interface = "eth0"
  }
}

# ipvsadm -A -t 192.168.3.181:80 -s rr
# ipvsadm -a -t 192.168.3.181:80 -r 192.168.0.3:80 -m
# ipvsadm -a -t 192.168.3.181:80 -r 192.168.0.27:80 -m
# plus mon's http monitor on both real servers.
virtual_service "http" {
  vip        = vip.outside
  protocol   = "tcp"
  port       = 80
  scheduler  = "rr"
  forwarding = "nat"

  health_check {
    type          = "http"
    path          = "/index.html"
    expect_status = [200]
    interval      = "2s"
    timeout       = "1s"
    rise          = 2
    fall          = 3
  }

  real_server "f400" {
    node = node.f400
  }
  real_server "dgx" {
    node = node.dgx
  }
}

# ipvsadm -A -t 192.168.3.181:21 -s rr
# ipvsadm -a -t 192.168.3.181:21 -r 192.168.0.3:21 -m
# ipvsadm -a -t 192.168.3.181:21 -r 192.168.0.27:21 -m
# plus mon's ftp monitor.
virtual_service "ftp" {
  vip        = vip.outside
  protocol   = "tcp"
  port       = 21
  scheduler  = "rr"
  forwarding = "nat"

  # A client's control and data connections must reach the same server.
  persistence {
    timeout = "300s"
  }

  health_check {
    type     = "tcp"
    interval = "5s"
    timeout  = "2s"
  }

  real_server "f400" {
    node = node.f400
  }
  real_server "dgx" {
    node = node.dgx
  }
}
