package health

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// Defaults for the fields of a HealthCheck left zero; they are the
// health_check block's defaults (providers/check).
const (
	DefaultType     = "tcp"
	DefaultInterval = 2 * time.Second
	DefaultTimeout  = time.Second
	DefaultRise     = 2
	DefaultFall     = 3
	DefaultPath     = "/"

	// DefaultMaxConcurrent bounds the probes in flight of one Checker.
	DefaultMaxConcurrent = 64
)

// firstSpread bounds the random delay of a target's first probe: long
// enough to spread a few hundred targets started together, short enough
// that a director taking a VIP over knows its backends within a moment.
const firstSpread = 250 * time.Millisecond

// Target is a backend to watch. Name identifies it across Updates.
type Target struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Port    int    `json:"port"`
	// Weight is not used by the checks; it is kept so that Snapshot gives
	// the caller its targets whole.
	Weight int `json:"weight,omitempty"`
}

func (t Target) hostPort() string { return net.JoinHostPort(t.Address, strconv.Itoa(t.Port)) }

// Status is a target's health as last seen, for status reports and metrics.
type Status struct {
	Target
	State State `json:"state"`
	// Reason says why the target is in State: the failure that took it
	// down ("connect: connection refused", "status 500, want 200", "timeout
	// after 1s", or the caller's reason given to MarkDown) or the checks
	// that brought it up.
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since,omitzero"` // when State was entered
	// Successes and Failures are the current runs of results in a row.
	Successes int `json:"successes"`
	Failures  int `json:"failures"`
	// LastCheck is when the last probe started, LastLatencyMS how long it
	// took (passed or not) and LastError its failure ("" when it passed).
	LastCheck     time.Time `json:"last_check,omitzero"`
	LastLatencyMS float64   `json:"last_latency_ms"`
	LastError     string    `json:"last_error,omitempty"`
	// Totals since the target was added.
	Probes        uint64 `json:"probes"`
	ProbeFailures uint64 `json:"probe_failures"`
	Transitions   uint64 `json:"transitions"`
}

// Transition is a target's change of state.
type Transition struct {
	Target   Target
	From, To State
	Reason   string // as Status.Reason
	Passive  bool   // from MarkDown, not from a probe
	At       time.Time
}

// Options are a Checker's settings that are not in the spec.
type Options struct {
	// OnChange is called for every Transition, one at a time and in the
	// order they happened, from Run's goroutine. It may call the Checker's
	// methods; while it runs, later transitions wait. Transitions from
	// before Run (MarkDown) are delivered when Run starts; none are after
	// its context is done.
	OnChange func(Transition)
	// MaxConcurrent bounds the probes in flight (DefaultMaxConcurrent if 0).
	MaxConcurrent int
	// VerifyTLS makes https probes verify the backend's certificate
	// against RootCAs (the system's if nil). Off by default: see the
	// package doc.
	VerifyTLS bool
	RootCAs   *x509.CertPool
}

// Checker probes a set of targets with one HealthCheck. Its methods are
// safe for concurrent use.
type Checker struct {
	interval, timeout time.Duration
	rise, fall        int
	prober            prober
	onChange          func(Transition)
	sem               chan struct{}

	mu      sync.Mutex
	targets map[string]*watch
	ctx     context.Context // Run's; nil before Run
	stopped bool            // Run is returning: no new probe goroutines
	pending []Transition    // not yet given to onChange
	wake    chan struct{}   // signals pending, capacity 1
	wg      sync.WaitGroup  // probe goroutines
}

// watch is one target's state. Everything but target's Name, Address and
// Port (fixed for a watch's life) is guarded by Checker.mu.
type watch struct {
	target Target
	tally  tally
	st     Status // the fields tally does not hold
	cancel context.CancelFunc
}

