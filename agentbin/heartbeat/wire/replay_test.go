package wire

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

// step is one packet for a guard: from a peer, sent on link plink at
// sent (offset from t0), arriving on link at t0.
type step struct {
	from        string
	link, plink string
	gen, seq    uint64
	sent        time.Duration
	want        error
}

func (s step) packet() *Packet {
	plink := s.plink
	if plink == "" {
		plink = s.link
	}
	return &Packet{From: s.from, Generation: s.gen, Seq: s.seq, Link: plink, SentUnixNano: t0.Add(s.sent).UnixNano()}
}

// on is a packet of peer a, generation gen, seq seq sent on link and
// arriving there, with a sent time of t0.
func on(link string, gen, seq uint64, want error) step {
	return step{from: "a", link: link, gen: gen, seq: seq, want: want}
}

func TestReplayGuard(t *testing.T) {
	const gen = 1000
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"in order", []step{on("l", gen, 1, nil), on("l", gen, 2, nil), on("l", gen, 3, nil)}},
		{"each link's copy counts once on its link", []step{
			on("l", gen, 1, nil), on("m", gen, 1, nil), on("l", gen, 1, ErrReplay), on("m", gen, 1, ErrReplay), on("m", gen, 2, nil),
		}},
		{"first packet heard need not be seq 1", []step{on("l", gen, 500, nil), on("l", gen, 499, nil), on("l", gen, 500, ErrReplay)}},
		{"reordered within the window, once each", []step{
			on("l", gen, 10, nil), on("l", gen, 8, nil), on("l", gen, 9, nil), on("l", gen, 8, ErrReplay), on("l", gen, 9, ErrReplay), on("l", gen, 10, ErrReplay),
		}},
		{"the window's oldest edge", []step{on("l", gen, 100, nil), on("l", gen, 100-Window+1, nil), on("l", gen, 100-Window+1, ErrReplay)}},
		{"older than the window", []step{on("l", gen, 100, nil), on("l", gen, 100-Window, ErrStale), on("l", gen, 1, ErrStale)}},
		{"a jump forward keeps the window", []step{on("l", gen, 1, nil), on("l", gen, 3, nil), on("l", gen, 60, nil), on("l", gen, 3, ErrReplay), on("l", gen, 2, nil)}},
		{"a jump past the window forgets it", []step{on("l", gen, 1, nil), on("l", gen, 1000, nil), on("l", gen, 999, nil), on("l", gen, 1000, ErrReplay), on("l", gen, 1, ErrStale)}},
		{"links have their own windows", []step{on("l", gen, 1000, nil), on("m", gen, 10, nil), on("m", gen, 9, nil)}},
		{"a new generation resets", []step{on("l", gen, 900, nil), on("l", gen+1, 1, nil), on("l", gen+1, 2, nil), on("l", gen+1, 1, ErrReplay)}},
		{"an old generation is stale", []step{on("l", gen, 5, nil), on("l", gen+1, 1, nil), on("l", gen, 6, ErrStale), on("l", gen-1, 1000, ErrStale)}},
		// A restarted peer's packets on one link make the old generation
		// stale on every link: delayed packets of the old agent on a slow
		// link must not pass for yet another restart.
		{"an old generation is stale on every link", []step{on("l", gen, 5, nil), on("m", gen, 5, nil), on("l", gen+1, 1, nil), on("m", gen, 6, ErrStale), on("m", gen+1, 1, nil)}},
		{"peers are apart", []step{
			on("l", gen, 5, nil), {from: "b", link: "l", gen: gen - 1, seq: 5}, {from: "b", link: "l", gen: gen - 1, seq: 6}, on("l", gen, 5, ErrReplay),
		}},
		{"sent on another link", []step{{from: "a", link: "l", plink: "m", gen: gen, seq: 1, want: ErrWrongLink}}},
		{"a packet refused for its link moves nothing", []step{
			{from: "a", link: "m", plink: "l", gen: gen + 1, seq: 1, want: ErrWrongLink}, on("l", gen, 1, nil), on("m", gen, 1, nil),
		}},
		{"sent up to MaxSkew ago or ahead", []step{
			{from: "a", link: "l", gen: gen, seq: 1, sent: -MaxSkew}, {from: "a", link: "l", gen: gen, seq: 2, sent: MaxSkew},
		}},
		{"sent more than MaxSkew ago", []step{{from: "a", link: "l", gen: gen, seq: 1, sent: -MaxSkew - 1, want: ErrLate}}},
		{"sent more than MaxSkew ahead", []step{{from: "a", link: "l", gen: gen, seq: 1, sent: MaxSkew + 1, want: ErrFuture}}},
		{"a packet refused for its age moves nothing", []step{
			{from: "a", link: "l", gen: gen + 1, seq: 1, sent: -time.Hour, want: ErrLate}, on("l", gen, 1, nil),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g ReplayGuard
			for i, s := range tc.steps {
				if err := g.Check(s.packet(), s.link, t0); !errors.Is(err, s.want) || (s.want == nil && err != nil) {
					t.Fatalf("step %d (%+v): Check = %v, want %v", i, s, err, s.want)
				}
			}
		})
	}
}

