package spec

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// Secret digests. The spec (spec.json), apply's record (applied.json),
// plans and their fingerprints say when a secret's content changed, and
// must not let anyone who reads them test guesses of it: a plain SHA-256
// of a weak SNMP community or BMC password is broken in seconds. They
// carry a keyed digest instead, HMAC-SHA-256 of the content's SHA-256
// under a key derived from the cluster key, a random secret that hactl
// reads where it runs and that every node keeps at mode 0600. Taking the
// content's SHA-256 first lets hactl key what a host's probe reports
// (sha256sum of each secret file) without the content ever leaving the
// host.

// digestLabel separates the digest key from the cluster key's use for
// heartbeats.
const digestLabel = "hactl secret digest v1"

// DigestKey derives the key of secret digests from the cluster key.
func DigestKey(clusterKey []byte) []byte {
	m := hmac.New(sha256.New, clusterKey)
	m.Write([]byte(digestLabel))
	return m.Sum(nil)
}

// SecretDigest is the keyed digest of a secret whose content has the hex
// SHA-256 contentSHA256 (HashBytes of the content).
func SecretDigest(key []byte, contentSHA256 string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(contentSHA256))
	return hex.EncodeToString(m.Sum(nil))
}
