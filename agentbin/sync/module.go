package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// Retry backoff after a failed run.
const (
	firstBackoff = 250 * time.Millisecond
	maxBackoff   = 30 * time.Second
	// fallbackPeriod is how often full comparisons run while the tree
	// cannot be watched.
	fallbackPeriod = 10 * time.Second
	defaultDelay   = 200 * time.Millisecond
	// driftPeriod is how often a target in sync is compared read-only
	// (rsync --dry-run) for hactl drift: between full comparisons, which
	// repair, it finds what was changed on the target by hand.
	driftPeriod = 30 * time.Second
)

// module is one sync this node pushes.
type module struct {
	s          *spec.Sync
	knownHosts string
	logger     *log.Logger
	emit       func(status.Event)

	mu        sync.Mutex
	seq       uint64
	lastEvent time.Time
	watch     string // why the tree is not watched, "" when it is
	w         *watcher
	targets   []*target
	confirm   chan struct{}
	// active says whether this node pushes: always for a node source,
	// while the group runs here for a group source (kick says it changed).
	active bool
	kick   chan struct{}
}

// target is one target's state; its fields are guarded by module.mu.
type target struct {
	t       spec.SyncTarget
	pending pending
	st      status.SyncTarget
	retryAt time.Time
	backoff time.Duration
	failing bool
	// confirmed lets the next run past the delete guard.
	confirmed bool
	// deletes are the deletions of recent runs, for the guard.
	deletes []deletion
	// takeover marks the first full run since this node became a group's
	// source: what it replaces or deletes on the target may be changes
	// the former source had not sent, so it keeps them (keptDir).
	takeover bool
	// checked is when the target was last compared read-only.
	checked time.Time
}

type deletion struct {
	at time.Time
	n  int64
}

// recentDeletes sums the deletions within the guard's window, forgetting
// older ones.
func (t *target) recentDeletes(now time.Time) int64 {
	var sum int64
	keep := t.deletes[:0]
	for _, d := range t.deletes {
		if now.Sub(d.at) < guardWindow {
			keep = append(keep, d)
			sum += d.n
		}
	}
	t.deletes = keep
	return sum
}

func newModule(s *spec.Sync, stateDir string, logger *log.Logger, emit func(status.Event)) *module {
	m := &module{s: s, logger: logger, emit: emit, confirm: make(chan struct{}, 1), kick: make(chan struct{}, 1),
		knownHosts: filepath.Join(stateDir, "sync", s.Name+".known_hosts"), active: s.Group == ""}
	for _, t := range s.Targets {
		m.targets = append(m.targets, &target{t: t, st: status.SyncTarget{Node: t.Node, Path: t.Path}})
	}
	return m
}

func (m *module) delay() time.Duration {
	if m.s.DelayMS > 0 {
		return time.Duration(m.s.DelayMS) * time.Millisecond
	}
	return defaultDelay
}

func (m *module) interval() time.Duration {
	if m.s.IntervalMS > 0 {
		return time.Duration(m.s.IntervalMS) * time.Millisecond
	}
	return 5 * time.Minute
}

// changed records a changed path for every target.
func (m *module) changed(rel string) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	m.lastEvent = now
	for _, t := range m.targets {
		t.pending.add(rel, now, m.seq)
	}
}

// lost falls back to full comparisons: events may have been missed.
func (m *module) lost(why string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.watch == "" {
		m.logger.Printf("sync %s: %s: falling back to full comparisons every %s", m.s.Name, why, fallbackPeriod)
	}
	m.watch = why
	for _, t := range m.targets {
		t.pending.askFull(time.Now(), true)
	}
}

func (m *module) askFull(missed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.targets {
		t.pending.askFull(time.Now(), missed)
	}
}

func (m *module) writeKnownHosts() error {
	var b strings.Builder
	for _, t := range m.s.Targets {
		for _, k := range t.HostKeys {
			b.WriteString(knownHostsLine(t, k) + "\n")
		}
	}
	if err := os.MkdirAll(filepath.Dir(m.knownHosts), 0o700); err != nil {
		return fmt.Errorf("sync %s: %w", m.s.Name, err)
	}
	tmp := m.knownHosts + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("sync %s: writing known_hosts: %w", m.s.Name, err)
	}
	return os.Rename(tmp, m.knownHosts)
}

