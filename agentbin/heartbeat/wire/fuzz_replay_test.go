package wire

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// FuzzReplayGuard feeds a ReplayGuard random sequences of packets, each
// (generation, seq, link sent on, link arrived on, sent time, arrival
// time) made of 6 bytes, from one peer. The guard may never panic, accept
// the same (generation, seq, link) twice, accept a generation older than
// one it accepted, accept a packet on a link it was not sent on, or accept
// one sent more than MaxSkew from its arrival.
func FuzzReplayGuard(f *testing.F) {
	f.Add([]byte{1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0})                   // a packet twice, then the next
	f.Add([]byte{2, 5, 0, 0, 0, 0, 1, 9, 0, 0, 0, 0, 2, 5, 1, 1, 0, 0, 2, 5, 1, 0, 0, 0}) // an older generation, other links
	f.Add([]byte{3, 200, 0, 0, 0, 0, 3, 100, 0, 0, 0, 0, 3, 136, 0, 0, 0, 0})             // the window's edges
	f.Add([]byte{1, 1, 0, 0, 127, 0, 1, 2, 1, 1, 128, 3})                                 // sent far ahead, far behind
	f.Fuzz(func(t *testing.T, b []byte) {
		var g ReplayGuard
		links := []string{"lan", "direct", "serial"}
		type key struct {
			gen, seq uint64
			link     string
		}
		accepted := map[key]bool{}
		var newest uint64
		for ; len(b) >= 6; b = b[6:] {
			gen, seq := uint64(b[0]%8)+1, uint64(b[1])+1
			sentOn, arrived := links[b[2]%3], links[b[3]%3]
			// Sent up to ±2.5 MaxSkew around its arrival; arrivals up to
			// a second apart, in any order (a clock stepped back).
			now := t0.Add(time.Duration(b[5]) * time.Second / 256)
			sent := now.Add(time.Duration(int8(b[4])) * MaxSkew / 50)
			p := &Packet{From: "a", Generation: gen, Seq: seq, Link: sentOn, SentUnixNano: sent.UnixNano()}
			err := g.Check(p, arrived, now)
			if err != nil {
				if !slices.ContainsFunc([]error{ErrReplay, ErrStale, ErrLate, ErrFuture, ErrWrongLink}, func(r error) bool { return errors.Is(err, r) }) {
					t.Fatalf("Check refused with an error of no known reason: %v", err)
				}
				continue
			}
			k := key{gen, seq, arrived}
			switch {
			case accepted[k]:
				t.Fatalf("accepted gen %d seq %d on %s twice", gen, seq, arrived)
			case gen < newest:
				t.Fatalf("accepted gen %d after gen %d", gen, newest)
			case sentOn != arrived:
				t.Fatalf("accepted a packet sent on %s that arrived on %s", sentOn, arrived)
			case p.SentUnixNano < now.Add(-MaxSkew).UnixNano() || p.SentUnixNano > now.Add(MaxSkew).UnixNano():
				t.Fatalf("accepted a packet sent %v from its arrival", time.Duration(p.SentUnixNano-now.UnixNano()))
			}
			accepted[k] = true
			newest = max(newest, gen)
		}
	})
}
