cluster "web" {
key_file="cluster.key"
    ssh {
  user = "root"
  port=22
}
}
