package drill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/status"
	"github.com/hactl/hactl/e2e/lab"
	"github.com/hactl/hactl/plan/config"
	"github.com/hactl/hactl/plan/topology"
)

// Options tune Run.
type Options struct {
	// Config is the cluster's configuration: a .hcl file or a directory.
	// It is copied; the drill edits its copy.
	Config string
	// Duration is how long faults follow one another.
	Duration time.Duration
	// Seed draws the faults; the same seed replays the same sequence.
	Seed uint64
	// Name is the lab's name; default "drill".
	Name string
	// Replace takes down a lab of the same name first, instead of refusing.
	Replace bool
	// Hactl is the hactl binary the drill runs in the lab's ctl namespace
	// (an agent beside it or embedded in it).
	Hactl string
	// Kinds are the kinds of fault to draw from; default every one.
	Kinds []Kind
	// Margin is added to the heartbeat's deadtime to bound an outage;
	// default 2s.
	Margin time.Duration
	// Progress receives a line per step; nil discards them.
	Progress io.Writer
}

// Settle bounds, and the client's cadence.
const (
	settleTimeout = 2 * time.Minute
	settleStable  = 2 * time.Second
	probePeriod   = 20 * time.Millisecond
	arpPeriod     = 150 * time.Millisecond
	arpWait       = 100 * time.Millisecond
	commandLimit  = 5 * time.Minute
	fenceLogWait  = 3 * time.Second
)

// probed is a group the client asks through its first VIP.
type probed struct {
	g      *topology.Group
	vip    netip.Addr
	prober *lab.Prober
}

// run is one drill.
type run struct {
	o      Options
	cfg    string // the copied configuration, as given (file or directory)
	topo   *topology.Topology
	lab    *lab.Lab
	bound  time.Duration
	groups []*probed
	report *Report
	start  time.Time

	mu      sync.Mutex
	samples []holderSample
	judged  time.Time // samples before this were judged
}

// Run runs a drill and returns its report. It returns an error when the
// drill itself cannot run (the configuration, the lab, hactl apply); what
// the cluster does wrong is in the report's violations.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Name == "" {
		o.Name = "drill"
	}
	if o.Margin == 0 {
		o.Margin = 2 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	r := &run{o: o, report: &Report{Config: o.Config, Lab: o.Name, Seed: o.Seed, Duration: o.Duration}}
	work, err := os.MkdirTemp("", "hactl-drill-")
	if err != nil {
		return nil, fmt.Errorf("making the drill's work directory: %w", err)
	}
	defer os.RemoveAll(work)
	if err := r.prepare(work); err != nil {
		return nil, err
	}
	r.logf("drill of cluster %s in lab %s, seed %d, for %s; outage bound %s", r.topo.Cluster.Name, o.Name, o.Seed, o.Duration, r.bound)
	for _, a := range r.report.Adapted {
		r.logf("  %s", a)
	}
	l, err := lab.Up(ctx, r.topo, lab.Options{Name: o.Name, Replace: o.Replace})
	if err != nil {
		return nil, err
	}
	r.lab = l
	runErr := r.drill(ctx)
	if err := r.teardown(); err != nil {
		return r.report, errors.Join(runErr, err)
	}
	return r.report, runErr
}

// prepare copies the configuration, adapts it to the lab and loads it.
func (r *run) prepare(work string) error {
	src := r.o.Config
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("reading the configuration: %w", err)
	}
	dir, file := src, ""
	if !fi.IsDir() {
		dir, file = filepath.Dir(src), filepath.Base(src)
	}
	if err := os.CopyFS(work, os.DirFS(dir)); err != nil {
		return fmt.Errorf("copying %s to the drill's work directory: %w", dir, err)
	}
	r.cfg = filepath.Join(work, file)
	hcls, _ := filepath.Glob(filepath.Join(work, "*.hcl"))
	for _, path := range hcls {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range systemdService.FindAllStringSubmatch(string(b), -1) {
			r.report.Adapted = append(r.report.Adapted, fmt.Sprintf("service %q runs as OCF's Dummy agent: the lab's nodes run no systemd (the lab's web server answers on the VIP)", m[2]))
		}
		b = systemdService.ReplaceAll(b, []byte("${1}ocf \"${2}\" {\n${1}  type = \"Dummy\""))
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
	}
	res, diags := config.Load(r.cfg, config.Options{})
	if diags.HasErrors() {
		return fmt.Errorf("loading %s: %s", src, diags.Error())
	}
	r.topo = res.Topology
	r.report.Cluster = r.topo.Cluster.Name
	deadtime := 100 * time.Millisecond
	if hb := r.topo.Heartbeat; hb != nil && hb.Deadtime > 0 {
		deadtime = hb.Deadtime
	}
	r.bound = deadtime + r.o.Margin
	r.report.Bound = r.bound
	return nil
}

