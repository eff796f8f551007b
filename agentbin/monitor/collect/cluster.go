package collect

import (
	"slices"
	"time"

	"github.com/hactl/hactl/agentbin/monitor/metric"
	"github.com/hactl/hactl/agentbin/status"
)

// ClusterCollectors are the cluster's collectors, by the names the
// monitor block's collectors take: each reads its role's section of the
// agent's status.
var ClusterCollectors = []string{"heartbeat", "lvs", "proxy", "sync"}

// Cluster collects the cluster's figures from the agent's status. It
// remembers, between collections, where each group ran and the events it
// counted, to count failovers and events.
type Cluster struct {
	on map[string]bool
	// holder is where each group last ran alone.
	holder map[string]holding
	// failovers and duration are per group: the count of holder changes
	// and the last one's length.
	failovers map[string]uint64
	duration  map[string]float64
	lastEnd   map[string]time.Time
	// events counts the heartbeat's events by kind; counted is the time
	// of the newest one counted.
	events  map[status.EventKind]uint64
	counted time.Time
}

// NewCluster returns a collector of the given collectors
// (ClusterCollectors' names; others are ignored).
func NewCluster(collectors []string) *Cluster {
	c := &Cluster{on: map[string]bool{}, holder: map[string]holding{},
		failovers: map[string]uint64{}, duration: map[string]float64{}, lastEnd: map[string]time.Time{},
		events: map[status.EventKind]uint64{}}
	for _, n := range collectors {
		c.on[n] = true
	}
	return c
}

// holding is a node running a group, as the collections saw it: first
// and last.
type holding struct {
	node        string
	first, last time.Time
}

func lbl(name, value string) metric.Label { return metric.Label{Name: name, Value: value} }

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Collect appends the cluster's samples, from st as the agent reported it
// at now, to dst.
func (c *Cluster) Collect(dst []metric.Sample, st *status.Status, now time.Time) []metric.Sample {
	o := out{dst}
	if st == nil {
		return o.s
	}
	for _, r := range st.Roles {
		o.add("hactl_role_up", "1 while the agent's role runs its part of the spec.", metric.Gauge, bool01(r.State == status.RoleRunning), lbl("role", r.Name))
	}
	o.add("hactl_agent_healthy", "1 when the agent runs its spec and every role of it without error.", metric.Gauge, bool01(st.Healthy))
	if hb := st.Heartbeat; hb != nil && c.on["heartbeat"] {
		c.heartbeat(&o, hb, now)
	}
	if lv := st.LVS; lv != nil && c.on["lvs"] {
		lvs(&o, lv)
	}
	if c.on["proxy"] {
		proxies(&o, st.Proxies)
	}
	if c.on["sync"] {
		syncs(&o, st.Syncs)
	}
	return o.s
}

