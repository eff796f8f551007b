package heartbeat

import (
	"fmt"
	"io"
	"log"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/heartbeat/wire"
	"github.com/hactl/hactl/agentbin/spec"
)

func names(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s-%03d", prefix, i))
	}
	return out
}

func moves(groups []string, active bool) []wire.Move {
	var out []wire.Move
	for i, g := range groups {
		m := wire.Move{Group: g, Epoch: 1764590400000000000 + uint64(i)}
		if active {
			m.To, m.UntilUnixNano = "node-02", 1764590400000000000
		}
		out = append(out, m)
	}
	return out
}

func echoes(peers []string, link string) []wire.Echo {
	var out []wire.Echo
	for i, p := range peers {
		out = append(out, wire.Echo{Peer: p, Link: link, Seq: uint64(1000 + i), RecvUnixNano: 1764590400000000000, SentUnixNano: 1764590400000000000})
	}
	return out
}

func TestFitState(t *testing.T) {
	room := wire.StateRoom("cluster", "node-01", "lan", nil)
	for _, tc := range []struct {
		name                  string
		core                  wire.State
		echoes                []wire.Echo
		moves                 []wire.Move
		wantEchoes, wantMoves int
		trimmed               bool
	}{
		{"a small state goes whole", wire.State{Quorate: true, Held: names("g", 3)}, echoes(names("peer", 1), "lan"), moves(names("g", 2), true), 1, 2, false},
		{"at most a few moves a packet", wire.State{Quorate: true, Held: names("g", 50)}, nil, moves(names("g", 50), false), 0, maxMovesPerPacket, false},
		{"sixteen members' echoes", wire.State{Quorate: true, Held: names("g", 50), CannotServe: names("g", 50)}, echoes(names("peer", 15), "lan"), moves(names("g", 50), true), 15, maxMovesPerPacket, false},
		{"big lists leave room for fewer", wire.State{Quorate: true, Held: names(strings.Repeat("g", 40), 80), CannotServe: names(strings.Repeat("g", 40), 80)}, echoes(names("peer", 15), "lan"), moves(names(strings.Repeat("g", 40), 80), true), 3, 0, false},
		{"lists over the room are cut, held first", wire.State{Quorate: true, Held: names(strings.Repeat("g", 60), 150), CannotServe: names("x", 100)}, echoes(names("peer", 3), "lan"), moves(names("g", 3), true), 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, trimmed := fitState(tc.core, tc.echoes, 0, tc.moves, 0, room)
			if trimmed != tc.trimmed || len(st.Echo) != tc.wantEchoes || len(st.Moves) != tc.wantMoves {
				t.Errorf("fitState: %d echoes, %d moves, trimmed %v; want %d, %d, %v", len(st.Echo), len(st.Moves), trimmed, tc.wantEchoes, tc.wantMoves, tc.trimmed)
			}
			if st.Size() > room {
				t.Errorf("state of %d bytes (bound) for a room of %d", st.Size(), room)
			}
			if !trimmed && (!slices.Equal(st.Held, tc.core.Held) || !slices.Equal(st.CannotServe, tc.core.CannotServe)) {
				t.Error("lists changed though they fit")
			}
			if trimmed && (len(st.Held) == 0 || !slices.Equal(st.Held, tc.core.Held[:len(st.Held)]) || len(st.CannotServe) > 0 && len(st.Held) < len(tc.core.Held)) {
				t.Errorf("trimmed lists keep %d of %d held and %d cannot-serve: held must go first", len(st.Held), len(tc.core.Held), len(st.CannotServe))
			}
			pkt := &wire.Packet{Cluster: "cluster", From: "node-01", Generation: 1, Seq: 1, SentUnixNano: 1, Link: "lan", State: st}
			if _, err := wire.Encode(pkt, []byte(strings.Repeat("k", 32)), wire.KeyCurrent); err != nil {
				t.Errorf("the fitted state does not encode: %v", err)
			}
		})
	}
}

// Every move and echo goes out within a few packets, however many there
// are, as the sender moves the turns on.
func TestFitStateCarriesEveryMoveInTurn(t *testing.T) {
	room := wire.StateRoom("cluster", "node-01", "lan", nil)
	core := wire.State{Quorate: true, Held: names(strings.Repeat("g", 40), 80)}
	all := moves(names(strings.Repeat("g", 40), 80), true)
	ech := echoes(names("peer", 15), "lan")
	seenMoves, seenEchoes := map[string]bool{}, map[string]bool{}
	moveTurn, echoTurn := 0, 0
	for range 40 {
		st, _ := fitState(core, ech, echoTurn, all, moveTurn, room)
		for _, m := range st.Moves {
			seenMoves[m.Group] = true
		}
		for _, e := range st.Echo {
			seenEchoes[e.Peer] = true
		}
		moveTurn, echoTurn = moveTurn+len(st.Moves), echoTurn+len(st.Echo)
	}
	if len(seenMoves) != len(all) || len(seenEchoes) != len(ech) {
		t.Errorf("in 40 packets, %d of %d moves and %d of %d echoes went", len(seenMoves), len(all), len(seenEchoes), len(ech))
	}
}