// setActive says whether the module's group runs here.
func (m *module) setActive(here bool) {
	m.mu.Lock()
	m.active = here
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func (m *module) isActive() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.active
}

// follow runs the module while its group runs here, until ctx ends. A
// run in flight when the group stops is killed at once: the node that
// takes the group over pushes next, and two sources never push at once
// as long as the group runs on one node at a time.
func (m *module) follow(ctx context.Context) error {
	for {
		for !m.isActive() {
			select {
			case <-ctx.Done():
				return nil
			case <-m.kick:
			}
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- m.run(runCtx) }()
		m.logger.Printf("sync %s: group %s runs here: pushing to the other nodes", m.s.Name, m.s.Group)
		var err error
	wait:
		for {
			select {
			case err = <-done:
				break wait
			case <-m.kick:
				if !m.isActive() {
					cancel()
					err = <-done
					m.logger.Printf("sync %s: group %s stopped here: no longer pushing", m.s.Name, m.s.Group)
					break wait
				}
			}
		}
		cancel()
		if err != nil || ctx.Err() != nil {
			return err
		}
	}
}

// run keeps the targets identical to the source until ctx ends.
func (m *module) run(ctx context.Context) error {
	if err := m.writeKnownHosts(); err != nil {
		return err
	}
	m.mu.Lock()
	m.watch = ""
	for _, t := range m.targets {
		t.takeover = m.s.Group != ""
		t.checked = time.Now()
		// A former stint as source decides nothing now: its backoff and
		// guard are looked at again.
		t.retryAt, t.backoff, t.st.Blocked = time.Time{}, 0, ""
	}
	m.mu.Unlock()
	m.askFull(true)
	if m.s.Trigger != "interval" {
		m.startWatching(ctx)
	}
	period := m.interval()
	lastFull := time.Now()
	tick := time.NewTicker(min(m.delay()/2+time.Millisecond, 100*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			m.mu.Lock()
			if m.w != nil {
				m.w.Close()
				m.w = nil
			}
			m.mu.Unlock()
			m.closeConnections()
			return nil
		case <-m.confirm:
		case <-tick.C:
		}
		m.mu.Lock()
		fallback := m.watch != "" && m.s.Trigger != "interval"
		unwatched := fallback && m.w == nil
		m.mu.Unlock()
		if time.Since(lastFull) >= period || (fallback && time.Since(lastFull) >= fallbackPeriod) {
			if unwatched {
				// The tree may be there now, or watches freed.
				m.startWatching(ctx)
			}
			m.askFull(false)
			lastFull = time.Now()
		}
		for _, t := range m.targets {
			m.maybeRun(ctx, t)
			m.maybeCheck(ctx, t)
		}
	}
}