func (c *Cluster) heartbeat(o *out, hb *status.Heartbeat, now time.Time) {
	o.add("hactl_heartbeat_quorate", "1 while this node sees a quorum of members.", metric.Gauge, bool01(hb.Quorate))
	members := make([]string, 0, len(hb.Members))
	for _, m := range hb.Members {
		members = append(members, m.Name)
		o.add("hactl_member_alive", "1 while the member is heard on some link.", metric.Gauge, bool01(m.Alive), lbl("member", m.Name))
		o.add("hactl_member_standby", "1 while the member is in standby.", metric.Gauge, bool01(m.Standby), lbl("member", m.Name))
		for _, l := range m.Links {
			ls := []metric.Label{lbl("member", m.Name), lbl("link", l.Name)}
			o.add("hactl_heartbeat_link_up", "1 while the heartbeat link to the member works.", metric.Gauge, bool01(l.Up), ls...)
			o.add("hactl_heartbeat_link_rtt_seconds", "Heartbeat round-trip time to the member on the link.", metric.Gauge, l.RTTMS/1000, ls...)
			o.add("hactl_heartbeat_link_loss_ratio", "Share of the member's heartbeats lost on the link (0 to 1).", metric.Gauge, l.LossPct/100, ls...)
		}
	}
	o.add("hactl_heartbeat_accepted_packets_total", "Heartbeats accepted.", metric.Counter, float64(hb.Accepted))
	for _, reason := range sortedKeys(hb.Dropped) {
		o.add("hactl_heartbeat_dropped_packets_total", "Heartbeat datagrams dropped, by reason.", metric.Counter, float64(hb.Dropped[reason]), lbl("reason", reason))
	}
	o.add("hactl_split_brains_total", "Groups found running twice after a partition and released here.", metric.Counter, float64(hb.SplitBrains))
	c.countEvents(hb.Events)
	for _, k := range status.EventKinds {
		if n, ok := c.events[k.Kind]; ok {
			o.add("hactl_events_total", "Cluster events this node saw, by kind.", metric.Counter, float64(n), lbl("kind", string(k.Kind)))
		}
	}
	o.add("hactl_membership_changes_total", "Members found dead or alive again.", metric.Counter, float64(c.events[status.NodeDead]+c.events[status.NodeAlive]))
	for _, g := range hb.Groups {
		c.track(g, hb.Events, now)
		o.add("hactl_group_running", "Nodes the group runs on (1 normally, 0 while it moves).", metric.Gauge, float64(len(g.RunningOn)), lbl("group", g.Name))
		for _, m := range members {
			o.add("hactl_group_holder", "1 on the node that runs the group.", metric.Gauge, bool01(slices.Contains(g.RunningOn, m)), lbl("group", g.Name), lbl("node", m))
		}
		o.add("hactl_failovers_total", "Times the group moved to another node, as this node saw it.", metric.Counter, float64(c.failovers[g.Name]), lbl("group", g.Name))
		if d, ok := c.duration[g.Name]; ok {
			o.add("hactl_failover_duration_seconds", "Length of the group's last move, as this node saw it: from the event that began it (the old holder found dead; the group stopped, failed or moved) to its start on the new holder.", metric.Gauge, d, lbl("group", g.Name))
		}
	}
}

// countEvents counts the events newer than the newest counted: the
// heartbeat keeps the latest ones only, oldest first.
func (c *Cluster) countEvents(events []status.Event) {
	newest := c.counted
	for _, ev := range events {
		if ev.Time.After(c.counted) {
			c.events[ev.Kind]++
			if ev.Time.After(newest) {
				newest = ev.Time
			}
		}
	}
	c.counted = newest
}

// track follows where a group runs. A change of the node that runs it
// alone is a failover (or a failback, or an operator's move). Its length
// runs from the earliest event that began it as this node saw it (the old
// holder found dead; the group stopped, failed, unable to serve or moved)
// to the group's start on the new holder (its group_started event when
// this node is the new holder, else when this collector first saw it
// there). Without such an event it runs from the last collection that saw
// the old holder run it.
func (c *Cluster) track(g status.Group, events []status.Event, now time.Time) {
	if len(g.RunningOn) != 1 {
		return
	}
	to := g.RunningOn[0]
	h, known := c.holder[g.Name]
	switch {
	case !known:
		c.holder[g.Name] = holding{node: to, first: now, last: now}
		return
	case h.node == to:
		h.last = now
		c.holder[g.Name] = h
		return
	}
	end := now
	for _, ev := range events {
		if ev.Kind == status.GroupStarted && ev.Group == g.Name && ev.Node == to && ev.Time.After(h.last) {
			end = ev.Time
		}
	}
	after := h.first
	if prev := c.lastEnd[g.Name]; prev.After(after) {
		after = prev
	}
	start, found := h.last, false
	for _, ev := range events {
		if !ev.Time.After(after) || ev.Time.After(end) {
			continue
		}
		began := ev.Kind == status.NodeDead && ev.Node == h.node
		switch ev.Kind {
		case status.GroupStopped, status.GroupFailed, status.Move, status.CannotServe:
			began = ev.Group == g.Name
		}
		if began && (!found || ev.Time.Before(start)) {
			start, found = ev.Time, true
		}
	}
	c.failovers[g.Name]++
	c.duration[g.Name] = max(end.Sub(start).Seconds(), 0)
	c.lastEnd[g.Name] = end
	c.holder[g.Name] = holding{node: to, first: now, last: now}
}

