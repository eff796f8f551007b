package remote

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// withHostCertificate gives the sshd a host certificate for its key,
// signed by ca for principals and valid from after to before.
func withHostCertificate(ca ssh.Signer, principals []string, after, before time.Time) sshdOption {
	return func(t *testing.T, dir string, host keyPair) string {
		cert := &ssh.Certificate{
			Key:             host.signer.PublicKey(),
			Serial:          1,
			CertType:        ssh.HostCert,
			KeyId:           "test host",
			ValidPrincipals: principals,
			ValidAfter:      uint64(after.Unix()),
			ValidBefore:     uint64(before.Unix()),
		}
		if err := cert.SignCert(rand.Reader, ca); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "host_key-cert.pub")
		if err := os.WriteFile(p, ssh.MarshalAuthorizedKey(cert), 0o644); err != nil {
			t.Fatal(err)
		}
		return "HostCertificate " + p
	}
}

// authorizedLine is key as known_hosts and authorized_keys write it.
func authorizedLine(key ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
}

// A host known only through a @cert-authority line used to fail with
// "host key has changed" and advice to run ssh-keygen -R, which would
// delete the CA line. Host certificates signed by a trusted CA are
// accepted; where the CA line exists but the host's key does not pass it,
// the error says why and never advises ssh-keygen -R.
func TestDialVerifiesHostCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := newKey(t, dir, "ca", nil).signer
	otherCA := newKey(t, dir, "other_ca", nil).signer
	now := time.Now()
	valid := withHostCertificate(ca, []string{"127.0.0.1"}, now.Add(-time.Hour), now.Add(time.Hour))
	servers := map[string]*sshd{
		"valid":           startSSHD(t, valid),
		"wrong principal": startSSHD(t, withHostCertificate(ca, []string{"db.example.net"}, now.Add(-time.Hour), now.Add(time.Hour))),
		"expired":         startSSHD(t, withHostCertificate(ca, []string{"127.0.0.1"}, now.Add(-2*time.Hour), now.Add(-time.Hour))),
		"other CA":        startSSHD(t, withHostCertificate(otherCA, []string{"127.0.0.1"}, now.Add(-time.Hour), now.Add(time.Hour))),
		"no certificate":  startSSHD(t),
	}
	caLine := func(pattern string) string { return markerCA + " " + pattern + " " + authorizedLine(ca.PublicKey()) }
	tests := []struct {
		name       string
		server     string
		knownHosts func(s *sshd) string
		acceptNew  bool
		kind       FailureKind
		say        string // "": the dial succeeds
	}{
		{name: "CA for the host", server: "valid", knownHosts: func(s *sshd) string { return caLine("[127.0.0.1]:" + strconv.Itoa(s.port)) }},
		{name: "CA for every host", server: "valid", knownHosts: func(*sshd) string { return caLine("*") }},
		{name: "CA for other hosts only", server: "valid", knownHosts: func(*sshd) string { return caLine("*.example.net,!127.0.0.1") },
			kind: FailureUnknownHost, say: "is not in"},
		{name: "CA revoked", server: "valid", knownHosts: func(*sshd) string {
			return caLine("*") + "\n" + markerRevoked + " * " + authorizedLine(ca.PublicKey())
		}, kind: FailureOther, say: "revoked"},
		{name: "certificate for another name", server: "wrong principal", knownHosts: func(*sshd) string { return caLine("*") },
			kind: FailureHostCertificate, say: "principal"},
		{name: "expired certificate", server: "expired", knownHosts: func(*sshd) string { return caLine("*") },
			kind: FailureHostCertificate, say: "expired"},
		{name: "certificate of an untrusted CA", server: "other CA", knownHosts: func(*sshd) string { return caLine("*") },
			kind: FailureHostCertificate, say: ssh.FingerprintSHA256(otherCA.PublicKey())},
		{name: "no certificate", server: "no certificate", knownHosts: func(*sshd) string { return caLine("*") },
			kind: FailureHostCertificate, say: "plain key"},
		{name: "no certificate, accept-new", server: "no certificate", knownHosts: func(*sshd) string { return caLine("*") },
			acceptNew: true, kind: FailureHostCertificate, say: "plain key"},
		{name: "no certificate but the plain key known too", server: "no certificate", knownHosts: func(s *sshd) string {
			return caLine("*") + "\n" + s.knownHostsLine()
		}},
		{name: "expired certificate, plain key known", server: "expired", knownHosts: func(s *sshd) string {
			return caLine("*") + "\n" + s.knownHostsLine()
		}},
		{name: "untrusted CA, plain key known", server: "other CA", knownHosts: func(s *sshd) string { return s.knownHostsLine() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := servers[tt.server]
			tg := s.target(t, "h1")
			content := tt.knownHosts(s) + "\n"
			if err := os.WriteFile(tg.SSH.KnownHostsFile, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Dial(testContext(t), tg, Options{AcceptNewHostKeys: tt.acceptNew})
			if tt.say == "" {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				c.Close()
				return
			}
			var dialErr *DialError
			if !errors.As(err, &dialErr) || dialErr.Kind != tt.kind {
				t.Fatalf("Dial: %v, want a *DialError of kind %v", err, tt.kind)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.say) || strings.Contains(msg, "ssh-keygen -R") {
				t.Errorf("message %q should say %q and never advise ssh-keygen -R", msg, tt.say)
			}
			if b, _ := os.ReadFile(tg.SSH.KnownHostsFile); string(b) != content {
				t.Errorf("known_hosts changed to %q", b)
			}
		})
	}
}