// maybeCheck compares an idle target with the source, read-only, every
// driftPeriod. A result that raced a change is dropped: what differs
// then is only what is in flight.
func (m *module) maybeCheck(ctx context.Context, t *target) {
	now := time.Now()
	m.mu.Lock()
	idle := len(t.pending.paths) == 0 && !t.pending.full && !t.failing && t.st.Blocked == ""
	if !idle || now.Sub(t.checked) < driftPeriod {
		m.mu.Unlock()
		return
	}
	t.checked = now
	seq := m.seq
	m.mu.Unlock()
	st, err := m.rsync(ctx, t.t, transfer{full: true}, true)
	if err != nil || ctx.Err() != nil {
		return // a failing target shows in its runs
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seq == seq && len(t.pending.paths) == 0 && !t.pending.full {
		t.st.Differs = st.differs.list()
	}
}

// closeConnections ends the shared SSH connections to the targets, which
// would otherwise outlive the role by ControlPersist.
func (m *module) closeConnections() {
	for _, t := range m.targets {
		args := append(sshOptions(m.s, t.t, m.knownHosts), "-O", "exit", strings.TrimSuffix(destination(t.t), ":"))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = exec.CommandContext(ctx, "ssh", args...).Run()
		cancel()
	}
}

// startWatching watches the tree; when it cannot, the module says why and
// runs full comparisons instead, until a later try succeeds.
func (m *module) startWatching(ctx context.Context) {
	if fi, err := os.Stat(m.s.Path); err != nil || !fi.IsDir() {
		m.lost("cannot watch: the source directory " + m.s.Path + " is missing")
		return
	}
	w, err := newWatcher(m.s.Path, m.changed, m.lost)
	if err != nil {
		m.lost("cannot watch: " + err.Error())
		return
	}
	if err := w.addTree(strings.TrimRight(m.s.Path, "/"), false); err != nil {
		w.Close()
		m.lost("cannot watch the tree: " + err.Error())
		return
	}
	m.mu.Lock()
	m.w = w
	again := m.watch != ""
	m.watch = ""
	m.mu.Unlock()
	if again {
		m.logger.Printf("sync %s: watching the tree again", m.s.Name)
		m.askFull(true)
	}
	go w.run(ctx.Done())
}

func (m *module) maybeRun(ctx context.Context, t *target) {
	now := time.Now()
	m.mu.Lock()
	if now.Before(t.retryAt) || !t.pending.due(now, m.lastEvent, m.delay()) {
		m.mu.Unlock()
		return
	}
	tr := t.pending.plan(m.s.Path)
	upTo := m.seq
	confirmed := t.confirmed
	if t.takeover && tr.full {
		tr.keep = keptDir + "/" + now.UTC().Format("20060102T150405Z")
	}
	m.mu.Unlock()

	if _, err := os.Stat(m.s.Path); err != nil {
		m.finish(t, tr, upTo, runStats{}, fmt.Errorf("the source directory %s: %w", m.s.Path, errors.Unwrap(err)))
		return
	}
	guarded := m.s.Delete && m.s.MaxDeletePercent > 0 && !confirmed
	if guarded {
		tr.maxDelete = 0
	}
	if guarded && (tr.full || tr.vanished) {
		// The whole tree, not only this batch: the share is of the
		// target's files, and deletions still pending in other batches
		// count too.
		dry, err := m.rsync(ctx, t.t, transfer{full: true}, true)
		if err != nil {
			m.finish(t, tr, upTo, runStats{}, err)
			return
		}
		m.mu.Lock()
		recent := t.recentDeletes(now)
		m.mu.Unlock()
		if why := deleteGuard(dry, recent, m.s.MaxDeletePercent); why != "" {
			m.block(t, strings.Replace(why, "NAME", m.s.Name, 1))
			return
		}
		tr.maxDelete = int(dry.deleted)
	}
	st, err := m.rsync(ctx, t.t, tr, false)
	if ctx.Err() != nil {
		return
	}
	m.finish(t, tr, upTo, st, err)
}

// rsync runs the transfer's rsync commands, adding their figures.
func (m *module) rsync(ctx context.Context, t spec.SyncTarget, tr transfer, dryRun bool) (runStats, error) {
	var total runStats
	for _, run := range rsyncRuns(m.s, t, m.knownHosts, tr, dryRun) {
		cmd := exec.CommandContext(ctx, "rsync", run.args...)
		cmd.Stdin = strings.NewReader(run.stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		st := parseStats(out.String())
		total.files += st.files
		total.created += st.created
		total.deleted += st.deleted
		total.sent += st.sent
		total.matched += st.matched
		total.replaced += st.replaced
		total.differs.merge(st.differs)
		if err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				return total, fmt.Errorf("running rsync: %w", err)
			}
			_, why := exitPolicy(ee.ExitCode())
			if msg := lastLine(errb.String()); msg != "" {
				why += ": " + msg
			}
			return total, errors.New(why)
		}
	}
	return total, nil
}

// lastLine is what rsync's stderr says, without its generic last line
// ("rsync error: … (code N)"), which the exit policy says better.
func lastLine(s string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "rsync error:") {
			keep = append(keep, l)
		}
	}
	if len(keep) > 3 {
		keep = keep[len(keep)-3:]
	}
	return strings.Join(keep, "; ")
}

