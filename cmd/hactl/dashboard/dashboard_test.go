package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/monitor/api"
	"github.com/hactl/hactl/agentbin/monitor/history"
	"github.com/hactl/hactl/agentbin/monitor/metric"
	"github.com/hactl/hactl/agentbin/status"
	"github.com/hactl/hactl/plan/topology"
)

// dashTopology is two nodes running group web with one VIP, both
// monitored, and an SNMP switch.
func dashTopology() *topology.Topology {
	n1 := &topology.Node{Name: "n1", Address: "10.0.0.1"}
	n2 := &topology.Node{Name: "n2", Address: "10.0.0.2"}
	web := &topology.Group{Name: "web", Locations: []topology.Location{{Node: n1, Score: 100}, {Node: n2, Score: 50}}}
	web.Resources = []*topology.Resource{{Kind: topology.ResourceVIP, Name: "www", VIP: &topology.VIP{Name: "www", Address: netip.MustParsePrefix("10.0.0.100/24")}}}
	return &topology.Topology{
		Cluster: topology.Cluster{Name: "lab"},
		Nodes:   []*topology.Node{n1, n2},
		Groups:  []*topology.Group{web},
		Monitor: &topology.Monitor{Devices: []*topology.SNMPDevice{{Name: "switch", Address: "10.0.0.254"}}},
	}
}

// member is a heartbeat section as node self reports it.
func member(self string, alive map[string]bool, linkUp map[string]bool, holders ...string) *status.Status {
	hb := &status.Heartbeat{Quorate: true, Groups: []status.Group{{Name: "web", RunningOn: holders}}}
	for _, name := range []string{"n1", "n2"} {
		m := status.Member{Name: name, Self: name == self, Alive: alive[name]}
		if name != self {
			for link, up := range linkUp {
				m.Links = append(m.Links, status.Link{Name: link, Up: up, LossPct: map[bool]float64{true: 0, false: 100}[up], RTTMS: 0.5})
			}
		}
		hb.Members = append(hb.Members, m)
	}
	return &status.Status{AgentVersion: "v1", Healthy: true, Heartbeat: hb}
}

func TestDashboardViewOfTheCluster(t *testing.T) {
	both := map[string]bool{"n1": true, "n2": true}
	for _, tc := range []struct {
		name      string
		reads     map[string]nodeRead
		states    string // node=state ...
		holds     string // n1's groups
		group     string // web's state and holders
		links     string
		pollingN1 []string
	}{
		{
			name:   "both up, n1 holds web",
			reads:  map[string]nodeRead{"n1": {Status: member("n1", both, map[string]bool{"lan": true}, "n1")}, "n2": {Status: member("n2", both, map[string]bool{"lan": true}, "n1")}},
			states: "n1=up n2=up", holds: "web", group: "running n1", links: "n1-n2 lan up",
		},
		{
			name: "n1 cannot be read and n2 sees it dead: down, n2 holds web",
			reads: map[string]nodeRead{
				"n1": {Err: errors.New("dial: connection refused")},
				"n2": {Status: member("n2", map[string]bool{"n2": true}, map[string]bool{"lan": false, "wan": false}, "n2")},
			},
			states: "n1=down n2=up", holds: "", group: "running n2", links: "n1-n2 lan down,n1-n2 wan down",
		},
		{
			name: "n1 cannot be read, nobody reports on it: unreachable",
			reads: map[string]nodeRead{
				"n1": {Err: errors.New("permission denied")},
				"n2": {Status: &status.Status{Healthy: true}},
			},
			states: "n1=unreachable n2=up", group: "stopped ", links: "",
		},
		{
			name: "partition: each runs web",
			reads: map[string]nodeRead{
				"n1": {Status: member("n1", map[string]bool{"n1": true}, map[string]bool{"lan": false}, "n1")},
				"n2": {Status: member("n2", map[string]bool{"n2": true}, map[string]bool{"lan": true}, "n2")},
			},
			// A link is as good as its worse end says.
			states: "n1=up n2=up", holds: "web", group: "split n1,n2", links: "n1-n2 lan down",
		},
		{
			name: "standby and unhealthy are said as such",
			reads: map[string]nodeRead{
				"n1": {Status: func() *status.Status { s := member("n1", both, nil, "n2"); s.Heartbeat.Standby = true; return s }()},
				"n2": {Status: func() *status.Status { s := member("n2", both, nil, "n2"); s.Healthy = false; return s }()},
			},
			states: "n1=standby n2=unhealthy", group: "running n2",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := buildView(dashTopology(), tc.reads, time.Unix(1000, 0))
			var states, links []string
			for _, n := range v.Nodes {
				states = append(states, n.Name+"="+n.State)
			}
			for _, l := range v.Links {
				links = append(links, fmt.Sprintf("%s-%s %s %s", l.From, l.To, l.Link, map[bool]string{true: "up", false: "down"}[l.Up]))
			}
			if got := strings.Join(states, " "); got != tc.states {
				t.Errorf("states %q, want %q", got, tc.states)
			}
			if got := strings.Join(v.Nodes[0].Holds, ","); got != tc.holds {
				t.Errorf("n1 holds %q, want %q", got, tc.holds)
			}
			if got := v.Groups[0].State + " " + strings.Join(v.Groups[0].Holders, ","); got != tc.group {
				t.Errorf("group %q, want %q", got, tc.group)
			}
			if got := strings.Join(links, ","); got != tc.links {
				t.Errorf("links %q, want %q", got, tc.links)
			}
			if v.Groups[0].VIPs[0] != "10.0.0.100/24" || v.Devices[0].PolledBy != "n1" || v.Nodes[0].Polls[0] != "switch" {
				t.Errorf("VIPs, devices: %+v %+v %+v", v.Groups[0], v.Devices, v.Nodes[0])
			}
		})
	}
}

