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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hactl/hactl/agentbin/monitor/collect"
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
	r := &Role{m: m, node: s.Node, env: env, procRoot: "/proc", sysRoot: "/sys"}
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

	// Touched by Run's goroutine only.
	nodeC      *collect.Node
	clusterC   *collect.Cluster
	rates      collect.Rates
	thresholds []*threshold
	gen        uint64

	mu      sync.Mutex
	summary status.Monitor
	samples []metric.Sample // the latest collection, for readers
}

// Run implements role.Role: it listens, then collects every interval
// until ctx ends.
func (r *Role) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", r.m.Listen)
	if err != nil {
		return fmt.Errorf("monitor: serving /metrics: %w (is listen %q an address of this node, and the port free?)", err, r.m.Listen)
	}
	if r.tls != nil {
		ln = tls.NewListener(ln, r.tls)
	}
	srv := &http.Server{Handler: r.handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: r.env.Logger}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer srv.Close()

	r.nodeC = collect.NewNode(r.procRoot, r.sysRoot, r.m.Collectors)
	r.clusterC = collect.NewCluster(r.m.Collectors)
	interval := time.Duration(r.m.IntervalMS) * time.Millisecond
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		r.collect(time.Now())
		select {
		case <-ctx.Done():
			return nil
		case err := <-served:
			return fmt.Errorf("monitor: serving /metrics on %s: %w", r.m.Listen, err)
		case <-tick.C:
		}
	}
}

// collect makes one collection at now: samples, exposition, thresholds,
// summary.
func (r *Role) collect(now time.Time) {
	var errs []string
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
	text, err := encode(samples)
	if err != nil {
		errs = append(errs, err.Error())
	} else {
		r.latest.Store(&exposition{text: text})
	}
	sum := status.Monitor{Listen: r.m.Listen, Collected: now.UTC(), Series: len(samples)}
	r.gen++
	r.rates.Update(now, samples, func(s *metric.Sample, series string, v float64) {
		summarize(&sum, s, v)
		for _, t := range r.thresholds {
			if t.sel.Matches(s) {
				t.observe(series, v, now, r.gen, r.node, r.env.Emit)
			}
		}
	})
	for _, t := range r.thresholds {
		t.sweep(now, r.gen, r.node, r.env.Emit)
	}
	sum.Exceeded = exceeded(r.thresholds)
	sum.Error = strings.Join(errs, "; ")
	r.mu.Lock()
	r.summary, r.samples = sum, samples
	r.mu.Unlock()
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
