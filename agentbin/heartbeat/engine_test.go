package heartbeat

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/fence"
	"github.com/hactl/hactl/agentbin/heartbeat/wire"
	"github.com/hactl/hactl/agentbin/resource"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// The engine tests run several engines in one process over an in-memory
// network that can cut nodes off, with fake resources that record where
// they run. Timing is real but short (20ms heartbeats); assertions wait
// for outcomes, never for durations.

// world records which node runs which group's resources.
type world struct {
	mu      sync.Mutex
	running map[string]map[string]bool // group → node → running
	fail    map[string]bool            // node → its resources' monitors fail
	// noCarrier: node → its interfaces have no carrier.
	noCarrier map[string]bool
	// pings: node → how its pings fare; pinged counts them.
	pings  map[string]pingFate
	pinged map[string]int
}

type pingFate int

const (
	answered pingFate = iota
	lost
	everyThird // two lost, the third answered: under pingMisses
)

func newWorld() *world {
	return &world{running: map[string]map[string]bool{}, fail: map[string]bool{}, noCarrier: map[string]bool{},
		pings: map[string]pingFate{}, pinged: map[string]int{}}
}

func (w *world) setCarrier(node string, up bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.noCarrier[node] = !up
}

func (w *world) set(group, node string, on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running[group] == nil {
		w.running[group] = map[string]bool{}
	}
	w.running[group][node] = on
}

