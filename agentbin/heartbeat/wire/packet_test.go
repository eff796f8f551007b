package wire

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	testKey  = bytes.Repeat([]byte{0x5a}, 32)
	otherKey = bytes.Repeat([]byte{0xa5}, 32)
	t0       = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	// testGen is the generation of h2g in testPacket, and selfGen c2g's,
	// which testPacket answers.
	testGen = uint64(t0.Add(-time.Hour).UnixNano())
	selfGen = uint64(t0.Add(-2 * time.Hour).UnixNano())
)

func testPacket() *Packet {
	return &Packet{
		Cluster:      "web",
		From:         "h2g",
		Generation:   testGen,
		Seq:          7,
		SentUnixNano: t0.UnixNano(),
		Link:         "lan",
		Heard:        []Heard{{Node: "c2g", Generation: selfGen}, {Node: "n3", Generation: 9}},
		State: State{
			Quorate:  true,
			Held:     []string{"www", "lvs"},
			Starting: []string{"db"},
			Moves:    []Move{{Group: "www", To: "c2g", Epoch: 3, UntilUnixNano: 1764590400000000000}, {Group: "db", Epoch: 5}},
			Echo:     []Echo{{Peer: "c2g", Link: "lan", Seq: 41, RecvUnixNano: 12, SentUnixNano: 10}},
			Uptime:   90 * time.Second,
			// A field added after version 1 shipped (see the package doc).
			CannotServe: []string{"db"},
		},
	}
}

func encode(t testing.TB, p *Packet, key []byte, id byte) []byte {
	t.Helper()
	b, err := Encode(p, key, id)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	full := testPacket()
	minimal := &Packet{Cluster: "c", From: "n", Generation: 1, Seq: 1}
	flags := testPacket()
	flags.State = State{Standby: true, Maintenance: true, Stopping: []string{"x"}}
	long := testPacket()
	long.Cluster, long.From, long.Link = strings.Repeat("c", MaxName), strings.Repeat("é", MaxName/2), strings.Repeat("l", MaxName)
	negative := testPacket()
	negative.SentUnixNano = -5
	for _, tc := range []struct {
		name string
		p    *Packet
		keys Keys
		id   byte // signed with
		want byte // KeyID after Decode
	}{
		{"full state", full, Keys{Current: testKey}, KeyCurrent, KeyCurrent},
		{"empty state and link", minimal, Keys{Current: testKey}, KeyCurrent, KeyCurrent},
		{"flags", flags, Keys{Current: testKey}, KeyCurrent, KeyCurrent},
		{"longest names", long, Keys{Current: testKey}, KeyCurrent, KeyCurrent},
		{"clock before 1970", negative, Keys{Current: testKey}, KeyCurrent, KeyCurrent},
		{"previous key named", full, Keys{Current: otherKey, Previous: testKey}, KeyPrevious, KeyPrevious},
		// During a rotation sender and receiver disagree on which key is
		// current: the id is only a hint.
		{"sender's current is our previous", full, Keys{Current: otherKey, Previous: testKey}, KeyCurrent, KeyPrevious},
		{"sender's previous is our current", full, Keys{Current: testKey}, KeyPrevious, KeyCurrent},
	} {
		// Each in both versions: version 2 is what a node sends while a
		// peer of that release is in the cluster.
		for _, v := range []struct {
			version, speaks, wantSpeaks byte
		}{
			{0, 0, Version},             // this release, to peers of this release
			{Version, Version, Version}, // the same, as the engine sets it
			{2, 0, 2},                   // an agent of version 2
			{2, Version, Version},       // this release, to a peer of version 2
		} {
			t.Run(fmt.Sprintf("%s/version %d speaks %d", tc.name, v.version, v.speaks), func(t *testing.T) {
				p := *tc.p
				p.Version, p.Speaks = v.version, v.speaks
				b := encode(t, &p, testKey, tc.id)
				got, err := Decode(b, tc.keys)
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				want := *tc.p
				want.KeyID, want.SenderKeyID = tc.want, tc.id
				want.Version, want.Speaks = max(v.version, 2), v.wantSpeaks
				if v.version == 0 {
					want.Version = Version
				}
				if !reflect.DeepEqual(got, &want) {
					t.Errorf("Decode = %+v\nwant %+v", got, &want)
				}
			})
		}
	}
}

