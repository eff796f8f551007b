package wire

import (
	"errors"
	"testing"
)

func newReceiver() *Receiver {
	return &Receiver{
		Cluster:    "web",
		Self:       "c2g",
		Members:    []string{"h2g", "c2g"},
		Link:       "lan",
		Keys:       Keys{Current: testKey},
		Guard:      &ReplayGuard{},
		Counters:   &Counters{},
		Generation: selfGen,
	}
}

func TestReceiverAccept(t *testing.T) {
	with := func(mutate func(p *Packet)) *Packet {
		p := testPacket()
		mutate(p)
		return p
	}
	good := encode(t, testPacket(), testKey, KeyCurrent)
	for _, tc := range []struct {
		name string
		b    []byte
		want error
		// count is the counter the outcome must land in.
		count func(c *CounterValues) uint64
	}{
		{"a member's packet", good, nil, func(c *CounterValues) uint64 { return c.Accepted }},
		{"garbage", []byte("GET / HTTP/1.0\r\n\r\n garbage garbage garbage garbage garbage garbage garbage"), ErrMagic, func(c *CounterValues) uint64 { return c.Malformed }},
		{"short", good[:10], ErrShort, func(c *CounterValues) uint64 { return c.Malformed }},
		{"too big", make([]byte, MaxPacket+1), ErrTooBig, func(c *CounterValues) uint64 { return c.TooBig }},
		{"another version", append(append([]byte(magic), Version+1), good[len(magic)+1:]...), ErrVersion, func(c *CounterValues) uint64 { return c.Version }},
		{"forged", encode(t, testPacket(), otherKey, KeyCurrent), ErrAuth, func(c *CounterValues) uint64 { return c.Forged }},
		{"another cluster, another key", encode(t, with(func(p *Packet) { p.Cluster = "db" }), otherKey, KeyCurrent), ErrOtherCluster, func(c *CounterValues) uint64 { return c.OtherCluster }},
		{"another cluster, same key", encode(t, with(func(p *Packet) { p.Cluster = "db" }), testKey, KeyCurrent), ErrOtherCluster, func(c *CounterValues) uint64 { return c.OtherCluster }},
		{"not a member", encode(t, with(func(p *Packet) { p.From = "mallory" }), testKey, KeyCurrent), ErrUnknownSender, func(c *CounterValues) uint64 { return c.UnknownSender }},
		{"this node's own", encode(t, with(func(p *Packet) { p.From = "c2g" }), testKey, KeyCurrent), ErrOwn, func(c *CounterValues) uint64 { return c.Own }},
		{"sent on another link", encode(t, with(func(p *Packet) { p.Link = "direct" }), testKey, KeyCurrent), ErrWrongLink, func(c *CounterValues) uint64 { return c.WrongLink }},
		{"sent too long ago", encode(t, with(func(p *Packet) { p.SentUnixNano = t0.Add(-MaxSkew - 1).UnixNano() }), testKey, KeyCurrent), ErrLate, func(c *CounterValues) uint64 { return c.Late }},
		{"sent in the future", encode(t, with(func(p *Packet) { p.SentUnixNano = t0.Add(MaxSkew + 1).UnixNano() }), testKey, KeyCurrent), ErrFuture, func(c *CounterValues) uint64 { return c.Future }},
		{"answers an earlier start of this node", encode(t, with(func(p *Packet) { p.Heard = []Heard{{Node: "c2g", Generation: selfGen - 1}} }), testKey, KeyCurrent), ErrUnproven, func(c *CounterValues) uint64 { return c.Unproven }},
		{"has heard nothing of this node", encode(t, with(func(p *Packet) { p.Heard = nil }), testKey, KeyCurrent), ErrUnproven, func(c *CounterValues) uint64 { return c.Unproven }},
		{"malformed but signed", resign(append(good[:len(good)-macSize-1:len(good)-macSize-1], make([]byte, macSize)...), testKey), ErrMalformed, func(c *CounterValues) uint64 { return c.Malformed }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReceiver()
			p, err := r.Accept(tc.b, t0)
			if !errors.Is(err, tc.want) || (err == nil) != (p != nil) {
				t.Fatalf("Accept = %v, %v; want %v", p, err, tc.want)
			}
			c := r.Counters.Snapshot()
			if tc.count(&c) != 1 || sum(c) != 1 {
				t.Errorf("counters %+v: want one, in the counter for %v", c, tc.want)
			}
		})
	}
}

