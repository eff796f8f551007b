# The key file holds "hello", and the previous key file was never made:
# the agents would refuse both.
cluster "web" {
  key_file          = "hello.key"
  previous_key_file = "missing.key"
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