func lvs(o *out, lv *status.LVS) {
	for _, vs := range lv.Services {
		o.add("hactl_lvs_service_live", "1 while this node forwards the virtual service.", metric.Gauge, bool01(vs.Live), lbl("service", vs.Name))
		for _, rs := range vs.RealServers {
			ls := []metric.Label{lbl("service", vs.Name), lbl("server", rs.Name)}
			o.add("hactl_lvs_real_server_up", "1 while the real server passes its health checks.", metric.Gauge, bool01(rs.Health == "up"), ls...)
			o.add("hactl_lvs_real_server_weight", "The real server's weight in the datapath (0 while quiescent, -1 when removed).", metric.Gauge, float64(rs.Effective), ls...)
			o.add("hactl_lvs_real_server_health_changes_total", "The real server's health changes.", metric.Counter, float64(rs.Transitions), ls...)
			// -1: the datapath does not keep the counter.
			if rs.ActiveConns >= 0 {
				o.add("hactl_lvs_real_server_active_connections", "Connections open to the real server.", metric.Gauge, float64(rs.ActiveConns), ls...)
			}
			if rs.Conns >= 0 {
				o.add("hactl_lvs_real_server_connections_total", "Connections forwarded to the real server.", metric.Counter, float64(rs.Conns), ls...)
			}
			if rs.Bytes >= 0 {
				o.add("hactl_lvs_real_server_bytes_total", "Bytes forwarded to and from the real server.", metric.Counter, float64(rs.Bytes), ls...)
			}
			if rs.CheckLatencyMS > 0 {
				o.add("hactl_lvs_real_server_check_latency_seconds", "How long the real server's last health check took.", metric.Gauge, rs.CheckLatencyMS/1000, ls...)
			}
		}
	}
}

func proxies(o *out, ps []status.Proxy) {
	for _, p := range ps {
		o.add("hactl_proxy_serving", "1 while the proxy listens on this node.", metric.Gauge, bool01(p.Serving), lbl("proxy", p.Name))
		o.add("hactl_proxy_requests_total", "Requests the proxy relayed to a backend.", metric.Counter, float64(p.Requests), lbl("proxy", p.Name))
		for _, s := range p.Services {
			for _, b := range s.Backends {
				ls := []metric.Label{lbl("proxy", p.Name), lbl("service", s.Name), lbl("backend", b.Name)}
				o.add("hactl_proxy_backend_up", "1 while the backend passes its health checks.", metric.Gauge, bool01(b.State == "up"), ls...)
				o.add("hactl_proxy_backend_requests_total", "Requests sent to the backend.", metric.Counter, float64(b.Requests), ls...)
				o.add("hactl_proxy_backend_errors_total", "Requests to the backend that failed (no answer, or 5xx).", metric.Counter, float64(b.Errors), ls...)
				o.add("hactl_proxy_backend_active_requests", "Requests to the backend in flight.", metric.Gauge, float64(b.Active), ls...)
				o.add("hactl_proxy_backend_latency_seconds", "Mean latency of the backend's answers.", metric.Gauge, b.MeanLatencyMS/1000, ls...)
				if b.CheckLatencyMS > 0 {
					o.add("hactl_proxy_backend_check_latency_seconds", "How long the backend's last health check took.", metric.Gauge, b.CheckLatencyMS/1000, ls...)
				}
			}
		}
	}
}

func syncs(o *out, ss []status.Sync) {
	for _, s := range ss {
		for _, t := range s.Targets {
			ls := []metric.Label{lbl("sync", s.Name), lbl("target", t.Node)}
			o.add("hactl_sync_in_sync", "1 while the target has every change of the source.", metric.Gauge, bool01(t.State == "in_sync"), ls...)
			o.add("hactl_sync_lag_seconds", "Age of the oldest change not yet on the target.", metric.Gauge, float64(t.LagMS)/1000, ls...)
			if t.Pending >= 0 {
				o.add("hactl_sync_pending_changes", "Changed paths not yet on the target.", metric.Gauge, float64(t.Pending), ls...)
			}
			o.add("hactl_sync_runs_total", "Sync runs to the target.", metric.Counter, float64(t.Runs), ls...)
			o.add("hactl_sync_failures_total", "Sync runs to the target that failed.", metric.Counter, float64(t.Failures), ls...)
			o.add("hactl_sync_sent_bytes_total", "Bytes sent to the target.", metric.Counter, float64(t.BytesSent), ls...)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