func TestReceiverReplayAndStale(t *testing.T) {
	r := newReceiver()
	old := testPacket()
	newer := testPacket()
	newer.Generation++
	steps := []struct {
		b    []byte
		want error
	}{
		{encode(t, old, testKey, KeyCurrent), nil},
		{encode(t, old, testKey, KeyCurrent), ErrReplay},
		{encode(t, newer, testKey, KeyCurrent), nil},
		{encode(t, old, testKey, KeyCurrent), ErrStale},
	}
	for i, s := range steps {
		if _, err := r.Accept(s.b, t0); !errors.Is(err, s.want) {
			t.Fatalf("step %d: Accept = %v, want %v", i, err, s.want)
		}
	}
	if c := r.Counters.Snapshot(); c.Accepted != 2 || c.Replayed != 1 || c.Stale != 1 {
		t.Errorf("counters %+v, want 2 accepted, 1 replayed, 1 stale", c)
	}
	// A Receiver rebuilt for a new configuration keeps the windows.
	r2 := newReceiver()
	r2.Guard, r2.Counters = r.Guard, r.Counters
	if _, err := r2.Accept(steps[0].b, t0); !errors.Is(err, ErrStale) {
		t.Errorf("after a reload: Accept = %v, want %v", err, ErrStale)
	}
}

func TestCountersCountFuture(t *testing.T) {
	var c Counters
	c.Count(ErrFuture)
	c.Count(errors.New("something else"))
	if v := c.Snapshot(); v.Future != 1 || v.Malformed != 1 || sum(v) != 2 {
		t.Errorf("counters %+v", v)
	}
}

func TestReceiverWithoutCounters(t *testing.T) {
	r := newReceiver()
	r.Counters = nil
	if _, err := r.Accept(encode(t, testPacket(), testKey, KeyCurrent), t0); err != nil {
		t.Fatal(err)
	}
}

func sum(c CounterValues) uint64 {
	return c.Accepted + c.Replayed + c.Stale + c.Future + c.Late + c.WrongLink + c.Unproven + c.Forged + c.Malformed +
		c.Version + c.TooBig + c.OtherCluster + c.UnknownSender + c.Own
}

// Two members that start together answer each other within one round of
// packets each, and a packet captured from before a member's restart never
// counts for that member, however fresh.
func TestReceiversProveEachOther(t *testing.T) {
	type node struct {
		name string
		gen  uint64
		seq  uint64
		rcv  *Receiver
	}
	start := func(name string, gen uint64) *node {
		r := newReceiver()
		r.Self, r.Generation = name, gen
		return &node{name: name, gen: gen, rcv: r}
	}
	send := func(from *node) []byte {
		from.seq++
		return encode(t, &Packet{Cluster: "web", From: from.name, Generation: from.gen, Seq: from.seq, SentUnixNano: t0.UnixNano(),
			Link: "lan", Heard: from.rcv.Guard.Heard()}, testKey, KeyCurrent)
	}
	h2g, c2g := start("h2g", 10), start("c2g", 20)
	if _, err := c2g.rcv.Accept(send(h2g), t0); !errors.Is(err, ErrUnproven) {
		t.Fatalf("h2g's first packet, before it heard c2g: %v, want %v", err, ErrUnproven)
	}
	if _, err := h2g.rcv.Accept(send(c2g), t0); err != nil {
		t.Fatalf("c2g's first packet answers h2g's: %v", err)
	}
	if _, err := c2g.rcv.Accept(send(h2g), t0); err != nil {
		t.Fatalf("h2g's second packet answers c2g's: %v", err)
	}
	captured := send(h2g)
	// c2g restarts: a new generation and no memory. h2g's captured packet
	// answered the old generation.
	c2g = start("c2g", 21)
	if _, err := c2g.rcv.Accept(captured, t0); !errors.Is(err, ErrUnproven) {
		t.Fatalf("a packet captured before c2g restarted: %v, want %v", err, ErrUnproven)
	}
	if _, err := h2g.rcv.Accept(send(c2g), t0); err != nil {
		t.Fatalf("the restarted c2g's packet: %v", err)
	}
	if _, err := c2g.rcv.Accept(send(h2g), t0); err != nil {
		t.Fatalf("h2g's packet after it heard the restarted c2g: %v", err)
	}
	if c := c2g.rcv.Counters.Snapshot(); c.Unproven != 1 || c.Accepted != 1 {
		t.Errorf("the restarted c2g counted %+v, want 1 unproven and 1 accepted", c)
	}
}
