package wire

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
)

// Window is how many sequence numbers behind the newest a packet may be
// and still be accepted (once).
const Window = 64

// MaxSkew is how far a packet's sent time may be from the receiver's
// clock, either way: the longest a captured packet can be played back,
// and how closely the members' clocks must agree.
const MaxSkew = 10 * time.Second

// Reasons ReplayGuard.Check refuses a packet.
var (
	ErrReplay    = errors.New("replayed heartbeat")
	ErrStale     = errors.New("stale heartbeat")
	ErrFuture    = errors.New("heartbeat sent in the future")
	ErrLate      = errors.New("heartbeat sent too long ago")
	ErrWrongLink = errors.New("heartbeat of another link")
)

// ReplayGuard remembers, per peer, the newest generation heard and, per
// link it arrived on, which of the last Window sequence numbers of it were
// accepted. Feed it only authenticated packets: anything it accepts moves
// the windows. One guard serves all of a node's links, so that a
// generation once heard on any link makes the older ones stale on all.
// The zero value is ready; it is safe for concurrent use.
type ReplayGuard struct {
	mu    sync.Mutex
	peers map[string]*peerGuard
}

// peerGuard is one peer's state: its newest generation and that
// generation's window per link. Generations up to retired are refused
// whole (Retire).
type peerGuard struct {
	gen, retired uint64
	links        map[string]*window
	// speaks is the newest version that gen reads (Packet.Speaks).
	speaks byte
}

// window is one link's: bit i of seen is seq top-i.
type window struct{ top, seen uint64 }

func (g *ReplayGuard) peer(from string) *peerGuard {
	if g.peers == nil {
		g.peers = make(map[string]*peerGuard)
	}
	pg := g.peers[from]
	if pg == nil {
		pg = &peerGuard{links: map[string]*window{}}
		g.peers[from] = pg
	}
	return pg
}

// Retire refuses, from now on, every packet of the peer's generations up
// to gen. The engine retires a peer's generation once it fenced that peer:
// the agent that had it is off, so whatever of it still arrives was queued
// before the fence (in a neighbour queue waiting for ARP, in a switch) and
// tells of groups it no longer holds. Accepting it made the survivors
// release a group to a node that had just rebooted and held nothing.
func (g *ReplayGuard) Retire(from string, gen uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	pg := g.peer(from)
	pg.retired = max(pg.retired, gen)
}

// Heard lists, sorted by node, the newest generation heard from each peer:
// what this node's packets answer (Packet.Heard).
func (g *ReplayGuard) Heard() []Heard {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Heard
	for name, pg := range g.peers {
		if pg.gen > pg.retired {
			out = append(out, Heard{Node: name, Generation: pg.gen})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// Speaks is the newest wire version that every peer heard reads: the
// version a node must send for all of them to hear it. A peer's newest
// generation counts, from the first of its packets that passes the
// window, whether or not that packet answers this node's challenge: an
// agent of version 2 that just started cannot read this node's version-3
// packets, so it never answers until this node sends version 2. A peer
// never heard, or fenced since, does not count.
func (g *ReplayGuard) Speaks() byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	v := Version
	for _, pg := range g.peers {
		if pg.gen > pg.retired && pg.speaks > 0 {
			v = min(v, pg.speaks)
		}
	}
	return max(v, MinVersion)
}

// Check accepts (nil) p, received on link at now, or says why not:
// ErrWrongLink for a packet sent on another link, ErrLate or ErrFuture for
// one sent more than MaxSkew before or after now, ErrStale for an older
// or retired generation or a seq older than the link's window, ErrReplay
// for one already accepted on that link.
func (g *ReplayGuard) Check(p *Packet, link string, now time.Time) (err error) {
	if p.Link != link {
		return fmt.Errorf("%w: %s sent it on link %q and it arrived on %q", ErrWrongLink, p.From, p.Link, link)
	}
	n := now.UnixNano()
	switch skew := int64(MaxSkew); {
	case p.SentUnixNano < sat(n, -skew):
		return fmt.Errorf("%w: %s sent it %v before this node's clock (the most is %v): a delayed or played-back packet, or the clocks disagree; check both clocks",
			ErrLate, p.From, diff(n, p.SentUnixNano), MaxSkew)
	case p.SentUnixNano > sat(n, skew):
		return fmt.Errorf("%w: %s's clock is %v ahead of this node's (the most is %v); check both clocks",
			ErrFuture, p.From, diff(p.SentUnixNano, n), MaxSkew)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	pg := g.peer(p.From)
	switch {
	case p.Generation <= pg.retired:
		return fmt.Errorf("%w: %s generation %d ended when it was fenced", ErrStale, p.From, p.Generation)
	case p.Generation < pg.gen:
		return fmt.Errorf("%w: %s generation %d is older than %d", ErrStale, p.From, p.Generation, pg.gen)
	case p.Generation > pg.gen:
		pg.gen = p.Generation
		clear(pg.links)
	}
	// A generation speaks as its newest packet says: packets are sent in
	// version 2 and 3 by one agent, both saying what it reads.
	defer func() {
		if err == nil {
			pg.speaks = p.Speaks
		}
	}()
	w := pg.links[link]
	switch {
	case w == nil:
		pg.links[link] = &window{top: p.Seq, seen: 1}
		return nil
	case p.Seq > w.top:
		if d := p.Seq - w.top; d < Window {
			w.seen = w.seen<<d | 1
		} else {
			w.seen = 1
		}
		w.top = p.Seq
		return nil
	}
	d := w.top - p.Seq
	switch {
	case d >= Window:
		return fmt.Errorf("%w: %s seq %d is more than %d behind %d on link %s", ErrStale, p.From, p.Seq, Window, w.top, link)
	case w.seen&(1<<d) != 0:
		return fmt.Errorf("%w: %s seq %d on link %s", ErrReplay, p.From, p.Seq, link)
	}
	w.seen |= 1 << d
	return nil
}

// sat is a+b, held within int64 instead of wrapping around.
func sat(a, b int64) int64 {
	switch {
	case b > 0 && a > math.MaxInt64-b:
		return math.MaxInt64
	case b < 0 && a < math.MinInt64-b:
		return math.MinInt64
	}
	return a + b
}

// diff is a-b in nanoseconds, held within int64 likewise.
func diff(a, b int64) time.Duration {
	switch {
	case b < 0 && a > math.MaxInt64+b:
		return math.MaxInt64
	case b > 0 && a < math.MinInt64+b:
		return math.MinInt64
	}
	return time.Duration(a - b)
}
