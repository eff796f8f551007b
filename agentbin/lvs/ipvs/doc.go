// Package ipvs is the lvs role's IPVS datapath: it programs the kernel's
// IP Virtual Server over generic netlink (github.com/cloudflare/ipvs:
// maintained, pure Go, with tunnel destinations and 64-bit counters; the
// sync-daemon commands it lacks are sent here with mdlayher/genetlink, the
// netlink library it is built on).
//
// Sync is incremental: it reads the kernel's services, computes the
// operations that turn them into the desired ones (diff, a pure function
// unit-tested through a recording fake of the kernel), and sends only
// those. A weight change is an edit of the destination in place, so no
// connection is dropped; a service is never flushed or rebuilt. IPVS
// objects carry no name, so the datapath remembers which services it made
// (a small file in the agent's state directory): it removes those that
// leave the spec and never touches a service someone else made.
//
// Firewall-mark services are IPVS's own (ipvsadm -f); the packets they take
// are marked, when the spec says which, by rules in an nftables table of
// hactl's (hactl_ipvs_mark, through package nft's Marker), as operators do
// with iptables -t mangle.
//
// IPVS has no transaction across several netlink commands; "atomic per
// service" is approached by the order of operations: a service's new and
// changed real servers are written before the obsolete ones are removed,
// so the service never goes through an empty or half-weighted state that
// would refuse a connection.
//
// The connection-sync daemon (ConnSyncer) runs the kernel's master daemon
// on the director holding the VIP and the backup daemon on the others —
// from the start, on the interface the spec names, so that a standby that
// never held the VIP has the connections when the first failover comes.
package ipvs