// Every seq of a shuffled run within the window is accepted exactly once
// per link, however many times each link delivers it.
func TestReplayGuardAcceptsEachOnce(t *testing.T) {
	var g ReplayGuard
	order := []uint64{3, 1, 2, 6, 5, 4, 9, 7, 8, 10}
	accepted := map[string]int{}
	for range 2 {
		for _, link := range []string{"l", "m", "n"} {
			for _, seq := range order {
				err := g.Check(&Packet{From: "a", Generation: 1, Seq: seq, Link: link, SentUnixNano: t0.UnixNano()}, link, t0)
				switch {
				case err == nil:
					accepted[fmt.Sprint(link, seq)]++
				case !errors.Is(err, ErrReplay):
					t.Fatalf("link %s seq %d: %v", link, seq, err)
				}
			}
		}
	}
	if len(accepted) != 30 {
		t.Errorf("accepted %d packets, want 10 per link", len(accepted))
	}
	for k, n := range accepted {
		if n != 1 {
			t.Errorf("%s accepted %d times", k, n)
		}
	}
}

// Links deliver concurrently: no packet is ever accepted twice.
func TestReplayGuardConcurrent(t *testing.T) {
	var g ReplayGuard
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := map[string]int{}
	for reader := range 8 {
		wg.Go(func() {
			peer, link := fmt.Sprint("peer", reader%2), fmt.Sprint("link", reader%4/2)
			for seq := uint64(1); seq <= 1000; seq++ {
				if g.Check(&Packet{From: peer, Generation: 1, Seq: seq, Link: link, SentUnixNano: t0.UnixNano()}, link, t0) == nil {
					mu.Lock()
					accepted[fmt.Sprint(peer, link, seq)]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for k, n := range accepted {
		if n != 1 {
			t.Errorf("%s accepted %d times", k, n)
		}
	}
}

// A fenced peer's generation is over: what of it arrives late (queued
// before the fence) is stale, and the peer's next agent is heard.
func TestRetiredGenerationIsRefusedAndTheNextIsHeard(t *testing.T) {
	const gen = 1000
	var g ReplayGuard
	for _, s := range []struct {
		gen, seq uint64
		retire   bool
		want     error
	}{
		{gen: gen, seq: 10},
		{gen: gen, retire: true},
		{gen: gen, seq: 11, want: ErrStale},    // queued before the fence
		{gen: gen - 1, seq: 1, want: ErrStale}, // older still
		{gen: gen + 5, seq: 1},                 // the rebooted agent
		{gen: gen, seq: 12, want: ErrStale},
		{gen: gen + 5, seq: 2},
	} {
		if s.retire {
			g.Retire("b", s.gen)
			if h := g.Heard(); len(h) != 0 {
				t.Errorf("a retired generation is still heard: %v", h)
			}
			continue
		}
		p := &Packet{From: "b", Generation: s.gen, Seq: s.seq, Link: "l", SentUnixNano: t0.UnixNano()}
		if err := g.Check(p, "l", t0); !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Errorf("gen %d seq %d: %v, want %v", s.gen, s.seq, err, s.want)
		}
	}
	// A peer never heard can be retired too (fenced before this agent heard it).
	var fresh ReplayGuard
	fresh.Retire("c", gen)
	if err := fresh.Check(&Packet{From: "c", Generation: gen, Seq: 1, Link: "l", SentUnixNano: t0.UnixNano()}, "l", t0); !errors.Is(err, ErrStale) {
		t.Errorf("a retired generation of a peer never heard: %v, want ErrStale", err)
	}
	if err := fresh.Check(&Packet{From: "c", Generation: gen + 1, Seq: 1, Link: "l", SentUnixNano: t0.UnixNano()}, "l", t0); err != nil {
		t.Errorf("the next generation: %v", err)
	}
}

func TestReplayGuardHeard(t *testing.T) {
	var g ReplayGuard
	for _, s := range []step{
		{from: "n3", link: "l", gen: 7, seq: 1},
		{from: "a", link: "l", gen: 5, seq: 1},
		{from: "a", link: "m", gen: 6, seq: 1},
		{from: "a", link: "l", gen: 5, seq: 2, want: ErrStale},
		{from: "b", link: "l", plink: "m", gen: 9, seq: 1, want: ErrWrongLink}, // refused: not heard
	} {
		if err := g.Check(s.packet(), s.link, t0); !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Fatalf("%+v: %v, want %v", s, err, s.want)
		}
	}
	want := []Heard{{Node: "a", Generation: 6}, {Node: "n3", Generation: 7}}
	if got := g.Heard(); !reflect.DeepEqual(got, want) {
		t.Errorf("Heard = %v, want %v", got, want)
	}
}
