# The three-node cluster of issue #9's first hour, written from
# docs/language.md alone: two networks, two groups with one VIP each,
# every node fenced by the lab's power switch, failback on for web and off
# for db, and a notify command on every event.
cluster "first-hour" {
  key_file = "cluster.key"
}

network "lan" {
  cidr = "192.168.0.0/24"
}

network "hb" {
  cidr = "192.168.1.0/24"
}

node "a" {
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

node "b" {
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

node "c" {
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

heartbeat {
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

# a preferred, then b, then c; back to a when it returns.
group "web" {
  nodes    = [node.a, node.b, node.c]
  failback = true
  vip "www" {
    address = "192.168.0.100/24"
  }
}

# b preferred, then c, then a; stays where it went.
group "db" {
  failback = false
  location {
    node  = node.b
    score = 300
  }
  location {
    node  = node.c
    score = 200
  }
  location {
    node  = node.a
    score = 100
  }
  vip "dbip" {
    address = "192.168.0.110/24"
  }
}

notify "journal" {
  command = "/usr/local/bin/record-event"
}
