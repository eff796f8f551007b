// Package heartbeat is the agent's heartbeat role: membership over several
// authenticated links, placement of resource groups, takeover with fencing,
// quorum, manual moves, standby and maintenance. It runs alone on every
// member node; the CLI is not needed for a failover.
//
// All decisions are made in one goroutine (Engine.Run) from one state: the
// received heartbeats, the groups' local states, the clock. Slow work —
// starting and stopping resources, fencing, pinging the tie-breaker — runs
// in other goroutines that report back through channels, so heartbeats are
// never late because a resource is slow.
//
// # Deaths
//
// A peer is dead when no valid heartbeat came on any link for deadtime,
// counting only the time this engine could look (see silence): the ticks'
// own lateness is not the peers' silence, and every tick reads the sockets
// (transport.poll) before it judges. A peer whose agent announced that
// it stops (leave: a restart, an upgrade, a changed spec) keeps the groups
// it runs and is neither dead nor fenced for leaveGrace (initdead) while a
// new agent starts; a peer killed without a word is dead at deadtime.
//
// # Fencing
//
// A dead peer is fenced, when it has fence devices, before a group it
// may run is started here (mayStart), and — with three members or more —
// by the quorate side's first member by name when it died holding no group
// (fenceIdle); never on a quorum that rests on members heard late
// (shakyQuorum). Just before a fence device runs, the peer's links are read
// again: a peer heard since the decision is not fenced.
package heartbeat

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hactl/hactl/agentbin/fence"
	"github.com/hactl/hactl/agentbin/heartbeat/wire"
	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/resource"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// Config is how the agent runs the role.
type Config struct {
	Spec     *spec.Spec
	Logger   *log.Logger
	StateDir string // where standby survives restarts
	// Notify receives every event; the agent logs it and runs the
	// configuration's notify commands.
	Notify func(Event)
	// ResourceEnv is passed to the resources.
	ResourceEnv resource.Env
	// FenceOptions are passed to the fence devices.
	FenceOptions fence.Options
}

// Event is a change worth telling the operator about; status.EventKinds
// lists the kinds.
type Event = status.Event

type peerLink struct {
	lastSeen  time.Time
	lastSeq   uint64 // the peer's latest packet on this link, for echoes
	lastSent  int64
	up        bool
	received  uint64 // packets received on this link since windowSeq
	windowSeq uint64 // the peer's sequence number when the window began
	lossPct   float64
	rtt       time.Duration
	// blindAt is the engine's blind time (Engine.blind) when lastSeen was
	// taken.
	blindAt time.Duration
}

type peer struct {
	spec       spec.Peer
	links      map[string]*peerLink
	alive      bool
	warned     bool
	everSeen   bool
	aliveSince time.Time
	gen        uint64 // the peer agent's generation
	lastSeq    uint64
	knowsKey   bool // it signs with, or accepts, our current key
	state      wire.State
	fenced     bool // fenced since it was last seen dead
	// retired is the newest generation of the peer fenced: its packets
	// still queued in an inbox are dropped.
	retired    uint64
	fencing    bool
	fenceAfter time.Time // retry fencing after this
	fencers    []fence.Fencer
	// leavingUntil is, while the peer's agent announced that it stops
	// (wire.State.Leaving), when the peer is counted dead if no new agent
	// of it was heard by then; zero otherwise.
	leavingUntil time.Time
	// silence is how long the peer was silent at the last tick (silence).
	silence time.Duration
	// heard is when a link last accepted a packet of the peer (Unix ns,
	// deliver), taken by the engine or not: a fencing is called off when the peer was
	// heard after what the decision to fence it knew (see fence).
	heard atomic.Int64
}

type groupRun struct {
	spec   spec.Group
	runner *groupRunner
	cancel context.CancelFunc
	state  GroupState
	err    error
}