// recordingTransport keeps the packets an engine sends, per link.
type recordingTransport struct {
	mu   sync.Mutex
	sent map[string][][]byte
}

func (r *recordingTransport) send(link string, _ netip.AddrPort, b []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent[link] = append(r.sent[link], append([]byte(nil), b...))
	return nil
}

func (*recordingTransport) poll()        {}
func (*recordingTransport) close() error { return nil }

// Regression: a node whose state passed 8 KiB — here 120 groups, every
// one of which an operator moved once (ended moves are kept for good) —
// failed to encode its heartbeat and sent nothing on any link, so its
// peers declared it dead and fenced it. It must keep sending, on every
// link, and carry every move in turn.
func TestAStateOverAPacketStillGoesOutOnEveryLink(t *testing.T) {
	const groups = 120
	keyPath := writeKey(t)
	links := []spec.Link{{Name: "lan", Interface: "eth0", Local: "10.0.0.1", Mode: "unicast"}, {Name: "direct", Interface: "eth1", Local: "10.0.1.1", Mode: "unicast"}}
	sp := &spec.Spec{FormatVersion: spec.FormatVersion, Cluster: "test", Node: "node-01", Quorum: &spec.Quorum{Policy: "stop"},
		Heartbeat: &spec.Heartbeat{IntervalMS: 20, WarntimeMS: 60, DeadtimeMS: 100, InitdeadMS: 5000, Port: 694, KeyPath: keyPath, Links: links,
			Members: []string{"node-01", "node-02"},
			Peers:   []spec.Peer{{Name: "node-02", Addresses: map[string]string{"lan": "10.0.0.2", "direct": "10.0.1.2"}}}}}
	locs := []spec.Location{{Node: "node-01", Score: 200}, {Node: "node-02", Score: 100}}
	for _, g := range names("group", groups) {
		sp.Groups = append(sp.Groups, spec.Group{Name: g, Locations: locs, Resources: []spec.Resource{{Kind: "service", Name: g}}})
	}
	e, err := New(Config{Spec: sp, Logger: log.New(io.Discard, "", 0), StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	full := wire.State{Quorate: true}
	for i, g := range sp.Groups {
		e.groups[g.Name] = &groupRun{spec: g, state: Running}
		e.groupNames = append(e.groupNames, g.Name)
		e.moves[g.Name] = Move{Epoch: uint64(1764590400000000000 + i)}
		full.Held = append(full.Held, g.Name)
	}
	full.Moves = e.wireMoves()
	if room := wire.StateRoom("test", "node-01", "direct", nil); full.Size() <= room {
		t.Fatalf("the whole state takes %d bytes (bound), not over the %d a packet has room for: the test proves nothing", full.Size(), room)
	}
	rec := &recordingTransport{sent: map[string][][]byte{}}
	e.tr = rec
	keys := wire.Keys{Current: []byte(strings.Repeat("k", 32))}
	seen := map[string]bool{}
	for range 20 {
		e.sendHeartbeat(time.Now())
	}
	for _, l := range links {
		if len(rec.sent[l.Name]) != 20 {
			t.Fatalf("link %s sent %d heartbeats of 20", l.Name, len(rec.sent[l.Name]))
		}
		for _, b := range rec.sent[l.Name] {
			p, err := wire.Decode(b, keys)
			if err != nil {
				t.Fatalf("link %s: %v", l.Name, err)
			}
			if len(p.State.Held) != groups {
				t.Fatalf("a heartbeat tells of %d held groups of %d", len(p.State.Held), groups)
			}
			for _, m := range p.State.Moves {
				seen[m.Group] = true
			}
		}
	}
	if len(seen) != groups {
		t.Errorf("20 heartbeats carried %d of the %d moves", len(seen), groups)
	}
	if e.trimmed != 0 {
		t.Errorf("%d heartbeats trimmed: the groups' lists fit", e.trimmed)
	}
}

// Moves of groups this node may not run are not kept: they made a node's
// state grow with its peers' configurations.
func TestMovesOfOtherGroupsAreNotKept(t *testing.T) {
	e := idleEngine(t)
	if !e.mergeMoves([]wire.Move{{Group: "elsewhere", To: "b", Epoch: 9}, {Group: "web", To: "b", Epoch: 9}}) {
		t.Error("the move of web was not taken")
	}
	if _, ok := e.moves["elsewhere"]; ok || len(e.moves) != 1 {
		t.Errorf("moves kept: %v; want web's only", e.moves)
	}
}
