package wire

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
)

// The size bounds must never undercount what Encode writes, or a state
// fitted to a packet would not fit; they overcount numbers only.
func TestSizeBoundsTheEncodedState(t *testing.T) {
	names := []string{"web", "", "a<b>&c", "quote\"back\\slash", "ctl\x01\n\t", "é日本", "bad\xff\xfe", "line\u2028sep\u2029", strings.Repeat("n", MaxName)}
	for _, tc := range []struct {
		name string
		st   State
	}{
		{"empty", State{}},
		{"flags and uptime", State{Standby: true, Maintenance: true, Quorate: true, Uptime: math.MaxInt64}},
		{"lists", State{Held: names, Starting: names[:2], Stopping: names[2:4], Failed: names[4:], CannotServe: names}},
		{"moves", State{Moves: []Move{{Group: names[2], To: names[5], Epoch: math.MaxUint64, UntilUnixNano: math.MinInt64}, {Group: names[6]}}}},
		{"echoes", State{Echo: []Echo{{Peer: names[7], Link: names[3], Seq: math.MaxUint64, RecvUnixNano: math.MinInt64, SentUnixNano: math.MaxInt64}, {Peer: "p"}}}},
		{"everything", *func() *State { s := testPacket().State; return &s }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// As this release sends it to a peer of version 2.
			b, err := appendJSONState(nil, &tc.st, Version)
			if err != nil {
				t.Fatal(err)
			}
			// Numbers are counted at 20 digits: at most that much over
			// per number, two per move, three per echo; absent flags are
			// counted as present, and \n or \t as \u000a.
			slack := fixedSize + maxNumber*(2*len(tc.st.Moves)+3*len(tc.st.Echo)) + 32
			if got := tc.st.Size(); got < len(b) || got > len(b)+slack {
				t.Errorf("Size() = %d for %d bytes of JSON (slack %d): %s", got, len(b), slack, b)
			}
			if bin := appendState(nil, &tc.st, Version); len(bin) > tc.st.Size() {
				t.Errorf("Size() = %d for %d bytes of binary state", tc.st.Size(), len(bin))
			}
		})
	}
}

func TestQuotedSizeIsEncodingJSONs(t *testing.T) {
	for _, s := range []string{"", "web", "<>&", "\"\\", "\x00\x1f", "é", "\xff", "\u2028", "日本語", "a b"} {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		// Control characters with a short escape (\n) are counted long.
		if got := QuotedSize(s); got < len(b) || got > len(b)+4*len(s) {
			t.Errorf("QuotedSize(%q) = %d, encoding/json writes %d bytes", s, got, len(b))
		}
	}
}

// A state of exactly StateRoom bytes by its bound encodes in both
// versions; what the bound allows is never refused as too big. The bound
// is JSON's (version 2), and tight there.
func TestStateOfStateRoomEncodes(t *testing.T) {
	for _, version := range []byte{2, 3} {
		p := testPacket()
		p.Version = version
		p.State = State{Quorate: true}
		room := StateRoom(p.Cluster, p.From, p.Link, p.Heard)
		for i := 0; ; i++ {
			p.State.Held = append(p.State.Held, strings.Repeat("g", 20))
			if p.State.Size() > room {
				p.State.Held = p.State.Held[:len(p.State.Held)-1]
				break
			}
		}
		b, err := Encode(p, testKey, KeyCurrent)
		if err != nil {
			t.Fatalf("version %d: a state within StateRoom (%d of %d bytes by its bound): %v", version, p.State.Size(), room, err)
		}
		if version != 2 {
			continue
		}
		if len(b) < MaxPacket-300 {
			t.Errorf("packet of %d bytes: StateRoom leaves too much unused", len(b))
		}
		// The bound overcounts the flags and uptime this state lacks (81
		// bytes, and the version it reads); beyond that, the packet is too big.
		p.State.Held = append(p.State.Held, strings.Repeat("g", fixedSize+8))
		if _, err := Encode(p, testKey, KeyCurrent); err == nil {
			t.Error("a state well over StateRoom encoded: StateRoom is not the limit")
		}
	}
}

func TestWorstSize(t *testing.T) {
	group := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("group-%03d", i))
		}
		return out
	}
	nodes := []string{"node-01", "node-02", "node-03"}
	links := []string{"lan", "direct"}
	for _, tc := range []struct {
		name   string
		groups []string
	}{
		{"none", nil},
		{"one", group(1)},
		{"fifty", group(50)},
		{"two hundred", group(200)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			minimal, full := WorstSize(tc.groups, nodes, links)
			if minimal > full && len(tc.groups) > 0 {
				t.Errorf("minimal %d > full %d", minimal, full)
			}
			// The worst state it stands for: every group held and unable
			// to serve, a move each, an echo per peer, every flag set.
			st := State{Standby: true, Maintenance: true, Quorate: true, Uptime: math.MaxInt64, Held: tc.groups, CannotServe: tc.groups}
			for _, g := range tc.groups {
				st.Moves = append(st.Moves, Move{Group: g, To: nodes[0], Epoch: math.MaxUint64, UntilUnixNano: math.MinInt64})
			}
			for _, n := range nodes[1:] {
				st.Echo = append(st.Echo, Echo{Peer: n, Link: links[1], Seq: math.MaxUint64, RecvUnixNano: math.MinInt64, SentUnixNano: math.MinInt64})
			}
			b, err := json.Marshal(&st)
			if err != nil {
				t.Fatal(err)
			}
			if full < len(b) {
				t.Errorf("WorstSize full = %d, but such a state takes %d bytes", full, len(b))
			}
		})
	}
}
