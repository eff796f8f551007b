package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// waitFor polls cond until it holds, failing the test after a generous
// deadline: the machine may be loaded, so no test relies on timings.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// running is a Checker under Run, with the transitions it delivered.
type running struct {
	*Checker
	mu    sync.Mutex
	trans []Transition
	stop  func() // cancels Run and waits for it to return
}

// start makes a Checker for hc with targets and runs it until the test ends.
func start(t *testing.T, hc *spec.HealthCheck, opts Options, targets ...Target) *running {
	t.Helper()
	r := &running{}
	opts.OnChange = func(tr Transition) {
		r.mu.Lock()
		r.trans = append(r.trans, tr)
		r.mu.Unlock()
	}
	c, err := New(hc, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := c.Update(targets); err != nil {
		t.Fatalf("Update: %v", err)
	}
	r.Checker = c
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(r.stop)
	return r
}

// transitions returns the transitions of one target delivered so far.
func (r *running) transitions(name string) []Transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Transition
	for _, tr := range r.trans {
		if tr.Target.Name == name {
			out = append(out, tr)
		}
	}
	return out
}

// waitState waits for a target's state, and returns the transition that
// brought it there.
func (r *running) waitState(t *testing.T, name string, s State) Transition {
	t.Helper()
	var last Transition
	waitFor(t, name+" "+s.String(), func() bool {
		tr := r.transitions(name)
		if len(tr) == 0 || tr[len(tr)-1].To != s {
			return false
		}
		last = tr[len(tr)-1]
		return true
	})
	return last
}

// fast is a check that probes every few milliseconds and gives loopback
// probes all the time a loaded machine may need.
func fast(typ string) *spec.HealthCheck {
	return &spec.HealthCheck{Type: typ, IntervalMS: 3, TimeoutMS: 2000, Rise: 2, Fall: 3}
}

// flipServer is a TCP port that can be opened and closed again.
type flipServer struct {
	t    *testing.T
	addr string
	ln   net.Listener
}

func newFlipServer(t *testing.T) *flipServer {
	f := &flipServer{t: t, addr: "127.0.0.1:0"}
	f.open()
	f.addr = f.ln.Addr().String()
	t.Cleanup(f.close)
	return f
}

func (f *flipServer) open() {
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		f.t.Fatal(err)
	}
	f.ln = ln
}

func (f *flipServer) close() {
	if f.ln != nil {
		_ = f.ln.Close()
		f.ln = nil
	}
}

func TestTCPUpDown(t *testing.T) {
	srv := newFlipServer(t)
	tg := target(t, srv.addr)
	r := start(t, fast("tcp"), Options{}, tg)

	up := r.waitState(t, "be", Up)
	if up.From != Unknown || up.Passive {
		t.Errorf("first transition %+v, want unknown -> up from a probe", up)
	}
	srv.close()
	down := r.waitState(t, "be", Down)
	if down.From != Up || down.Reason != "connect: connection refused" {
		t.Errorf("down transition %+v, want up -> down with reason connect: connection refused", down)
	}
	if st, _ := r.Get("be"); st.ProbeFailures < 3 || st.Reason != "connect: connection refused" {
		t.Errorf("status when down: %+v, want at least fall=3 failures and the reason", st)
	}
	srv.open()
	back := r.waitState(t, "be", Up)
	if back.Reason != "2 check(s) passed in a row" {
		t.Errorf("back up with reason %q", back.Reason)
	}
	st, _ := r.Get("be")
	if st.LastCheck.IsZero() || st.LastError != "" || st.Since.IsZero() || st.Transitions != 3 || st.Target != tg {
		t.Errorf("status after recovery: %+v", st)
	}
}

