package remote

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// FuzzKnownHosts feeds the known_hosts reader any file, with a host name
// to look up. The properties: every line that is neither blank nor a
// comment is either an entry or a skipped line, never both nor lost; an
// entry written back reads back the same; and what accept-new writes for a
// host (plain or hashed) is found again for that host.
func FuzzKnownHosts(f *testing.F) {
	key, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)).Public())
	if err != nil {
		f.Fatal(err)
	}
	line := authorizedLine(key)
	for _, seed := range []struct{ file, name string }{
		{"web1,10.0.0.1 " + line + "\n[db.example.net]:2222 " + line + " root@db\n", "web1"},
		{"# comment\n\n" + knownhosts.HashHostname("h2g") + " " + line + "\n", "h2g"},
		{markerCA + " *.example.net,!bad.example.net " + line + "\n" + markerRevoked + " * " + line + "\n", "[web.example.net]:2222"},
		{"garbage\n@unknown * " + line + "\nhost ssh-rsa AAAA\n|1|abc|def " + line + "\r\n", "DB.Example.Net"},
		{"h ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==\n", "h"},
		{"  web1\t" + line + "\tcomment with  spaces \n", "[fe80::1]:22"},
	} {
		f.Add([]byte(seed.file), seed.name)
	}
	f.Fuzz(func(t *testing.T, file []byte, name string) {
		hosts, bad := parseKnownHosts(file, "kh")
		lines := 0
		for l := range bytes.SplitSeq(file, []byte("\n")) {
			if l = bytes.Trim(l, " \t\r"); len(l) > 0 && l[0] != '#' {
				lines++
			}
		}
		if len(hosts)+len(bad) != lines {
			t.Fatalf("%d entries and %d skipped lines of %d", len(hosts), len(bad), lines)
		}
		for _, k := range hosts {
			again, err := parseKnownHost(k.String())
			if err != nil {
				t.Fatalf("entry %q written back does not parse: %v", k.String(), err)
			}
			if again.marker != k.marker || again.hosts != k.hosts || !keyEqual(again.key, k.key) || again.comment != k.comment {
				t.Fatalf("entry %q reads back as %q", k.String(), again.String())
			}
			k.matches(name)
		}
		if name == "" || strings.ContainsAny(name, " \t\r\n,#") || strings.ContainsAny(name[:1], "!@|") {
			return // not a host name ssh would dial
		}
		host := knownhosts.Normalize(name)
		for _, written := range []string{knownhosts.Line([]string{recordedName(host, false)}, key), knownhosts.Line([]string{recordedName(host, true)}, key)} {
			k, err := parseKnownHost(written)
			if err != nil {
				t.Fatalf("the line accept-new writes for %q does not parse: %q: %v", name, written, err)
			}
			if !k.matches(host) {
				t.Fatalf("the line accept-new writes for %q, %q, is not found for it", name, written)
			}
		}
	})
}
