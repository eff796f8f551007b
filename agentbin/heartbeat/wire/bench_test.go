package wire

import (
	"testing"
)

func BenchmarkEncode(b *testing.B) {
	p := testPacket()
	for b.Loop() {
		if _, err := Encode(p, testKey, KeyCurrent); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	pkt := encode(b, testPacket(), testKey, KeyCurrent)
	keys := Keys{Current: testKey}
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if _, err := Decode(pkt, keys); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeForged is the cost of a forged packet during a key
// rotation: two HMACs, no parsing.
func BenchmarkDecodeForged(b *testing.B) {
	pkt := encode(b, testPacket(), testKey, KeyCurrent)
	keys := Keys{Current: otherKey, Previous: otherKey}
	for b.Loop() {
		if _, err := Decode(pkt, keys); err == nil {
			b.Fatal("forged packet accepted")
		}
	}
}

func BenchmarkAccept(b *testing.B) {
	r := newReceiver()
	p := testPacket()
	now := t0
	pkts := make([][]byte, 1024)
	for i := range pkts {
		p.Seq = uint64(i + 1)
		pkts[i] = encode(b, p, testKey, KeyCurrent)
	}
	i := 0
	for b.Loop() {
		if i == len(pkts) { // forget the seqs accepted, to accept them again
			r.Guard = &ReplayGuard{}
			i = 0
		}
		if _, err := r.Accept(pkts[i], now); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
