# The guide's chapter 1.2 scenario: two web servers, h2g and c2g, share the
# virtual IP 192.168.0.33 and apache. The application network is
# 192.168.0.0/24; Heartbeat also runs over a second NIC on 192.168.1.0/24.
# h2g is preferred (score 200), c2g takes over (score 100), and the group
# moves back when h2g returns (failback).

cluster "web" {
  # Replaces /etc/ha.d/authkeys. The file is not committed: make it with
  #   head -c 32 /dev/urandom | base64 > cluster.key
  key_file = "cluster.key"

  ssh {
    user             = "root"
    known_hosts_file = "known_hosts"
  }
}

locals {
  lan       = "192.168.0.0/24"
  heartbeat = "192.168.1.0/24"
}

# The application network (the guide's 192.168.0).
network "lan" {
  cidr = local.lan
}

# The network used only for heartbeats (the guide's 192.168.1).
network "hb" {
  cidr = local.heartbeat
}

node "h2g" {
  interface "eth0" {
    network = network.lan
    address = cidrhost(local.lan, 18)
  }
  interface "eth1" {
    network = network.hb
    address = cidrhost(local.heartbeat, 18)
  }

  # "lab" fencing kills the node's processes inside `hactl lab`, where this
  # example is demonstrated. On real hardware use ipmi, redfish, ssh or
  # command instead (see README.md).
  fence "lab" {}
}

node "c2g" {
  interface "eth0" {
    network = network.lan
    address = cidrhost(local.lan, 17)
  }
  interface "eth1" {
    network = network.hb
    address = cidrhost(local.heartbeat, 17)
  }

  fence "lab" {}
}

# ha.cf: keepalive / warntime / deadtime / initdead / udpport / bcast.
# The guide's keepalive 1 / warntime 5 / deadtime 10 / initdead 60 would be
# interval = "1s", warntime = "5s", deadtime = "10s", initdead = "60s";
# hactl's LAN defaults (20ms / 60ms / 100ms / 5s) move the group in about
# a tenth of a second (bench/failover).
heartbeat {
  port = 694

  link "lan" {
    network = network.lan
    mode    = "broadcast"
  }
  link "direct" {
    network = network.hb
    mode    = "unicast"
  }
}

# cib.xml: the group, its two rsc_location constraints (h2g 200, c2g 100)
# and auto_failback on.
group "web" {
  failback = true

  location {
    node  = node.h2g
    score = 200
  }
  location {
    node  = node.c2g
    score = 100
  }

  # The IPaddr resource.
  vip "www" {
    address   = "192.168.0.33/24"
    interface = "eth0"
  }

  # The apache resource (Debian's apache2.service; httpd on CentOS).
  service "apache2" {
    monitor_interval = "10s"
    on_fail          = "restart"
    max_restarts     = 3
  }
}
