// Package collect gathers the monitor's samples: the node's own figures
// from /proc and /sys (CPU, load, memory and swap, disk I/O, filesystems,
// network interfaces, processes), under node_exporter's names where the
// meaning is the same, and the cluster's from the agent's status
// (heartbeat links, membership, failovers, group holders, real servers,
// proxy backends, syncs), under hactl_ names.
//
// Collecting runs once per monitor interval on one goroutine: each file is
// read once into a buffer the collector keeps, and parsed in place, so
// that the agent costs no more CPU than node_exporter. Counters are given
// as the kernel or the role counts them (a Prometheus server handles their
// resets); Rates turns them into per-second rates for thresholds and
// hactl status, where a reset or a wrap gives no value rather than a spike.
package collect
