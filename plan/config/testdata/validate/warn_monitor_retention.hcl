cluster "web" {
  key_file = "cluster.key"
}

network "lan" {
  cidr = "192.168.0.0/24"
}

node "h2g" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.31"
  }
}

# retention once said how long history was kept; the archives are fixed
# now, and it only draws a warning.
monitor {
  interval  = "10s"
  retention = "400d"
}
