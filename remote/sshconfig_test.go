package remote

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// writeSSHConfig writes an ssh_config file and loads it.
func writeSSHConfig(t *testing.T, content string) *SSHConfig {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadSSHConfig(p, filepath.Join(t.TempDir(), "missing"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The hops a target resolves to: the target's own settings first, then
// ssh_config's for its address (Host aliases, Include, ProxyJump through
// aliases), then the defaults.
func TestRouteHonoursSSHConfigBelowTheTarget(t *testing.T) {
	included := filepath.Join(t.TempDir(), "bastions.conf")
	if err := os.WriteFile(included, []byte("Host bastion\n  HostName 192.0.2.10\n  User jump\n  Port 2200\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeSSHConfig(t, `Include `+included+`
Host web web.example.net
  HostName 10.0.0.5
  User deploy
  Port 2222
Host db-*
  HostName %h.internal
  ProxyJump bastion,ops@bastion:2201
Host legacy
  ProxyCommand nc %h %p
Host *
  User fallback
`)
	tests := []struct {
		name string
		tg   Target
		want []string // user@addr per hop, outermost first
		err  string
	}{
		{name: "alias", tg: Target{Address: "web"}, want: []string{"deploy@10.0.0.5:2222"}},
		{name: "second name of the alias", tg: Target{Address: "web.example.net"}, want: []string{"deploy@10.0.0.5:2222"}},
		{name: "the configuration's user and port win", tg: Target{Address: "web", SSH: SSH{User: "root", Port: 22}}, want: []string{"root@10.0.0.5:22"}},
		{name: "the default user yields to ssh_config", tg: Target{Address: "web", SSH: SSH{DefaultUser: "root"}}, want: []string{"deploy@10.0.0.5:2222"}},
		{name: "Host * user", tg: Target{Address: "10.9.9.9", SSH: SSH{DefaultUser: "root"}}, want: []string{"fallback@10.9.9.9:22"}},
		{name: "ProxyJump through an alias", tg: Target{Address: "db-1"},
			want: []string{"jump@192.0.2.10:2200", "ops@192.0.2.10:2201", "fallback@db-1.internal:22"}},
		{name: "the configuration's jump hosts win", tg: Target{Address: "db-1", SSH: SSH{JumpHosts: []string{"bastion"}}},
			want: []string{"jump@192.0.2.10:2200", "fallback@db-1.internal:22"}},
		{name: "ProxyCommand refused", tg: Target{Address: "legacy"}, err: "ProxyCommand"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.tg.Name = "n1"
			hops, err := tt.tg.route(cfg)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "n1: ") {
					t.Fatalf("route: %v, want an error naming n1 and saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range hops {
				got = append(got, h.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("hops %q, want %q", got, tt.want)
			}
		})
	}
}

// A file the parser cannot read is named in the error, and the other
// files are still used.
func TestLoadSSHConfigNamesAFileThatDoesNotParse(t *testing.T) {
	dir := t.TempDir()
	broken, good := filepath.Join(dir, "config"), filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(broken, []byte("Match exec \"test -f /run/vpn\"\n  User vpn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte("Host web\n  User deploy\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadSSHConfig(broken, good)
	if err == nil || !strings.Contains(err.Error(), broken) {
		t.Fatalf("LoadSSHConfig with a file it cannot parse: %v, want an error naming it", err)
	}
	if got := cfg.get("web", "User"); got != "deploy" {
		t.Fatalf("User for web from the other file: %q, want deploy", got)
	}
}

// An operator's ~/.ssh/config reaches a host by its alias, with the user,
// port, key and known_hosts file it names, as ssh would; and accept-new
// hashes the names it records when HashKnownHosts says so (Debian's
// /etc/ssh/ssh_config does).
func TestDialByAnSSHConfigAlias(t *testing.T) {
	s := startSSHD(t)
	bastion := startSSHD(t)
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(s.knownHostsLine()+"\n"+bastion.knownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The bastion lets in s's client key too.
	if err := os.WriteFile(filepath.Join(bastion.dir, "authorized_keys"), []byte(authorizedLine(s.client.signer.PublicKey())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeSSHConfig(t, `Host web
  HostName 127.0.0.1
  Port `+strconv.Itoa(s.port)+`
  User root
Host inner
  HostName 127.0.0.1
  Port `+strconv.Itoa(s.port)+`
  ProxyJump bastion
Host bastion
  HostName 127.0.0.1
  Port `+strconv.Itoa(bastion.port)+`
Host *
  User root
  IdentityFile `+s.client.path+`
  UserKnownHostsFile `+kh+`
  HashKnownHosts yes
`)
	t.Setenv("HOME", t.TempDir()) // no default keys or known_hosts
	for _, alias := range []string{"web", "inner"} {
		t.Run(alias, func(t *testing.T) {
			c := dial(t, Target{Name: alias, Address: alias}, Options{SSHConfig: cfg})
			out, err := c.Output(testContext(t), "id -un; echo $SSH_CONNECTION", nil)
			if err != nil {
				t.Fatal(err)
			}
			if f := strings.Fields(string(out)); len(f) != 5 || f[0] != "root" || f[4] != strconv.Itoa(s.port) {
				t.Fatalf("landed as %q, want root on port %d", out, s.port)
			}
		})
	}
	t.Run("accept-new hashes", func(t *testing.T) {
		if err := os.WriteFile(kh, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		dial(t, Target{Name: "web", Address: "web"}, Options{SSHConfig: cfg, AcceptNewHostKeys: true}).Close()
		b, err := os.ReadFile(kh)
		if err != nil || !strings.HasPrefix(string(b), "|1|") || strings.Count(string(b), "\n") != 1 {
			t.Fatalf("known_hosts after accept-new: %q, %v; want one hashed line", b, err)
		}
		out, err := exec.Command("ssh-keygen", "-F", "[127.0.0.1]:"+strconv.Itoa(s.port), "-f", kh).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "ssh-ed25519") {
			t.Fatalf("ssh-keygen -F does not find the entry: %v\n%s", err, out)
		}
		dial(t, Target{Name: "web", Address: "web"}, Options{SSHConfig: cfg}).Close()
	})
}

// Debian ships HashKnownHosts yes in /etc/ssh/ssh_config: with the
// default files, accept-new must hash there.
func TestDefaultSSHConfigFilesIncludeTheSystemOne(t *testing.T) {
	files := DefaultSSHConfigFiles()
	if len(files) != 2 || files[1] != "/etc/ssh/ssh_config" || !strings.HasSuffix(files[0], "/.ssh/config") {
		t.Fatalf("DefaultSSHConfigFiles() = %q", files)
	}
	data, err := os.ReadFile("/etc/ssh/ssh_config")
	if err != nil || !strings.Contains(string(data), "\n    HashKnownHosts yes") {
		t.Skip("this system's ssh_config does not set HashKnownHosts yes")
	}
	cfg, err := LoadSSHConfig(files...)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.hashKnownHosts("db.example.net") {
		t.Fatal("HashKnownHosts yes in /etc/ssh/ssh_config is not seen")
	}
}