func TestRiseFallCountedOnRealProbes(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	hc := fast("http")
	hc.Rise, hc.Fall, hc.ExpectStatus = 4, 5, []int{200}
	r := start(t, hc, Options{}, target(t, srv.Listener.Addr().String()))
	r.waitState(t, "be", Up)

	before := requests.Load()
	status.Store(500)
	down := r.waitState(t, "be", Down)
	if down.Reason != "status 500, want 200" {
		t.Errorf("down reason %q", down.Reason)
	}
	// The server may have answered one probe with 200 after the count was
	// read; fall=5 failures need at least 5 more requests either way.
	if n := requests.Load() - before; n < 5 {
		t.Errorf("down after %d requests, want at least fall=5", n)
	}
	before = requests.Load()
	status.Store(200)
	r.waitState(t, "be", Up)
	if n := requests.Load() - before; n < 4 {
		t.Errorf("up after %d requests, want at least rise=4", n)
	}
}

func TestMarkDownThenRecovery(t *testing.T) {
	srv := newFlipServer(t)
	r := start(t, fast("tcp"), Options{}, target(t, srv.addr))
	r.waitState(t, "be", Up)
	if r.MarkDown("nobody", "connection reset") {
		t.Error("MarkDown of an unknown target reported it known")
	}
	if !r.MarkDown("be", "read: connection reset by peer") {
		t.Fatal("MarkDown of a known target reported it unknown")
	}
	var tr []Transition
	waitFor(t, "a passive down, then up again", func() bool {
		tr = r.transitions("be")
		return len(tr) >= 3
	})
	if d := tr[1]; !d.Passive || d.From != Up || d.To != Down || d.Reason != "read: connection reset by peer" {
		t.Errorf("passive transition %+v", d)
	}
	if u := tr[2]; u.Passive || u.To != Up || u.Reason != "2 check(s) passed in a row" {
		t.Errorf("recovery %+v, want active with rise=2 checks", u)
	}
}

