package wire

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0, 0xff, 'k', '\n'}, 10) // 40 bytes, not base64
	b64 := base64.StdEncoding.EncodeToString(testKey)
	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
		want    []byte
		errHas  string // "" means success
	}{
		{"base64 with newline", b64 + "\n", 0o600, testKey, ""},
		{"base64 with spaces around", "  " + b64 + "\r\n", 0o400, testKey, ""},
		{"raw bytes", string(raw), 0o600, raw, ""},
		{"short base64", base64.StdEncoding.EncodeToString(testKey[:16]) + "\n", 0o600, nil, "16 base64-decoded bytes, need at least 32"},
		{"short raw", "not a key\n", 0o600, nil, "10 raw bytes, need at least 32"},
		{"empty", "", 0o600, nil, "0 raw bytes"},
		{"readable by group", b64, 0o640, nil, "mode 0640 lets group or others read it"},
		{"readable by others", b64, 0o604, nil, "mode 0604"},
		{"too large", strings.Repeat("a", maxKeyFile+1), 0o600, nil, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cluster.key")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			key, err := LoadKey(path)
			if tc.errHas == "" {
				if err != nil || !bytes.Equal(key, tc.want) {
					t.Fatalf("LoadKey = %x, %v; want %x", key, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) || !strings.Contains(err.Error(), path) {
				t.Fatalf("LoadKey error = %v, want one naming %s and saying %q", err, path, tc.errHas)
			}
			if key != nil {
				t.Errorf("LoadKey returned a key with its error")
			}
		})
	}
}

func TestLoadKeyNeverShowsTheKey(t *testing.T) {
	secret := "c2VjcmV0LWtleS1tYXRlcmlhbA" // valid-looking but short
	path := filepath.Join(t.TempDir(), "k")
	if err := os.WriteFile(path, []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o600} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKey(path)
		if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "secret") {
			t.Errorf("mode %04o: LoadKey error %q, want an error without the content", mode, err)
		}
	}
}

func TestLoadKeyRefusesMissingAndDirectories(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing"), dir} {
		if _, err := LoadKey(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("LoadKey(%s) = %v, want an error naming it", path, err)
		}
	}
}

// A key rotation applied one node after another — new key added with the
// old as previous, then the old removed — never leaves a node unheard.
func TestKeyRotationKeepsEveryoneHeard(t *testing.T) {
	k1, k2 := otherKey, testKey
	type node struct {
		name  string
		keys  Keys
		ready map[string]bool // peer → heard with SenderKnowsCurrentKey
		seq   uint64
	}
	nodes := []*node{{name: "a"}, {name: "b"}, {name: "c"}}
	configure := func(n *node, k Keys) {
		n.keys, n.ready = k, map[string]bool{}
	}
	for _, n := range nodes {
		configure(n, Keys{Current: k1})
	}
	steps := []struct {
		node string
		keys Keys
	}{
		{"a", Keys{Current: k2, Previous: k1}},
		{"b", Keys{Current: k2, Previous: k1}},
		{"c", Keys{Current: k2, Previous: k1}},
		{"b", Keys{Current: k2}},
		{"a", Keys{Current: k2}},
		{"c", Keys{Current: k2}},
	}
	for i, s := range steps {
		for _, n := range nodes {
			if n.name == s.node {
				configure(n, s.keys)
			}
		}
		for round := range 3 {
			for _, from := range nodes {
				ready := len(from.ready) == len(nodes)-1
				for _, ok := range from.ready {
					ready = ready && ok
				}
				key, id := from.keys.Signing(ready)
				from.seq++
				b := encode(t, &Packet{Cluster: "web", From: from.name, Generation: 1, Seq: from.seq}, key, id)
				for _, to := range nodes {
					if to == from {
						continue
					}
					p, err := Decode(b, to.keys)
					if err != nil {
						t.Fatalf("step %d (%s reconfigured), round %d: %s does not hear %s: %v", i, s.node, round, to.name, from.name, err)
					}
					to.ready[from.name] = p.SenderKnowsCurrentKey()
				}
			}
		}
	}
	for _, n := range nodes {
		if _, id := n.keys.Signing(true); id != KeyCurrent {
			t.Errorf("%s still signs with the previous key after the rotation", n.name)
		}
	}
}