// systemdService matches the opening of a group's service resource.
var systemdService = regexp.MustCompile(`(?m)^(\s*)service "([^"]+)" \{`)

func (r *run) logf(format string, args ...any) {
	fmt.Fprintf(r.o.Progress, format+"\n", args...)
}

// since is the time since the drill's faults began, for the progress.
func (r *run) since() string {
	return fmt.Sprintf("%6.1fs", time.Since(r.start).Seconds())
}

// drill applies the configuration, starts the client and runs the steps.
func (r *run) drill(ctx context.Context) error {
	if out, err := r.hactl(ctx, "apply", "--auto-approve"); err != nil {
		// A member whose agent starts first may fence one still being
		// installed: the first apply then fails for that host. The report
		// says so, and the drill applies again.
		r.report.Adapted = append(r.report.Adapted, fmt.Sprintf("the first hactl apply failed (%v: %s); the drill applied again", err, lastLine(out)))
		r.logf("  %s", r.report.Adapted[len(r.report.Adapted)-1])
		if out, err := r.hactl(ctx, "apply", "--auto-approve"); err != nil {
			return fmt.Errorf("hactl apply: %w\n%s", err, out)
		}
	}
	for _, g := range r.topo.Groups {
		vips := groupVIPs(g)
		if len(vips) == 0 {
			r.report.Adapted = append(r.report.Adapted, fmt.Sprintf("group %s has no VIP: the client cannot see it, and the drill does not judge it", g.Name))
			continue
		}
		vip := vips[0].Address.Addr()
		p := &probed{g: g, vip: vip, prober: r.lab.StartProber("http://"+vip.String()+"/", probePeriod)}
		defer p.prober.Stop()
		r.groups = append(r.groups, p)
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopWatch(); wg.Wait() }()
	for _, g := range r.topo.Groups {
		for _, v := range groupVIPs(g) {
			a, err := r.lab.NewARPAsker(networkOf(r.topo, v.Address.Addr()))
			if err != nil {
				return err
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer a.Close()
				r.watch(watchCtx, a, v.Address.Addr())
			}()
		}
	}
	if err := r.settle(ctx); err != nil {
		return fmt.Errorf("the cluster did not settle after hactl apply: %w", err)
	}
	r.start = time.Now()
	r.judged = r.start
	sched := newSchedule(r.o.Seed, r.topo, r.o.Kinds, r.bound)
	for time.Since(r.start) < r.o.Duration {
		if err := ctx.Err(); err != nil {
			r.report.Stopped = "interrupted"
			break
		}
		if !r.quiet(ctx) || !r.step(ctx, sched.next()) {
			break
		}
	}
	r.report.Ran = time.Since(r.start)
	r.judgeBetween(time.Now())
	return nil
}

// watch asks who holds a VIP every arpPeriod until ctx ends.
func (r *run) watch(ctx context.Context, a *lab.ARPAsker, vip netip.Addr) {
	tick := time.NewTicker(arpPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		at := time.Now()
		holders, err := a.WhoHas(vip, arpWait)
		if err != nil {
			continue
		}
		r.mu.Lock()
		r.samples = append(r.samples, holderSample{At: at, VIP: vip, Holders: holders})
		r.mu.Unlock()
	}
}

// samplesOf returns the samples of a VIP asked in [from, to).
func (r *run) samplesOf(vip netip.Addr, from, to time.Time) []holderSample {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []holderSample
	for _, s := range r.samples {
		if s.VIP == vip && !s.At.Before(from) && s.At.Before(to) {
			out = append(out, s)
		}
	}
	return out
}

// holderAt returns the last sole holder of a VIP seen before t.
func (r *run) holderAt(vip netip.Addr, t time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	who := ""
	for _, s := range r.samples {
		if s.VIP == vip && s.At.Before(t) && len(s.Holders) == 1 {
			who = s.Holders[0]
		}
	}
	return who
}

