package sync

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestDerivedKeyIsStableParsesAndDiffersPerModuleAndClusterKey(t *testing.T) {
	a1, err := deriveKey([]byte("cluster key one"), "docroot")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := deriveKey([]byte("cluster key one"), "docroot")
	if !bytes.Equal(a1.private, a2.private) || a1.public != a2.public {
		t.Error("the same cluster key and module make different keys: the spec would change at every plan")
	}
	signer, err := ssh.ParsePrivateKey(a1.private)
	if err != nil {
		t.Fatalf("OpenSSH cannot read the key: %v", err)
	}
	if got := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))); got != a1.public {
		t.Errorf("public key %q does not match the private key's %q", a1.public, got)
	}
	for _, other := range []struct{ key, module string }{{"cluster key one", "ftp"}, {"cluster key two", "docroot"}} {
		b, _ := deriveKey([]byte(other.key), other.module)
		if b.public == a1.public {
			t.Errorf("%+v makes the same key as docroot under key one", other)
		}
	}
}

func TestMatchKnownHosts(t *testing.T) {
	data := []byte(`192.168.0.27,dgx ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl
[192.168.0.3]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJm
@revoked 192.168.0.27 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJn
|1|abc=|def= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJo
`)
	tests := []struct {
		name  string
		names []string
		want  int
	}{
		{"by address", []string{"192.168.0.27"}, 1},
		{"by name and address, once", []string{"192.168.0.27", "dgx"}, 1},
		{"port must match", []string{"192.168.0.3"}, 0},
		{"non-default port", []string{"[192.168.0.3]:2222"}, 1},
		{"unknown", []string{"10.0.0.1"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			names := map[string]bool{}
			for _, n := range tt.names {
				names[n] = true
			}
			if got := matchKnownHosts(data, names); len(got) != tt.want {
				t.Errorf("got %v, want %d keys", got, tt.want)
			}
		})
	}
}