// Engine is the heartbeat role of one node.
type Engine struct {
	cfg  Config
	sp   *spec.Spec
	hb   *spec.Heartbeat
	self string

	keys wire.Keys
	// inboxes check and queue packets per link (transport.go), each with
	// its own counters; they share guard, whose windows are per link: the
	// same heartbeat arrives once on every link (each copy naming its
	// link), and each arrival proves that link works.
	inboxes map[string]*inbox
	// links are the inboxes in the spec's order, as the engine takes
	// their packets in turn.
	links []*inbox
	// ready tells the engine that an inbox has packets.
	ready    chan struct{}
	guard    *wire.ReplayGuard
	gen, seq uint64
	started  time.Time
	// leaving is set when Run ends: the last heartbeats say that this
	// agent stops and keeps its groups.
	leaving bool
	// lastTick is when the last tick ran, and blind the total of the
	// ticks' lateness: the time the engine could not look at its links
	// (the process starved of CPU, say). Silence is measured without it
	// (see silence).
	lastTick time.Time
	blind    time.Duration

	peers map[string]*peer
	// peerOrder and peerList are the peers' names and the peers, sorted
	// by name; groupNames the groups' names, sorted.
	peerOrder  []string
	peerList   []*peer
	groups     map[string]*groupRun
	groupNames []string
	// dests are, per link, where its heartbeats go.
	dests map[string][]netip.AddrPort
	// echoTurn and moveTurn are the first echo and move the next
	// heartbeat carries when not all fit (state.go); trimmed counts the
	// heartbeats whose groups did not fit whole.
	echoTurn, moveTurn int
	trimmed            uint64
	moves              map[string]Move
	standby            bool
	maintenance        bool
	quorate            bool
	splitBrains        uint64
	// quorateSince is when this node last gained quorum: after regaining
	// it, a node waits deadtime before taking over from members it thinks
	// dead, as the healed links that gave quorum back also bring their
	// heartbeats.
	quorateSince time.Time
	tieBreaker   quorumDevice

	newResource resourceFactory
	rec         *resource.Record
	tr          transport
	events      chan groupEvent
	fenced      chan fenceResult
	controls    chan control
	// sendDrops counts, per link, the heartbeats the link refused.
	sendDrops map[string]uint64
	// version is the wire version this node sends: the newest every peer
	// heard reads (wire.ReplayGuard.Speaks), so that a cluster upgraded
	// one node at a time hears itself throughout.
	version byte
	// sendBuf holds each packet while it is sent: the links copy it.
	sendBuf []byte
	// Serve tracking (serve.go): the carrier of the VIPs' interfaces and
	// the groups this node cannot serve, sorted.
	carrier     carrierFunc
	ping        pingFunc
	pingPeriod  time.Duration
	pingTargets map[string]*pingTarget // by address, as the spec writes it
	// releaseAfter holds, per group this node cannot serve only for its
	// ping targets, when it may release it (see keepDampened).
	releaseAfter map[string]time.Time
	serveHold    time.Duration
	carriers     map[string]*carrierState
	cannotServe  []string

	// published is when publish last ran; changed says that an event
	// happened since.
	published time.Time
	changed   bool

	mu      sync.Mutex
	recent  []Event
	waiting map[string]string
	status  *status.Heartbeat
}

type fenceResult struct {
	node string
	err  error
	// heard says that the fencing was called off: the peer was heard
	// after the decision.
	heard bool
}

// New prepares the role for a spec with a heartbeat section.
func New(cfg Config) (*Engine, error) {
	sp := cfg.Spec
	if cfg.Logger == nil {
		cfg.Logger = log.New(io.Discard, "", 0)
	}
	if cfg.ResourceEnv.Logger == nil {
		cfg.ResourceEnv.Logger = cfg.Logger
	}
	if sp.Heartbeat == nil {
		return nil, fmt.Errorf("heartbeat: the spec of %s has no heartbeat section", sp.Node)
	}
	var keys wire.Keys
	var err error
	if keys.Current, err = wire.LoadKey(sp.Heartbeat.KeyPath); err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	if sp.Heartbeat.OldKeyPath != "" {
		if keys.Previous, err = wire.LoadKey(sp.Heartbeat.OldKeyPath); err != nil {
			return nil, fmt.Errorf("heartbeat: %w", err)
		}
	}
	e := &Engine{
		cfg: cfg, sp: sp, hb: sp.Heartbeat, self: sp.Node,
		keys: keys, inboxes: map[string]*inbox{}, ready: make(chan struct{}, 1), guard: &wire.ReplayGuard{},
		started: time.Now(), peers: map[string]*peer{}, groups: map[string]*groupRun{},
		moves: map[string]Move{}, quorate: true, newResource: resource.New, sendDrops: map[string]uint64{},
		carrier: ifCarrier, ping: ping, pingPeriod: pingPeriod, pingTargets: map[string]*pingTarget{}, releaseAfter: map[string]time.Time{},
		serveHold: serveHold, carriers: map[string]*carrierState{},
		events: make(chan groupEvent, 64),
		fenced: make(chan fenceResult, 8), controls: make(chan control),
	}
	if e.gen, err = wire.NextGeneration(e.generationFile(), e.started); err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	e.quorateSince = e.started
	members := []string{sp.Node}
	for _, p := range sp.Heartbeat.Peers {
		members = append(members, p.Name)
	}
	for _, l := range sp.Heartbeat.Links {
		counts := &wire.Counters{}
		ib := &inbox{link: l.Name, counts: counts, q: make(chan received, inboxSize),
			budget: newBudget(verifyRate(len(sp.Heartbeat.Peers), ms(sp.Heartbeat.IntervalMS))),
			rcv: &wire.Receiver{Cluster: sp.Cluster, Self: sp.Node, Members: members, Link: l.Name,
				Keys: keys, Guard: e.guard, Counters: counts, Generation: e.gen}}
		e.inboxes[l.Name] = ib
		e.links = append(e.links, ib)
	}
	e.dests = map[string][]netip.AddrPort{}
	for _, l := range sp.Heartbeat.Links {
		e.dests[l.Name] = destinations(l, sp.Heartbeat.Peers, sp.Heartbeat.Port)
	}
	for _, p := range sp.Heartbeat.Peers {
		pr := &peer{spec: p, links: map[string]*peerLink{}}
		for _, l := range sp.Heartbeat.Links {
			pr.links[l.Name] = &peerLink{}
		}
		for _, f := range p.Fences {
			fn, err := fence.New(f, cfg.FenceOptions)
			if err != nil {
				return nil, fmt.Errorf("heartbeat: fencing %s: %w", p.Name, err)
			}
			pr.fencers = append(pr.fencers, fn)
		}
		e.peers[p.Name] = pr
		e.peerOrder = append(e.peerOrder, p.Name)
	}
	sort.Strings(e.peerOrder)
	for _, n := range e.peerOrder {
		e.peerList = append(e.peerList, e.peers[n])
	}
	if q := sp.Quorum; q != nil && q.TieBreaker != "" {
		addr, err := netip.ParseAddr(q.TieBreaker)
		if err != nil {
			return nil, fmt.Errorf("heartbeat: tie-breaker %q: %w", q.TieBreaker, err)
		}
		e.tieBreaker = newTieBreaker(addr, e.interval(), e.deadtime())
	}
	for _, g := range sp.Groups {
		for _, a := range g.PingTargets {
			addr, err := netip.ParseAddr(a)
			if err != nil {
				return nil, fmt.Errorf("heartbeat: group %s: ping target %q: %w", g.Name, a, err)
			}
			t := &pingTarget{addr: addr}
			t.reachable.Store(true)
			e.pingTargets[a] = t
		}
	}
	e.standby = e.loadStandby()
	if e.rec, err = resource.LoadRecord(recordPath(cfg.StateDir)); err != nil {
		// The groups of the spec run all the same; only leftovers of an
		// earlier spec, which the record no longer names, stay.
		cfg.Logger.Printf("heartbeat: %v", err)
	}
	return e, nil
}

