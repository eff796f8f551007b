package monitor

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/monitor/api"
	"github.com/hactl/hactl/agentbin/monitor/collect"
	"github.com/hactl/hactl/agentbin/monitor/history"
	"github.com/hactl/hactl/agentbin/monitor/metric"
	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// Kind is the monitor role as the agent registers it.
type Kind struct{}

var (
	_ role.Kind = Kind{}
	_ role.Role = (*Role)(nil)
)

// Name implements role.Kind.
func (Kind) Name() string { return "monitor" }

// New implements role.Kind: it reads the basic-auth password and the TLS
// certificate, so that a missing or bad one fails the role at once.
func (Kind) New(s *spec.Spec, env role.Env) (role.Role, error) {
	m := s.Monitor
	r := &Role{m: m, node: s.Node, env: env, procRoot: "/proc", sysRoot: "/sys", apiSocket: layout.MonitorSocket}
	if r.env.Logger == nil {
		r.env.Logger = log.Default()
	}
	if r.env.Emit == nil {
		r.env.Emit = func(status.Event) {}
	}
	r.handler = &metricsHandler{latest: &r.latest}
	if a := m.BasicAuth; a != nil {
		pw, err := os.ReadFile(a.PasswordPath)
		if err != nil {
			return nil, fmt.Errorf("monitor: reading the basic_auth password: %w", err)
		}
		sum := sha256.Sum256([]byte(strings.TrimRight(string(pw), "\r\n")))
		r.handler.user, r.handler.pwSum = a.User, &sum
	}
	if t := m.TLS; t != nil {
		cert, err := tls.LoadX509KeyPair(t.CertPath, t.KeyPath)
		if err != nil {
			return nil, fmt.Errorf("monitor: loading the tls certificate: %w", err)
		}
		r.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	var err error
	if r.thresholds, err = newThresholds(m.Thresholds); err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	return r, nil
}

// Role collects, serves and checks one node's metrics.
type Role struct {
	m        *spec.Monitor
	node     string
	env      role.Env
	tls      *tls.Config
	handler  *metricsHandler
	latest   atomic.Pointer[exposition]
	procRoot string
	sysRoot  string
	// apiSocket is where the dashboard's API is served.
	apiSocket string

	// Touched by Run's goroutine only.
	nodeC      *collect.Node
	clusterC   *collect.Cluster
	rates      collect.Rates
	thresholds []*threshold
	hist       *history.Store
	devices    []*device
	setupErrs  []string
	sized      int // collections since the history was last sized
	histBytes  int64

	mu      sync.Mutex
	summary status.Monitor
	samples []metric.Sample // the latest collection, for readers
}

// historyDir is where the node's own history lives, under the agent's
// state directory; each SNMP device has its own beside it.
func (r *Role) historyDir() string { return filepath.Join(r.env.StateDir, "monitor", "node") }

// Run implements role.Role: it opens the history, listens for scrapes
// and for the dashboard's API, starts polling the SNMP devices, then
// collects every interval until ctx ends.
func (r *Role) Run(ctx context.Context) error {
	interval := time.Duration(r.m.IntervalMS) * time.Millisecond
	if r.env.StateDir != "" {
		h, err := history.Open(r.historyDir(), interval)
		if err != nil {
			return fmt.Errorf("monitor: %w", err)
		}
		r.hist = h
		defer h.Close()
	}
	ln, err := net.Listen("tcp", r.m.Listen)
	if err != nil {
		return fmt.Errorf("monitor: serving /metrics: %w (is listen %q an address of this node, and the port free?)", err, r.m.Listen)
	}
	if r.tls != nil {
		ln = tls.NewListener(ln, r.tls)
	}
	srv := &http.Server{Handler: r.handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: r.env.Logger}
	served := make(chan error, 2)
	go func() { served <- srv.Serve(ln) }()
	defer srv.Close()

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Stop the pollers (and close their histories) before Run returns.
	defer func() {
		cancel()
		wg.Wait()
		for _, d := range r.devices {
			if d.hist != nil {
				d.hist.Close()
			}
		}
		r.devices = nil
	}()
	r.setupErrs = r.startDevices(ctx, &wg)

	src := &source{r: r}
	if r.hist != nil {
		src.stores = append(src.stores, r.hist)
	}
	for _, d := range r.devices {
		if d.hist != nil {
			src.stores = append(src.stores, d.hist)
		}
	}
	apiLn, err := api.Listen(r.apiSocket)
	if err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	apiSrv := &http.Server{Handler: api.Handler(src), ReadHeaderTimeout: 10 * time.Second, ErrorLog: r.env.Logger}
	go func() { served <- apiSrv.Serve(apiLn) }()
	defer os.Remove(r.apiSocket)
	defer apiSrv.Close()

	r.nodeC = collect.NewNode(r.procRoot, r.sysRoot, r.m.Collectors)
	r.clusterC = collect.NewCluster(r.m.Collectors)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		r.collect(time.Now())
		select {
		case <-ctx.Done():
			return nil
		case err := <-served:
			return fmt.Errorf("monitor: serving: %w", err)
		case <-tick.C:
		}
	}
}