func TestDashboardSeesAFailoverAndAnUnreachableNode(t *testing.T) {
	both := map[string]bool{"n1": true, "n2": true}
	before := buildView(dashTopology(), map[string]nodeRead{"n1": {Status: member("n1", both, nil, "n1")}, "n2": {Status: member("n2", both, nil, "n1")}}, time.Unix(1000, 0))
	after := buildView(dashTopology(), map[string]nodeRead{"n1": {Err: errors.New("timed out")}, "n2": {Status: member("n2", map[string]bool{"n2": true}, nil, "n2")}}, time.Unix(1005, 0))
	var got []string
	for _, e := range changes(before, after) {
		got = append(got, e.Kind+": "+e.Node+": "+e.Detail)
	}
	want := []string{"unreachable: n1: timed out", "holder_changed: n2: group web held by n2 (was n1)"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if evs := changes(after, after); len(evs) != 0 {
		t.Errorf("no change gave events %v", evs)
	}
}

func TestTimelineKeepsEachEventOnceNewestFirstAndBounded(t *testing.T) {
	var tl timeline
	at := func(s int64) time.Time { return time.Unix(s, 0) }
	dead := status.Event{Time: at(10), Kind: status.NodeDead, Node: "n1"}
	reads := map[string]nodeRead{
		"n2": {Status: &status.Status{Heartbeat: &status.Heartbeat{Events: []status.Event{dead, {Time: at(11), Kind: status.GroupStarted, Group: "web"}}}}},
		"n3": {Status: &status.Status{Heartbeat: &status.Heartbeat{Events: []status.Event{dead}}}},
	}
	tl.add(agentEvents(reads)...)
	tl.add(agentEvents(reads)...)
	got := tl.newestFirst()
	if len(got) != 2 || got[0].Kind != "group_started" || got[1].Kind != "node_dead" || got[1].Source != "n2" {
		t.Errorf("timeline %+v", got)
	}
	for i := range maxEvents + 10 {
		tl.add(dashEvent{Time: at(int64(100 + i)), Kind: "x"})
	}
	if n := len(tl.newestFirst()); n != maxEvents {
		t.Errorf("%d events kept, want %d", n, maxEvents)
	}
	tl.add(agentEvents(reads)...) // long dropped: not kept again
	if got := tl.newestFirst(); got[len(got)-1].Kind != "x" {
		t.Errorf("an old event came back: %+v", got[len(got)-1])
	}
}

// apiNode is a node's monitor API on a real Unix socket.
type apiNode struct {
	st *status.Status
}

func (a apiNode) Series() []string { return []string{"node_load1"} }
func (a apiNode) Fetch(_ string, span history.Span, now time.Time) ([]history.Point, error) {
	return []history.Point{{Unix: now.Unix() - int64(span+1), Avg: 1, Max: 2}}, nil
}
func (a apiNode) Latest() []metric.Sample         { return nil }
func (a apiNode) Status() (*status.Status, error) { return a.st, nil }

func TestDashboardServesThePageAndTheNodesAPIsToTheTokenOnly(t *testing.T) {
	both := map[string]bool{"n1": true, "n2": true}
	dir := t.TempDir()
	ln, err := api.Listen(filepath.Join(dir, "n1.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api.Handler(apiNode{member("n1", both, map[string]bool{"lan": true}, "n1")})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	dial := func(ctx context.Context, node string) (net.Conn, error) {
		// n2 has no socket: its monitor role is not running.
		return (&net.Dialer{}).DialContext(ctx, "unix", filepath.Join(dir, node+".sock"))
	}
	var log bytes.Buffer
	d := New(dashTopology(), dial, time.Second, &log)
	web, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Serve(ctx, web) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + web.Addr().String()

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	get := func(path string, host string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if host != "" {
			req.Host = host
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	for _, tc := range []struct{ path, host string }{{"/", ""}, {"/api/cluster", ""}, {"/?token=0123", ""}, {"/static/dashboard.js", ""}} {
		if code, _ := get(tc.path, tc.host); code != http.StatusForbidden {
			t.Errorf("%s without the token: %d, want 403", tc.path, code)
		}
	}
	code, body := get(strings.TrimPrefix(d.URL(web.Addr()), base), "")
	if code != 200 || !strings.Contains(body, "<title>hactl dashboard</title>") {
		t.Fatalf("page with the token: %d %.200s", code, body)
	}
	if code, _ := get("/", "evil.example:80"); code != http.StatusMisdirectedRequest {
		t.Errorf("another host name: %d, want 421", code)
	}
	if code, body := get("/static/uPlot.iife.min.js", ""); code != 200 || !strings.Contains(body, "uPlot") {
		t.Errorf("chart library: %d", code)
	}

	// The first poll runs at once.
	var v dashView
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body = get("/api/cluster", "")
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		if v.Nodes[0].Reachable || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v.Nodes[0].State != "up" || strings.Join(v.Nodes[0].Holds, ",") != "web" || v.Nodes[1].Reachable || !strings.Contains(v.Nodes[1].Error, "n2.sock") {
		t.Errorf("cluster view: %+v", v.Nodes)
	}
	if !strings.Contains(log.String(), "n2: ") {
		t.Errorf("n2's error is not logged: %q", log.String())
	}

	for _, tc := range []struct {
		path string
		code int
		says string
	}{
		{"/api/node/n1/series", 200, `"node_load1"`},
		{"/api/node/n1/history?series=node_load1&span=week", 200, `"span":"week"`},
		{"/api/node/n1/history?series=node_load1&span=decade", 400, "decade"},
		{"/api/node/n1/history?series=nope", 404, "no series"},
		{"/api/node/n1/status", 404, "no monitored node"},
		{"/api/node/nx/series", 404, "no monitored node"},
		{"/api/node/n2/series", 502, "n2.sock"},
	} {
		if code, body := get(tc.path, ""); code != tc.code || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %d %s, want %d saying %q", tc.path, code, body, tc.code, tc.says)
		}
	}
}

// TestDashboardPageLoadsNothingFromElsewhere keeps the page offline: no
// script, style, font or image from another origin.
func TestDashboardPageLoadsNothingFromElsewhere(t *testing.T) {
	remoteRef := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import|fetch\(\s*["'](https?:)?//`)
	err := fs.WalkDir(assets, ".", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := assets.ReadFile(path)
		if err != nil {
			return err
		}
		if m := remoteRef.Find(data); m != nil {
			t.Errorf("%s refers to another origin: %q", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := assets.ReadFile("assets/uPlot.LICENSE"); err != nil {
		t.Errorf("the chart library's licence is not kept: %v", err)
	}
}

// A node that stops answering keeps its last read only briefly: it must
// not go on showing as holding a group that has moved.
func TestDashboardTakesAQuietNodesLastReadForNoAnswer(t *testing.T) {
	var log bytes.Buffer
	d := New(dashTopology(), func(context.Context, string) (net.Conn, error) { return nil, errors.New("unused") }, time.Second, &log)
	now := time.Unix(1000, 0)
	both := map[string]bool{"n1": true, "n2": true}
	d.reads["n1"] = nodeRead{Status: member("n1", both, nil, "n1"), At: now.Add(-500 * time.Millisecond)}
	d.reads["n2"] = nodeRead{Status: member("n2", both, nil, "n1"), At: now}
	d.update(now)
	if g := d.view.Groups[0]; g.State != "running" || g.Holders[0] != "n1" {
		t.Fatalf("fresh reads: %+v", g)
	}
	later := now.Add(5 * time.Second)
	d.reads["n2"] = nodeRead{Status: member("n2", map[string]bool{"n2": true}, nil, "n2"), At: later}
	d.update(later)
	if g, n1 := d.view.Groups[0], d.view.Nodes[0]; g.State != "running" || g.Holders[0] != "n2" || n1.Reachable || n1.State != "down" || !strings.Contains(n1.Error, "no answer over SSH for more than 3s") {
		t.Errorf("n1 quiet for 6s: group %+v, n1 %+v", g, n1)
	}
	if !strings.Contains(log.String(), "n1: no answer over SSH") {
		t.Errorf("log: %q", log.String())
	}
	var kinds []string
	for _, e := range d.view.Events {
		kinds = append(kinds, e.Kind)
	}
	if !slices.Contains(kinds, eventHolder) || !slices.Contains(kinds, eventUnreachable) {
		t.Errorf("events %v lack the failover or n1 unreachable", kinds)
	}
}