func (e *Engine) interval() time.Duration { return ms(e.hb.IntervalMS) }
func (e *Engine) deadtime() time.Duration { return ms(e.hb.DeadtimeMS) }
func (e *Engine) warntime() time.Duration { return ms(e.hb.WarntimeMS) }
func (e *Engine) initdead() time.Duration { return ms(e.hb.InitdeadMS) }

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func (e *Engine) emit(kind status.EventKind, node, group, detail string) {
	ev := Event{Time: time.Now().UTC(), Kind: kind, Node: node, Group: group, Detail: detail}
	e.changed = true
	e.mu.Lock()
	e.recent = append(e.recent, ev)
	if n := len(e.recent); n > 50 {
		e.recent = e.recent[n-50:]
	}
	e.mu.Unlock()
	if e.cfg.Notify != nil {
		e.cfg.Notify(ev)
	}
}

// Run runs the role until ctx ends, and leaves the groups it runs as they
// are: an agent restart keeps them running, and the new agent takes them
// over as its own. What a former spec started and this one no longer has,
// Run releases (releaseLeftovers).
func (e *Engine) Run(ctx context.Context) error {
	tr, err := listenUDP(e.hb, e.deliver)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return e.run(ctx, tr)
}

func (e *Engine) run(ctx context.Context, tr transport) error {
	e.tr = tr
	defer tr.close()
	groupCtx, cancelGroups := context.WithCancel(context.Background())
	// The goroutines end with the role, so that the next role, built
	// from a changed spec, finds the record and the resources settled.
	var wg sync.WaitGroup
	defer func() { cancelGroups(); wg.Wait() }()
	// Leftover VIPs go before any group starts: taking an address off is
	// quick, and one taken off after a new VIP of its subnet was added
	// would take that one with it when it is the subnet's primary
	// address (promote_secondaries off, the kernel's default).
	// What runs here is looked at first: a group whose VIP changed address
	// is known by the old address, released just below.
	adopt := map[string]bool{}
	for _, g := range e.sp.Groups {
		adopt[g.Name] = e.adoptable(g)
	}
	if err := e.rec.Release(groupCtx, e.sp.Groups, e.newResource, e.cfg.ResourceEnv, "vip"); err != nil {
		e.cfg.Logger.Printf("heartbeat: %v", err)
	}
	wg.Go(func() { e.releaseLeftovers(groupCtx) })
	for _, g := range e.sp.Groups {
		r, err := newGroupRunner(g, e.cfg.ResourceEnv, e.newResource, e.rec, e.events)
		if err != nil {
			return fmt.Errorf("heartbeat: %w", err)
		}
		gctx, cancel := context.WithCancel(groupCtx)
		e.groups[g.Name] = &groupRun{spec: g, runner: r, cancel: cancel, state: Stopped}
		e.groupNames = append(e.groupNames, g.Name)
		wg.Go(func() { r.run(gctx) })
		// Whatever a previous agent left running is taken as held:
		// resources are idempotent, so a start confirms it, and placement
		// decides whether it stays.
		if adopt[g.Name] {
			e.groups[g.Name].state = Starting
			r.cmds <- true
		}
	}
	sort.Strings(e.groupNames)
	if e.tieBreaker != nil {
		go e.tieBreaker.run(ctx)
	}
	for _, t := range e.pingTargets {
		go e.pingLoop(ctx, t)
	}
	tick := newTicker(e.interval())
	defer tick.Stop()
	e.tick(time.Now())
	for {
		select {
		case <-ctx.Done():
			e.leave()
			return nil
		case <-e.ready:
			if e.drain() {
				e.decide(time.Now())
			}
		case ev := <-e.events:
			e.groupChanged(ev)
			e.decide(time.Now())
			e.sendHeartbeat(time.Now())
		case fr := <-e.fenced:
			e.fenceDone(fr)
			e.decide(time.Now())
		case c := <-e.controls:
			c.reply <- e.control(c)
			e.decide(time.Now())
			e.sendHeartbeat(time.Now())
		case <-tick.C:
			// The clock, not the tick's time: a tick that comes late
			// (the process starved) must know it is late.
			e.tick(time.Now())
		}
	}
}

