package wire

import (
	"bytes"
	"errors"
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
		t.Run(tc.name, func(t *testing.T) {
			b := encode(t, tc.p, testKey, tc.id)
			got, err := Decode(b, tc.keys)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := *tc.p
			want.KeyID, want.SenderKeyID = tc.want, tc.id
			if !reflect.DeepEqual(got, &want) {
				t.Errorf("Decode = %+v\nwant %+v", got, &want)
			}
		})
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
	payload := bytes.Index(body, []byte(`{"`))
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
		{"version", set(len(magic), Version+1), keys, ErrVersion},
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
		{"no payload", sign(bytes.Clone(body[:payload]), testKey), keys, ErrMalformed},
		{"null payload", sign(append(bytes.Clone(body[:payload]), "null"...), testKey), keys, ErrMalformed},
		{"payload not JSON", sign(append(bytes.Clone(body[:payload]), "{held:1}"...), testKey), keys, ErrMalformed},
		{"payload of the wrong type", sign(append(bytes.Clone(body[:payload]), `{"held":"www"}`...), testKey), keys, ErrMalformed},
		{"trailing bytes after the state", sign(append(bytes.Clone(body), '}'), testKey), keys, ErrMalformed},
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
			case i == len(magic):
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