func (m *module) block(t *target, why string) {
	m.mu.Lock()
	first := t.st.Blocked == ""
	t.st.Blocked = why
	t.retryAt = time.Now().Add(m.interval())
	m.mu.Unlock()
	if first {
		m.logger.Printf("sync %s → %s: %s", m.s.Name, t.t.Node, why)
		m.emit(status.Event{Time: time.Now(), Kind: status.SyncFailed, Node: t.t.Node, Detail: fmt.Sprintf("sync %s: %s", m.s.Name, why)})
	}
}

func (m *module) finish(t *target, tr transfer, upTo uint64, st runStats, err error) {
	now := time.Now()
	m.mu.Lock()
	t.st.Runs++
	t.st.LastRun = now
	t.st.BytesSent += st.sent
	t.st.BytesSaved += st.matched
	wasFailing := t.failing
	if err != nil {
		t.st.Failures++
		t.st.LastError = err.Error()
		t.failing = true
		t.backoff = min(max(2*t.backoff, firstBackoff), maxBackoff)
		t.retryAt = now.Add(t.backoff)
	} else {
		t.pending.done(tr.full, upTo)
		if st.deleted > 0 && !t.confirmed {
			t.deletes = append(t.deletes, deletion{now, st.deleted})
		}
		if t.confirmed {
			t.deletes = nil
		}
		if tr.full {
			t.st.LastFull = now
			t.st.Differs = nil
		}
		if tr.keep != "" {
			t.takeover = false
			if st.replaced > 0 {
				t.st.Kept = fmt.Sprintf("the first run from this node, the new source, replaced or deleted %d of the target's files (changes the former source may not have sent): they are kept in %s on %s",
					st.replaced, strings.TrimRight(t.t.Path, "/")+"/"+tr.keep, t.t.Node)
				m.logger.Printf("sync %s → %s: %s", m.s.Name, t.t.Node, t.st.Kept)
			}
		}
		t.failing, t.backoff, t.retryAt = false, 0, time.Time{}
		t.st.LastError, t.st.Blocked, t.confirmed = "", "", false
	}
	m.mu.Unlock()
	switch {
	case err != nil && !wasFailing:
		m.logger.Printf("sync %s → %s: %v (retrying)", m.s.Name, t.t.Node, err)
		m.emit(status.Event{Time: now, Kind: status.SyncFailed, Node: t.t.Node, Detail: fmt.Sprintf("sync %s: %v", m.s.Name, err)})
	case err == nil && wasFailing:
		m.logger.Printf("sync %s → %s: recovered", m.s.Name, t.t.Node)
		m.emit(status.Event{Time: now, Kind: status.SyncRecovered, Node: t.t.Node, Detail: "sync " + m.s.Name})
	}
}

// confirmDeletes lets the next run of every blocked target delete.
func (m *module) confirmDeletes() bool {
	m.mu.Lock()
	any := false
	for _, t := range m.targets {
		if t.st.Blocked != "" {
			t.confirmed, t.retryAt, any = true, time.Time{}, true
		}
	}
	m.mu.Unlock()
	select {
	case m.confirm <- struct{}{}:
	default:
	}
	return any
}

func (m *module) report(now time.Time) status.Sync {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := status.Sync{Name: m.s.Name, Path: m.s.Path, Mode: m.s.Trigger, Watch: m.watch, Group: m.s.Group}
	if !m.active {
		out.Mode, out.Watch = "standby", ""
		return out
	}
	if m.w != nil {
		out.Watches = m.w.count()
	}
	if m.watch != "" && m.s.Trigger != "interval" {
		out.Mode = "full runs"
	}
	for _, t := range m.targets {
		st := t.st
		st.Pending = len(t.pending.paths)
		if t.pending.full {
			st.Pending = -1
		}
		if o := t.pending.oldest(); !o.IsZero() {
			st.LagMS = now.Sub(o).Milliseconds()
		}
		switch {
		case st.Blocked != "":
			st.State = "blocked"
		case t.failing:
			st.State = "failing"
		case st.Pending != 0:
			st.State = "pending"
		default:
			st.State = "in_sync"
		}
		out.Targets = append(out.Targets, st)
	}
	return out
}
