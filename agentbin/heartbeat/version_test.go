package heartbeat

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/heartbeat/wire"
	"github.com/hactl/hactl/agentbin/status"
)

// recordTransport keeps what the engine sends.
type recordTransport struct{ sent [][]byte }

func (r *recordTransport) send(_ string, _ netip.AddrPort, b []byte) error {
	r.sent = append(r.sent, append([]byte(nil), b...))
	return nil
}
func (*recordTransport) poll()        {}
func (*recordTransport) close() error { return nil }

// sentVersions are the versions of what tr holds, which it then forgets,
// with the last packet decoded.
func (r *recordTransport) sentVersions(t *testing.T) ([]byte, *wire.Packet) {
	t.Helper()
	var versions []byte
	var last *wire.Packet
	for _, b := range r.sent {
		p, err := wire.Decode(b, wire.Keys{Current: []byte(strings.Repeat("k", 32))})
		if err != nil {
			t.Fatalf("the engine sent a packet it cannot read back: %v", err)
		}
		versions, last = append(versions, p.Version), p
	}
	r.sent = nil
	return versions, last
}

// versionPacket is b's heartbeat to a (idleEngine) on link in version,
// saying it reads speaks (0: nothing, as agents of version 2), having
// heard a's generation aGen (0: nothing).
func versionPacket(t *testing.T, gen, seq uint64, link string, version, speaks byte, aGen uint64) []byte {
	t.Helper()
	var heard []wire.Heard
	if aGen != 0 {
		heard = []wire.Heard{{Node: "a", Generation: aGen}}
	}
	b, err := wire.Encode(&wire.Packet{Cluster: "test", From: "b", Generation: gen, Seq: seq, SentUnixNano: time.Now().UnixNano(), Link: link,
		Heard: heard, State: wire.State{Quorate: true}, Version: version, Speaks: speaks}, []byte(strings.Repeat("k", 32)), wire.KeyCurrent)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func allAre(versions []byte, v byte) bool {
	for _, got := range versions {
		if got != v {
			return false
		}
	}
	return len(versions) > 0
}

// An upgrade goes one node at a time (hactl apply's waves), so a node of
// this release meets peers of version 2, which cannot read version 3. It
// must hear them and be heard by them throughout: it sends version 2
// from the first packet of such a peer on, even one that does not answer
// its challenge yet (an old agent that just started cannot, as it cannot
// read version 3), and version 3 again once every peer reads it. Nothing
// is counted dead on the way.
func TestAPeerOfVersion2IsHeardAndHearsThisNode(t *testing.T) {
	e := idleEngine(t)
	tr := &recordTransport{}
	e.tr = tr
	now := time.Now()
	e.tick(now)
	if v, _ := tr.sentVersions(t); !allAre(v, wire.Version) {
		t.Fatalf("with no peer heard, sent versions %v, want %d", v, wire.Version)
	}

	// b's old agent starts: it has heard nothing of a.
	oldGen := uint64(now.UnixNano())
	for i, link := range []string{"lan", "direct"} {
		e.deliver(link, versionPacket(t, oldGen, uint64(i+1), link, 2, 0, 0), now)
	}
	now = now.Add(e.interval())
	e.tick(now)
	v, last := tr.sentVersions(t)
	if !allAre(v, 2) {
		t.Fatalf("after a version-2 peer was heard, sent versions %v, want 2", v)
	}
	if last.Speaks != wire.Version || !last.Answers("b", oldGen) {
		t.Fatalf("a's version-2 packet says it reads %d and answers b: %v; want %d, true", last.Speaks, last.Answers("b", oldGen), wire.Version)
	}

	// b's old agent, having read that, answers a; it is alive.
	seq := uint64(3)
	for range 20 {
		for _, link := range []string{"lan", "direct"} {
			e.deliver(link, versionPacket(t, oldGen, seq, link, 2, 0, e.gen), now)
			seq++
		}
		now = now.Add(e.interval())
		e.tick(now)
	}
	if !e.peers["b"].alive {
		t.Fatal("the version-2 peer b is not alive")
	}
	if v, _ := tr.sentVersions(t); !allAre(v, 2) {
		t.Fatalf("with b of version 2 alive, sent versions %v, want 2", v)
	}

	// b is upgraded: its new agent sends version 3 and has not heard a
	// yet, then does.
	newGen := oldGen + 1
	for i, link := range []string{"lan", "direct"} {
		e.deliver(link, versionPacket(t, newGen, uint64(i+1), link, wire.Version, wire.Version, e.gen), now)
	}
	now = now.Add(e.interval())
	e.tick(now)
	if v, _ := tr.sentVersions(t); !allAre(v, wire.Version) {
		t.Fatalf("with every peer of version 3, sent versions %v, want %d", v, wire.Version)
	}
	for _, ev := range e.recent {
		switch ev.Kind {
		case status.NodeDead, status.Fencing, status.QuorumLost, status.GroupStopped:
			t.Errorf("event %s %s%s during the mixed-version window", ev.Kind, ev.Node, ev.Group)
		}
	}
}

// A peer of version 3 sending version 2 (to a third, older member) says
// it reads 3, and counts as such: once the old member is gone (fenced),
// this node goes back to version 3.
func TestAVersion2PacketThatSaysItReads3(t *testing.T) {
	var g wire.ReplayGuard
	now := time.Now()
	p, err := wire.Decode(versionPacket(t, 1, 1, "lan", 2, wire.Version, 0), wire.Keys{Current: []byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Check(p, "lan", now); err != nil {
		t.Fatal(err)
	}
	if v := g.Speaks(); v != wire.Version {
		t.Errorf("Speaks() = %d after a version-2 packet of an agent that reads %d", v, wire.Version)
	}
	old := &wire.Packet{Cluster: "test", From: "c", Generation: 5, Seq: 1, SentUnixNano: now.UnixNano(), Link: "lan", Version: 2, Speaks: 2}
	if err := g.Check(old, "lan", now); err != nil {
		t.Fatal(err)
	}
	if v := g.Speaks(); v != 2 {
		t.Errorf("Speaks() = %d with a member of version 2 heard", v)
	}
	g.Retire("c", 5)
	if v := g.Speaks(); v != wire.Version {
		t.Errorf("Speaks() = %d after the member of version 2 was fenced", v)
	}
}
