// Package lab turns a cluster topology into real hosts on one Linux machine,
// with namespaces, so that hactl plans and applies over real SSH exactly as
// against real machines, and failover can be tested by cutting links,
// partitioning networks, killing or freezing nodes. A link is cut as each
// of its ends sees a real fault: a pulled cable (Cut: the node loses
// carrier, its peers hear silence) or a dead switch port (CutPort: carrier
// stays up at both ends, and both hear silence).
//
// A lab is made of:
//
//   - a "switch" network namespace holding one bridge per network of the
//     topology (multicast snooping off: it floods like a plain switch);
//   - one network namespace per node, with one veth per network the node is
//     on, named as the file says (eth0, eth1…) and carrying the node's
//     address; the other end of each veth is a port of the network's bridge;
//   - a "ctl" namespace on every network, at the highest free host address,
//     from which the operator runs hactl, and a "client" namespace on the
//     networks that carry VIPs or real servers, from which traffic is sent.
//
// Nothing is linked to the root namespace: the lab cannot reach the outside
// world, and the outside world cannot reach the lab.
//
// Every node runs an init process (this package's code, re-executed from the
// running binary, see the init function) in its own PID, mount, UTS and IPC
// namespaces, joined to the node's network namespace. Init makes the node's
// files private: overlays over /etc, /usr/local and /var whose upper layers
// are the node's "disk" in the lab's state directory, fresh directories for
// /root and /home, and tmpfs on /run, /tmp and /dev/shm. It sets the hostname,
// writes the node's sshd configuration, host key and authorized_keys, then
// starts a real OpenSSH sshd and, on real servers and proxy backends, a web
// server answering with the node's name (nginx when installed, else a small
// built-in HTTP server). Because the disk lives outside the node, killing a
// node and restarting it behaves like a power cycle: /etc and /var survive,
// /run and /tmp do not.
//
// Every process whose network namespace is a node's belongs to that node:
// Kill, Freeze and Thaw signal exactly those processes and nothing else.
//
// The lab has a power switch (a "PDU"): a daemon in ctl, this package's
// code re-executed like init, started by Up and killed by Down, that serves
// the agent's fence.LabPDUHandler on port PDUPort with a random token.
// Every node's /etc/hactl-lab/pdu (mode 0600) holds ctl's address on the
// first of the lab's networks the node is on, and the token, so that the
// node's agent fences its peers with the "lab" fence type. Powering a node
// off (PowerOff, or the switch's off and reboot) takes its links down at
// the switch, so its addresses, a VIP it held among them, vanish from the
// networks, and kills its processes; it stays off until PowerOn or Restart
// boots it (a reboot does that a second later). Every boot after the first
// starts with the network state a power cycle loses: addresses other than
// the lab's and nftables rules are removed from the node. The switch logs
// who asked to power whom off, and when, to pdu.log in the lab's state
// directory, and Status shows its last lines.
//
// All state is in one directory, /run/hactl-lab/<name>/: the state file
// (written before anything is created, so that Down can undo a crashed Up),
// keys, known_hosts, ssh_config, the nodes' disks and console logs, the
// power switch's token and log. Network
// namespaces are named "hl<id>-<role>" with a random id per lab, so a
// leftover of a crashed run never collides with a new lab. Down works from
// that state alone: it kills the processes of every namespace, removes the
// namespaces and the directory, and is idempotent.
//
// Links, addresses and qdiscs are managed over netlink
// (vishvananda/netlink). Three things are done with programs instead:
// entering a node (nsenter: Go cannot safely join a PID namespace and a
// mount namespace in a multi-threaded process before exec, and nsenter is
// the standard, robust tool for it), the partition and loss filters (nft in
// the switch namespace: a bridge-family table is one short script), and the
// services themselves (sshd, nginx). Packet loss uses netem when the kernel
// has sch_netem and falls back to an nftables "numgen random" filter in the
// switch otherwise; Loss says which one it used.
package lab
