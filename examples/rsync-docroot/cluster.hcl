# The guide's chapter 5.1 (rsync over SSH) applied to chapter 4's real
# servers: f400 is where content is edited, and dgx is kept identical to it,
# so both real servers behind the LVS director answer with the same pages
# and the same FTP files.

cluster "realservers" {
  # Required by every cluster; these nodes exchange no heartbeats, but the
  # key is still installed for when they join a group. Not committed.
  key_file = "cluster.key"

  ssh {
    user             = "root"
    known_hosts_file = "known_hosts"
    identity_file    = "~/.ssh/id_ed25519"
  }
}

network "inside" {
  cidr = "192.168.0.0/24"
}

node "f400" {
  interface "eth0" {
    network = network.inside
    address = "192.168.0.3"
  }
}

node "dgx" {
  interface "eth0" {
    network = network.inside
    address = "192.168.0.27"
  }
}

# rsync -az --delete --exclude '*.tmp' --exclude '*~' --exclude '.git/' \
#   --bwlimit=10240 -e ssh /var/www/html/ root@192.168.0.27:/var/www/html/
# run by hand or by cron after every edit.
sync "docroot" {
  source {
    node = node.f400
    path = "/var/www/html/"
  }
  target {
    node = node.dgx
    path = "/var/www/html/"
  }

  delete   = true
  excludes = ["*.tmp", "*~", ".git/"]
  trigger  = "change"
  interval = "5m"
  bwlimit  = "10M"
}

# rsync -az --checksum -e ssh /var/ftp/pub/ root@192.168.0.27:/var/ftp/pub/
# from cron every 15 minutes; uploads are never deleted on the target.
sync "ftp" {
  source {
    node = node.f400
    path = "/var/ftp/pub/"
  }
  target {
    node = node.dgx
    path = "/var/ftp/pub/"
  }

  delete   = false
  excludes = [".in.*"]
  trigger  = "interval"
  interval = "15m"
  bwlimit  = "2M"
  checksum = true
}