// One line hactl cannot read used to fail every connection; OpenSSH skips
// it. hactl skips it too, warning once per line with its file:line.
func TestDialSkipsUnreadableKnownHostsLines(t *testing.T) {
	s := startSSHD(t)
	other := newKey(t, t.TempDir(), "other", nil).signer.PublicKey()
	ed25519Blob := strings.Fields(authorizedLine(other))[1]
	tests := []struct{ name, line string }{
		{"garbage", "this is not a known_hosts line"},
		{"unknown marker", "@trusted * " + authorizedLine(other)},
		{"bad base64", "db.example.net ssh-ed25519 !!!!"},
		{"type differs from the key", "db.example.net ssh-rsa " + ed25519Blob},
		{"bad hashed name", "|1|bm90IGJhc2U2NA|x " + authorizedLine(other)},
		{"key cut short", "db.example.net ssh-ed25519 " + ed25519Blob[:20]},
		{"no key", "db.example.net ssh-ed25519"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := s.target(t, "h1")
			content := "# hosts\n" + tt.line + "\n" + s.knownHostsLine() + "\n"
			if err := os.WriteFile(tg.SSH.KnownHostsFile, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var warnings []string
			opts := Options{Warn: func(msg string) { mu.Lock(); warnings = append(warnings, msg); mu.Unlock() }}
			for range 2 {
				dial(t, tg, opts).Close()
			}
			if len(warnings) != 1 || !strings.HasPrefix(warnings[0], tg.SSH.KnownHostsFile+":2: ") {
				t.Fatalf("warnings %q, want one naming %s:2", warnings, tg.SSH.KnownHostsFile)
			}
		})
	}
}

func TestKnownHostMatches(t *testing.T) {
	key := newKey(t, t.TempDir(), "k", nil).signer.PublicKey()
	tests := []struct {
		hosts string
		name  string
		want  bool
	}{
		{"web1", "web1", true},
		{"web1", "WEB1", true},
		{"web1", "[web1]:2222", false},
		{"[web1]:2222", "[web1]:2222", true},
		{"web1,web2", "web2", true},
		{"*.example.net", "db.example.net", true},
		{"*.example.net", "example.net", false},
		{"*.example.net", "[db.example.net]:2222", false},
		{"[*.example.net]:2222", "[db.example.net]:2222", true},
		{"10.0.0.?", "10.0.0.7", true},
		{"10.0.0.?", "10.0.0.17", false},
		{"*,!10.0.0.1", "10.0.0.1", false},
		{"*,!10.0.0.1", "10.0.0.2", true},
		{"!10.0.0.1", "10.0.0.2", false},
		{"*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 200), false},
		{knownhosts.HashHostname("db.example.net"), "db.example.net", true},
		{knownhosts.HashHostname("db.example.net"), "DB.example.net", true},
		{knownhosts.HashHostname("db.example.net"), "[db.example.net]:2222", false},
		{knownhosts.HashHostname("[db.example.net]:2222"), "[db.example.net]:2222", true},
	}
	for _, tt := range tests {
		t.Run(tt.hosts+" "+tt.name, func(t *testing.T) {
			k, err := parseKnownHost(tt.hosts + " " + authorizedLine(key))
			if err != nil {
				t.Fatal(err)
			}
			if got := k.matches(tt.name); got != tt.want {
				t.Fatalf("%q matches %q = %v, want %v", tt.hosts, tt.name, got, tt.want)
			}
		})
	}
}
