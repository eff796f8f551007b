# The guide's chapter 1.2 cluster grown to three members: Heartbeat v2
# (with its CRM) runs more than two nodes, and with three a partition has
# a majority. h2g and c2g serve the web VIP 192.168.0.33 as in the
# two-node example; dgx joins them and prefers the second group, ftp,
# on 192.168.0.34. Heartbeats go over the application network and a
# second one, every node can be fenced, and a side without a majority
# stops its groups (Pacemaker's no-quorum-policy=stop).

cluster "trio" {
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

network "lan" {
  cidr = local.lan
}

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

  # "lab" fencing powers the node off through the power switch of
  # `hactl lab`, where this example is demonstrated and drilled. On real
  # hardware use ipmi, redfish, ssh or command instead.
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

node "dgx" {
  interface "eth0" {
    network = network.lan
    address = cidrhost(local.lan, 27)
  }
  interface "eth1" {
    network = network.hb
    address = cidrhost(local.heartbeat, 27)
  }

  fence "lab" {}
}

# ha.cf: keepalive / warntime / deadtime / initdead, bcast eth0, ucast eth1
# (hactl's LAN defaults: 20ms / 60ms / 100ms / 5s).
heartbeat {
  link "lan" {
    network = network.lan
    mode    = "broadcast"
  }
  link "direct" {
    network = network.hb
    mode    = "unicast"
  }
}

# cib.xml: no-quorum-policy=stop.
quorum {
  policy = "stop"
}

# h2g first, then c2g, then dgx; back to h2g when it returns.
group "web" {
  nodes    = [node.h2g, node.c2g, node.dgx]
  failback = true

  vip "www" {
    address   = "192.168.0.33/24"
    interface = "eth0"
  }

  service "apache2" {
    monitor_interval = "10s"
    on_fail          = "restart"
    max_restarts     = 3
  }
}

# dgx first, then c2g; stays where it went (default-resource-stickiness).
group "ftp" {
  failback = false

  location {
    node  = node.dgx
    score = 200
  }
  location {
    node  = node.c2g
    score = 100
  }

  vip "ftp" {
    address   = "192.168.0.34/24"
    interface = "eth0"
  }

  service "vsftpd" {
    monitor_interval = "10s"
  }
}