// judgeBetween checks that no VIP had two holders between steps, from the
// last judged moment to t: the cluster was settled, with no excuse.
func (r *run) judgeBetween(t time.Time) {
	for _, p := range r.groups {
		for _, v := range groupVIPs(p.g) {
			for _, s := range r.samplesOf(v.Address.Addr(), r.judged, t) {
				if len(s.Holders) > 1 {
					r.violate(len(r.report.Steps), s.At, "two holders", p.g.Name,
						fmt.Sprintf("%s answered ARP from %s at once, with no fault in progress", v.Address.Addr(), strings.Join(s.Holders, " and ")))
				}
			}
		}
	}
	r.judged = t
}

// quiet makes sure no node was fenced since the last step settled: with
// no fault applied, that is a false death (a member silent past deadtime
// on a busy machine). The report lists it, and the cluster settles again
// before the next fault, so that the fault starts from a settled cluster.
// It reports whether the drill may go on.
func (r *run) quiet(ctx context.Context) bool {
	var fenced []string
	for _, e := range r.fenceLog() {
		if e.OK && e.At.After(r.judged) {
			fenced = append(fenced, e.Node)
			r.report.Unprovoked = append(r.report.Unprovoked, Unprovoked{At: e.At, Node: e.Node, AfterStep: len(r.report.Steps)})
		}
	}
	if len(fenced) == 0 {
		return true
	}
	r.logf("%s the cluster fenced %s with no fault applied; settling again", r.since(), strings.Join(fenced, ", "))
	if err := r.settle(ctx); err != nil {
		r.violate(len(r.report.Steps), time.Now(), "settles", "", err.Error())
		r.report.Stopped = "the cluster did not settle after fencing a node between faults"
		return false
	}
	r.judgeBetween(time.Now())
	return true
}

// step applies one fault, heals it, waits for the cluster to settle and
// judges what happened. It reports whether the drill may go on.
func (r *run) step(ctx context.Context, f Fault) bool {
	index := len(r.report.Steps) + 1
	t0 := time.Now()
	r.judgeBetween(t0)
	step := Step{Index: index, Fault: f, Start: t0}
	before := map[string]string{}
	for _, p := range r.groups {
		before[p.g.Name] = r.holderAt(p.vip, t0)
	}
	if err := r.inject(ctx, f); err != nil {
		r.commandFailed(ctx, &step, "fault applied", err)
	}
	sleep(ctx, f.Hold)
	tEnd := time.Now()
	end := healthy(r.topo)
	if st, err := r.lab.Status(); err == nil {
		end = observed(r.topo, st)
	}
	tHeal := time.Now()
	if err := r.heal(ctx, f); err != nil {
		r.commandFailed(ctx, &step, "fault healed", err)
	}
	settleErr := r.settle(ctx)
	tSettled := time.Now()
	step.Settle = tSettled.Sub(tHeal)
	// The probes sent up to the settle have had their answer or timeout.
	sleep(ctx, time.Second)
	r.judge(&step, before, end, t0, tEnd, tHeal, tSettled)
	for _, e := range r.fenceLog() {
		if e.OK && !e.At.Before(t0) && !e.At.After(tSettled) {
			step.Fenced = append(step.Fenced, e.Node+" by "+e.By)
		}
	}
	r.judged = tSettled
	if ctx.Err() != nil {
		r.report.Stopped = "interrupted"
		return false
	}
	if settleErr != nil {
		r.violate(index, tSettled, "settles", "", settleErr.Error())
		r.report.Stopped = fmt.Sprintf("step %d: the cluster did not settle", index)
	}
	r.report.Steps = append(r.report.Steps, step)
	var outs []string
	for _, g := range step.Groups {
		o := fmt.Sprintf("%s %s→%s outage %.3fs", g.Group, orNobody(g.Before), orNobody(g.After), g.Outage.Seconds())
		if g.HealOutage > 0 {
			o += fmt.Sprintf(", heal %.3fs", g.HealOutage.Seconds())
		}
		if g.Unchecked != "" {
			o += " (unchecked)"
		}
		outs = append(outs, o)
	}
	fenced := ""
	if len(step.Fenced) > 0 {
		fenced = "; fenced " + strings.Join(step.Fenced, ", ")
	}
	r.logf("%s #%d %s (hold %.1fs): %s%s; settled in %.1fs", r.since(), index, f, f.Hold.Seconds(), strings.Join(outs, "; "), fenced, step.Settle.Seconds())
	if len(r.report.Violations) > 0 && r.report.Violations[len(r.report.Violations)-1].Step == index {
		r.collectEvents(ctx)
	}
	return settleErr == nil
}