// The binary state is never longer than the JSON one: the bounds of
// size.go, made for JSON, hold for both versions.
func TestBinaryStateIsShorter(t *testing.T) {
	for _, p := range []*Packet{testPacket(), {Cluster: "c", From: "n", Generation: 1, Seq: 1}} {
		v2, v3 := *p, *p
		v2.Version, v3.Version = 2, 3
		if b2, b3 := encode(t, &v2, testKey, KeyCurrent), encode(t, &v3, testKey, KeyCurrent); len(b3) > len(b2) {
			t.Errorf("version 3 of %+v is %d bytes, version 2 %d", p.State, len(b3), len(b2))
		}
	}
}

func TestEncodeRefuses(t *testing.T) {
	big := testPacket()
	big.State.Held = []string{strings.Repeat("g", MaxPacket)}
	for _, tc := range []struct {
		name   string
		mutate func(p *Packet)
		key    []byte
		id     byte
		want   error // nil: any error
	}{
		{"short key", nil, testKey[:31], KeyCurrent, nil},
		{"unknown key id", nil, testKey, 2, nil},
		{"empty cluster", func(p *Packet) { p.Cluster = "" }, testKey, KeyCurrent, ErrMalformed},
		{"empty from", func(p *Packet) { p.From = "" }, testKey, KeyCurrent, ErrMalformed},
		{"long link", func(p *Packet) { p.Link = strings.Repeat("l", MaxName+1) }, testKey, KeyCurrent, ErrMalformed},
		{"empty heard node", func(p *Packet) { p.Heard = []Heard{{Generation: 1}} }, testKey, KeyCurrent, ErrMalformed},
		{"heard node not UTF-8", func(p *Packet) { p.Heard = []Heard{{Node: "\xff", Generation: 1}} }, testKey, KeyCurrent, ErrMalformed},
		{"too many heard", func(p *Packet) { p.Heard = make([]Heard, MaxHeard+1) }, testKey, KeyCurrent, ErrMalformed},
		{"not UTF-8", func(p *Packet) { p.From = "\xff" }, testKey, KeyCurrent, ErrMalformed},
		{"generation 0", func(p *Packet) { p.Generation = 0 }, testKey, KeyCurrent, ErrMalformed},
		{"seq 0", func(p *Packet) { p.Seq = 0 }, testKey, KeyCurrent, ErrMalformed},
		{"too big", func(p *Packet) { *p = *big }, testKey, KeyCurrent, ErrTooBig},
		{"too big in version 2", func(p *Packet) { *p = *big; p.Version = 2 }, testKey, KeyCurrent, ErrTooBig},
		{"version 1", func(p *Packet) { p.Version = 1 }, testKey, KeyCurrent, ErrVersion},
		{"a version newer than this", func(p *Packet) { p.Version = Version + 1 }, testKey, KeyCurrent, ErrVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPacket()
			if tc.mutate != nil {
				tc.mutate(p)
			}
			_, err := Encode(p, tc.key, tc.id)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Encode = %v, want %v", err, tc.want)
			}
		})
	}
}

// sign appends body's HMAC with key, as Encode does.
func sign(body, key []byte) []byte {
	return appendMAC(body, body, key)
}

// resign replaces b's HMAC with one made with key, as a key holder could.
func resign(b, key []byte) []byte {
	return sign(bytes.Clone(b[:len(b)-macSize]), key)
}

