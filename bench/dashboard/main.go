// Command dashboard measures how fast hactl dashboard's page paints for a
// 16-node cluster with a year of history, in Debian's headless Chromium.
//
// Each of the 16 nodes is the monitor's API (agentbin/monitor/api) on a
// Unix socket, over a real history store (agentbin/monitor/history) of
// 24 series holding a year: one node's store is filled through Record, a
// collection a minute for a year (every archive full), and copied to the
// others (their values do not matter here, their files' sizes and reads
// do). Each node reports a heartbeat
// status with the 16 members on two links, 8 groups with a VIP each, and
// events. The dashboard server (cmd/hactl/dashboard) reads them as hactl
// dashboard does, through a dial function (here the socket itself, where
// the command uses the SSH connection: this bench measures the page, not
// SSH).
//
// Once the server has its first view, Chromium loads the page several
// times, each time in a fresh tab with nothing cached, and reads the
// page's performance timing: first contentful paint, the cluster drawn
// (the page's mark hactl-cluster: the map, the tables and the timeline
// filled from the server's view), and, after scrolling to the graphs, the
// first graph drawn from the day's history (hactl-graph, measured from the
// scroll). Goal: the cluster drawn in under a second. It prints the
// medians, the history files' total size and their growth after one more
// collection (none: the archives are round-robin), and ends with one line
// "result: key=value …".
//
// Run as root from the repository root: go run ./bench/dashboard. It
// installs chromium (Debian package) when missing.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hactl/hactl/agentbin/monitor/api"
	"github.com/hactl/hactl/agentbin/monitor/history"
	"github.com/hactl/hactl/agentbin/monitor/metric"
	"github.com/hactl/hactl/agentbin/status"
	"github.com/hactl/hactl/bench/internal/benchenv"
	"github.com/hactl/hactl/cmd/hactl/dashboard"
	"github.com/hactl/hactl/cmd/hactl/dashboard/browsertest"
	"github.com/hactl/hactl/plan/topology"
)

const (
	nodes  = 16
	groups = 8
	rounds = 7
	goalMS = 1000
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/dashboard:", err)
		os.Exit(1)
	}
}

// node is one node's monitor API source: its history and its status.
type node struct {
	*history.Store
	st *status.Status
}

func (n node) Latest() []metric.Sample         { return nil }
func (n node) Status() (*status.Status, error) { return n.st, nil }

func run() error {
	if err := benchenv.Install("chromium"); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "hactl-bench-dashboard-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	now := time.Now()
	template := filepath.Join(dir, "template")
	began := time.Now()
	if err := fillYear(template, now); err != nil {
		return err
	}
	fmt.Printf("a year of %d series written through history.Store in %s\n", len(samples(0)), time.Since(began).Round(time.Millisecond))

	topo := cluster()
	stores := make([]*history.Store, nodes)
	servers := make([]*http.Server, nodes)
	for i, n := range topo.Nodes {
		nd := filepath.Join(dir, n.Name)
		if err := copyDir(template, nd); err != nil {
			return err
		}
		if stores[i], err = history.Open(filepath.Join(nd, "history"), time.Minute); err != nil {
			return err
		}
		ln, err := api.Listen(filepath.Join(nd, "monitor.sock"))
		if err != nil {
			return err
		}
		servers[i] = &http.Server{Handler: api.Handler(node{stores[i], memberStatus(topo, n.Name, now)}), ReadHeaderTimeout: 5 * time.Second}
		go servers[i].Serve(ln)
	}
	defer func() {
		for i := range servers {
			servers[i].Close()
			stores[i].Close()
		}
	}()
	for _, span := range []history.Span{history.Day, history.Week, history.Month, history.Year} {
		known, total, err := knownPoints(stores[0], span, now)
		if err != nil {
			return err
		}
		fmt.Printf("%s: %d of %d points known\n", span, known, total)
	}
	before, err := totalSize(stores)
	if err != nil {
		return err
	}

	dial := func(ctx context.Context, name string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", filepath.Join(dir, name, "monitor.sock"))
	}
	srv := dashboard.New(topo, dial, 5*time.Second, os.Stderr)
	web, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx, web)
	if err := waitView(srv.URL(web.Addr()), web.Addr().String()); err != nil {
		return err
	}

	fcp, clusterMS, graphMS, err := measure(srv.URL(web.Addr()), dir)
	if err != nil {
		return err
	}

	// One more collection on every node: round-robin files do not grow.
	for _, s := range stores {
		if err := s.Record(time.Now(), samples(0)); err != nil {
			return err
		}
	}
	after, err := totalSize(stores)
	if err != nil {
		return err
	}
	ok := clusterMS < goalMS
	fmt.Printf("first contentful paint %.0f ms, cluster drawn %.0f ms, first graph %.0f ms after scrolling (medians of %d loads)\n", fcp, clusterMS, graphMS, rounds)
	fmt.Printf("history: %d nodes × %d series, %d bytes on disk; after one more collection %d bytes\n", nodes, len(samples(0)), before, after)
	fmt.Printf("result: nodes=%d series_per_node=%d fcp_ms=%.0f cluster_ms=%.0f graph_ms=%.0f goal_ms=%d history_bytes=%d growth_bytes=%d under_goal=%t\n",
		nodes, len(samples(0)), fcp, clusterMS, graphMS, goalMS, before, after-before, ok)
	return nil
}

