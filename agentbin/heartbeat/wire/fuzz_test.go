package wire

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode feeds Decode and Receiver.Accept arbitrary bytes (packets of
// both versions among the seeds), both as
// they come (which exercises the checks before the HMAC) and re-signed
// with the test key (which lets them reach the header and payload
// parsers, as a key holder's packets would). Neither may panic, and
// whatever decodes must encode again to the same packet.
func FuzzDecode(f *testing.F) {
	good := encode(f, testPacket(), testKey, KeyCurrent)
	f.Add(good)
	f.Add(encode(f, &Packet{Cluster: "c", From: "h2g", Generation: 1, Seq: 1}, testKey, KeyPrevious))
	other := testPacket()
	other.Cluster = "db"
	f.Add(encode(f, other, otherKey, KeyCurrent))
	v2 := testPacket()
	v2.Version, v2.Speaks = 2, Version
	f.Add(encode(f, v2, testKey, KeyCurrent))
	for _, n := range []int{0, 1, len(magic), len(magic) + 2, len(magic) + 3, 20, 40, len(good) / 2, len(good) - macSize, len(good) - 1} {
		f.Add(good[:n])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		inputs := [][]byte{b}
		if len(b) >= macSize {
			inputs = append(inputs, resign(b, testKey))
		}
		for _, in := range inputs {
			r := newReceiver()
			if p, err := r.Accept(in, t0); (err == nil) != (p != nil) {
				t.Fatalf("Accept = %v, %v", p, err)
			}
			p, err := Decode(in, Keys{Current: testKey})
			if err != nil {
				continue
			}
			again, err := Encode(p, testKey, KeyCurrent)
			if errors.Is(err, ErrTooBig) {
				continue // JSON escaping can grow a payload past the limit
			}
			if err != nil {
				t.Fatalf("decoded %+v but cannot encode it: %v", p, err)
			}
			p2, err := Decode(again, Keys{Current: testKey})
			if err != nil {
				t.Fatalf("re-encoded packet does not decode: %v", err)
			}
			if third, err := Encode(p2, testKey, KeyCurrent); err != nil || !bytes.Equal(third, again) {
				t.Fatalf("encoding is not stable: %v\n%q\n%q", err, again, third)
			}
		}
	})
}