// releaseRetry is how long a resource that would not stop when it left
// the spec waits before it is tried again.
const releaseRetry = 10 * time.Second

// releaseLeftovers stops what an earlier agent started here and the spec
// no longer has (a VIP whose address changed, a removed group), trying
// again until it is all gone or ctx ends. It runs beside the engine: a
// slow stop must not hold up heartbeats, and nothing it stops belongs to a
// group of this spec.
func (e *Engine) releaseLeftovers(ctx context.Context) {
	retry := time.NewTicker(releaseRetry)
	defer retry.Stop()
	for {
		err := e.rec.Release(ctx, e.sp.Groups, e.newResource, e.cfg.ResourceEnv)
		if err == nil {
			return
		}
		e.cfg.Logger.Printf("heartbeat: %v; trying again in %s", err, releaseRetry)
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
		}
	}
}

// leftoverDrift lists what an earlier spec started here that is not
// released yet.
func (e *Engine) leftoverDrift() []string {
	var out []string
	for _, s := range e.rec.Leftovers(e.sp.Groups) {
		out = append(out, fmt.Sprintf("%s was started by an earlier spec and is not released yet", s))
	}
	return out
}

// recordPath is the record of started resources under the state
// directory (layout.StateDir when unset).
func recordPath(stateDir string) string {
	if stateDir == "" {
		return layout.StartedPath
	}
	return filepath.Join(stateDir, filepath.Base(layout.StartedPath))
}

// adoptable says whether the group already runs here (an agent restarted
// under a running group, or a new spec changed the group): its first
// resource is a VIP that is up, or a VIP this node's record says it started
// for the group is — so that an apply that changes a group's VIP address
// leaves the group where it runs instead of handing it to the node placed
// first. A node that rebooted holds no VIP, and so adopts nothing.
func (e *Engine) adoptable(g spec.Group) bool {
	var vips []spec.Resource
	if len(g.Resources) > 0 && g.Resources[0].Kind == "vip" {
		vips = append(vips, g.Resources[0])
	}
	for _, s := range e.rec.Entries() {
		if s.Group == g.Name && s.Resource.Kind == "vip" {
			vips = append(vips, s.Resource)
		}
	}
	for _, rs := range vips {
		r, err := e.newResource(rs, e.cfg.ResourceEnv)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ok, err := r.Monitor(ctx)
		cancel()
		if err == nil && ok {
			return true
		}
	}
	return false
}

// leave tells the peers that this agent stops and keeps its groups
// running: a restart, an upgrade or a changed spec, after which a new
// agent takes them over (adoptable). Twice, so that one lost packet does
// not get the node fenced; a peer that misses both counts it dead at
// deadtime, as before there was an announcement.
func (e *Engine) leave() {
	e.leaving = true
	e.sendHeartbeat(time.Now())
	e.sendHeartbeat(time.Now())
}

// leaveGrace is how long a peer that announced it stops is not counted
// dead: the time a new agent gets to come up and be heard, as one that
// starts gets to hear its peers (initdead), and never less than deadtime.
func (e *Engine) leaveGrace() time.Duration { return max(e.initdead(), e.deadtime()) }

func (e *Engine) tick(now time.Time) {
	// A tick later than an interval and a half found the engine unable
	// to look at its links since the last one: that time is not silence
	// of the peers (their packets may be in the sockets), see silence.
	if !e.lastTick.IsZero() {
		if late := now.Sub(e.lastTick) - e.interval(); late > e.interval()/2 {
			e.blind += late
		}
	}
	e.lastTick = now
	// Judge liveness on all that arrived: what waits in the sockets (the
	// links are read here, once a tick: see udpLink) and in the inboxes.
	e.tr.poll()
	select {
	case <-e.ready: // drained just below
	default:
	}
	e.drain()
	e.updateLiveness(now)
	e.updateQuorum()
	e.updateServe(now)
	e.decide(now)
	e.sendHeartbeat(now)
	if e.changed || now.Sub(e.published) >= publishEvery {
		e.publish(now)
	}
}

// publishEvery is how often the status is refreshed when nothing worth an
// event happened: the agent reads it once a second. Refreshing it every
// tick was an eighth of the engine's work.
const publishEvery = 200 * time.Millisecond

// drain takes the packets the inboxes hold, one from each link in turn,
// so that no link waits behind another's backlog, and at most inboxSize
// rounds, so that the ticks keep their pace. It reports whether a peer's
// state changed in a way placement must look at: placement then looks
// once for the lot.
func (e *Engine) drain() bool {
	changed := false
	for range inboxSize {
		more := false
		for _, ib := range e.links {
			select {
			case r := <-ib.q:
				changed = e.receive(ib.link, r) || changed
				more = true
			default:
			}
		}
		if !more {
			return changed
		}
	}
	// Some are left: come back for them after the other work.
	select {
	case e.ready <- struct{}{}:
	default:
	}
	return changed
}