func TestDecodeRefuses(t *testing.T) {
	good := encode(t, testPacket(), testKey, KeyCurrent)
	keys := Keys{Current: testKey}
	body := good[:len(good)-macSize]
	set := func(i int, v byte) []byte {
		b := bytes.Clone(body)
		b[i] = v
		return sign(b, testKey)
	}
	// Offsets of the header: magic 0-4, version 5, key id 6, cluster length 7.
	clusterLen := len(magic) + 2
	fromLen := clusterLen + 1 + len("web")
	linkLen := fromLen + 1 + len("h2g") + 3*8
	heardCount := linkLen + 1 + len("lan")
	// The header is the same in both versions; the state follows it.
	noState := testPacket()
	noState.State = State{}
	payload := len(encode(t, noState, testKey, KeyCurrent)) - macSize
	withState := func(version byte, state string) []byte {
		b := bytes.Clone(body[:payload])
		b[len(magic)] = version
		return sign(append(b, state...), testKey)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		keys Keys
		want error
	}{
		{"empty", nil, keys, ErrShort},
		{"shorter than the least", good[:minPacket-1], keys, ErrShort},
		{"too big", append(bytes.Clone(good), make([]byte, MaxPacket)...), keys, ErrTooBig},
		{"magic", append([]byte("HACTX"), good[5:]...), keys, ErrMagic},
		{"a version newer than this", set(len(magic), Version+1), keys, ErrVersion},
		{"version 1", set(len(magic), 1), keys, ErrVersion},
		{"version 0", set(len(magic), 0), keys, ErrVersion},
		{"wrong key", good, Keys{Current: otherKey}, ErrAuth},
		{"no key", good, Keys{}, ErrAuth},
		{"unknown key id", set(len(magic)+1, 2), keys, ErrAuth},
		{"previous key id, no previous key and wrong current", encode(t, testPacket(), testKey, KeyPrevious), Keys{Current: otherKey}, ErrAuth},
		{"truncated HMAC", good[:len(good)-1], keys, ErrAuth},
		{"cluster length past the end", set(clusterLen, 255), keys, ErrMalformed},
		{"empty cluster", sign(append(append(bytes.Clone(body[:clusterLen]), 0), body[fromLen:]...), testKey), keys, ErrMalformed},
		{"empty from", set(fromLen, 0), keys, ErrMalformed},
		{"heard count past the end", set(heardCount, 255), keys, ErrMalformed},
		{"heard cut short", sign(bytes.Clone(body[:heardCount+4]), testKey), keys, ErrMalformed},
		{"version 2, no payload", withState(2, ""), keys, ErrMalformed},
		{"version 2, null payload", withState(2, "null"), keys, ErrMalformed},
		{"version 2, payload not JSON", withState(2, "{held:1}"), keys, ErrMalformed},
		{"version 2, payload of the wrong type", withState(2, `{"held":"www"}`), keys, ErrMalformed},
		{"version 2, trailing bytes after the state", withState(2, `{"held":["www"]}}`), keys, ErrMalformed},
		{"version 2, speaks out of range", withState(2, `{"speaks":300}`), keys, ErrMalformed},
		{"version 3, a JSON state", withState(3, `{"held":["www"]}`), keys, ErrMalformed},
		{"field length past the end", withState(3, "\x03\xc8\x03www"), keys, ErrMalformed},
		{"field length cut short", withState(3, "\x03\x80"), keys, ErrMalformed},
		{"field length overflows", withState(3, "\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), keys, ErrMalformed},
		{"field length near 2^64", withState(3, "\x03\xff\xff\xff\xff\xff\xff\xff\xff\x7f"), keys, ErrMalformed},
		{"tag without a length", withState(3, "\x03"), keys, ErrMalformed},
		{"name past its field", withState(3, "\x03\x02\x05w"), keys, ErrMalformed},
		{"name length not a varint", withState(3, "\x03\x02\x80\x80"), keys, ErrMalformed},
		{"empty list", withState(3, "\x03\x00"), keys, ErrMalformed},
		{"flags without a value", withState(3, "\x01\x00"), keys, ErrMalformed},
		{"flags twice", withState(3, "\x01\x01\x04\x01\x01\x04"), keys, ErrMalformed},
		{"fields out of order", withState(3, "\x03\x04\x03www\x01\x01\x04"), keys, ErrMalformed},
		{"unknown field before a known one", withState(3, "\xc8\x00\x01\x01\x04"), keys, ErrMalformed},
		{"move cut short", withState(3, "\x08\x04\x03www"), keys, ErrMalformed},
		{"echo's number cut short", withState(3, "\x09\x05\x01c\x00\x01\x80"), keys, ErrMalformed},
		{"uptime cut short", withState(3, "\x02\x01\x80"), keys, ErrMalformed},
		{"seq 0", sign(append(append(bytes.Clone(body[:fromLen+1+len("h2g")+8]), make([]byte, 8)...), body[fromLen+1+len("h2g")+16:]...), testKey), keys, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Decode(tc.b, tc.keys)
			if !errors.Is(err, tc.want) || p != nil {
				t.Fatalf("Decode = %v, %v; want %v", p, err, tc.want)
			}
		})
	}
}

// What a later release may add to the binary state is skipped, so that
// adding it needs no new version: unknown fields after the known ones,
// bytes appended to a move or an echo, flag bits.
func TestDecodeSkipsWhatALaterReleaseAdds(t *testing.T) {
	noState := testPacket()
	noState.State = State{}
	body := encode(t, noState, testKey, KeyCurrent)
	body = body[:len(body)-macSize]
	for _, tc := range []struct {
		name, state string
		want        State
		speaks      byte
	}{
		{"nothing", "", State{}, Version},
		{"an unknown field", "\x01\x01\x04\xc8\x03abc", State{Quorate: true}, Version},
		{"unknown flag bits", "\x01\x02\xfc\xff", State{Quorate: true, Leaving: true}, Version},
		{"a move with more fields", "\x08\x07\x01g\x01h\x02\x00\x09", State{Moves: []Move{{Group: "g", To: "h", Epoch: 2}}}, Version},
		{"a longer uptime field", "\x02\x02\x04\x00", State{Uptime: 2}, Version},
		{"two moves, two echoes", "\x08\x05\x01g\x00\x01\x00\x08\x05\x01h\x00\x02\x00\x09\x06\x01a\x00\x01\x02\x04\x09\x06\x01b\x00\x01\x02\x04",
			State{Moves: []Move{{Group: "g", Epoch: 1}, {Group: "h", Epoch: 2}}, Echo: []Echo{{Peer: "a", Seq: 1, RecvUnixNano: 1, SentUnixNano: 2}, {Peer: "b", Seq: 1, RecvUnixNano: 1, SentUnixNano: 2}}}, Version},
		{"a newer version spoken", "\x0a\x01\x07", State{}, 7},
		{"empty and odd names kept as they are", "\x03\x05\x00\x03\xff<\n", State{Held: []string{"", "\xff<\n"}}, Version},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Decode(sign(append(bytes.Clone(body), tc.state...), testKey), Keys{Current: testKey})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(p.State, tc.want) || p.Speaks != tc.speaks {
				t.Errorf("Decode = %+v speaks %d, want %+v speaks %d", p.State, p.Speaks, tc.want, tc.speaks)
			}
		})
	}
}

