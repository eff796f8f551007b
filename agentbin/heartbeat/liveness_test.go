package heartbeat

import (
	"io"
	"log"
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

// Drill findings of issue 15: false deaths and needless fencings.

// events counts the events of a kind in a node's latest status.
func (c *cluster) events(node string, kind status.EventKind) int {
	n := 0
	if st := c.engines[node].Status(); st != nil {
		for _, ev := range st.Events {
			if ev.Kind == kind {
				n++
			}
		}
	}
	return n
}

// bothAlive waits until the two nodes take each other for alive.
func (c *cluster) bothAlive(a, b string) {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !(c.member(a, b).Alive && c.member(b, a).Alive) {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s and %s never took each other for alive", a, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// An agent restart (the init script's stop, then start) keeps the groups
// running: the stopping agent says so, and its peer neither counts it
// dead nor fences it, although the restart lasts longer than deadtime;
// the new agent takes the group over with no move. An agent killed
// without a word is a death, fenced.
func TestAnAnnouncedRestartIsNeitherADeathNorFenced(t *testing.T) {
	o := clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true, fences: map[string]error{"h2g": nil, "c2g": nil}}
	c := newCluster(t, o)
	c.eventually("h2g")
	c.bothAlive("h2g", "c2g")
	c.cancel["h2g"]()
	<-c.done["h2g"]
	down := 5 * time.Duration(c.specs["h2g"].Heartbeat.DeadtimeMS) * time.Millisecond / 2
	for until := time.Now().Add(down); time.Now().Before(until); {
		if got := c.w.where("web"); len(got) != 1 || got[0] != "h2g" {
			t.Fatalf("while h2g's agent restarted (%s, deadtime two and a half times), web moved to %v", down, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !c.member("c2g", "h2g").Alive {
		t.Error("c2g counts h2g dead while its agent restarts")
	}
	c.start("h2g", o, 0)
	c.stays("h2g")
	c.sawEvent("c2g", status.NodeLeaving)
	for _, kind := range []status.EventKind{status.NodeDead, status.Fencing} {
		if n := c.events("c2g", kind); n > 0 {
			t.Errorf("c2g reported %d %s events over h2g's announced restart", n, kind)
		}
	}

	// kill -9: no announcement.
	c.net.setCut("h2g", true)
	c.cancel["h2g"]()
	<-c.done["h2g"]
	c.sawEvent("c2g", status.Fenced)
	c.w.set("web", "h2g", false) // the fencing powered it off
	c.eventually("c2g")
}

// A member whose agent stopped and announced it, and never came back, is
// dead once the grace is over: its groups are taken over, after fencing.
func TestALeaverThatDoesNotReturnIsDeadAfterTheGrace(t *testing.T) {
	o := clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true, fences: map[string]error{"h2g": nil}}
	c := newCluster(t, o)
	c.eventually("h2g")
	c.bothAlive("h2g", "c2g")
	grace := c.engines["c2g"].leaveGrace()
	stopped := time.Now()
	c.cancel["h2g"]()
	<-c.done["h2g"]
	c.sawEvent("c2g", status.Fenced)
	if took := time.Since(stopped); took < grace {
		t.Errorf("h2g was fenced %s after its agent stopped, within the grace (%s)", took, grace)
	}
	c.w.set("web", "h2g", false)
	c.eventually("c2g")
}

// With one P, the runtime runs the ticker's goroutine before it polls the
// network: a node whose process was starved ticks before its links'
// readers have read what waits in the sockets. The peer's heartbeats are
// there, so it is alive.
func TestPacketsWaitingInTheSocketsAreLife(t *testing.T) {
	o := clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true, fences: map[string]error{"h2g": nil}}
	c := newCluster(t, o)
	c.eventually("h2g")
	c.bothAlive("h2g", "c2g")
	c.net.setUnread("c2g", true)
	time.Sleep(5 * time.Duration(c.specs["c2g"].Heartbeat.DeadtimeMS) * time.Millisecond)
	c.net.setUnread("c2g", false)
	c.stays("h2g")
	for _, kind := range []status.EventKind{status.NodeDead, status.Fencing} {
		if n := c.events("c2g", kind); n > 0 {
			t.Errorf("c2g reported %d %s events while h2g's heartbeats waited in its sockets", n, kind)
		}
	}
}

// fencedCount is a fence device that counts its calls.
func fencedCount(e *Engine, peer string) *int {
	calls := 0
	e.peers[peer].fencers = []fence.Fencer{fakeFencer{calls: &calls, mu: &sync.Mutex{}}}
	return &calls
}

// bPacket is b's heartbeat to a (idleEngine) on link, holding held.
func bPacket(t *testing.T, e *Engine, gen, seq uint64, link string, held ...string) []byte {
	t.Helper()
	return packetFrom(t, e, "b", gen, seq, link, held...)
}

// packetFrom is from's heartbeat to e on link, holding held.
func packetFrom(t *testing.T, e *Engine, from string, gen, seq uint64, link string, held ...string) []byte {
	t.Helper()
	b, err := wire.Encode(&wire.Packet{Cluster: "test", From: from, Generation: gen, Seq: seq, SentUnixNano: time.Now().UnixNano(), Link: link,
		Heard: []wire.Heard{{Node: "a", Generation: e.gen}}, State: wire.State{Quorate: true, Held: held}}, []byte(strings.Repeat("k", 32)), wire.KeyCurrent)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A tick that comes late — the process had no CPU — says nothing of the
// peers' silence in between: silence is counted over the time the engine
// could look, and a peer is dead a deadtime after that.
func TestALateTickDoesNotCountTheEnginesOwnAbsence(t *testing.T) {
	e := idleEngine(t)
	interval, deadtime := e.interval(), e.deadtime()
	t0 := time.Now()
	e.deliver("lan", bPacket(t, e, 1, 1, "lan"), t0)
	e.deliver("direct", bPacket(t, e, 1, 2, "direct"), t0)
	e.tick(t0)
	if !e.peers["b"].alive {
		t.Fatal("b is not alive after its heartbeats")
	}
	stall := 3 * deadtime
	now := t0.Add(stall)
	e.tick(now)
	if !e.peers["b"].alive {
		t.Fatalf("b was declared dead on a tick %s late", stall-interval)
	}
	// From then on the ticks are on time: b is dead a deadtime after
	// this node could look again, not before.
	for e.peers["b"].alive {
		now = now.Add(interval)
		e.tick(now)
	}
	if looked := now.Sub(t0.Add(stall)); looked <= deadtime-interval || looked > deadtime+interval {
		t.Errorf("b was declared dead %s after the late tick, want about deadtime (%s)", looked, deadtime)
	}
}

// The tick judges on what arrived: a heartbeat queued by a link's reader
// and not yet taken by the engine keeps its sender alive, and its
// group is not taken over from it — nor is it fenced.
func TestATakeoverDecisionSeesQueuedHeartbeats(t *testing.T) {
	e := idleEngine(t)
	calls := fencedCount(e, "b")
	e.groups["web"].state = Stopped
	t0 := time.Now()
	e.deliver("lan", bPacket(t, e, 1, 1, "lan", "web"), t0)
	e.tick(t0)
	if !e.peers["b"].alive {
		t.Fatal("b is not alive after its heartbeat")
	}
	// b's next heartbeat is queued just as a's tick is due, two
	// deadtimes after the first (a lost run of packets).
	later := t0.Add(2 * e.deadtime())
	e.deliver("lan", bPacket(t, e, 1, 2, "lan", "web"), later)
	e.tick(later)
	if !e.peers["b"].alive {
		t.Error("b was declared dead with its heartbeat waiting in the queue")
	}
	if e.groups["web"].state != Stopped {
		t.Errorf("a took web over from b, which holds it: %s", e.groups["web"].state)
	}
	time.Sleep(50 * time.Millisecond) // a fencing would run by now
	if *calls > 0 {
		t.Errorf("b, alive, was fenced %d times", *calls)
	}
}

// A decision to fence is looked at again just before the fence device
// runs: a peer heard since (its cable plugged back) is not fenced.
func TestFencingIsCalledOffWhenThePeerIsHeardAgain(t *testing.T) {
	e := idleEngine(t)
	calls := fencedCount(e, "b")
	p := e.peers["b"]
	decided := time.Now().UnixNano()
	e.deliver("lan", bPacket(t, e, 1, 1, "lan", "web"), time.Now())
	e.fence(p, decided)
	if fr := <-e.fenced; !fr.heard || fr.err != nil {
		t.Errorf("fencing b, heard after the decision, gave %+v; want it called off", fr)
	}
	if *calls > 0 {
		t.Errorf("the fence device ran %d times for a peer heard after the decision", *calls)
	}
	// Not heard since: fenced.
	e.fence(p, p.heard.Load())
	if fr := <-e.fenced; fr.heard || fr.err != nil || *calls != 1 {
		t.Errorf("fencing b, silent since the decision, gave %+v and %d calls; want it fenced once", fr, *calls)
	}
}

// A member that dies holding no group is fenced too, with three members
// or more, by the quorate side's first member by name alone. With two, a
// member is fenced only to take its groups over: each half of a pulled
// cable would otherwise power the other off.
func TestADeadMemberHoldingNoGroupIsFenced(t *testing.T) {
	t.Run("three members", func(t *testing.T) {
		c := newCluster(t, clusterOpts{nodes: []string{"n1", "n2", "n3"}, failback: true, fences: map[string]error{"n1": nil, "n2": nil, "n3": nil}})
		c.eventually("n1")
		c.bothAlive("n1", "n3")
		c.bothAlive("n2", "n3")
		c.net.setCut("n3", true)
		c.sawEvent("n1", status.Fenced)
		c.stays("n1")
		for _, node := range []string{"n2", "n3"} {
			if n := c.events(node, status.Fencing); n > 0 {
				t.Errorf("%s fenced too (%d times): only the quorate side's first member fences", node, n)
			}
		}
	})
	t.Run("two members", func(t *testing.T) {
		c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true, fences: map[string]error{"c2g": nil}})
		c.eventually("h2g")
		c.bothAlive("h2g", "c2g")
		c.net.setCut("c2g", true)
		c.eventually("c2g", "h2g") // c2g, cut off and unable to fence, starts it too
		time.Sleep(5 * time.Duration(c.specs["h2g"].Heartbeat.DeadtimeMS) * time.Millisecond)
		if n := c.events("h2g", status.Fencing); n > 0 {
			t.Errorf("h2g fenced c2g (%d times), which held nothing, in a cluster of two", n)
		}
	})
}

// A member cut off alone sees its two peers fall silent together but
// calls them dead one tick apart, as their last packets came. In the tick
// between, it counted itself and the later one as a majority and fenced
// the other (the three-node drill, seed 166687377756435543, step 121: c2g
// alone powered h2g off). The later one is late already: a quorum that
// rests on it fences no one and takes nothing over.
func TestALoneMemberFencesNoOneOnAQuorumOfLateMembers(t *testing.T) {
	sp := &spec.Spec{FormatVersion: spec.FormatVersion, Cluster: "test", Node: "a", Quorum: &spec.Quorum{Policy: "stop"},
		Heartbeat: &spec.Heartbeat{IntervalMS: 20, WarntimeMS: 60, DeadtimeMS: 100, InitdeadMS: 5000, Port: 694, KeyPath: writeKey(t),
			Links: []spec.Link{{Name: "lan", Interface: "lo", Local: "10.0.0.1", Mode: "unicast"}}, Members: []string{"a", "b", "c"},
			Peers: []spec.Peer{{Name: "b", Addresses: map[string]string{"lan": "10.0.0.2"}}, {Name: "c", Addresses: map[string]string{"lan": "10.0.0.3"}}}},
		Groups: []spec.Group{{Name: "web", Locations: []spec.Location{{Node: "b", Score: 300}, {Node: "a", Score: 200}, {Node: "c", Score: 100}},
			Resources: []spec.Resource{{Kind: "service", Name: "web", MonitorIntervalMS: 10000}}}}}
	e, err := New(Config{Spec: sp, Logger: log.New(io.Discard, "", 0), StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld()
	e.newResource = func(spec.Resource, resource.Env) (resource.Resource, error) {
		return &fakeResource{w: w, group: "web", node: "a"}, nil
	}
	r, err := newGroupRunner(sp.Groups[0], e.cfg.ResourceEnv, e.newResource, e.rec, e.events)
	if err != nil {
		t.Fatal(err)
	}
	e.groups["web"] = &groupRun{spec: sp.Groups[0], runner: r, cancel: func() {}, state: Stopped}
	e.groupNames = []string{"web"}
	e.tr = discardTransport{}
	calls := map[string]*int{"b": fencedCount(e, "b"), "c": fencedCount(e, "c")}
	t0 := time.Now()
	e.deliver("lan", packetFrom(t, e, "b", 1, 1, "lan", "web"), t0)
	e.deliver("lan", packetFrom(t, e, "c", 1, 1, "lan"), t0.Add(15*time.Millisecond))
	e.tick(t0.Add(25 * time.Millisecond))
	if !e.peers["b"].alive || !e.peers["c"].alive || !e.quorate {
		t.Fatal("b and c are not alive, or a not quorate, after their heartbeats")
	}
	// Cut off: b is dead at this tick, c (15ms later) at the next.
	for now := t0.Add(25 * time.Millisecond); e.peers["c"].alive; {
		now = now.Add(e.interval())
		e.tick(now)
	}
	time.Sleep(50 * time.Millisecond) // a fencing would run by now
	for peer, n := range calls {
		if *n > 0 {
			t.Errorf("a, cut off alone, fenced %s %d times", peer, *n)
		}
	}
	if e.groups["web"].state != Stopped {
		t.Errorf("a, cut off alone, took web over: %s", e.groups["web"].state)
	}
}