// receive handles one authenticated packet that arrived on link; it
// reports whether a peer's state changed in a way placement must look at.
func (e *Engine) receive(link string, r received) bool {
	pkt := r.pkt
	p := e.peers[pkt.From]
	if p == nil || pkt.Generation <= p.retired {
		// Queued before its sender was fenced (see fenceDone).
		return false
	}
	l := p.links[link]
	if l == nil || pkt.Generation < p.gen {
		// An older generation is an agent that has since restarted,
		// never a restart.
		return false
	}
	l.lastSeen, l.lastSeq, l.lastSent, l.blindAt = r.at, pkt.Seq, pkt.SentUnixNano, e.blind
	l.received++
	if l.windowSeq == 0 || pkt.Seq < l.windowSeq {
		l.windowSeq = pkt.Seq
	}
	p.knowsKey = pkt.SenderKnowsCurrentKey()
	for _, echo := range pkt.State.Echo {
		if echo.Peer == e.self && echo.Link == link && echo.SentUnixNano > 0 {
			l.rtt = wire.RTT(pkt, echo, r.at)
		}
	}
	if !l.up {
		l.up = true
		if p.alive {
			e.emit(status.LinkUp, p.spec.Name, "", "link "+link)
		}
	}
	changed := false
	if pkt.Generation > p.gen {
		// The peer's agent restarted: its link windows start again.
		p.gen, p.lastSeq = pkt.Generation, 0
		for _, pl := range p.links {
			pl.windowSeq, pl.received = pkt.Seq, 0
		}
	}
	if pkt.Seq > p.lastSeq {
		changed = !sameState(p.state, pkt.State)
		p.lastSeq, p.state = pkt.Seq, pkt.State
		switch {
		case pkt.State.Leaving && p.leavingUntil.IsZero():
			p.leavingUntil = r.at.Add(e.leaveGrace())
			detail := "its agent stops and releases its groups"
			if held := slices.Concat(pkt.State.Held, pkt.State.Starting, pkt.State.Stopping); len(held) > 0 {
				detail = fmt.Sprintf("its agent stops and keeps %v running", held)
			}
			e.emit(status.NodeLeaving, p.spec.Name, "", fmt.Sprintf("%s; not counted dead for %s while a new agent starts", detail, e.leaveGrace()))
		case !pkt.State.Leaving:
			p.leavingUntil = time.Time{}
		}
	}
	if !p.alive {
		p.alive, p.warned, p.everSeen, p.fenced = true, false, true, false
		p.aliveSince = r.at
		e.emit(status.NodeAlive, p.spec.Name, "", "")
		changed = true
	}
	return e.mergeMoves(pkt.State.Moves) || changed
}

func sameState(a, b wire.State) bool {
	return a.Standby == b.Standby && a.Maintenance == b.Maintenance && a.Quorate == b.Quorate && a.Leaving == b.Leaving &&
		slices.Equal(a.Held, b.Held) && slices.Equal(a.Starting, b.Starting) &&
		slices.Equal(a.Stopping, b.Stopping) && slices.Equal(a.Failed, b.Failed) &&
		slices.Equal(a.CannotServe, b.CannotServe)
}

// peerNames are the peers' names, sorted; the caller must not change them.
func (e *Engine) peerNames() []string { return e.peerOrder }

// silence is how long a link has been silent at now, counting only the
// time this engine could look: the lateness of its own ticks since the
// link's last packet (blind) is taken off, so that a node whose process
// was starved, or frozen, does not call its peers dead for its own
// absence (their packets may be waiting in its sockets, or they were
// starved alike on a shared machine). A peer that died meanwhile is
// declared dead a deadtime after this node could look again.
func (e *Engine) silence(l *peerLink, now time.Time) time.Duration {
	return now.Sub(l.lastSeen) - (e.blind - l.blindAt)
}

// updateLiveness declares links and peers up or down from the clock.
func (e *Engine) updateLiveness(now time.Time) {
	for _, name := range e.peerNames() {
		p := e.peers[name]
		if p.alive && !p.leavingUntil.IsZero() && now.Before(p.leavingUntil) {
			// Restarting: its links are silent, and say nothing.
			p.silence = 0
			continue
		}
		silent := time.Duration(1<<63 - 1)
		for lname, l := range p.links {
			ls := e.silence(l, now)
			if l.up && ls > e.deadtime() {
				l.up = false
				if p.alive {
					e.emit(status.LinkDown, name, "", "link "+lname)
				}
			}
			silent = min(silent, ls)
			// Loss over the last window: what the peer sent (its sequence
			// numbers advance once per packet, on every link) against what
			// arrived here on this link.
			if sent := p.lastSeq - l.windowSeq + 1; l.windowSeq > 0 && sent >= 50 {
				l.lossPct = 100 * (1 - min(float64(l.received)/float64(sent), 1))
				l.received, l.windowSeq = 0, p.lastSeq+1
			}
		}
		if !p.everSeen {
			silent = now.Sub(e.started)
		}
		p.silence = silent
		dead := e.deadtime()
		if !p.everSeen {
			dead = e.initdead()
		}
		switch {
		case p.alive && !p.leavingUntil.IsZero():
			p.alive, p.leavingUntil = false, time.Time{}
			e.emit(status.NodeDead, name, "", fmt.Sprintf("its agent stopped and no new one was heard within %s", e.leaveGrace()))
		case p.alive && silent > dead:
			p.alive = false
			e.emit(status.NodeDead, name, "", fmt.Sprintf("no valid heartbeat on any link for %s", silent.Round(time.Millisecond)))
		case p.alive && silent > e.warntime() && !p.warned:
			p.warned = true
			e.emit(status.NodeLate, name, "", fmt.Sprintf("last heartbeat %s ago", silent.Round(time.Millisecond)))
		case p.alive && silent <= e.warntime():
			p.warned = false
		}
	}
}

