package collect

import (
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/status"
)

func member(name string, alive bool) status.Member {
	return status.Member{Name: name, Alive: alive, Links: []status.Link{{Name: "lan", Up: alive, LossPct: 2.5, RTTMS: 0.4}}}
}

func TestClusterCountsFailoversWithTheirLength(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	hb := func(running []string, alive bool, events ...status.Event) *status.Status {
		return &status.Status{Healthy: true, Roles: []status.Role{{Name: "heartbeat", State: status.RoleRunning}},
			Heartbeat: &status.Heartbeat{Quorate: true, Accepted: 10,
				Members: []status.Member{{Name: "c2g", Self: true, Alive: true}, member("h2g", alive)},
				Groups:  []status.Group{{Name: "web", RunningOn: running}}, Events: events}}
	}
	dead := status.Event{Time: at(12), Kind: status.NodeDead, Node: "h2g"}
	started := status.Event{Time: at(13.5), Kind: status.GroupStarted, Node: "c2g", Group: "web"}
	back := status.Event{Time: at(40), Kind: status.NodeAlive, Node: "h2g"}
	steps := []struct {
		at        float64
		st        *status.Status
		failovers float64
		duration  float64 // -1: none yet
		holder    string
	}{
		{0, hb([]string{"h2g"}, true), 0, -1, "h2g"},
		{10, hb([]string{"h2g"}, true), 0, -1, "h2g"},
		{20, hb([]string{}, false, dead), 0, -1, ""},
		{30, hb([]string{"c2g"}, false, dead, started), 1, 1.5, "c2g"},
		{40, hb([]string{"c2g"}, false, dead, started), 1, 1.5, "c2g"},
		// Failback without events this node saw: from the last
		// collection on c2g to the first on h2g.
		{50, hb([]string{"h2g"}, true, dead, started, back), 2, 10, "h2g"},
	}
	c := NewCluster(ClusterCollectors)
	for _, s := range steps {
		m := bySeries(c.Collect(nil, s.st, at(s.at)))
		if got := m[`hactl_failovers_total{group="web"}`].Value; got != s.failovers {
			t.Errorf("at %vs: failovers %v, want %v", s.at, got, s.failovers)
		}
		d, ok := m[`hactl_failover_duration_seconds{group="web"}`]
		if s.duration < 0 && ok || s.duration >= 0 && (!ok || d.Value != s.duration) {
			t.Errorf("at %vs: duration %v (given %v), want %v", s.at, d.Value, ok, s.duration)
		}
		for _, node := range []string{"c2g", "h2g"} {
			want := 0.0
			if node == s.holder {
				want = 1
			}
			if got := m[`hactl_group_holder{group="web",node="`+node+`"}`].Value; got != want {
				t.Errorf("at %vs: holder %s = %v, want %v", s.at, node, got, want)
			}
		}
	}
	m := bySeries(c.Collect(nil, steps[len(steps)-1].st, at(60)))
	for series, want := range map[string]float64{
		`hactl_events_total{kind="node_dead"}`:                      1,
		`hactl_events_total{kind="group_started"}`:                  1,
		`hactl_events_total{kind="node_alive"}`:                     1,
		`hactl_membership_changes_total`:                            2,
		`hactl_member_alive{member="h2g"}`:                          1,
		`hactl_heartbeat_link_rtt_seconds{link="lan",member="h2g"}`: 0.0004,
		`hactl_heartbeat_link_loss_ratio{link="lan",member="h2g"}`:  0.025,
		`hactl_heartbeat_quorate`:                                   1,
		`hactl_role_up{role="heartbeat"}`:                           1,
		`hactl_agent_healthy`:                                       1,
	} {
		if got, ok := m[series]; !ok || got.Value != want {
			t.Errorf("%s = %v (given %v), want %v", series, got.Value, ok, want)
		}
	}
}

func TestClusterRolesSections(t *testing.T) {
	st := &status.Status{
		LVS: &status.LVS{Services: []status.VirtualService{{Name: "http", Live: true, RealServers: []status.RealServer{
			{Name: "f400", Health: "up", Effective: 1, ActiveConns: 3, Conns: 100, Bytes: -1, Transitions: 2, CheckLatencyMS: 1.5},
			{Name: "dgx", Health: "down", Effective: 0, ActiveConns: -1, Conns: -1, Bytes: -1},
		}}}},
		Proxies: []status.Proxy{{Name: "www", Serving: true, Requests: 50, Services: []status.ProxyService{{Name: "app", Backends: []status.ProxyBackend{
			{Name: "a", State: "up", Requests: 40, Errors: 2, Active: 1, MeanLatencyMS: 12, CheckLatencyMS: 3},
		}}}}},
		Syncs: []status.Sync{{Name: "docroot", Targets: []status.SyncTarget{{Node: "dgx", State: "pending", Pending: 3, LagMS: 1500, Runs: 7, Failures: 1, BytesSent: 4096}}}},
	}
	for _, c := range []struct {
		collectors []string
		want       map[string]float64
		absent     []string
	}{
		{[]string{"lvs"}, map[string]float64{
			`hactl_lvs_service_live{service="http"}`:                                    1,
			`hactl_lvs_real_server_up{server="f400",service="http"}`:                    1,
			`hactl_lvs_real_server_up{server="dgx",service="http"}`:                     0,
			`hactl_lvs_real_server_active_connections{server="f400",service="http"}`:    3,
			`hactl_lvs_real_server_connections_total{server="f400",service="http"}`:     100,
			`hactl_lvs_real_server_health_changes_total{server="f400",service="http"}`:  2,
			`hactl_lvs_real_server_check_latency_seconds{server="f400",service="http"}`: 0.0015,
		}, []string{`hactl_lvs_real_server_bytes_total{server="f400",service="http"}`, `hactl_proxy_requests_total{proxy="www"}`,
			`hactl_lvs_real_server_check_latency_seconds{server="dgx",service="http"}`}},
		{[]string{"proxy"}, map[string]float64{
			`hactl_proxy_requests_total{proxy="www"}`:                                          50,
			`hactl_proxy_backend_requests_total{backend="a",proxy="www",service="app"}`:        40,
			`hactl_proxy_backend_errors_total{backend="a",proxy="www",service="app"}`:          2,
			`hactl_proxy_backend_latency_seconds{backend="a",proxy="www",service="app"}`:       0.012,
			`hactl_proxy_backend_up{backend="a",proxy="www",service="app"}`:                    1,
			`hactl_proxy_backend_check_latency_seconds{backend="a",proxy="www",service="app"}`: 0.003,
		}, []string{`hactl_lvs_service_live{service="http"}`}},
		{[]string{"sync"}, map[string]float64{
			`hactl_sync_lag_seconds{sync="docroot",target="dgx"}`:      1.5,
			`hactl_sync_pending_changes{sync="docroot",target="dgx"}`:  3,
			`hactl_sync_failures_total{sync="docroot",target="dgx"}`:   1,
			`hactl_sync_in_sync{sync="docroot",target="dgx"}`:          0,
			`hactl_sync_sent_bytes_total{sync="docroot",target="dgx"}`: 4096,
		}, nil},
	} {
		m := bySeries(NewCluster(c.collectors).Collect(nil, st, time.Now()))
		for series, want := range c.want {
			if got, ok := m[series]; !ok || got.Value != want {
				t.Errorf("%v: %s = %v (given %v), want %v", c.collectors, series, got.Value, ok, want)
			}
		}
		for _, series := range c.absent {
			if _, ok := m[series]; ok {
				t.Errorf("%v: %s given", c.collectors, series)
			}
		}
	}
}