// where returns the nodes running a group.
func (w *world) where(group string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for n, on := range w.running[group] {
		if on {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// fakeResource is the group's one resource on one node.
type fakeResource struct {
	w     *world
	group string
	node  string
}

func (f *fakeResource) Name() string                { return f.group }
func (f *fakeResource) Start(context.Context) error { f.w.set(f.group, f.node, true); return nil }
func (f *fakeResource) Stop(context.Context) error  { f.w.set(f.group, f.node, false); return nil }
func (f *fakeResource) Monitor(context.Context) (bool, error) {
	f.w.mu.Lock()
	defer f.w.mu.Unlock()
	if f.w.fail[f.node] {
		f.w.running[f.group][f.node] = false
		return false, nil
	}
	return f.w.running[f.group][f.node], nil
}

// memNet delivers datagrams between engines; a cut node neither sends nor
// receives.
type memNet struct {
	mu    sync.Mutex
	addrs map[netip.AddrPort]*Engine
	links map[netip.AddrPort]string
	cut   map[string]bool
	// unread: node → its links' readers do not run (a starved process):
	// what reaches it waits in held, as in a socket, until the node
	// polls or its readers run again.
	unread map[string]bool
	held   map[string][]heldPacket
}

type heldPacket struct {
	link string
	b    []byte
}

type memTransport struct {
	net  *memNet
	node string
}

func (t *memTransport) send(link string, to netip.AddrPort, b []byte) error {
	t.net.mu.Lock()
	dst := t.net.addrs[to]
	blocked := t.net.cut[t.node] || (dst != nil && t.net.cut[dst.self])
	t.net.mu.Unlock()
	if dst == nil || blocked {
		return errors.New("unreachable")
	}
	t.net.mu.Lock()
	if t.net.unread[dst.self] {
		t.net.held[dst.self] = append(t.net.held[dst.self], heldPacket{link: link, b: slices.Clone(b)})
		t.net.mu.Unlock()
		return nil
	}
	t.net.mu.Unlock()
	dst.deliver(link, b, time.Now())
	return nil
}

func (t *memTransport) poll() { t.net.flush(t.node) }

// flush delivers what waits for node.
func (n *memNet) flush(node string) {
	n.mu.Lock()
	held := n.held[node]
	if len(held) == 0 {
		n.mu.Unlock()
		return
	}
	n.held[node] = nil
	dst := n.engineOf(node)
	n.mu.Unlock()
	for _, h := range held {
		dst.deliver(h.link, h.b, time.Now())
	}
}

func (n *memNet) engineOf(node string) *Engine {
	for _, e := range n.addrs {
		if e != nil && e.self == node {
			return e
		}
	}
	return nil
}

// setUnread stops or resumes node's readers; resumed, they read what
// waited.
func (n *memNet) setUnread(node string, on bool) {
	n.mu.Lock()
	n.unread[node] = on
	n.mu.Unlock()
	if !on {
		n.flush(node)
	}
}

func (t *memTransport) close() error { return nil }

func (n *memNet) setCut(node string, cut bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[node] = cut
}

type fakeFencer struct {
	err   error
	calls *int
	mu    *sync.Mutex
}

func (f fakeFencer) Fence(context.Context, string) error {
	f.mu.Lock()
	*f.calls++
	f.mu.Unlock()
	return f.err
}

type fakeTieBreaker struct{ ok func() bool }

func (fakeTieBreaker) run(context.Context) {}
func (fakeTieBreaker) setActive(bool)      {}
func (t fakeTieBreaker) reachable() bool   { return t.ok() }

// cluster is a set of engines.
type cluster struct {
	t       *testing.T
	w       *world
	net     *memNet
	engines map[string]*Engine
	cancel  map[string]context.CancelFunc
	done    map[string]chan struct{}
	specs   map[string]*spec.Spec
}

type clusterOpts struct {
	nodes    []string // most preferred first
	failback bool
	delay    time.Duration
	tie      bool // a tie-breaker that cut nodes cannot reach
	fences   map[string]error
	// vip makes the group's resource a VIP on eth1, whose carrier the
	// world sets; ping gives the group a ping target, whose answers the
	// world decides; serveHold is then the engines' hold time.
	vip       bool
	ping      bool
	serveHold time.Duration
}

func newCluster(t *testing.T, o clusterOpts) *cluster {
	t.Helper()
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "key")
	if err := os.WriteFile(keyPath, []byte(base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, w: newWorld(), net: &memNet{addrs: map[netip.AddrPort]*Engine{}, links: map[netip.AddrPort]string{}, cut: map[string]bool{},
		unread: map[string]bool{}, held: map[string][]heldPacket{}},
		engines: map[string]*Engine{}, cancel: map[string]context.CancelFunc{}, done: map[string]chan struct{}{}, specs: map[string]*spec.Spec{}}
	addr := func(i int) string { return fmt.Sprintf("10.0.0.%d", i+1) }
	var locs []spec.Location
	for i, n := range o.nodes {
		locs = append(locs, spec.Location{Node: n, Score: 100 * (len(o.nodes) - i)})
	}
	for i, n := range o.nodes {
		hb := &spec.Heartbeat{IntervalMS: 20, WarntimeMS: 60, DeadtimeMS: 120, InitdeadMS: 400, Port: 694, KeyPath: keyPath,
			Links: []spec.Link{{Name: "lan", Interface: "eth0", Local: addr(i), Mode: "unicast"}}}
		for j, p := range o.nodes {
			hb.Members = append(hb.Members, p)
			if p == n {
				continue
			}
			peer := spec.Peer{Name: p, Addresses: map[string]string{"lan": addr(j)}}
			if _, ok := o.fences[p]; ok {
				peer.Fences = []spec.Fence{{Type: "command", Command: "/bin/true", Action: "off", TimeoutMS: 1000}}
			}
			hb.Peers = append(hb.Peers, peer)
		}
		sp := &spec.Spec{FormatVersion: spec.FormatVersion, Cluster: "test", Node: n, Heartbeat: hb,
			Quorum: &spec.Quorum{Policy: "stop"},
			Groups: []spec.Group{{Name: "web", Locations: locs, Failback: o.failback, FailbackDelayMS: int(o.delay / time.Millisecond),
				Resources: []spec.Resource{{Kind: "service", Name: "web", MonitorIntervalMS: 30, MonitorTimeoutMS: 1000, OnFail: "restart", MaxRestarts: 1}}}}}
		if o.ping {
			sp.Groups[0].PingTargets = []string{"192.0.2.1"}
		}
		if o.vip {
			sp.Groups[0].Resources[0].Kind, sp.Groups[0].Resources[0].Interface = "vip", "eth1"
		}
		c.specs[n] = sp
		c.net.addrs[netip.AddrPortFrom(netip.MustParseAddr(addr(i)), 694)] = nil
	}
	for i, n := range o.nodes {
		c.start(n, o, i)
	}
	return c
}

func (c *cluster) start(n string, o clusterOpts, i int) {
	c.t.Helper()
	e, err := New(Config{Spec: c.specs[n], Logger: log.New(io.Discard, "", 0), StateDir: c.t.TempDir(), Notify: func(ev Event) {
		if testing.Verbose() {
			c.t.Logf("%s %s: %s %s %s", ev.Time.Format("05.000"), n, ev.Kind, ev.Group, ev.Detail)
		}
	}})
	if err != nil {
		c.t.Fatal(err)
	}
	node := n
	e.newResource = func(r spec.Resource, _ resource.Env) (resource.Resource, error) {
		return &fakeResource{w: c.w, group: "web", node: node}, nil
	}
	e.carrier = func(string) (bool, error) {
		c.w.mu.Lock()
		defer c.w.mu.Unlock()
		return !c.w.noCarrier[node], nil
	}
	e.ping = func(context.Context, netip.Addr, time.Duration) bool {
		c.w.mu.Lock()
		defer c.w.mu.Unlock()
		c.w.pinged[node]++
		switch c.w.pings[node] {
		case lost:
			return false
		case everyThird:
			return c.w.pinged[node]%3 == 0
		}
		return true
	}
	e.pingPeriod = 20 * time.Millisecond
	if o.serveHold > 0 {
		e.serveHold = o.serveHold
	}
	if o.tie {
		e.tieBreaker = fakeTieBreaker{ok: func() bool {
			c.net.mu.Lock()
			defer c.net.mu.Unlock()
			return !c.net.cut[node]
		}}
	}
	var mu sync.Mutex
	calls := 0
	for p, ferr := range o.fences {
		if pr := e.peers[p]; pr != nil {
			pr.fencers = []fence.Fencer{fakeFencer{err: ferr, calls: &calls, mu: &mu}}
		}
	}
	c.net.mu.Lock()
	c.net.addrs[netip.AddrPortFrom(netip.MustParseAddr(fmt.Sprintf("10.0.0.%d", i+1)), 694)] = e
	c.net.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c.engines[n], c.cancel[n], c.done[n] = e, cancel, done
	go func() {
		defer close(done)
		if err := e.run(ctx, &memTransport{net: c.net, node: node}); err != nil {
			c.t.Errorf("%s: %v", node, err)
		}
	}()
	c.t.Cleanup(func() { cancel(); <-done })
}

// eventually waits until the group runs exactly on want (none when want
// is empty), failing after a generous bound.
func (c *cluster) eventually(want ...string) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if slices.Equal(c.w.where("web"), want) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("group web runs on %v, want %v", c.w.where("web"), want)
}

// stays checks that the group keeps running on want for a while (several
// deadtimes), to catch a wrong move that would happen later.
func (c *cluster) stays(want ...string) {
	c.t.Helper()
	until := time.Now().Add(600 * time.Millisecond)
	for time.Now().Before(until) {
		if got := c.w.where("web"); !slices.Equal(got, want) {
			c.t.Fatalf("group web moved to %v, want it to stay on %v", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *cluster) control(node string, req Request) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.engines[node].Control(ctx, req)
}

func TestGroupRunsOnThePreferredNodeOnly(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true})
	c.eventually("h2g")
	c.stays("h2g")
}

func TestFailoverOnCutAndFailbackOnHeal(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true, tie: true})
	c.eventually("h2g")
	c.net.setCut("h2g", true)
	// h2g loses the tie-breaker and with it quorum: it releases; c2g keeps
	// quorum and takes over.
	c.eventually("c2g")
	c.net.setCut("h2g", false)
	c.eventually("h2g")
	c.stays("h2g")
}