func TestDecodeRefusesEveryTamperedByte(t *testing.T) {
	good := encode(t, testPacket(), testKey, KeyCurrent)
	keys := Keys{Current: testKey, Previous: otherKey}
	for i := range good {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(good)
			b[i] ^= flip
			_, err := Decode(b, keys)
			want := ErrAuth
			switch {
			case i < len(magic):
				want = ErrMagic
			case i == len(magic) && (b[i] < MinVersion || b[i] > Version):
				want = ErrVersion
			}
			if !errors.Is(err, want) {
				t.Fatalf("byte %d ^ %#x: Decode = %v, want %v", i, flip, err, want)
			}
		}
	}
}

func TestRTT(t *testing.T) {
	// A sends at 1000 (A's clock); B, whose clock is 1e6 ahead, receives
	// it at 1_001_010 and answers at 1_001_030; A hears it at 1040.
	e := Echo{Peer: "a", Seq: 1, SentUnixNano: 1000, RecvUnixNano: 1_001_010}
	p := &Packet{SentUnixNano: 1_001_030}
	if got := RTT(p, e, time.Unix(0, 1040)); got != 20 {
		t.Errorf("RTT = %v, want 20ns", got)
	}
	if got := RTT(p, e, time.Unix(0, 900)); got != 0 {
		t.Errorf("RTT with an impossible echo = %v, want 0", got)
	}
}

func TestAnswers(t *testing.T) {
	p := testPacket()
	for _, tc := range []struct {
		node string
		gen  uint64
		want bool
	}{
		{"c2g", selfGen, true},
		{"c2g", selfGen - 1, false}, // an earlier start of c2g
		{"c2g", selfGen + 1, false},
		{"n3", 9, true},
		{"h2g", testGen, false}, // not heard: not named
	} {
		if got := p.Answers(tc.node, tc.gen); got != tc.want {
			t.Errorf("Answers(%s, %d) = %v, want %v", tc.node, tc.gen, got, tc.want)
		}
	}
}