// updateQuorum applies the quorum rules: a majority of the members with
// three or more; with two, the tie-breaker when there is one, else both
// halves keep quorum (fencing must then protect the data).
func (e *Engine) updateQuorum() {
	if time.Since(e.started) < e.initdead() {
		for _, p := range e.peers {
			if !p.everSeen {
				// Starting up: peers not heard yet are not known dead,
				// and the start gate in mayStart holds groups back.
				return
			}
		}
	}
	members := len(e.peers) + 1
	alive, late := 1, false
	for _, p := range e.peers {
		if p.alive {
			alive++
		}
		late = late || p.warned
	}
	q := true
	switch {
	case members >= 3:
		q = alive*2 > members
	case members == 2 && e.tieBreaker != nil && alive < 2:
		q = e.tieBreaker.reachable()
	}
	if e.tieBreaker != nil {
		e.tieBreaker.setActive(alive < members || late)
	}
	if q != e.quorate {
		e.quorate = q
		if q {
			e.quorateSince = time.Now()
			e.emit(status.QuorumRegained, e.self, "", fmt.Sprintf("%d of %d members", alive, members))
		} else {
			e.emit(status.QuorumLost, e.self, "", fmt.Sprintf("%d of %d members", alive, members))
		}
	}
}

func (e *Engine) policy() string {
	if e.sp.Quorum == nil || e.sp.Quorum.Policy == "" {
		return "stop"
	}
	return e.sp.Quorum.Policy
}

// view is this node's picture of the cluster, for placement.
func (e *Engine) view(now time.Time) View {
	v := View{AliveSince: map[string]time.Time{e.self: e.started}, Standby: map[string]bool{e.self: e.standby},
		Dead: map[string]bool{}, Holders: map[string][]string{}, Moves: e.moves, CannotServe: map[string][]string{e.self: e.cannotServe}, Now: now}
	for name, g := range e.groups {
		if g.state == Running || g.state == Starting || g.state == StopFailed {
			v.Holders[name] = append(v.Holders[name], e.self)
		}
	}
	for _, name := range e.peerNames() {
		p := e.peers[name]
		if !p.alive {
			// Without quorum this node may be the one cut off: it
			// does not end a move on its word alone.
			v.Dead[name] = p.everSeen && e.quorate
			continue
		}
		v.AliveSince[name] = p.aliveSince
		v.Standby[name] = p.state.Standby
		v.CannotServe[name] = p.state.CannotServe
		if p.state.Leaving {
			// Its agent stops: it keeps what it runs (Held, below), and
			// takes nothing new until a new agent is heard.
			v.CannotServe[name] = slices.DeleteFunc(slices.Clone(e.groupNames), func(g string) bool {
				return slices.Contains(p.state.Held, g) || slices.Contains(p.state.Starting, g)
			})
		}
		for _, g := range p.state.Held {
			v.Holders[g] = append(v.Holders[g], name)
		}
	}
	return v
}

// decide compares placement with what runs here and starts, stops or
// waits. It never starts a group another alive member still runs, nor one
// a dead member may still run when that member can be fenced and was not.
func (e *Engine) decide(now time.Time) {
	v := e.view(now)
	e.endMoves(v)
	if e.maintenance {
		return
	}
	for _, name := range e.groupNames {
		g := e.groups[name]
		owner := Place(e.groupPlan(name), v)
		if !e.quorate {
			switch e.policy() {
			case "stop":
				owner = ""
			case "freeze":
				if g.state == Running {
					owner = e.self
				} else {
					owner = ""
				}
			}
		}
		waiting := ""
		switch {
		case owner == e.self && g.state == Stopped:
			if waiting = e.mayStart(name, g, v, now); waiting != "" {
				break
			}
			g.state = Starting
			g.runner.cmds <- true
		case owner != e.self && (g.state == Running || g.state == Starting):
			if waiting = e.keepDampened(name, now); waiting != "" {
				break
			}
			if others := otherHolders(v.Holders[name], e.self); len(others) > 0 && g.state == Running {
				e.splitBrains++
				e.emit(status.SplitBrain, e.self, name, fmt.Sprintf("also run by %v; releasing it here, the lower placed node", others))
			}
			g.state = Stopping
			g.runner.cmds <- false
		}
		e.setWaiting(name, waiting)
	}
	e.fenceIdle(now)
}

func otherHolders(holders []string, self string) []string {
	var out []string
	for _, h := range holders {
		if h != self {
			out = append(out, h)
		}
	}
	return out
}

// bannedFrom says whether node failed the group and must not get it back
// until the operator clears it.
func (e *Engine) bannedFrom(group, node string) bool {
	if node == e.self {
		return e.groups[group].state == Failed
	}
	if p := e.peers[node]; p != nil && p.alive {
		return slices.Contains(p.state.Failed, group)
	}
	return false
}