// samples is one collection of the series a node keeps, at phase x.
func samples(x float64) []metric.Sample {
	wave := func(scale, period float64) float64 { return scale * (1.2 + math.Sin(x/period)) }
	out := []metric.Sample{
		{Name: "node_load1", Value: wave(1, 60)},
		{Name: "node_load5", Value: wave(1, 300)},
		{Name: "node_load15", Value: wave(1, 900)},
		{Name: "node_memory_MemAvailable_bytes", Value: wave(2e9, 1440)},
		{Name: "node_memory_SwapFree_bytes", Value: wave(1e9, 10080)},
		{Name: "node_procs_running", Value: wave(3, 30)},
	}
	for _, mode := range []string{"user", "system", "iowait", "idle"} {
		out = append(out, metric.Sample{Name: "node_cpu_seconds_total", Labels: []metric.Label{{Name: "mode", Value: mode}}, Value: wave(0.3, 120)})
	}
	for _, dev := range []string{"eth0", "eth1"} {
		for _, name := range []string{"receive_bytes", "transmit_bytes", "receive_errs", "receive_drop"} {
			out = append(out, metric.Sample{Name: "node_network_" + name + "_total", Labels: []metric.Label{{Name: "device", Value: dev}}, Value: wave(1e6, 200)})
		}
	}
	for _, dev := range []string{"vda", "vdb"} {
		for _, name := range []string{"read_bytes", "written_bytes"} {
			out = append(out, metric.Sample{Name: "node_disk_" + name + "_total", Labels: []metric.Label{{Name: "device", Value: dev}}, Value: wave(5e5, 500)})
		}
	}
	out = append(out, metric.Sample{Name: "node_filesystem_avail_bytes", Labels: []metric.Label{{Name: "mountpoint", Value: "/"}}, Value: wave(1e10, 40000)},
		metric.Sample{Name: "hactl_heartbeat_rtt_seconds", Labels: []metric.Label{{Name: "link", Value: "lan"}}, Value: wave(2e-4, 50)})
	return out
}

// fillYear records a year of collections, one a minute, into a store at
// dir: every archive full, as after a year of running.
func fillYear(dir string, now time.Time) error {
	s, err := history.Open(filepath.Join(dir, "history"), time.Minute)
	if err != nil {
		return err
	}
	for t := now.Add(-365 * 24 * time.Hour); !t.After(now); t = t.Add(time.Minute) {
		if err := s.Record(t, samples(float64(t.Unix()/60))); err != nil {
			s.Close()
			return err
		}
	}
	return s.Close()
}

// cluster is 16 nodes on two networks, 8 groups with a VIP each placed
// around the nodes, and a monitor block on every node.
func cluster() *topology.Topology {
	t := &topology.Topology{Cluster: topology.Cluster{Name: "bench"}, Monitor: &topology.Monitor{Interval: time.Minute}}
	for i := range nodes {
		t.Nodes = append(t.Nodes, &topology.Node{Name: fmt.Sprintf("n%02d", i+1), Address: fmt.Sprintf("10.0.0.%d", i+1)})
	}
	for g := range groups {
		grp := &topology.Group{Name: fmt.Sprintf("g%d", g+1)}
		grp.Locations = []topology.Location{{Node: t.Nodes[2*g], Score: 200}, {Node: t.Nodes[2*g+1], Score: 100}}
		vip := &topology.VIP{Name: grp.Name, Address: netip.MustParsePrefix(fmt.Sprintf("10.0.1.%d/24", g+1)), Group: grp}
		grp.Resources = []*topology.Resource{{Kind: topology.ResourceVIP, Name: grp.Name, VIP: vip}}
		t.Groups = append(t.Groups, grp)
	}
	return t
}

