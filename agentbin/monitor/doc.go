// Package monitor is the agent's monitor role: every interval it collects
// the node's and the cluster's figures (package collect), serves the
// latest at /metrics in the Prometheus text format on the spec's listen
// address (a management address; optional basic auth and TLS), checks the
// spec's thresholds and emits threshold events that notify commands can
// subscribe to, and reports a summary (load, memory, traffic) in the
// agent's status for hactl status.
//
// The exposition is encoded once per collection and kept: a scrape writes
// bytes, it does not collect. That keeps a scrape cheap and its CPU cost
// independent of how often Prometheus comes.
package monitor
