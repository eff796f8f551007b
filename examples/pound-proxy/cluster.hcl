# The guide's chapter 2.1 system, Pound: an HTTP/HTTPS front end that hides
# the web servers f400 and dgx behind it. The proxy runs on whichever of h2g
# and c2g holds the front VIP, so the front end itself fails over.

cluster "front" {
  # Authenticates the heartbeats of h2g and c2g; not committed (README.md).
  key_file = "cluster.key"

  ssh {
    user             = "root"
    known_hosts_file = "known_hosts"
  }
}

variable "domain" {
  type        = string
  default     = "example.com"
  description = "The site's domain: www.<domain> is served, everything else is redirected there."
}

locals {
  www = "www.${var.domain}"
}

network "outside" {
  cidr = "192.168.3.0/24"
}

network "inside" {
  cidr = "192.168.0.0/24"
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

  fence "lab" {}
}

# The hidden web servers: no route leads to them from outside.

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

heartbeat {
  link "inside" {
    network = network.inside
  }
  link "outside" {
    network = network.outside
  }
}

group "front" {
  nodes = [node.h2g, node.c2g]

  vip "front" {
    address   = "192.168.3.181/24"
    interface = "eth1"
  }
}

proxy "pound" {
  vip = vip.front

  # pound.cfg: xHTTP 0 (GET, POST, HEAD), Client, TimeOut. A listener may
  # set its own (methods = ["webdav"]), as Pound's xHTTP is per listener.
  allowed_methods  = ["standard"]
  max_request_body = "10M"
  client_timeout   = "10s"
  backend_timeout  = "15s"

  # ListenHTTP  Address 192.168.3.181  Port 80
  listener "http" {
    protocol = "http"
    port     = 80
  }

  # ListenHTTPS Address 192.168.3.181  Port 443  Cert "/etc/pound/www.pem"
  # The files are read from this directory and uploaded by apply (the key
  # with mode 0600); they are not committed. See README.md.
  listener "https" {
    protocol  = "https"
    port      = 443
    cert_file = "tls/www.pem"
    key_file  = "tls/www.key"
  }

  # Service  HeadRequire "Host: example.com"  Redirect "http://www.example.com"
  service "bare-domain" {
    host = format("^%s$", replace(var.domain, ".", "\\."))

    backend "to-www" {
      kind         = "redirect"
      redirect_url = "https://${local.www}"
    }
  }

  # Service  URL "^/images/"  BackEnd f400  BackEnd dgx
  service "images" {
    path = "^/images/"

    health_check {
      type     = "http"
      path     = "/images/"
      interval = "10s"
      timeout  = "3s"
    }

    backend "f400" {
      node = node.f400
      port = 80
    }
    backend "dgx" {
      node = node.dgx
      port = 80
    }
  }

  # Service  URL "^/app/"  Session Type COOKIE ID "JSESSIONID" TTL 300 End
  service "app" {
    path = "^/app/"

    session {
      type = "cookie"
      name = "JSESSIONID"
      ttl  = "5m"
    }

    health_check {
      type     = "http"
      path     = "/app/health"
      interval = "10s"
      timeout  = "3s"
    }

    backend "f400" {
      node   = node.f400
      port   = 8080
      weight = 5
    }
    backend "dgx" {
      node   = node.dgx
      port   = 8080
      weight = 5
    }
  }

  # Everything else, with Pound's Emergency back end: a maintenance page
  # served on the front node itself, used only when f400 and dgx are dead
  # (instead of "503 Service Unavailable").
  service "default" {
    session {
      type = "ip"
      ttl  = "5m"
    }

    health_check {
      type     = "http"
      path     = "/"
      interval = "10s"
      timeout  = "3s"
    }

    backend "f400" {
      node = node.f400
    }
    backend "dgx" {
      node = node.dgx
    }
    backend "maintenance" {
      kind    = "emergency"
      address = "127.0.0.1"
      port    = 8081
    }
  }
}