func TestMarkDownIsAtOnce(t *testing.T) {
	delivered := make(chan Transition, 10)
	c, err := New(fast("tcp"), Options{OnChange: func(tr Transition) { delivered <- tr }})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Update([]Target{closedPort(t)}); err != nil {
		t.Fatal(err)
	}
	// Before Run no probe has run: the state can only come from MarkDown.
	c.MarkDown("be", "connect: connection refused")
	if st, _ := c.Get("be"); st.State != Down || st.Reason != "connect: connection refused" || st.Failures != 1 || st.Probes != 0 {
		t.Errorf("right after MarkDown: %+v", st)
	}
	c.MarkDown("be", "again")
	if st, _ := c.Get("be"); st.Transitions != 1 || st.Reason != "connect: connection refused" {
		t.Errorf("a second MarkDown of a down target changed its state: %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	waitFor(t, "probes and the delivery after Run", func() bool {
		st, _ := c.Get("be")
		return st.Probes >= 2 && len(delivered) > 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(delivered) // Run has returned: OnChange is called no more
	var got []Transition
	for tr := range delivered {
		got = append(got, tr)
	}
	if len(got) != 1 || !got[0].Passive || got[0].From != Unknown || got[0].To != Down {
		t.Errorf("transitions %+v, want the one passive unknown -> down, delivered by Run", got)
	}
}

func TestUpdateKeepsState(t *testing.T) {
	srv := newFlipServer(t)
	base := target(t, srv.addr)
	a, b, c := base, base, base
	a.Name, b.Name, c.Name = "a", "b", "c"
	a.Weight = 1
	r := start(t, fast("tcp"), Options{}, a, b)
	r.waitState(t, "a", Up)
	r.waitState(t, "b", Up)
	waitFor(t, "a few probes of a", func() bool { st, _ := r.Get("a"); return st.Probes >= 3 })
	before, _ := r.Get("a")

	a.Weight = 5
	if err := r.Update([]Target{a, c}); err != nil {
		t.Fatal(err)
	}
	after, ok := r.Get("a")
	if !ok || after.State != Up || after.Probes < before.Probes || after.Since != before.Since || after.Weight != 5 {
		t.Errorf("a after a weight change: %+v\nbefore: %+v", after, before)
	}
	if _, ok := r.Get("b"); ok {
		t.Error("b is still watched after its removal")
	}
	r.waitState(t, "c", Up)
	if n := len(r.transitions("a")); n != 1 {
		t.Errorf("a had %d transitions, want the first one only", n)
	}
	names := []string{}
	for _, st := range r.Snapshot() {
		names = append(names, st.Name)
	}
	if strings.Join(names, ",") != "a,c" {
		t.Errorf("snapshot names %v, want a,c", names)
	}

	// A new port is a new server: a starts over from unknown.
	moved := closedPort(t)
	moved.Name = "a"
	if err := r.Update([]Target{moved, c}); err != nil {
		t.Fatal(err)
	}
	down := r.waitState(t, "a", Down)
	if down.From != Unknown {
		t.Errorf("a moved to a new port went %s -> down, want unknown -> down", down.From)
	}
}

func TestUpdateRefusesBadTargets(t *testing.T) {
	tests := []struct {
		name    string
		targets []Target
		want    string
	}{
		{"no name", []Target{{Address: "10.0.0.1", Port: 80}}, "target 10.0.0.1:80 has no name"},
		{"twice", []Target{{Name: "a", Address: "10.0.0.1", Port: 80}, {Name: "a", Address: "10.0.0.2", Port: 80}}, `target "a" is listed twice`},
		{"no address", []Target{{Name: "a", Port: 80}}, `target "a" has no address`},
		{"port 0", []Target{{Name: "a", Address: "10.0.0.1"}}, `target "a" has port 0`},
		{"port too big", []Target{{Name: "a", Address: "10.0.0.1", Port: 70000}}, `target "a" has port 70000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(nil, Options{})
			if err != nil {
				t.Fatal(err)
			}
			keep := Target{Name: "keep", Address: "10.0.0.9", Port: 80}
			if err := c.Update([]Target{keep}); err != nil {
				t.Fatal(err)
			}
			err = c.Update(tt.targets)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
			if s := c.Snapshot(); len(s) != 1 || s[0].Target != keep {
				t.Errorf("a refused update changed the targets: %+v", s)
			}
		})
	}
}

func TestNewRefusesChecksThatCannotPass(t *testing.T) {
	tests := []struct {
		name string
		hc   spec.HealthCheck
		want string
	}{
		{"unknown type", spec.HealthCheck{Type: "icmp"}, `type "icmp" is unknown`},
		{"bad regex", spec.HealthCheck{Type: "http", BodyRegex: "ok("}, "body_regex: error parsing regexp"},
		{"command without command", spec.HealthCheck{Type: "command", Command: "  "}, `type "command" needs a command`},
		{"relative path", spec.HealthCheck{Type: "https", Path: "health"}, `path "health" must start with /`},
		{"bad status", spec.HealthCheck{Type: "http", ExpectStatus: []int{200, 42}}, "expect_status 42 is not an HTTP status"},
		{"negative interval", spec.HealthCheck{IntervalMS: -1}, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(&tt.hc, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.prober.(*tcpProbe); !ok || c.interval != DefaultInterval || c.timeout != DefaultTimeout ||
		c.rise != DefaultRise || c.fall != DefaultFall || cap(c.sem) != DefaultMaxConcurrent {
		t.Errorf("defaults: %T interval %s timeout %s rise %d fall %d concurrency %d", c.prober, c.interval, c.timeout, c.rise, c.fall, cap(c.sem))
	}
	h, err := New(&spec.HealthCheck{Type: "http"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p := h.prober.(*httpProbe); p.path != "/" {
		t.Errorf("default path %q", p.path)
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	var inFlight, most atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(5 * time.Millisecond)
		inFlight.Add(-1)
	}))
	defer srv.Close()
	base := target(t, srv.Listener.Addr().String())
	var targets []Target
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		tg := base
		tg.Name = n
		targets = append(targets, tg)
	}
	r := start(t, fast("http"), Options{MaxConcurrent: 2}, targets...)
	for _, tg := range targets {
		r.waitState(t, tg.Name, Up)
	}
	waitFor(t, "several probes of every target", func() bool {
		for _, st := range r.Snapshot() {
			if st.Probes < 5 {
				return false
			}
		}
		return true
	})
	if m := most.Load(); m > 2 || m < 1 {
		t.Errorf("at most %d probes in flight, want 1 or 2 with MaxConcurrent 2", m)
	}
}

func TestRunTwice(t *testing.T) {
	r := start(t, fast("tcp"), Options{})
	waitFor(t, "Run to start", func() bool {
		r.Checker.mu.Lock()
		defer r.Checker.mu.Unlock()
		return r.ctx != nil
	})
	if err := r.Run(context.Background()); err == nil {
		t.Error("a second Run was accepted")
	}
}

// TestCancelStopsEverything stops a Checker while probes of every kind are
// in flight and checks that no goroutine outlives Run.
func TestCancelStopsEverything(t *testing.T) {
	var hanging atomic.Int32
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hanging.Add(1)
		<-r.Context().Done()
	}))
	ok := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	base := runtime.NumGoroutine()

	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	slow := script(t, dir, "slow", "echo $$ >> "+pids+"\nexec sleep 300\n")
	checks := []struct {
		hc  *spec.HealthCheck
		srv *httptest.Server
	}{
		{&spec.HealthCheck{Type: "http", IntervalMS: 3, TimeoutMS: 60000}, hang},
		{&spec.HealthCheck{Type: "http", IntervalMS: 3, TimeoutMS: 2000}, ok},
		{&spec.HealthCheck{Type: "tcp", IntervalMS: 3, TimeoutMS: 2000}, ok},
		{&spec.HealthCheck{Type: "command", Command: slow, IntervalMS: 3, TimeoutMS: 60000}, ok},
	}
	var runs []*running
	for _, ch := range checks {
		tg := target(t, ch.srv.Listener.Addr().String())
		var targets []Target
		for _, n := range []string{"a", "b", "c"} {
			tg.Name = n
			targets = append(targets, tg)
		}
		runs = append(runs, start(t, ch.hc, Options{}, targets...))
	}
	waitFor(t, "probes in flight on the hanging server and probes done on the good one", func() bool {
		st, _ := runs[1].Get("a")
		b, _ := os.ReadFile(pids)
		return st.Probes > 0 && hanging.Load() == 3 && strings.Count(string(b), "\n") == 3
	})
	for _, r := range runs {
		r.stop()
	}
	// Run waits for its probes: the commands were killed and reaped.
	b, err := os.ReadFile(pids)
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range strings.Fields(string(b)) {
		if _, err := os.Stat("/proc/" + pid); err == nil {
			t.Errorf("check command %s still exists after Run returned", pid)
		}
	}
	hang.Close()
	ok.Close()
	waitFor(t, "goroutines back to the count before the checkers", func() bool {
		return runtime.NumGoroutine() <= base
	})
}

func TestProbeSpacing(t *testing.T) {
	for _, iv := range []time.Duration{time.Millisecond, 3 * time.Millisecond, time.Second, 2 * time.Second, time.Minute} {
		lo, hi := iv*9/10, iv*11/10
		for range 1000 {
			if d := firstDelay(iv); d < 0 || d >= min(iv, firstSpread) {
				t.Fatalf("interval %s: first delay %s, want [0, %s)", iv, d, min(iv, firstSpread))
			}
			if d := nextDelay(iv, 0); d < lo || d > hi {
				t.Fatalf("interval %s: next delay %s, want %s-%s", iv, d, lo, hi)
			}
			if d := nextDelay(iv, iv/2); d < lo-iv/2 || d > hi-iv/2 {
				t.Fatalf("interval %s after a probe of %s: next delay %s, want %s-%s", iv, iv/2, d, lo-iv/2, hi-iv/2)
			}
			if d := nextDelay(iv, 2*iv); d != 0 {
				t.Fatalf("interval %s after a probe of %s: next delay %s, want 0", iv, 2*iv, d)
			}
		}
	}
	// Spread: delays of one interval are not all the same.
	seen := map[time.Duration]bool{}
	for range 100 {
		seen[nextDelay(time.Second, 0)] = true
	}
	if len(seen) < 50 {
		t.Errorf("100 delays took only %d values: probes would fire in lockstep", len(seen))
	}
}
