package heartbeat

import (
	"context"
	"io"
	"log"
	"net/netip"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/heartbeat/wire"
	"github.com/hactl/hactl/agentbin/resource"
	"github.com/hactl/hactl/agentbin/spec"
)

type discardTransport struct{}

func (discardTransport) send(string, netip.AddrPort, []byte) error { return nil }
func (discardTransport) poll()                                     {}
func (discardTransport) close() error                              { return nil }

// twoLinkEngine is node a of a two-node, two-link cluster with one group
// of a fake resource; notify gets its events.
func twoLinkEngine(tb testing.TB, notify func(Event)) *Engine {
	tb.Helper()
	keyPath := writeKey(tb)
	links := []spec.Link{{Name: "lan", Interface: "lo", Local: "10.0.0.1", Mode: "unicast"}, {Name: "direct", Interface: "lo", Local: "10.0.1.1", Mode: "unicast"}}
	locs := []spec.Location{{Node: "a", Score: 200}, {Node: "b", Score: 100}}
	sp := &spec.Spec{FormatVersion: spec.FormatVersion, Cluster: "test", Node: "a", Quorum: &spec.Quorum{Policy: "stop"},
		Heartbeat: &spec.Heartbeat{IntervalMS: 20, WarntimeMS: 60, DeadtimeMS: 100, InitdeadMS: 5000, Port: 694, KeyPath: keyPath,
			Links: links, Members: []string{"a", "b"},
			Peers: []spec.Peer{{Name: "b", Addresses: map[string]string{"lan": "10.0.0.2", "direct": "10.0.1.2"}}}},
		Groups: []spec.Group{{Name: "web", Locations: locs, Failback: true,
			Resources: []spec.Resource{{Kind: "vip", Name: "web-ip", Address: "10.0.0.33/24", Interface: "lo", MonitorIntervalMS: 10000}}}}}
	e, err := New(Config{Spec: sp, Logger: log.New(io.Discard, "", 0), StateDir: tb.TempDir(), Notify: notify})
	if err != nil {
		tb.Fatal(err)
	}
	w := newWorld()
	e.newResource = func(r spec.Resource, _ resource.Env) (resource.Resource, error) {
		return &fakeResource{w: w, group: "web", node: "a"}, nil
	}
	return e
}

// idleEngine is twoLinkEngine running its group, ready for tick and
// receive without its goroutine.
func idleEngine(tb testing.TB) *Engine {
	tb.Helper()
	e := twoLinkEngine(tb, nil)
	g := e.sp.Groups[0]
	r, err := newGroupRunner(g, e.cfg.ResourceEnv, e.newResource, e.rec, e.events)
	if err != nil {
		tb.Fatal(err)
	}
	e.groups[g.Name] = &groupRun{spec: g, runner: r, cancel: func() {}, state: Running}
	e.groupNames = []string{g.Name}
	e.tr = discardTransport{}
	return e
}

// peerPackets are n packets of b on each link (lan, direct, lan, ...), as
// b sends them every interval: holding nothing, echoing a, whose
// generation aGen they name as heard.
func peerPackets(b testing.TB, n int, aGen uint64) [][]byte {
	b.Helper()
	key := []byte("kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk")
	gen := uint64(time.Now().UnixNano())
	var out [][]byte
	for i := range n {
		for _, link := range []string{"lan", "direct"} {
			now := time.Now().UnixNano()
			st := wire.State{Quorate: true, Uptime: time.Minute, Echo: []wire.Echo{
				{Peer: "a", Link: "lan", Seq: uint64(i + 1), RecvUnixNano: now, SentUnixNano: now},
				{Peer: "a", Link: "direct", Seq: uint64(i + 1), RecvUnixNano: now, SentUnixNano: now}}}
			pkt, err := wire.Encode(&wire.Packet{Cluster: "test", From: "b", Generation: gen, Seq: uint64(i + 1), SentUnixNano: now, Link: link,
				Heard: []wire.Heard{{Node: "a", Generation: aGen}}, State: st},
				key, wire.KeyCurrent)
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, pkt)
		}
	}
	return out
}

// BenchmarkInterval is the engine's work in one heartbeat interval of a
// two-node, two-link cluster: the peer's packet received on each link and
// one tick, which sends on each. At the default 20 ms interval, 0.5 % of
// a core is 100 µs per interval, syscalls and wake-ups included.
func BenchmarkInterval(b *testing.B) {
	e := idleEngine(b)
	pkts := peerPackets(b, b.N+1, e.gen)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // the groups' runners would report here
		for {
			select {
			case <-e.events:
			case <-ctx.Done():
				return
			}
		}
	}()
	// Many intervals a second go through here: not a flood.
	for _, ib := range e.links {
		ib.budget = newBudget(1e9)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, link := range []string{"lan", "direct"} {
			e.deliver(link, pkts[2*i+j], time.Now())
			<-e.ready
			if e.drain() {
				e.decide(time.Now())
			}
		}
		e.tick(time.Now())
	}
}
