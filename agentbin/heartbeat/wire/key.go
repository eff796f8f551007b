package wire

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"os"
)

// MinKeySize is the shortest cluster key accepted, in bytes.
const MinKeySize = 32

// maxKeyFile bounds what LoadKey reads.
const maxKeyFile = 4 << 10

// Keys are the cluster keys a node accepts: the current one and, during
// a rotation, the previous one.
type Keys struct {
	Current  []byte
	Previous []byte // nil outside a rotation
}

// Signing is the key to sign with and its id. Outside a rotation it is
// the current key. During one (a previous key is configured) it is the
// previous key, which every node knows whether its configuration was
// updated yet or not, until peersReady — every peer has been heard with
// Packet.SenderKnowsCurrentKey since this node's keys last changed — and
// the current key from then on, so that removing the previous key from
// one node after another never leaves a node unheard.
func (k Keys) Signing(peersReady bool) ([]byte, byte) {
	if len(k.Previous) > 0 && !peersReady {
		return k.Previous, KeyPrevious
	}
	return k.Current, KeyCurrent
}

// verify checks mac over body with the key the sender names first, then
// the other, and returns which of k's keys matched.
func (k Keys) verify(body, mac []byte, hint byte) (byte, error) {
	if len(k.Current) == 0 {
		return 0, fmt.Errorf("%w: no cluster key loaded", ErrAuth)
	}
	order := []byte{KeyCurrent, KeyPrevious}
	switch hint {
	case KeyCurrent:
	case KeyPrevious:
		order[0], order[1] = KeyPrevious, KeyCurrent
	default:
		return 0, fmt.Errorf("%w: unknown key id %d", ErrAuth, hint)
	}
	for _, id := range order {
		key := k.Current
		if id == KeyPrevious {
			key = k.Previous
		}
		if len(key) == 0 {
			continue
		}
		var sum [sha256.Size]byte
		if hmac.Equal(appendMAC(sum[:0], body, key), mac) {
			return id, nil
		}
	}
	return 0, ErrAuth
}

// LoadKey reads a cluster key file: base64 of at least MinKeySize bytes
// (surrounding white space ignored), or at least MinKeySize raw bytes. A
// file whose content is valid base64 is always taken as base64. It
// refuses a file that group or others may access. Errors name the file
// and sizes, never its content.
func LoadKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cluster key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cluster key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("cluster key %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("cluster key %s: mode %04o lets group or others read it; it must be 0600 or stricter (chmod 600 %s)", path, perm, path)
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("cluster key %s: %w", path, err)
	}
	key, err := ParseKey(raw)
	if err != nil {
		return nil, fmt.Errorf("cluster key %s: %w (make one with: head -c 32 /dev/urandom | base64)", path, err)
	}
	return key, nil
}

// ParseKey takes the key out of a key file's content as LoadKey does, so
// that hactl validate accepts exactly the files the agent will. Errors
// give sizes, never the content.
func ParseKey(raw []byte) ([]byte, error) {
	if len(raw) > maxKeyFile {
		return nil, fmt.Errorf("larger than %d bytes; is it the right file?", maxKeyFile)
	}
	key, how := raw, "raw"
	if text := bytes.TrimSpace(raw); len(text) > 0 {
		if dec, err := base64.StdEncoding.AppendDecode(nil, text); err == nil {
			key, how = dec, "base64-decoded"
		}
	}
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("%d %s bytes, need at least %d", len(key), how, MinKeySize)
	}
	return key, nil
}
