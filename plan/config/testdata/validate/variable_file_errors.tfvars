vip   = "192.168.0.35"
garps = "lots"
vpi   = "192.168.0.36"
