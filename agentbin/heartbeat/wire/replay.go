package wire

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Window is how many sequence numbers behind the newest a packet may be
// and still be accepted (once).
const Window = 64

// MaxFuture is how far ahead of the receiver's clock a generation may be.
const MaxFuture = time.Minute

// Reasons ReplayGuard.Check refuses a packet.
var (
	ErrReplay = errors.New("replayed heartbeat")
	ErrStale  = errors.New("stale heartbeat")
	ErrFuture = errors.New("heartbeat generation in the future")
)

// ReplayGuard remembers, per peer, the newest generation heard and which
// of the last Window sequence numbers of it were accepted. Feed it only
// authenticated packets: anything it accepts moves the window. The zero
// value is ready; it is safe for concurrent use.
type ReplayGuard struct {
	mu    sync.Mutex
	peers map[string]*window
}

// window is one peer's state: bit i of seen is seq top-i. Generations up
// to retired are refused whole (Retire).
type window struct {
	gen, top, seen uint64
	retired        uint64
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
	if g.peers == nil {
		g.peers = make(map[string]*window)
	}
	w := g.peers[from]
	if w == nil {
		w = &window{}
		g.peers[from] = w
	}
	w.retired = max(w.retired, gen)
}

// Check accepts (nil) a packet from peer from with generation gen and
// sequence seq received at now, or says why not: ErrFuture for a
// generation more than MaxFuture ahead of now, ErrStale for an older or
// retired generation or a seq older than the window, ErrReplay for one
// already accepted.
func (g *ReplayGuard) Check(from string, gen, seq uint64, now time.Time) error {
	if limit := now.Add(MaxFuture).UnixNano(); limit < 0 || gen > uint64(limit) {
		ahead := time.Duration(int64(gen) - now.UnixNano())
		return fmt.Errorf("%w: %s's generation is %v ahead of this node's clock (the most is %v); check both clocks", ErrFuture, from, ahead, MaxFuture)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.peers[from]
	switch {
	case w != nil && gen <= w.retired:
		return fmt.Errorf("%w: %s generation %d ended when it was fenced", ErrStale, from, gen)
	case w == nil || gen > w.gen:
		if g.peers == nil {
			g.peers = make(map[string]*window)
		}
		retired := uint64(0)
		if w != nil {
			retired = w.retired
		}
		g.peers[from] = &window{gen: gen, top: seq, seen: 1, retired: retired}
		return nil
	case gen < w.gen:
		return fmt.Errorf("%w: %s generation %d is older than %d", ErrStale, from, gen, w.gen)
	case seq > w.top:
		if d := seq - w.top; d < Window {
			w.seen = w.seen<<d | 1
		} else {
			w.seen = 1
		}
		w.top = seq
		return nil
	}
	d := w.top - seq
	switch {
	case d >= Window:
		return fmt.Errorf("%w: %s seq %d is more than %d behind %d", ErrStale, from, seq, Window, w.top)
	case w.seen&(1<<d) != 0:
		return fmt.Errorf("%w: %s seq %d", ErrReplay, from, seq)
	}
	w.seen |= 1 << d
	return nil
}