// mayStart says why this node must not start the group yet, or "".
func (e *Engine) mayStart(name string, g *groupRun, v View, now time.Time) string {
	if others := otherHolders(v.Holders[name], e.self); len(others) > 0 {
		return fmt.Sprintf("waiting for %v to release it", others)
	}
	for _, pname := range e.peerNames() {
		p := e.peers[pname]
		if p.alive && (slices.Contains(p.state.Stopping, name) || slices.Contains(p.state.Starting, name)) {
			return fmt.Sprintf("waiting for %s to finish with it", pname)
		}
	}
	if now.Sub(e.started) < e.initdead() {
		for _, pname := range e.peerNames() {
			if !e.peers[pname].everSeen {
				return fmt.Sprintf("starting up: waiting up to initdead for %s", pname)
			}
		}
	}
	for _, l := range g.spec.Locations {
		if p := e.peers[l.Node]; p != nil && !p.alive && now.Sub(e.quorateSince) < e.deadtime() {
			return "quorum just regained: listening for " + l.Node + " first"
		}
	}
	if why := e.shakyQuorum(); why != "" {
		return why
	}
	for _, l := range g.spec.Locations {
		p := e.peers[l.Node]
		if p == nil || p.alive || p.fenced || len(p.fencers) == 0 {
			continue
		}
		if !p.fencing && now.After(p.fenceAfter) {
			e.startFencing(p, name, "before taking over "+name)
		}
		return fmt.Sprintf("waiting for %s to be fenced", p.spec.Name)
	}
	return ""
}

// shakyQuorum says why this node's quorum may be about to go, or "": with
// three members or more, a majority of them heard within half a deadtime.
// A member cut off alone sees its peers fall silent together, but calls
// them dead one tick apart, as their last packets came: for a tick it
// counts itself with the one still alive, a majority, and would fence
// or take over from the other. That one is late already.
func (e *Engine) shakyQuorum() string {
	if len(e.peers) < 2 {
		return ""
	}
	firm := 1
	var late []string
	for _, p := range e.peerList {
		switch {
		case !p.alive:
		case p.silence <= e.deadtime()/2:
			firm++
		default:
			late = append(late, p.spec.Name)
		}
	}
	if firm*2 > len(e.peers)+1 {
		return ""
	}
	return fmt.Sprintf("quorum rests on %v, heard late: waiting to see whether it goes", late)
}

// startFencing fences a peer this engine holds dead, in another
// goroutine; fenceDone gets the outcome.
func (e *Engine) startFencing(p *peer, group, why string) {
	p.fencing = true
	e.emit(status.Fencing, p.spec.Name, group, why)
	var known int64
	for _, l := range p.links {
		known = max(known, l.lastSeen.UnixNano())
	}
	go e.fence(p, known)
}

// fence runs the peer's fence devices until one works. Just before each,
// it looks at the links once more: a peer heard after the newest packet
// the decision knew of (known, Unix ns) is not fenced — a cable plugged
// back, a process that got the CPU again — and placement looks again.
func (e *Engine) fence(p *peer, known int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	for _, f := range p.fencers {
		e.tr.poll()
		if p.heard.Load() > known {
			e.fenced <- fenceResult{node: p.spec.Name, heard: true}
			return
		}
		err := f.Fence(ctx, p.spec.Name)
		if err == nil {
			e.fenced <- fenceResult{node: p.spec.Name}
			return
		}
		errs = append(errs, err)
	}
	e.fenced <- fenceResult{node: p.spec.Name, err: fmt.Errorf("%v", errs)}
}

// fenceIdle fences members that died holding no group, which no takeover
// fences: an operator expects a dead member fenced whether or not it ran
// anything, so that it cannot come back half alive. Only with three
// members or more and from the quorate side, and only the first alive
// member by name, so that one member fences and a member cut off alone
// fences nobody. In a cluster of two, each half of a pulled cable would
// fence the other and both would go down: there a member is fenced only
// to take its groups over.
func (e *Engine) fenceIdle(now time.Time) {
	if len(e.peers) < 2 || !e.quorate || e.shakyQuorum() != "" {
		return
	}
	first := e.self
	for _, p := range e.peerList {
		if p.alive && p.spec.Name < first {
			first = p.spec.Name
		}
	}
	if first != e.self {
		return
	}
	for _, p := range e.peerList {
		if p.alive || !p.everSeen || p.fenced || p.fencing || len(p.fencers) == 0 || !now.After(p.fenceAfter) {
			continue
		}
		if len(p.state.Held) > 0 || len(p.state.Starting) > 0 || len(p.state.Stopping) > 0 {
			continue // the takeover of its groups fences it (mayStart)
		}
		e.startFencing(p, "", "it died holding no group")
	}
}

func (e *Engine) fenceDone(fr fenceResult) {
	p := e.peers[fr.node]
	p.fencing = false
	if fr.heard {
		e.cfg.Logger.Printf("heartbeat: %s was heard again just before it was to be fenced: not fenced", fr.node)
		return
	}
	if fr.err != nil {
		p.fenceAfter = time.Now().Add(e.deadtime())
		e.emit(status.FenceFailed, fr.node, "", fmt.Sprintf("%v; its groups are not taken over", fr.err))
		return
	}
	if !p.alive {
		p.fenced, p.retired = true, p.gen
		e.guard.Retire(fr.node, p.gen)
		e.emit(status.Fenced, fr.node, "", "")
	}
}

