package wire

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// Reasons Receiver.Accept refuses an authentic packet.
var (
	ErrOtherCluster  = errors.New("heartbeat from another cluster")
	ErrUnknownSender = errors.New("heartbeat from a node that is not a member")
	ErrOwn           = errors.New("heartbeat from this node")
	// ErrUnproven: the sender had not heard this node's current
	// generation when it sent the packet (see Packet.Answers).
	ErrUnproven = errors.New("heartbeat that does not answer this node's current start")
)

// Receiver checks the datagrams one link of one node receives. Its fields
// are set once; on a configuration change make a new Receiver that shares
// the same Guard and Counters, so the replay windows and counts carry
// over. The receivers of a node's links share one Guard.
type Receiver struct {
	Cluster  string   // this cluster's name
	Self     string   // this node's name
	Members  []string // every member (Self may be among them)
	Link     string   // the link it receives on
	Keys     Keys
	Guard    *ReplayGuard
	Counters *Counters // may be nil
	// Generation is this node's: a packet counts only if its sender had
	// heard it (ErrUnproven).
	Generation uint64
}

// Accept decodes and authenticates b, then checks the cluster name, the
// sender (a member other than this node), the link, the sent time, the
// replay window and the answer to this node's generation, in that order,
// counts the outcome and returns the packet or why it was dropped. A
// packet refused only as ErrUnproven has passed the replay window, so its
// sender's generation is in Guard.Heard and this node's next packets
// answer it: two members that start together hear each other one
// interval later.
// A packet that fails authentication but names another cluster is
// counted as ErrOtherCluster (a neighbour on the same port, most likely);
// the name is not trusted for anything else.
func (r *Receiver) Accept(b []byte, now time.Time) (*Packet, error) {
	p, err := r.accept(b, now)
	if r.Counters != nil {
		r.Counters.Count(err)
	}
	return p, err
}

func (r *Receiver) accept(b []byte, now time.Time) (*Packet, error) {
	p, err := Decode(b, r.Keys)
	if errors.Is(err, ErrAuth) {
		if c, ok := peekCluster(b); ok && c != r.Cluster {
			return nil, fmt.Errorf("%w %q (and not signed with this cluster's key)", ErrOtherCluster, c)
		}
	}
	switch {
	case err != nil:
		return nil, err
	case p.Cluster != r.Cluster:
		return nil, fmt.Errorf("%w %q", ErrOtherCluster, p.Cluster)
	case p.From == r.Self:
		return nil, ErrOwn
	case !slices.Contains(r.Members, p.From):
		return nil, fmt.Errorf("%w: %q", ErrUnknownSender, p.From)
	}
	if err := r.Guard.Check(p, r.Link, now); err != nil {
		return nil, err
	}
	if !p.Answers(r.Self, r.Generation) {
		return nil, fmt.Errorf("%w: %s had not heard generation %d of %s", ErrUnproven, p.From, r.Generation, r.Self)
	}
	return p, nil
}

// Counters count received datagrams by outcome. The zero value is ready;
// it is safe for concurrent use.
type Counters struct {
	Accepted      atomic.Uint64
	Replayed      atomic.Uint64 // ErrReplay
	Stale         atomic.Uint64 // ErrStale
	Future        atomic.Uint64 // ErrFuture: a clock far ahead
	Late          atomic.Uint64 // ErrLate: delayed, played back, or a clock far behind
	WrongLink     atomic.Uint64 // ErrWrongLink
	Unproven      atomic.Uint64 // ErrUnproven
	Forged        atomic.Uint64 // ErrAuth
	Malformed     atomic.Uint64 // ErrShort, ErrMagic, ErrMalformed
	Version       atomic.Uint64 // ErrVersion: a peer of another release
	TooBig        atomic.Uint64 // ErrTooBig
	OtherCluster  atomic.Uint64 // ErrOtherCluster
	UnknownSender atomic.Uint64 // ErrUnknownSender
	Own           atomic.Uint64 // ErrOwn: looped-back multicast or broadcast
}

// Count counts one outcome: nil is Accepted, an error its reason.
func (c *Counters) Count(err error) {
	n := &c.Malformed
	for _, r := range []struct {
		err error
		n   *atomic.Uint64
	}{
		{nil, &c.Accepted},
		{ErrReplay, &c.Replayed},
		{ErrStale, &c.Stale},
		{ErrFuture, &c.Future},
		{ErrLate, &c.Late},
		{ErrWrongLink, &c.WrongLink},
		{ErrUnproven, &c.Unproven},
		{ErrAuth, &c.Forged},
		{ErrVersion, &c.Version},
		{ErrTooBig, &c.TooBig},
		{ErrOtherCluster, &c.OtherCluster},
		{ErrUnknownSender, &c.UnknownSender},
		{ErrOwn, &c.Own},
	} {
		if errors.Is(err, r.err) {
			n = r.n
			break
		}
	}
	n.Add(1)
}

// CounterValues is a snapshot of Counters, for status.
type CounterValues struct {
	Accepted      uint64 `json:"accepted"`
	Replayed      uint64 `json:"replayed"`
	Stale         uint64 `json:"stale"`
	Future        uint64 `json:"future"`
	Late          uint64 `json:"late"`
	WrongLink     uint64 `json:"wrong_link"`
	Unproven      uint64 `json:"unproven"`
	Forged        uint64 `json:"forged"`
	Malformed     uint64 `json:"malformed"`
	Version       uint64 `json:"version"`
	TooBig        uint64 `json:"too_big"`
	OtherCluster  uint64 `json:"other_cluster"`
	UnknownSender uint64 `json:"unknown_sender"`
	Own           uint64 `json:"own"`
}

// Snapshot reads every counter.
func (c *Counters) Snapshot() CounterValues {
	return CounterValues{
		Accepted:      c.Accepted.Load(),
		Replayed:      c.Replayed.Load(),
		Stale:         c.Stale.Load(),
		Future:        c.Future.Load(),
		Late:          c.Late.Load(),
		WrongLink:     c.WrongLink.Load(),
		Unproven:      c.Unproven.Load(),
		Forged:        c.Forged.Load(),
		Malformed:     c.Malformed.Load(),
		Version:       c.Version.Load(),
		TooBig:        c.TooBig.Load(),
		OtherCluster:  c.OtherCluster.Load(),
		UnknownSender: c.UnknownSender.Load(),
		Own:           c.Own.Load(),
	}
}

// Dropped lists the refusals by reason, as status names them; reasons
// that counted none are left out, and so is this node's own broadcast
// heard back, which is no refusal worth showing.
func (v CounterValues) Dropped() map[string]uint64 {
	out := map[string]uint64{}
	for reason, n := range map[string]uint64{
		"replayed": v.Replayed, "stale": v.Stale, "future": v.Future, "late": v.Late,
		"wrong_link": v.WrongLink, "unproven": v.Unproven, "forged": v.Forged,
		"malformed": v.Malformed, "version": v.Version, "too_big": v.TooBig,
		"other_cluster": v.OtherCluster, "unknown_sender": v.UnknownSender,
	} {
		if n > 0 {
			out[reason] = n
		}
	}
	return out
}

// peekCluster is the cluster name b claims, unauthenticated: only to tell
// a packet of another cluster from a forgery.
func peekCluster(b []byte) (string, bool) {
	start := len(magic) + 2
	if len(b) <= start || len(b) > MaxPacket || !bytes.HasPrefix(b, []byte(magic)) {
		return "", false
	}
	r := reader{b: b[start:]}
	c := r.name()
	return c, !r.short
}