// commandFailed records a fault that could not be applied or healed. A
// command run for a fault (an operator's apply or failover, an agent's
// restart, the lab's own) must work on a settled cluster, unless the
// cluster fenced a node while it ran: a command on or through that node
// then fails, rightly, and the step says so.
func (r *run) commandFailed(ctx context.Context, step *Step, invariant string, err error) {
	if ctx.Err() != nil {
		return
	}
	// The power switch logs a fencing once the node is off, after the
	// command running on it was killed: give the line time to come.
	for deadline := time.Now().Add(fenceLogWait); ; sleep(ctx, 100*time.Millisecond) {
		for _, e := range r.fenceLog() {
			if e.OK && !e.At.Before(step.Start) {
				note := fmt.Sprintf("%s was fenced while the fault's command ran, which failed: %v", e.Node, firstLine(err.Error()))
				step.Note = strings.TrimPrefix(step.Note+"; "+note, "; ")
				r.logf("%s #%d note: %s", r.since(), step.Index, note)
				return
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
	}
	r.violate(step.Index, time.Now(), invariant, step.Fault.Group, err.Error())
}

// lastLine returns the last line of s that is not empty.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// firstLine returns the first line of s.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// judge checks a step's invariants and records each group's outcome.
func (r *run) judge(step *Step, before map[string]string, end *world, t0, tEnd, tHeal, tSettled time.Time) {
	f := step.Fault
	during := duringFault(r.topo, f)
	fences := r.fenceLog()
	// With three members or more, only a side with a majority may fence:
	// a member cut off alone must not power off the majority.
	if comps := during.components(); len(during.members) > 2 && (r.topo.Quorum == nil || r.topo.Quorum.Policy != topology.QuorumIgnore) {
		for _, e := range fences {
			if !e.OK || e.At.Before(t0) || !e.At.Before(tHeal) {
				continue
			}
			for _, c := range comps {
				if slices.Contains(c, e.By) && !during.quorate(c, comps) {
					r.violate(step.Index, e.At, "only a quorate side fences", "",
						fmt.Sprintf("%s, on a side without a majority (%s of %d members), powered %s off", e.By, strings.Join(c, ", "), len(during.members), e.Node))
				}
			}
		}
	}
	for _, p := range r.groups {
		g := p.g
		probes := p.prober.Since(t0.Add(-time.Second))
		outage, open := longestGap(probes, t0, tEnd)
		heal, _ := longestGap(probes, tHeal, tSettled)
		out := GroupOutcome{Group: g.Name, Before: before[g.Name], After: answeredBy(probes, tEnd),
			Outage: outage, HealOutage: heal, CouldRun: end.canRun(g)}
		if open {
			out.After = ""
		}
		if clientBlind(r.topo, f, g, out.Before) {
			out.Unchecked = "the fault drops the client's own requests to " + f.Node
		}
		switch {
		case out.Unchecked != "":
		case len(out.CouldRun) > 0 && open && outage > r.bound:
			r.violate(step.Index, tEnd, "running when it can", g.Name,
				fmt.Sprintf("the VIP %s had not answered for %.3fs at the end of the fault, although %s could run it", p.vip, outage.Seconds(), strings.Join(out.CouldRun, ", ")))
		case len(out.CouldRun) > 0 && outage > r.bound:
			r.violate(step.Index, tEnd, "bounded outage", g.Name,
				fmt.Sprintf("an outage of %.3fs during the fault, over the bound of %.3fs", outage.Seconds(), r.bound.Seconds()))
		}
		if !open && heal > r.bound {
			r.violate(step.Index, tSettled, "bounded outage", g.Name,
				fmt.Sprintf("an outage of %.3fs during the heal, over the bound of %.3fs", heal.Seconds(), r.bound.Seconds()))
		}
		step.Groups = append(step.Groups, out)

		fencedGroup := !slices.ContainsFunc(g.Locations, func(l topology.Location) bool { return !fenceable(r.topo, l.Node.Name) })
		for _, v := range groupVIPs(g) {
			vip := v.Address.Addr()
			samples := r.samplesOf(vip, t0, tSettled)
			for _, s := range samples {
				if len(s.Holders) < 2 {
					continue
				}
				excused := !fencedGroup && s.At.Before(tHeal) && !allConnected(during, s.Holders)
				if !excused {
					r.violate(step.Index, s.At, "two holders", g.Name,
						fmt.Sprintf("%s answered ARP from %s at once", vip, strings.Join(s.Holders, " and ")))
				}
			}
			for _, tk := range takeovers(samples, r.holderAt(vip, t0)) {
				if tk.From == "" || !tk.At.Before(tHeal) || during.connected(tk.From, tk.To) || !fenceable(r.topo, tk.From) {
					continue
				}
				if f.Kind == KindPower && f.Node == tk.From {
					continue
				}
				if !fencedBetween(fences, tk.From, t0, tk.At) {
					r.violate(step.Index, tk.At, "no takeover without fencing", g.Name,
						fmt.Sprintf("%s took %s over from %s at %s, but the power switch's log shows no power-off of %s since the fault began",
							tk.To, vip, tk.From, tk.At.Format("15:04:05.000"), tk.From))
				}
			}
		}
	}
}

// allConnected reports whether every two of the nodes hear each other.
func allConnected(w *world, nodes []string) bool {
	for i := range nodes {
		for j := i + 1; j < len(nodes); j++ {
			if !w.connected(nodes[i], nodes[j]) {
				return false
			}
		}
	}
	return true
}

// fenceLog reads the power switch's log.
func (r *run) fenceLog() []fenceEntry {
	b, err := os.ReadFile(r.lab.PDULogFile())
	if err != nil {
		return nil
	}
	return parsePDULog(string(b), time.Local)
}

// violate records a violation.
func (r *run) violate(step int, at time.Time, invariant, group, detail string) {
	v := Violation{Step: step, At: at, Invariant: invariant, Group: group, Detail: detail}
	r.report.Violations = append(r.report.Violations, v)
	r.logf("%s VIOLATION %s", r.since(), v)
}

// inject applies a fault.
func (r *run) inject(ctx context.Context, f Fault) error {
	l := r.lab
	switch f.Kind {
	case KindCut:
		return l.Cut(f.Node, f.Iface)
	case KindCutPort:
		return l.CutPort(ctx, f.Node, f.Iface)
	case KindPartition:
		return l.Partition(ctx, f.Sides)
	case KindLoss:
		_, err := l.Loss(ctx, f.Node, f.Iface, f.Percent)
		return err
	case KindKill:
		return l.Kill(ctx, f.Node)
	case KindAgentKill:
		_, err := r.onNode(ctx, f.Node, `pid=$(sed -n 's/^ *"pid": *\([0-9]*\).*/\1/p' `+layout.StatusPath+`); [ -n "$pid" ] && kill -9 "$pid"`)
		return err
	case KindAgentRestart:
		_, err := r.onNode(ctx, f.Node, layout.InitPath+" restart")
		return err
	case KindFreeze:
		return l.Freeze(ctx, f.Node)
	case KindPower:
		return l.PowerOff(ctx, f.Node)
	case KindApply:
		if err := r.edit(f); err != nil {
			return err
		}
		if out, err := r.hactl(ctx, "apply", "--auto-approve"); err != nil {
			return fmt.Errorf("hactl apply: %w\n%s", err, out)
		}
	case KindMove:
		if out, err := r.hactl(ctx, "failover", f.Group, "--to", f.Node); err != nil {
			return fmt.Errorf("hactl failover %s --to %s: %w\n%s", f.Group, f.Node, err, out)
		}
	}
	return nil
}

// heal undoes a fault. Nodes the cluster fenced are powered on by settle.
func (r *run) heal(ctx context.Context, f Fault) error {
	l := r.lab
	switch f.Kind {
	case KindCut, KindCutPort:
		return l.Heal(f.Node, f.Iface)
	case KindPartition, KindLoss:
		return l.HealAll(ctx)
	case KindFreeze:
		return l.Thaw(f.Node)
	case KindMove:
		if out, err := r.hactl(ctx, "failover", f.Group, "--clear"); err != nil {
			return fmt.Errorf("hactl failover %s --clear: %w\n%s", f.Group, err, out)
		}
	}
	return nil
}

// notifyBlock is the notify an apply fault adds and removes.
const notifyBlock = "\nnotify \"drill\" {\n  command = \"/bin/true\"\n}\n"

// edit changes the drill's copy of the configuration for an apply fault.
func (r *run) edit(f Fault) error {
	path, err := r.mainFile()
	if err != nil {
		return err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	switch f.Edit {
	case "notify":
		if strings.Contains(s, notifyBlock) {
			s = strings.Replace(s, notifyBlock, "", 1)
		} else {
			s += notifyBlock
		}
	case "failback":
		s, err = flipFailback(s, f.Group)
		if err != nil {
			return err
		}
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

// mainFile is the file of the copy that apply faults edit: the one given,
// or the directory's cluster.hcl.
func (r *run) mainFile() (string, error) {
	if strings.HasSuffix(r.cfg, ".hcl") {
		return r.cfg, nil
	}
	path := filepath.Join(r.cfg, "cluster.hcl")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("apply faults edit cluster.hcl: %w", err)
	}
	return path, nil
}

// flipFailback flips a group's failback, writing the attribute when the
// group leaves it at its default (true).
func flipFailback(s, group string) (string, error) {
	open := regexp.MustCompile(`(?m)^group "` + regexp.QuoteMeta(group) + `" \{\n`).FindStringIndex(s)
	if open == nil {
		return "", fmt.Errorf("apply fault: group %q is not in the configuration's main file", group)
	}
	body := s[open[1]:]
	end := strings.Index(body, "\n}\n")
	if end < 0 {
		return "", fmt.Errorf("apply fault: group %q's block does not end", group)
	}
	attr := regexp.MustCompile(`(?m)^(\s*failback\s*=\s*)(true|false)`)
	if m := attr.FindStringSubmatchIndex(body[:end]); m != nil {
		flipped := "true"
		if body[m[4]:m[5]] == "true" {
			flipped = "false"
		}
		return s[:open[1]] + body[:m[4]] + flipped + body[m[5]:], nil
	}
	return s[:open[1]] + "  failback = false\n" + body, nil
}

// hactl runs hactl in ctl on the drill's copy of the configuration.
func (r *run) hactl(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandLimit)
	defer cancel()
	argv := append(append([]string{r.o.Hactl}, args...), "-f", r.cfg)
	cmd, err := r.lab.Command(ctx, lab.Ctl, argv...)
	if err != nil {
		return "", err
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// onNode runs a shell command on a node.
func (r *run) onNode(ctx context.Context, node, script string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := r.lab.Exec(ctx, node, "sh", "-c", script)
	return string(out), err
}

// agentStatus reads a node's agent status.
func (r *run) agentStatus(ctx context.Context, node string) (*status.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := r.lab.Exec(ctx, node, "cat", layout.StatusPath)
	if err != nil {
		return nil, err
	}
	var st status.Status
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("%s: decoding its agent's status: %w", node, err)
	}
	return &st, nil
}

// settle brings every node back (thawed, powered on) and waits until
// every agent sees every member alive and every VIP answers from one
// holder, unchanged for settleStable.
func (r *run) settle(ctx context.Context) error {
	deadline := time.Now().Add(settleTimeout)
	var stableSince time.Time
	last, why := "", ""
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return err
		}
		sig, err := r.settled(ctx)
		switch {
		case err != nil:
			why, stableSince, last = err.Error(), time.Time{}, ""
		case sig != last:
			stableSince, last = time.Now(), sig
		case time.Since(stableSince) >= settleStable:
			return nil
		}
		sleep(ctx, 200*time.Millisecond)
	}
	return fmt.Errorf("not settled after %s: %s", settleTimeout, why)
}

// settled checks once; it returns the holders of every VIP, or what is
// not settled yet.
func (r *run) settled(ctx context.Context) (string, error) {
	st, err := r.lab.Status()
	if err != nil {
		return "", err
	}
	for _, n := range st.Nodes {
		switch n.State {
		case lab.StateFrozen:
			if err := r.lab.Thaw(n.Name); err != nil {
				return "", err
			}
			return "", fmt.Errorf("%s was frozen", n.Name)
		case lab.StateOff, lab.StateDown:
			if err := r.lab.PowerOn(ctx, n.Name); err != nil {
				return "", fmt.Errorf("powering %s on: %w", n.Name, err)
			}
			return "", fmt.Errorf("%s was %s", n.Name, n.State)
		}
	}
	members := healthy(r.topo).members
	for _, n := range members {
		as, err := r.agentStatus(ctx, n)
		if err != nil {
			return "", err
		}
		if as.Heartbeat == nil {
			return "", fmt.Errorf("%s's agent runs no heartbeat role", n)
		}
		for _, m := range as.Heartbeat.Members {
			if !m.Alive {
				return "", fmt.Errorf("%s sees %s dead", n, m.Name)
			}
			// A member fit again (a cable plugged back) waits out a hold
			// before it counts as able to serve: a failback is pending.
			if len(m.CannotServe) > 0 {
				return "", fmt.Errorf("%s sees %s unable to serve %s yet", n, m.Name, strings.Join(m.CannotServe, ", "))
			}
		}
		for _, g := range as.Heartbeat.Groups {
			if g.Waiting != "" {
				return "", fmt.Errorf("%s: group %s waits: %s", n, g.Name, g.Waiting)
			}
		}
	}
	var sig []string
	for _, p := range r.groups {
		// Probes of the last second may still wait for their answer.
		var done []lab.Probe
		cut := time.Now().Add(-time.Second)
		for _, pr := range p.prober.Since(cut.Add(-time.Second)) {
			if pr.Sent.Before(cut) {
				done = append(done, pr)
			}
		}
		if len(done) < 10 {
			return "", fmt.Errorf("%s: too few probes", p.vip)
		}
		from := ""
		for _, pr := range done[len(done)-10:] {
			if !pr.OK || (from != "" && pr.From != from) {
				return "", fmt.Errorf("%s does not answer steadily from one node", p.vip)
			}
			from = pr.From
		}
		holders := r.holderSet(p.vip)
		if len(holders) != 1 || holders[0] != from {
			return "", fmt.Errorf("%s is held by %v and answers from %s", p.vip, holders, from)
		}
		sig = append(sig, p.g.Name+"@"+from)
	}
	return strings.Join(sig, " "), nil
}

// holderSet is the last ARP answer for a VIP.
func (r *run) holderSet(vip netip.Addr) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.samples) - 1; i >= 0; i-- {
		if r.samples[i].VIP == vip {
			return r.samples[i].Holders
		}
	}
	return nil
}

