# The guide's chapter 6.1 (Net-SNMP + MRTG / RRDtool / Cacti): h2g is the
# SNMP manager that draws graphs, c2g runs snmpd. With hactl every node's
# agent collects its own CPU, load, memory, disk and interface traffic and
# the cluster's state, keeps their history, and serves them to Prometheus on
# its lan address; `hactl dashboard` draws the graphs. SNMP is kept for what
# cannot run an agent: the network devices.
#
# The nodes are those of the guide: the h2g/c2g web pair of chapter 1 and
# the real servers f400 and dgx of chapter 4.

cluster "web" {
  # Replaces /etc/ha.d/authkeys; not committed (see README.md).
  key_file = "cluster.key"

  ssh {
    user             = "root"
    known_hosts_file = "known_hosts"
  }
}

network "lan" {
  cidr = "192.168.0.0/24"
}

network "hb" {
  cidr = "192.168.1.0/24"
}

node "h2g" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.18"
  }
  interface "eth1" {
    network = network.hb
    address = "192.168.1.18"
  }

  # For `hactl lab`; use ipmi, redfish, ssh or command on real machines.
  fence "lab" {}
}

node "c2g" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.17"
  }
  interface "eth1" {
    network = network.hb
    address = "192.168.1.17"
  }

  fence "lab" {}
}

node "f400" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.3"
  }
}

node "dgx" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.27"
  }
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

  vip "www" {
    address = "192.168.0.33/24"
  }
  service "apache2" {}
}

monitor {
  # Every node is monitored; h2g comes first because the first monitored
  # node polls the SNMP devices (the guide's SNMP manager).
  nodes = [node.h2g, node.c2g, node.f400, node.dgx]

  # mrtg.cfg's Target[] lines, for every node at once, plus the cluster's
  # own state (heartbeat links and latencies, failovers).
  collectors = ["cpu", "load", "memory", "disk", "filesystem", "network", "processes", "heartbeat"]

  # MRTG polls every 5 minutes (cron */5) and keeps about two years of
  # averaged data; 10 seconds shows a failover. The history's archives
  # are RRD's: a day, a week, a month and two years, always.
  interval = "10s"

  # /metrics for Prometheus (MRTG's WorkDir served by httpd), on each
  # node's lan address, port 9694: the management network, not every
  # address the node has.
  network = network.lan

  # MRTG's MaxBytes / ThreshMaxI: tell the operator (notify below) when a
  # node stays loaded, or its lan traffic stays near the link's capacity.
  threshold "load" {
    metric = "node_load1"
    above  = 4
    for    = "5m"
  }
  threshold "lan_in" {
    metric = "node_network_receive_bytes_total{device=\"eth0\"}"
    above  = 1e8 # bytes per second: 80% of a gigabit
    for    = "2m"
  }

  # An SNMPv2c switch (snmpd.conf: rocommunity / mrtg.cfg: community@host).
  # The community is read from a file, never written here. The address is
  # illustrative: the guide names no device.
  snmp_device "switch" {
    address        = "192.168.0.254"
    version        = "2c"
    community_file = "secrets/snmp-community"
    interfaces     = ["GigabitEthernet0/1", "GigabitEthernet0/2"]
    oids = [
      "1.3.6.1.2.1.1.3.0", # sysUpTime
    ]
    interval = "30s"
  }

  # An SNMPv3 router with authentication and encryption (snmpd.conf:
  # createUser / rouser ... priv). Also an illustrative address.
  snmp_device "router" {
    address    = "192.168.0.1"
    version    = "3"
    interfaces = ["eth0", "eth1"]
    oids = [
      "1.3.6.1.4.1.2021.10.1.3.1", # UCD-SNMP laLoad.1 (1-minute load)
      "1.3.6.1.4.1.2021.4.6.0",    # UCD-SNMP memAvailReal
    ]

    v3 {
      user               = "mrtg"
      security_level     = "authPriv"
      auth_protocol      = "SHA256"
      auth_password_file = "secrets/snmp-auth"
      priv_protocol      = "AES"
      priv_password_file = "secrets/snmp-priv"
    }
  }
}

# What mon / Heartbeat's MailTo resource did: tell the operator.
notify "admin" {
  command = "/usr/local/bin/mail-admin root@example.com"
  events  = ["node_dead", "node_alive", "link_down", "group_started", "group_failed", "split_brain", "fence_failed", "threshold_exceeded", "threshold_cleared"]
  timeout = "30s"
}