// New makes a Checker for hc (nil: every default), with no targets. Zero
// fields of hc take the Default values. It fails on a check that could
// never pass: an unknown type, a body_regex that does not compile, a
// command type without a command, an invalid path or status.
func New(hc *spec.HealthCheck, opts Options) (*Checker, error) {
	h := spec.HealthCheck{}
	if hc != nil {
		h = *hc
	}
	if h.Type == "" {
		h.Type = DefaultType
	}
	if h.Path == "" {
		h.Path = DefaultPath
	}
	if h.IntervalMS < 0 || h.TimeoutMS < 0 || h.Rise < 0 || h.Fall < 0 || opts.MaxConcurrent < 0 {
		return nil, fmt.Errorf("health check: interval_ms, timeout_ms, rise, fall and MaxConcurrent must not be negative (got %d, %d, %d, %d, %d)",
			h.IntervalMS, h.TimeoutMS, h.Rise, h.Fall, opts.MaxConcurrent)
	}
	c := &Checker{
		interval: msOr(h.IntervalMS, DefaultInterval),
		timeout:  msOr(h.TimeoutMS, DefaultTimeout),
		rise:     orDefault(h.Rise, DefaultRise),
		fall:     orDefault(h.Fall, DefaultFall),
		onChange: opts.OnChange,
		sem:      make(chan struct{}, orDefault(opts.MaxConcurrent, DefaultMaxConcurrent)),
		targets:  map[string]*watch{},
		wake:     make(chan struct{}, 1),
	}
	p, err := newProber(&h, opts)
	if err != nil {
		return nil, fmt.Errorf("health check: %w", err)
	}
	c.prober = p
	return c, nil
}

func msOr(ms int, def time.Duration) time.Duration {
	if ms == 0 {
		return def
	}
	return time.Duration(ms) * time.Millisecond
}

func orDefault(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// Update makes targets the set being watched, matched by Name. A target
// with the same address and port as before keeps its state and counters;
// one whose address or port changed starts over as Unknown; one no longer
// listed stops being probed. Update emits no Transition: the caller knows
// what it changed. On an invalid list nothing is changed.
func (c *Checker) Update(targets []Target) error {
	seen := map[string]bool{}
	for _, t := range targets {
		switch {
		case t.Name == "":
			return fmt.Errorf("health: target %s has no name", t.hostPort())
		case seen[t.Name]:
			return fmt.Errorf("health: target %q is listed twice; names must be unique", t.Name)
		case t.Address == "":
			return fmt.Errorf("health: target %q has no address", t.Name)
		case t.Port < 1 || t.Port > 65535:
			return fmt.Errorf("health: target %q has port %d; want 1-65535", t.Name, t.Port)
		}
		seen[t.Name] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, w := range c.targets {
		if !seen[name] {
			c.remove(w)
		}
	}
	for _, t := range targets {
		w := c.targets[t.Name]
		if w != nil && w.target.Address == t.Address && w.target.Port == t.Port {
			w.target.Weight = t.Weight
			continue
		}
		if w != nil {
			c.remove(w)
		}
		w = &watch{target: t}
		c.targets[t.Name] = w
		c.start(w)
	}
	return nil
}

// remove stops watching w. c.mu is held.
func (c *Checker) remove(w *watch) {
	if w.cancel != nil {
		w.cancel()
	}
	delete(c.targets, w.target.Name)
}

// start starts w's probes if Run is running. c.mu is held.
func (c *Checker) start(w *watch) {
	if c.ctx == nil || c.stopped {
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	w.cancel = cancel
	c.wg.Add(1)
	go c.loop(ctx, w, w.target)
}

// Run probes the targets until ctx is done, and delivers transitions to
// Options.OnChange meanwhile. It returns once every probe has stopped.
func (c *Checker) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.ctx != nil {
		c.mu.Unlock()
		return errors.New("health: Run called twice on one Checker")
	}
	c.ctx = ctx
	for _, w := range c.targets {
		c.start(w)
	}
	c.mu.Unlock()
	c.deliver(ctx)
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	c.wg.Wait()
	return nil
}

// deliver gives pending transitions to onChange until ctx is done.
func (c *Checker) deliver(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		c.mu.Lock()
		batch := c.pending
		c.pending = nil
		c.mu.Unlock()
		for _, tr := range batch {
			if ctx.Err() != nil {
				return
			}
			c.onChange(tr)
		}
	}
}

// loop probes t until ctx is done. t is w's target as it was at start:
// only its weight may change later, and probes do not use it.
func (c *Checker) loop(ctx context.Context, w *watch, t Target) {
	defer c.wg.Done()
	timer := time.NewTimer(firstDelay(c.interval))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		select {
		case <-ctx.Done():
			return
		case c.sem <- struct{}{}:
		}
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, c.timeout)
		err := c.prober.probe(pctx, t)
		timedOut := errors.Is(pctx.Err(), context.DeadlineExceeded)
		cancel()
		<-c.sem
		took := time.Since(start)
		if ctx.Err() != nil {
			// Stopped or removed while probing: the result says nothing
			// about the target.
			return
		}
		if err != nil {
			c.record(w, start, took, reason(err, timedOut, c.timeout))
		} else {
			c.record(w, start, took, "")
		}
		timer.Reset(nextDelay(c.interval, took))
	}
}