// collectEvents adds the agents' events since the drill began and the
// power switch's log to the report, once per violating step.
func (r *run) collectEvents(ctx context.Context) {
	var lines []string
	for _, n := range healthy(r.topo).members {
		as, err := r.agentStatus(ctx, n)
		if err != nil || as.Heartbeat == nil {
			continue
		}
		for _, ev := range as.Heartbeat.Events {
			if ev.Time.Before(r.start) {
				continue
			}
			lines = append(lines, fmt.Sprintf("%s %s saw %s %s %s %s", ev.Time.Local().Format("15:04:05.000"), n, ev.Kind, ev.Node, ev.Group, ev.Detail))
		}
	}
	sort.Strings(lines)
	for _, e := range r.fenceLog() {
		if !e.At.Before(r.start) {
			lines = append(lines, fmt.Sprintf("%s power switch: %s %s (ok %v)", e.At.Format("15:04:05.000"), e.Action, e.Node, e.OK))
		}
	}
	for _, l := range lines {
		if !slices.Contains(r.report.Events, l) {
			r.report.Events = append(r.report.Events, l)
		}
	}
}

// teardown takes the lab down and checks that nothing of it is left.
func (r *run) teardown() error {
	names := r.lab.Namespaces()
	dir := r.lab.Dir()
	inodes := map[uint64]string{}
	for _, ns := range names {
		if ino, err := inode("/run/netns/" + ns); err == nil {
			inodes[ino] = ns
		}
	}
	if err := r.lab.Down(context.Background()); err != nil {
		return fmt.Errorf("taking the drill's lab down: %w", err)
	}
	for _, left := range leftovers(names, dir, inodes) {
		r.violate(len(r.report.Steps), time.Now(), "nothing left", "", left)
	}
	return nil
}

func orNobody(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