// collect makes one collection at now: the node's and the cluster's
// samples, with the SNMP devices' latest polls; the exposition; the
// history; thresholds; the summary.
func (r *Role) collect(now time.Time) {
	errs := slices.Clone(r.setupErrs)
	// A new slice each time: readers of the latest keep theirs.
	r.mu.Lock()
	size := len(r.samples)
	r.mu.Unlock()
	samples, err := r.nodeC.Collect(make([]metric.Sample, 0, size+16))
	if err != nil {
		errs = append(errs, err.Error())
	}
	if r.env.Status != nil {
		st, err := r.env.Status()
		switch {
		case err == nil:
			samples = r.clusterC.Collect(samples, st, now)
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, fmt.Sprintf("reading the agent's status: %v", err))
		}
	}
	samples = append(samples, metric.Sample{Name: "hactl_monitor_collect_seconds", Help: "Time the latest collection took.", Kind: metric.Gauge, Value: time.Since(now).Seconds()})
	own := len(samples)
	// The node's history is recorded before the devices' samples join:
	// each device's poller records its own, at its own interval.
	if r.hist != nil {
		if err := r.hist.Record(now, samples); err != nil {
			errs = append(errs, err.Error())
		}
	}
	type fresh struct {
		d       *device
		samples []metric.Sample
		at      time.Time
	}
	var polls []fresh
	for _, d := range r.devices {
		ds, at, isFresh, derr := d.take()
		samples = append(samples, ds...)
		if isFresh {
			polls = append(polls, fresh{d, ds, at})
		}
		if derr != "" {
			errs = append(errs, derr)
		}
	}
	prev := 0
	if e := r.latest.Load(); e != nil {
		prev = len(e.text)
	}
	text := encode(samples, prev)

	sum := status.Monitor{Listen: r.m.Listen, Collected: now.UTC(), Series: len(samples)}
	observe := func(at time.Time) func(s *metric.Sample, series string, v float64) {
		return func(s *metric.Sample, series string, v float64) {
			summarize(&sum, s, v)
			for _, t := range r.thresholds {
				if t.sel.Matches(s) {
					t.observe(series, v, at, r.node, r.env.Emit)
				}
			}
		}
	}
	r.rates.Update(now, samples[:own], observe(now))
	for _, p := range polls {
		p.d.rates.Update(p.at, p.samples, observe(p.at))
	}
	for _, t := range r.thresholds {
		t.sweep(now, r.forgetAge(), r.node, r.env.Emit)
	}
	sum.Exceeded = exceeded(r.thresholds)
	sum.HistoryBytes = r.historyBytes()
	sum.Error = strings.Join(errs, "; ")
	r.mu.Lock()
	r.summary, r.samples = sum, samples
	r.mu.Unlock()
	// Last: a scrape that sees this collection finds its thresholds
	// checked and its summary reported.
	r.latest.Store(&exposition{text: text})
}

// forgetAge is how long a threshold keeps a series it no longer sees: a
// few of the slowest intervals (a counter has no rate for one poll after
// a reset; that alone must not clear it).
func (r *Role) forgetAge() time.Duration {
	slowest := r.m.IntervalMS
	for _, d := range r.m.Devices {
		slowest = max(slowest, d.IntervalMS)
	}
	return 3 * time.Duration(slowest) * time.Millisecond
}

// historyBytes sizes the history now and then: the files keep their size
// once made, and sizing them is a stat per series.
func (r *Role) historyBytes() int64 {
	if r.sized%30 == 0 {
		var total int64
		stores := []*history.Store{r.hist}
		for _, d := range r.devices {
			stores = append(stores, d.hist)
		}
		for _, st := range stores {
			if st == nil {
				continue
			}
			if n, err := st.Size(); err == nil {
				total += n
			}
		}
		r.histBytes = total
	}
	r.sized++
	return r.histBytes
}

// summarize takes what hactl status shows from one sample's value.
func summarize(sum *status.Monitor, s *metric.Sample, v float64) {
	switch s.Name {
	case "node_load1":
		sum.Load1 = v
	case "node_memory_MemTotal_bytes":
		sum.MemoryTotalBytes = int64(v)
	case "node_memory_MemAvailable_bytes":
		sum.MemoryAvailableBytes = int64(v)
	case "node_network_receive_bytes_total", "node_network_transmit_bytes_total":
		if len(s.Labels) == 1 && s.Labels[0].Value == "lo" {
			return
		}
		if s.Name == "node_network_receive_bytes_total" {
			sum.ReceiveBytesPerSecond += v
		} else {
			sum.TransmitBytesPerSecond += v
		}
	}
}

// Report implements role.Role.
func (r *Role) Report(st *status.Status) {
	r.mu.Lock()
	sum := r.summary
	r.mu.Unlock()
	if sum.Listen == "" {
		sum.Listen = r.m.Listen
	}
	st.Monitor = &sum
}

// Latest returns the latest collection; the caller must not change it.
func (r *Role) Latest() []metric.Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.samples
}