func (e *Engine) setWaiting(group, why string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.waiting == nil {
		e.waiting = map[string]string{}
	}
	e.waiting[group] = why
}

func (e *Engine) groupChanged(ev groupEvent) {
	g := e.groups[ev.group]
	if g == nil {
		return
	}
	if ev.restarted != "" {
		e.emit(status.ResourceRestarted, e.self, ev.group, ev.restarted)
		return
	}
	prev := g.state
	g.state, g.err = ev.state, ev.err
	switch {
	case ev.state == Running && prev != Running:
		e.emit(status.GroupStarted, e.self, ev.group, "")
	case ev.state == Stopped && prev == Stopping:
		e.emit(status.GroupStopped, e.self, ev.group, "")
	case ev.state == Failed || ev.state == StopFailed:
		e.emit(status.GroupFailed, e.self, ev.group, fmt.Sprint(ev.err))
	}
}

// sendHeartbeat sends this node's state on every link, fitted to a
// packet (state.go).
func (e *Engine) sendHeartbeat(now time.Time) {
	core := wire.State{Standby: e.standby, Maintenance: e.maintenance, Quorate: e.quorate, Uptime: now.Sub(e.started), Leaving: e.leaving,
		CannotServe: e.cannotServe}
	for _, name := range e.groupNames {
		switch e.groups[name].state {
		case Running, StopFailed:
			core.Held = append(core.Held, name)
		case Starting:
			core.Starting = append(core.Starting, name)
		case Stopping:
			core.Stopping = append(core.Stopping, name)
		case Failed:
			core.Failed = append(core.Failed, name)
		}
	}
	moves := e.wireMoves()
	allReady := true
	for _, p := range e.peerList {
		allReady = allReady && p.knowsKey
	}
	key, keyID := e.keys.Signing(allReady)
	heard := e.guard.Heard()
	if v := e.guard.Speaks(); v != e.version {
		if e.version != 0 || v != wire.Version {
			e.cfg.Logger.Printf("heartbeat: sending wire version %d (this agent reads %d to %d): %s", v, wire.MinVersion, wire.Version, versionWhy(v))
		}
		e.version = v
	}
	e.seq++
	sentMoves, sentEchoes := 0, 0
	for _, l := range e.hb.Links {
		// A packet on a link carries the echoes of that link only: they
		// measure its round trips.
		var echoes []wire.Echo
		for _, p := range e.peerList {
			if pl := p.links[l.Name]; pl.lastSeq > 0 {
				echoes = append(echoes, wire.Echo{Peer: p.spec.Name, Link: l.Name, Seq: pl.lastSeq, RecvUnixNano: pl.lastSeen.UnixNano(), SentUnixNano: pl.lastSent})
			}
		}
		st, trimmed := fitState(core, echoes, e.echoTurn, moves, e.moveTurn, wire.StateRoom(e.sp.Cluster, e.self, l.Name, heard))
		if trimmed {
			e.trimmed++
			if e.trimmed == 1 || e.trimmed%1000 == 0 {
				e.cfg.Logger.Printf("heartbeat: link %s: this node's groups do not fit a heartbeat (%d times so far); sent them cut short. Run hactl validate, which says what to reduce", l.Name, e.trimmed)
			}
		}
		sentMoves, sentEchoes = max(sentMoves, len(st.Moves)), max(sentEchoes, len(st.Echo))
		pkt := &wire.Packet{Cluster: e.sp.Cluster, From: e.self, Generation: e.gen, Seq: e.seq, SentUnixNano: time.Now().UnixNano(), Link: l.Name,
			Heard: heard, State: st, Version: e.version, Speaks: wire.Version}
		b, err := wire.AppendEncode(e.sendBuf[:0], pkt, key, keyID)
		if err != nil {
			// Not expected once fitted; the other links still send.
			e.cfg.Logger.Printf("heartbeat: link %s: encoding: %v", l.Name, err)
			e.sendDrops[l.Name]++
			continue
		}
		e.sendBuf = b[:0]
		for _, to := range e.dests[l.Name] {
			// A refused packet is what a dead link looks like from here;
			// the peers notice the silence, and status counts the drops.
			if e.tr.send(l.Name, to, b) != nil {
				e.sendDrops[l.Name]++
			}
		}
	}
	e.moveTurn += sentMoves
	e.echoTurn += sentEchoes
}

func versionWhy(v byte) string {
	if v < wire.Version {
		return "a peer runs an older release; upgrade it to go back to the newest version"
	}
	return "every peer heard reads it"
}

func (e *Engine) standbyFile() string { return e.stateFile("standby") }

// generationFile records this node's last generation (wire.NextGeneration).
func (e *Engine) generationFile() string { return e.stateFile("generation") }

func (e *Engine) stateFile(name string) string {
	dir := e.cfg.StateDir
	if dir == "" {
		dir = layout.StateDir
	}
	return filepath.Join(dir, name)
}

func (e *Engine) loadStandby() bool {
	_, err := os.Stat(e.standbyFile())
	return err == nil
}

func (e *Engine) saveStandby(on bool) error {
	if !on {
		if err := os.Remove(e.standbyFile()); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(e.standbyFile()), 0o755); err != nil {
		return err
	}
	return os.WriteFile(e.standbyFile(), []byte("standby\n"), 0o644)
}