func TestNoFailbackKeepsTheGroupWhereItRuns(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: false, tie: true})
	c.eventually("h2g")
	c.net.setCut("h2g", true)
	c.eventually("c2g")
	c.net.setCut("h2g", false)
	c.stays("c2g")
}

func TestSplitBrainAfterHealLeavesOneOwner(t *testing.T) {
	// No fencing, no tie-breaker: during the partition both halves run the
	// group; when it heals the lower placed node releases at once.
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: false})
	c.eventually("h2g")
	c.net.setCut("h2g", true)
	c.eventually("c2g", "h2g")
	c.net.setCut("h2g", false)
	c.eventually("h2g")
	c.sawEvent("c2g", "split_brain")
	if n := c.engines["c2g"].Status().SplitBrains; n != 1 {
		t.Errorf("c2g counted %d split brains, want 1", n)
	}
}

// sawEvent waits until a node's status lists an event of the kind.
func (c *cluster) sawEvent(node string, kind status.EventKind) {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if st := c.engines[node].Status(); st != nil {
			for _, ev := range st.Events {
				if ev.Kind == kind {
					return
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Errorf("%s never reported a %s event", node, kind)
}

func TestStandbyOnlineAndManualMove(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true})
	c.eventually("h2g")
	if err := c.control("h2g", Request{Op: "standby"}); err != nil {
		t.Fatal(err)
	}
	c.eventually("c2g")
	if err := c.control("h2g", Request{Op: "online"}); err != nil {
		t.Fatal(err)
	}
	c.eventually("h2g")
	// A manual move holds even against failback.
	if err := c.control("h2g", Request{Op: "move", Group: "web", To: "c2g"}); err != nil {
		t.Fatal(err)
	}
	c.eventually("c2g")
	c.stays("c2g")
	if err := c.control("c2g", Request{Op: "move", Group: "web"}); err != nil {
		t.Fatal(err)
	}
	c.eventually("h2g")
	if err := c.control("h2g", Request{Op: "move", Group: "web", To: "nowhere"}); err == nil {
		t.Error("a move to a node that may not run the group was accepted")
	}
}

func TestThreeNodesMinorityReleasesMajorityServes(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"n1", "n2", "n3"}, failback: true})
	c.eventually("n1")
	c.net.setCut("n1", true)
	// n1 is alone: no quorum, it stops; n2 and n3 keep quorum, n2 runs it.
	c.eventually("n2")
	c.stays("n2")
	if c.engines["n1"].Status().Quorate {
		t.Error("n1 alone still reports quorum")
	}
	c.net.setCut("n1", false)
	c.eventually("n1")
}