// memberStatus is what a healthy member reports: all 16 alive on two
// links, each group on its preferred node, a few events.
func memberStatus(t *topology.Topology, self string, now time.Time) *status.Status {
	hb := &status.Heartbeat{Quorate: true}
	for _, n := range t.Nodes {
		m := status.Member{Name: n.Name, Self: n.Name == self, Alive: true}
		if !m.Self {
			m.Links = []status.Link{{Name: "lan", Up: true, RTTMS: 0.2}, {Name: "hb", Up: true, RTTMS: 0.3}}
		}
		hb.Members = append(hb.Members, m)
	}
	for _, g := range t.Groups {
		hb.Groups = append(hb.Groups, status.Group{Name: g.Name, RunningOn: []string{g.Locations[0].Node.Name}, State: "running"})
		hb.Events = append(hb.Events, status.Event{Time: now.Add(-time.Hour), Kind: status.GroupStarted, Node: g.Locations[0].Node.Name, Group: g.Name})
	}
	return &status.Status{AgentVersion: "bench", Healthy: true, Started: now.Add(-time.Hour), Updated: now, Heartbeat: hb}
}

func copyDir(from, to string) error {
	return filepath.Walk(from, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if fi.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// knownPoints counts the known points of node_load1 over span.
func knownPoints(s *history.Store, span history.Span, now time.Time) (int, int, error) {
	points, err := s.Fetch("node_load1", span, now)
	if err != nil {
		return 0, 0, err
	}
	known := 0
	for _, p := range points {
		if !math.IsNaN(p.Avg) {
			known++
		}
	}
	return known, len(points), nil
}

func totalSize(stores []*history.Store) (int64, error) {
	var sum int64
	for _, s := range stores {
		n, err := s.Size()
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

type reachable struct {
	Reachable bool `json:"reachable"`
}

// waitView waits until the server has read every node once, as it has
// by the time an operator opens the URL it printed.
func waitView(url, host string) error {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		resp, err := c.Get("http://" + host + "/api/cluster")
		if err != nil {
			return err
		}
		var view struct {
			Nodes []reachable `json:"nodes"`
		}
		err = json.NewDecoder(resp.Body).Decode(&view)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("reading the dashboard's view: %w", err)
		}
		if len(view.Nodes) == nodes && !slices.ContainsFunc(view.Nodes, func(n reachable) bool { return !n.Reachable }) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the dashboard did not read the %d nodes within a minute", nodes)
}

// measure loads the page rounds times in Chromium and returns the median
// first contentful paint, cluster drawn and first graph (after scrolling)
// in milliseconds.
func measure(url, dir string) (float64, float64, float64, error) {
	path, err := exec.LookPath("chromium")
	if err != nil {
		return 0, 0, 0, err
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), browsertest.Options(path,
		chromedp.UserDataDir(filepath.Join(dir, "chromium")),
		chromedp.WindowSize(1280, 900),
	)...)
	defer acancel()
	browser, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	// The token's cookie, once; then every load is of / in a new tab.
	if err := chromedp.Do(browser, chromedp.Navigate(url)); err != nil {
		return 0, 0, 0, fmt.Errorf("starting chromium: %w", err)
	}
	var fcps, clusters, graphs []float64
	for range rounds {
		tab, cancel := chromedp.NewContext(browser)
		ctx, tcancel := context.WithTimeout(tab, time.Minute)
		err := chromedp.Do(ctx, chromedp.Navigate(url))
		var times paintTimes
		if err == nil {
			times, err = chromedp.Run(ctx, chromedp.Poll[paintTimes](`(() => {
  const c = performance.getEntriesByName('hactl-cluster')[0];
  const f = performance.getEntriesByName('first-contentful-paint')[0];
  return c && f ? {fcp: f.startTime, cluster: c.startTime} : null;
})()`, chromedp.WithPollingInterval(10*time.Millisecond)))
		}
		var graph float64
		if err == nil {
			graph, err = chromedp.Run(ctx, chromedp.Evaluate[float64](`new Promise(resolve => {
  const t0 = performance.now();
  document.getElementById('charts').scrollIntoView();
  const wait = () => {
    const g = performance.getEntriesByName('hactl-graph')[0];
    if (g) resolve(g.startTime - t0); else setTimeout(wait, 5);
  };
  wait();
})`, chromedp.EvalAsValue, chromedp.EvalAwaitPromise))
		}
		tcancel()
		cancel()
		if err != nil {
			return 0, 0, 0, fmt.Errorf("loading the page: %w", err)
		}
		fcps, clusters, graphs = append(fcps, times.FCP), append(clusters, times.Cluster), append(graphs, graph)
	}
	return median(fcps), median(clusters), median(graphs), nil
}

// paintTimes are the page's paint and cluster marks, in milliseconds
// since navigation.
type paintTimes struct {
	FCP     float64 `json:"fcp"`
	Cluster float64 `json:"cluster"`
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
