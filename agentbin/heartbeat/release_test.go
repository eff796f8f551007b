package heartbeat

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/resource"
	"github.com/hactl/hactl/agentbin/spec"
)

// host is what runs on one node, by resource address, as fake VIPs see it.
type host struct {
	mu       sync.Mutex
	on       map[string]bool
	stopFail map[string]bool // addresses whose Stop fails
	ops      []string        // "start ADDR", "stop ADDR", in order
	slowStop time.Duration   // how long a Stop takes
}

func (h *host) running() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for a, on := range h.on {
		if on {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

type hostVIP struct {
	h    *host
	addr string
}

func (v hostVIP) Name() string { return v.addr }
func (v hostVIP) Start(context.Context) error {
	v.h.mu.Lock()
	defer v.h.mu.Unlock()
	v.h.on[v.addr] = true
	v.h.ops = append(v.h.ops, "start "+v.addr)
	return nil
}
func (v hostVIP) Stop(context.Context) error {
	v.h.mu.Lock()
	d := v.h.slowStop
	v.h.mu.Unlock()
	time.Sleep(d)
	v.h.mu.Lock()
	defer v.h.mu.Unlock()
	if v.h.stopFail[v.addr] {
		return errors.New("device busy")
	}
	v.h.on[v.addr] = false
	v.h.ops = append(v.h.ops, "stop "+v.addr)
	return nil
}
func (v hostVIP) Monitor(context.Context) (bool, error) {
	v.h.mu.Lock()
	defer v.h.mu.Unlock()
	return v.h.on[v.addr], nil
}

func writeKey(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// soloSpec is a one-member cluster running a group per address.
func soloSpec(t *testing.T, keyPath string, addrs ...string) *spec.Spec {
	t.Helper()
	sp := &spec.Spec{FormatVersion: spec.FormatVersion, Cluster: "test", Node: "a",
		Heartbeat: &spec.Heartbeat{IntervalMS: 20, WarntimeMS: 60, DeadtimeMS: 120, InitdeadMS: 100, Port: 694, KeyPath: keyPath,
			Links: []spec.Link{{Name: "lan", Interface: "eth0", Local: "10.0.0.1", Mode: "unicast"}}, Members: []string{"a"}}}
	for _, a := range addrs {
		name := "g" + strings.ReplaceAll(strings.TrimSuffix(a, "/24"), ".", "-")
		sp.Groups = append(sp.Groups, spec.Group{Name: name, Locations: []spec.Location{{Node: "a", Score: 100}},
			Resources: []spec.Resource{{Kind: "vip", Name: name + "-ip", Address: a, Interface: "eth0", MonitorIntervalMS: 30, OnFail: "restart"}}})
	}
	return sp
}

// runSolo runs an engine for sp on h until the returned stop is called,
// as an agent would until it is killed.
func runSolo(t *testing.T, h *host, sp *spec.Spec, stateDir string) (e *Engine, stop func()) {
	t.Helper()
	e, err := New(Config{Spec: sp, Logger: log.New(io.Discard, "", 0), StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	e.newResource = func(r spec.Resource, _ resource.Env) (resource.Resource, error) {
		return hostVIP{h: h, addr: r.Address}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := e.run(ctx, &memTransport{net: &memNet{cut: map[string]bool{}}, node: sp.Node}); err != nil {
			t.Error(err)
		}
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return e, stop
}

func waitRunning(t *testing.T, h *host, want ...string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !slices.Equal(h.running(), want); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("running %v, want %v", h.running(), want)
		}
	}
}

// An agent restarted under a changed spec keeps what the spec still has
// (no failover) and releases what left it: a VIP whose address changed, a
// removed group.
func TestRestartUnderAChangedSpecReleasesWhatLeftIt(t *testing.T) {
	keyPath, state := writeKey(t), t.TempDir()
	h := &host{on: map[string]bool{}, stopFail: map[string]bool{}}

	_, stop := runSolo(t, h, soloSpec(t, keyPath, "10.0.0.100/24", "10.0.0.200/24", "10.0.0.50/24"), state)
	waitRunning(t, h, "10.0.0.100/24", "10.0.0.200/24", "10.0.0.50/24")
	stop()
	waitRunning(t, h, "10.0.0.100/24", "10.0.0.200/24", "10.0.0.50/24")

	// .100 moves to .110, group .200 goes; group .50 stays.
	e, _ := runSolo(t, h, soloSpec(t, keyPath, "10.0.0.110/24", "10.0.0.50/24"), state)
	waitRunning(t, h, "10.0.0.110/24", "10.0.0.50/24")
	if d := e.leftoverDrift(); len(d) != 0 {
		t.Errorf("drift after the release: %q", d)
	}
	rec, err := resource.LoadRecord(recordPath(state))
	if err != nil {
		t.Fatal(err)
	}
	var recorded []string
	for _, s := range rec.Entries() {
		recorded = append(recorded, s.Resource.Address)
	}
	slices.Sort(recorded)
	if want := []string{"10.0.0.110/24", "10.0.0.50/24"}; !slices.Equal(recorded, want) {
		t.Errorf("record on disk names %v, want %v", recorded, want)
	}
}

// What will not stop stays recorded, shows as drift, and is released
// once it can be.
func TestALeftoverThatWillNotStopIsDriftAndRetried(t *testing.T) {
	keyPath, state := writeKey(t), t.TempDir()
	h := &host{on: map[string]bool{}, stopFail: map[string]bool{"10.0.0.200/24": true}}
	_, stop := runSolo(t, h, soloSpec(t, keyPath, "10.0.0.200/24"), state)
	waitRunning(t, h, "10.0.0.200/24")
	stop()

	e, _ := runSolo(t, h, soloSpec(t, keyPath), state)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		d := e.Drift(time.Now())
		if len(d) == 1 && strings.Contains(d[0], "vip 10.0.0.200/24 on eth0 (group g10-0-0-200)") && strings.Contains(d[0], "not released") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("drift %q, want the VIP that would not stop", d)
		}
	}
	waitRunning(t, h, "10.0.0.200/24")
}

// A VIP whose address changed within its subnet is taken off before the
// new one is added: were the old one the subnet's primary address, taking
// it off later would take the new one with it.
func TestALeftoverVIPGoesBeforeTheNewOneComes(t *testing.T) {
	keyPath, state := writeKey(t), t.TempDir()
	h := &host{on: map[string]bool{}, stopFail: map[string]bool{}}
	_, stop := runSolo(t, h, soloSpec(t, keyPath, "10.0.0.100/24"), state)
	waitRunning(t, h, "10.0.0.100/24")
	stop()
	h.mu.Lock()
	h.slowStop = 300 * time.Millisecond
	h.mu.Unlock()
	runSolo(t, h, soloSpec(t, keyPath, "10.0.0.110/24"), state)
	waitRunning(t, h, "10.0.0.110/24")
	h.mu.Lock()
	ops := slices.Clone(h.ops)
	h.mu.Unlock()
	if i, j := slices.Index(ops, "stop 10.0.0.100/24"), slices.Index(ops, "start 10.0.0.110/24"); i < 0 || j < i {
		t.Errorf("operations %q: want the old VIP stopped before the new one starts", ops)
	}
}