func TestFailingFencingBlocksTakeover(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true, tie: true,
		fences: map[string]error{"h2g": errors.New("BMC unreachable")}})
	c.eventually("h2g")
	c.net.setCut("h2g", true)
	// h2g releases (no quorum), but c2g may not start it: h2g could not be
	// fenced, so it might still run it.
	c.eventually()
	c.stays()
	c.sawEvent("c2g", "fence_failed")
}

func TestSuccessfulFencingAllowsTakeover(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true, tie: true,
		fences: map[string]error{"h2g": nil}})
	c.eventually("h2g")
	c.net.setCut("h2g", true)
	c.eventually("c2g")
}

func TestResourceFailureMovesTheGroupAndBansTheNode(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true})
	c.eventually("h2g")
	c.w.mu.Lock()
	c.w.fail["h2g"] = true
	c.w.mu.Unlock()
	c.eventually("c2g")
	c.w.mu.Lock()
	c.w.fail["h2g"] = false
	c.w.mu.Unlock()
	// h2g failed the group: failback must not bring it back there...
	c.stays("c2g")
	// ...until the operator clears it.
	if err := c.control("h2g", Request{Op: "online"}); err != nil {
		t.Fatal(err)
	}
	c.eventually("h2g")
}

// A resource found stopped and started again in place (max_restarts 1) is
// an event, in status and to notify, and the group stays.
func TestRestartInPlaceIsAnEvent(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true})
	c.eventually("h2g")
	c.w.set("web", "h2g", false) // stopped behind the agent's back
	c.eventually("h2g")
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if st := c.engines["h2g"].Status(); st != nil {
			for _, ev := range st.Events {
				if ev.Kind == status.ResourceRestarted {
					if ev.Node != "h2g" || ev.Group != "web" || !strings.Contains(ev.Detail, "service web restarted in place (1 of 1)") {
						t.Errorf("event %+v; want h2g, group web, naming the resource", ev)
					}
					return
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no %s event after the resource was restarted in place", status.ResourceRestarted)
}

func TestForgedAndReplayedHeartbeatsAreDroppedAndCounted(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true})
	c.eventually("h2g")
	target := c.engines["c2g"]
	// A packet signed with another key, claiming to be h2g, saying it
	// runs nothing.
	forged, err := wire.Encode(&wire.Packet{Cluster: "test", From: "h2g", Generation: 1, Seq: 1,
		SentUnixNano: time.Now().UnixNano(), Link: "lan"}, []byte(strings.Repeat("x", 32)), wire.KeyCurrent)
	if err != nil {
		t.Fatal(err)
	}
	// A genuine packet of h2g (seq 1 of its generation), replayed: c2g
	// may never have received the original (it was sent before c2g
	// listened), so the first copy may pass; every later one must not.
	old, err := wire.Encode(&wire.Packet{Cluster: "test", From: "h2g", Generation: c.engines["h2g"].gen, Seq: 1,
		SentUnixNano: time.Now().UnixNano(), Link: "lan"}, []byte(strings.Repeat("k", 32)), wire.KeyCurrent)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		target.deliver("lan", forged, time.Now())
		target.deliver("lan", old, time.Now())
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		st := target.Status()
		if st != nil && st.Dropped["forged"] >= 20 && st.Dropped["replayed"]+st.Dropped["stale"] >= 19 {
			c.stays("h2g")
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("drops not counted: %+v", target.Status().Dropped)
}

// movedTo is the move of group web that node reports, "" for none.
func (c *cluster) movedTo(node string) string {
	c.t.Helper()
	st := c.engines[node].Status()
	if st == nil || len(st.Groups) == 0 {
		return ""
	}
	return st.Groups[0].MovedTo
}

// reportsMove waits until node's status shows the move of web to want
// ("" for no move).
func (c *cluster) reportsMove(node, want string) {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if c.movedTo(node) == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("%s reports the move of web to %q, want %q", node, c.movedTo(node), want)
}

// A move holds until its target dies: when the target comes back, the
// group stays where it went (no failback), as hactl failover's help says.
func TestMoveEndsWhenItsTargetDies(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: false, tie: true})
	c.eventually("h2g")
	if err := c.control("h2g", Request{Op: "move", Group: "web", To: "c2g"}); err != nil {
		t.Fatal(err)
	}
	c.eventually("c2g")
	c.reportsMove("h2g", "c2g")
	c.net.setCut("c2g", true)
	c.eventually("h2g")
	c.reportsMove("h2g", "")
	c.net.setCut("c2g", false)
	c.stays("h2g")
	c.reportsMove("c2g", "")
}

