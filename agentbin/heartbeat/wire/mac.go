package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
)

// macs keeps HMACs keyed already, per key, for reuse: keying one (two
// SHA-256 blocks and a dozen allocations) cost as much as the rest of
// signing or checking a heartbeat. A node holds one key, two during a
// rotation; the cache starts again when it holds more, so that keys gone
// from the configuration (or a test's many) do not pile up.
var macs struct {
	mu    sync.Mutex
	pools map[string]*sync.Pool
}

// maxMACKeys is how many keys macs holds before it starts again.
const maxMACKeys = 4

// appendMAC appends the HMAC-SHA-256 of body with key to dst.
func appendMAC(dst, body, key []byte) []byte {
	macs.mu.Lock()
	p := macs.pools[string(key)]
	if p == nil {
		if macs.pools == nil || len(macs.pools) >= maxMACKeys {
			macs.pools = map[string]*sync.Pool{}
		}
		k := string(key)
		p = &sync.Pool{New: func() any { return hmac.New(sha256.New, []byte(k)) }}
		macs.pools[k] = p
	}
	macs.mu.Unlock()
	m := p.Get().(hash.Hash)
	m.Write(body)
	dst = m.Sum(dst)
	m.Reset()
	p.Put(m)
	return dst
}
