package wire

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestReplayGuard(t *testing.T) {
	gen := NewGeneration(t0)
	type step struct {
		from string
		gen  uint64
		seq  uint64
		want error
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"in order", []step{{"a", gen, 1, nil}, {"a", gen, 2, nil}, {"a", gen, 3, nil}}},
		{"same packet on two links counts once", []step{{"a", gen, 1, nil}, {"a", gen, 1, ErrReplay}, {"a", gen, 2, nil}, {"a", gen, 2, ErrReplay}}},
		{"first packet heard need not be seq 1", []step{{"a", gen, 500, nil}, {"a", gen, 499, nil}, {"a", gen, 500, ErrReplay}}},
		{"reordered within the window, once each", []step{
			{"a", gen, 10, nil}, {"a", gen, 8, nil}, {"a", gen, 9, nil}, {"a", gen, 8, ErrReplay}, {"a", gen, 9, ErrReplay}, {"a", gen, 10, ErrReplay},
		}},
		{"the window's oldest edge", []step{{"a", gen, 100, nil}, {"a", gen, 100 - Window + 1, nil}, {"a", gen, 100 - Window + 1, ErrReplay}}},
		{"older than the window", []step{{"a", gen, 100, nil}, {"a", gen, 100 - Window, ErrStale}, {"a", gen, 1, ErrStale}}},
		{"a jump forward keeps the window", []step{{"a", gen, 1, nil}, {"a", gen, 3, nil}, {"a", gen, 60, nil}, {"a", gen, 3, ErrReplay}, {"a", gen, 2, nil}}},
		{"a jump past the window forgets it", []step{{"a", gen, 1, nil}, {"a", gen, 1000, nil}, {"a", gen, 999, nil}, {"a", gen, 1000, ErrReplay}, {"a", gen, 1, ErrStale}}},
		{"a new generation resets", []step{{"a", gen, 900, nil}, {"a", gen + 1, 1, nil}, {"a", gen + 1, 2, nil}, {"a", gen + 1, 1, ErrReplay}}},
		{"an old generation is stale", []step{{"a", gen, 5, nil}, {"a", gen + 1, 1, nil}, {"a", gen, 6, ErrStale}, {"a", gen - 1, 1000, ErrStale}}},
		{"peers are apart", []step{{"a", gen, 5, nil}, {"b", gen - 1, 5, nil}, {"b", gen - 1, 6, nil}, {"a", gen, 5, ErrReplay}}},
		{"generation up to a minute ahead", []step{{"a", uint64(t0.Add(MaxFuture).UnixNano()), 1, nil}}},
		{"generation more than a minute ahead", []step{{"a", uint64(t0.Add(MaxFuture).UnixNano()) + 1, 1, ErrFuture}, {"a", ^uint64(0), 1, ErrFuture}}},
		{"a refused future generation moves nothing", []step{{"a", gen, 5, nil}, {"a", uint64(t0.Add(time.Hour).UnixNano()), 1, ErrFuture}, {"a", gen, 6, nil}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g ReplayGuard
			for i, s := range tc.steps {
				if err := g.Check(s.from, s.gen, s.seq, t0); !errors.Is(err, s.want) {
					t.Fatalf("step %d (%s gen %d seq %d): Check = %v, want %v", i, s.from, s.gen, s.seq, err, s.want)
				}
			}
		})
	}
}

// Every seq of a shuffled run within the window is accepted exactly once,
// whatever the order and however many links deliver it.
func TestReplayGuardAcceptsEachOnce(t *testing.T) {
	var g ReplayGuard
	gen := NewGeneration(t0)
	order := []uint64{3, 1, 2, 6, 5, 4, 9, 7, 8, 10}
	accepted := map[uint64]int{}
	for _, link := range []int{0, 1, 2} {
		for _, seq := range order {
			err := g.Check("a", gen, seq, t0)
			switch {
			case err == nil:
				accepted[seq]++
			case !errors.Is(err, ErrReplay):
				t.Fatalf("link %d seq %d: %v", link, seq, err)
			}
		}
	}
	for _, seq := range order {
		if accepted[seq] != 1 {
			t.Errorf("seq %d accepted %d times", seq, accepted[seq])
		}
	}
}

// Links deliver concurrently: no packet is ever accepted twice.
func TestReplayGuardConcurrent(t *testing.T) {
	var g ReplayGuard
	gen := NewGeneration(t0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := map[string]int{}
	for link := range 4 {
		wg.Go(func() {
			peer := fmt.Sprint("peer", link%2)
			for seq := uint64(1); seq <= 1000; seq++ {
				if g.Check(peer, gen, seq, t0) == nil {
					mu.Lock()
					accepted[fmt.Sprint(peer, seq)]++
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
	gen := NewGeneration(t0)
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
			continue
		}
		if err := g.Check("b", s.gen, s.seq, t0); !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Errorf("gen %d seq %d: %v, want %v", s.gen, s.seq, err, s.want)
		}
	}
	// A peer never heard can be retired too (fenced before this agent heard it).
	var fresh ReplayGuard
	fresh.Retire("c", gen)
	if err := fresh.Check("c", gen, 1, t0); !errors.Is(err, ErrStale) {
		t.Errorf("a retired generation of a peer never heard: %v, want ErrStale", err)
	}
	if err := fresh.Check("c", gen+1, 1, t0); err != nil {
		t.Errorf("the next generation: %v", err)
	}
}