// After the target of a move died and came back, failback_delay holds the
// group back as for any return: the old move does not pull it at once.
func TestFailbackDelayHoldsAfterTheMoveTargetReturns(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true, delay: 2 * time.Second, tie: true})
	c.eventually("h2g")
	// hactl failover web --to c2g, then hactl failover web: a move to h2g.
	if err := c.control("h2g", Request{Op: "move", Group: "web", To: "c2g"}); err != nil {
		t.Fatal(err)
	}
	c.eventually("c2g")
	if err := c.control("c2g", Request{Op: "move", Group: "web"}); err != nil {
		t.Fatal(err)
	}
	c.eventually("h2g")
	c.net.setCut("h2g", true)
	c.eventually("c2g")
	c.net.setCut("h2g", false)
	c.stays("c2g")
	c.eventually("h2g")
}

// hactl online of a node that was a move's target does not pull the group
// back to it: standby ended the move.
func TestOnlineDoesNotPullTheGroupBackToAnOldMoveTarget(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"n1", "n2", "n3"}, failback: false})
	c.eventually("n1")
	if err := c.control("n1", Request{Op: "move", Group: "web", To: "n3"}); err != nil {
		t.Fatal(err)
	}
	c.eventually("n3")
	if err := c.control("n3", Request{Op: "standby"}); err != nil {
		t.Fatal(err)
	}
	c.eventually("n1")
	c.reportsMove("n1", "")
	if err := c.control("n3", Request{Op: "online"}); err != nil {
		t.Fatal(err)
	}
	c.stays("n1")
}

func TestMoveForADurationExpires(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true})
	c.eventually("h2g")
	if err := c.control("h2g", Request{Op: "move", Group: "web", To: "c2g", For: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	c.reportsMove("c2g", "c2g")
	if st := c.engines["c2g"].Status(); st.Groups[0].MoveUntil.IsZero() {
		t.Errorf("c2g's status does not show the move's expiry: %+v", st.Groups[0])
	}
	c.eventually("c2g")
	// Expired, the move gives way to failback.
	c.eventually("h2g")
	c.reportsMove("c2g", "")
}

// A move cleared while a member was cut off does not come back with that
// member's gossip when it returns.
func TestClearedMoveDoesNotComeBackFromAPeerThatMissedTheClear(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"n1", "n2", "n3"}, failback: true})
	c.eventually("n1")
	if err := c.control("n1", Request{Op: "move", Group: "web", To: "n2"}); err != nil {
		t.Fatal(err)
	}
	c.eventually("n2")
	c.reportsMove("n3", "n2")
	c.net.setCut("n3", true)
	if err := c.control("n1", Request{Op: "unmove", Group: "web"}); err != nil {
		t.Fatal(err)
	}
	c.eventually("n1")
	if got := c.movedTo("n3"); got != "n2" {
		t.Fatalf("n3, cut off without quorum, ended the move itself (reports %q)", got)
	}
	c.net.setCut("n3", false)
	c.reportsMove("n3", "")
	c.stays("n1")
	for _, n := range []string{"n1", "n2"} {
		if got := c.movedTo(n); got != "" {
			t.Errorf("%s reports the cleared move to %q again", n, got)
		}
	}
	// Clearing again is harmless.
	if err := c.control("n2", Request{Op: "unmove", Group: "web"}); err != nil {
		t.Error(err)
	}
}
