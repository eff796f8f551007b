#!/bin/sh
# LVS-NAT table of the directors (chapter 4.2)
ipvsadm -C
ipvsadm -A -t 192.168.3.181:80 -s rr
ipvsadm -a -t 192.168.3.181:80 -r 192.168.0.3:80 -m
ipvsadm -a -t 192.168.3.181:80 -r 192.168.0.27:80 -m
ipvsadm -A -t 192.168.3.181:21 -s rr
ipvsadm -a -t 192.168.3.181:21 -r 192.168.0.3:21 -m
ipvsadm -a -t 192.168.3.181:21 -r 192.168.0.27:21 -m
