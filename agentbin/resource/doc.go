// Package resource runs the members of a resource group on this node:
// virtual IPs (netlink, with gratuitous ARP / unsolicited neighbour
// advertisements), systemd services, LSB init scripts and OCF resource
// agents. The heartbeat role builds each with New, starts a group's
// resources in order, stops them in reverse, and monitors each at its
// interval; placement, restarts and failover are its business, not this
// package's.
//
// # Virtual IPs
//
// Start adds the address (no label; IPv6 without duplicate address
// detection, so that it is usable at once: the cluster, not DAD, makes sure
// only one node holds it) and announces it: for IPv4 a gratuitous ARP
// request and reply, as `arping -U` and `arping -A` send them; for IPv6 an
// unsolicited neighbour advertisement with the override flag to ff02::1.
// The first announcement goes at once, the others garp_count-1 times 100 ms
// apart, then every garp_refresh_ms until Stop, for switches and hosts
// with long ARP caches. Monitor checks that the address is on the
// interface; Stop ends the announcements and removes it.
//
// The kernel-facing part (netlink and the ARP/NDP sockets) sits behind the
// small kernel interface, so that the sequencing is tested with a recording
// fake; the real thing is tested in network namespaces the tests create.
//
// # Programs: systemd units, LSB scripts, OCF agents
//
// They are one type driven by three tables: the command line of an action,
// the exit statuses that mean "running" or "stopped", and that is all. Every
// action runs with exec.CommandContext within monitor_timeout_ms (default
// DefaultTimeout) in its own process group, which is killed whole on
// timeout. Its output is kept in unlinked temporary files, not pipes, so
// that a daemon started by an init script cannot hold the action open; the
// output's end goes into the error of a failed action, which names the
// resource and says what to do.
//
// OCF agents get OCF_ROOT, OCF_RA_VERSION_MAJOR/MINOR, OCF_RESOURCE_INSTANCE
// (the resource's name), OCF_RESOURCE_TYPE, OCF_RESOURCE_PROVIDER,
// OCF_RESKEY_<param> for every parameter, and OCF_RESKEY_CRM_meta_timeout
// and OCF_RESKEY_CRM_meta_interval in milliseconds, as Pacemaker passes
// them, so that the agents of Debian's resource-agents package run
// unchanged. Their validate-all action runs through the Validator interface.
//
// # The record of started resources
//
// Record is the agent's list, on disk, of what it started and has not
// stopped: the heartbeat role keeps groups running across agent restarts,
// so it is the record, not memory, that lets a later agent release a
// resource that left the spec (Record.Release).
package resource
