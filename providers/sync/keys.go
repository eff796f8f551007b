package sync

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
)

// The key pair of a sync module is derived from the cluster key and the
// module's name, rather than generated and kept in a file of its own:
// nothing more to create, back up or lose beside cluster.key, a plan stays
// a pure function of the configuration, and a cluster key rotation
// (previous_key_file) rotates every sync key with it, the targets
// accepting the old and the new key until the previous one is removed,
// so that no run fails in between. The cost: whoever holds the cluster
// key can derive the sync keys; every node holds it already, and a
// sync key only writes into its targets' paths (rrsync).
const syncKeyLabel = "hactl sync key v1\x00"

// keyPair is a sync module's SSH key.
type keyPair struct {
	private []byte // OpenSSH PEM
	public  string // "ssh-ed25519 AAAA…"
}

func deriveKey(clusterKey []byte, module string) (*keyPair, error) {
	m := hmac.New(sha256.New, clusterKey)
	m.Write([]byte(syncKeyLabel + module))
	priv := ed25519.NewKeyFromSeed(m.Sum(nil))
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("encoding the public key: %w", err)
	}
	return &keyPair{
		private: marshalEd25519(priv, "hactl-sync-"+module),
		public:  strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))),
	}, nil
}

// marshalEd25519 writes priv in OpenSSH's private key format, as
// ssh.MarshalPrivateKey does but with the format's check number derived
// from the key instead of random: the same key always makes the same
// file, so its digest in the spec changes only when the key does.
func marshalEd25519(priv ed25519.PrivateKey, comment string) []byte {
	str := func(b *bytes.Buffer, s []byte) {
		_ = binary.Write(b, binary.BigEndian, uint32(len(s)))
		b.Write(s)
	}
	pubKey := priv.Public().(ed25519.PublicKey)
	var pubBlob bytes.Buffer
	str(&pubBlob, []byte(ssh.KeyAlgoED25519))
	str(&pubBlob, pubKey)

	check := sha256.Sum256(priv)
	var body bytes.Buffer
	body.Write(check[:4])
	body.Write(check[:4])
	str(&body, []byte(ssh.KeyAlgoED25519))
	str(&body, pubKey)
	str(&body, priv)
	str(&body, []byte(comment))
	for i := byte(1); body.Len()%8 != 0; i++ {
		body.WriteByte(i)
	}

	var out bytes.Buffer
	out.WriteString("openssh-key-v1\x00")
	str(&out, []byte("none"))
	str(&out, []byte("none"))
	str(&out, nil)
	_ = binary.Write(&out, binary.BigEndian, uint32(1))
	str(&out, pubBlob.Bytes())
	str(&out, body.Bytes())
	return pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: out.Bytes()})
}

// hostKeysOf returns n's SSH host keys as the known_hosts file hactl
// checks them with lists them (HACTL_KNOWN_HOSTS, which --known-hosts
// defaults to, the node's known_hosts_file, or the user's), and the file's
// name. The source is given exactly these keys: it trusts its targets as
// far as the operator does, no further.
func hostKeysOf(baseDir string, n *topology.Node, port int) ([]string, string, error) {
	file := os.Getenv("HACTL_KNOWN_HOSTS")
	if file == "" {
		file = n.SSH.KnownHostsFile
	}
	if file == "" {
		file = "~/.ssh/known_hosts"
	}
	file = providers.LocalPath(baseDir, file)
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, file, nil
	}
	if err != nil {
		return nil, file, err
	}
	names := map[string]bool{}
	for _, h := range []string{n.Address, n.Name} {
		if h != "" {
			names[knownhosts.Normalize(h+":"+strconv.Itoa(port))] = true
		}
	}
	return matchKnownHosts(data, names), file, nil
}

// matchKnownHosts lists the keys of data's plain (not hashed, not marked)
// lines for any of names.
func matchKnownHosts(data []byte, names map[string]bool) []string {
	var keys []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		marker, hosts, key, _, _, err := ssh.ParseKnownHosts(sc.Bytes())
		if err != nil || marker != "" {
			continue
		}
		for _, h := range hosts {
			if names[h] {
				k := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
				if !seen[k] {
					seen[k] = true
					keys = append(keys, k)
				}
				break
			}
		}
	}
	return keys
}