// firstDelay is a random wait before a target's first probe.
func firstDelay(interval time.Duration) time.Duration {
	return rand.N(min(interval, firstSpread))
}

// nextDelay is the wait before the next probe, one that took took: the
// interval from the start of the last probe, ±10 % so that targets started
// together drift apart, and no wait at all after a probe longer than that.
func nextDelay(interval, took time.Duration) time.Duration {
	return max(interval*9/10+rand.N(interval/5+1)-took, 0)
}

// record counts a probe's result; failure is "" when it passed.
func (c *Checker) record(w *watch, start time.Time, took time.Duration, failure string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.targets[w.target.Name] != w {
		return
	}
	w.st.LastCheck = start
	w.st.LastLatencyMS = float64(took.Microseconds()) / 1000
	w.st.LastError = failure
	w.st.Probes++
	if failure != "" {
		w.st.ProbeFailures++
	}
	from := w.tally.state
	if !w.tally.record(failure == "", c.rise, c.fall) {
		return
	}
	why := failure
	if w.tally.state == Up {
		why = fmt.Sprintf("%d check(s) passed in a row", w.tally.successes)
	}
	c.changed(w, from, why, false)
}

// changed records w's new state and queues its transition. c.mu is held.
func (c *Checker) changed(w *watch, from State, why string, passive bool) {
	now := time.Now()
	w.st.Reason, w.st.Since = why, now
	w.st.Transitions++
	if c.onChange == nil {
		return
	}
	c.pending = append(c.pending, Transition{
		Target: w.target, From: from, To: w.tally.state, Reason: why, Passive: passive, At: now,
	})
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// MarkDown takes the target down at once, for a failure the caller saw
// itself (a connection to the backend failed); active probes bring it back
// after rise successes. It reports whether the target is known.
func (c *Checker) MarkDown(name, reason string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.targets[name]
	if w == nil {
		return false
	}
	from := w.tally.state
	if w.tally.markDown() {
		c.changed(w, from, reason, true)
	}
	return true
}

// Get returns one target's status.
func (c *Checker) Get(name string) (Status, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.targets[name]
	if w == nil {
		return Status{}, false
	}
	return w.status(), true
}

// Snapshot returns every target's status, sorted by name.
func (c *Checker) Snapshot() []Status {
	c.mu.Lock()
	out := make([]Status, 0, len(c.targets))
	for _, w := range c.targets {
		out = append(out, w.status())
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (w *watch) status() Status {
	s := w.st
	s.Target = w.target
	s.State, s.Successes, s.Failures = w.tally.state, w.tally.successes, w.tally.failures
	return s
}
