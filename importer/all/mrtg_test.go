package all

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hactl/hactl/importer"
	"github.com/hactl/hactl/plan/golden"
)

// TestMRTGSNMPv3 imports SNMPv3 targets (the version field 3 and their
// SnmpOptions, per target and as the [_] default) into snmp_devices with
// v3 blocks whose passwords are secret files, never in the HCL nor in
// the diagnostics' quotes.
func TestMRTGSNMPv3(t *testing.T) {
	dir := "../testdata/more/mrtg-v3"
	m, err := Import([]Input{{Kind: "mrtg", Files: []string{filepath.Join(dir, "mrtg.cfg")}}}, importer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Diags.HasErrors() {
		t.Fatalf("import errors: %v", m.Diags.Errs())
	}
	out := string(m.HCL())
	golden.Check(t, filepath.Join(dir, "cluster.hcl.golden"), out)
	wantSecrets := map[string]string{
		"secrets/snmp-dev_192_168_0_1-auth":        "Auth-Pass-1\n",
		"secrets/snmp-dev_192_168_0_1-priv":        "Priv-Pass-1\n",
		"secrets/snmp-dev_192_168_0_254-auth":      "Only-Auth-2\n",
		"secrets/snmp-dev_192_168_0_250-community": "public\n",
	}
	for name, want := range wantSecrets {
		if got := string(m.Secrets[name]); got != want {
			t.Errorf("secret %s = %q, want %q", name, got, want)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(m.Secrets)) {
		if _, ok := wantSecrets[name]; !ok && name != importer.ClusterKeyFile {
			t.Errorf("unexpected secret file %s", name)
		}
	}
	for _, secret := range []string{"Auth-Pass-1", "Priv-Pass-1", "Only-Auth-2"} {
		if strings.Contains(out, secret) {
			t.Errorf("the HCL holds the password %s", secret)
		}
		for _, f := range m.Files {
			if strings.Contains(string(f.Bytes), secret) {
				t.Errorf("the diagnostics' copy of mrtg.cfg holds the password %s", secret)
			}
		}
	}
	var devices []string
	for _, d := range loadWritten(t, m).Monitor.Devices {
		line := d.Address + " v" + d.Version + " " + strings.Join(d.Interfaces, ",") + " " + strings.Join(d.OIDs, ",")
		if d.V3 != nil {
			line += " " + strings.Join([]string{d.V3.User, d.V3.SecurityLevel, d.V3.AuthProtocol, d.V3.PrivProtocol}, "/")
		}
		devices = append(devices, line)
	}
	want := []string{
		"192.168.0.1 v3 eth0,eth1 1.3.6.1.4.1.2021.10.1.3.1,1.3.6.1.4.1.2021.4.6.0 mrtg/authPriv/SHA/AES",
		"192.168.0.254 v3 GigabitEthernet0/1  monitor/authNoPriv/MD5/AES", // the loader fills in the unused priv_protocol default
		"192.168.0.250 v2c wlan0 ",
	}
	if !slices.Equal(devices, want) {
		t.Errorf("devices:\n%s\nwant:\n%s", strings.Join(devices, "\n"), strings.Join(want, "\n"))
	}
}

// TestMRTGSNMPv3Refusals: what an SNMPv3 target cannot be imported with
// is an error naming the line.
func TestMRTGSNMPv3Refusals(t *testing.T) {
	cases := []struct{ name, cfg, want string }{
		{"no user", "Target[a]: #eth0:x@10.0.0.1:::::3\n", "SNMPv3 target without a user"},
		{"3DES", "Target[a]: #eth0:x@10.0.0.1:::::3\nSnmpOptions[a]: username=>'u', authpassword=>'aaaaaaaa', privpassword=>'pppppppp', privprotocol=>'3desede'\n", "privprotocol 3desede behaves differently"},
		{"localized key", "Target[a]: #eth0:x@10.0.0.1:::::3\nSnmpOptions[a]: username=>'u', authkey=>'0x1234'\n", "authkey behaves differently"},
		{"priv without auth", "Target[a]: #eth0:x@10.0.0.1:::::3\nSnmpOptions[a]: username=>'u', privpassword=>'pppppppp'\n", "privpassword without authpassword"},
		{"two passwords for one user", "Target[a]: #eth0:x@10.0.0.1:::::3\nSnmpOptions[a]: username=>'u', authpassword=>'aaaaaaaa'\nTarget[b]: #eth1:x@10.0.0.1:::::3\nSnmpOptions[b]: username=>'u', authpassword=>'bbbbbbbb'\n", "Conflicting SNMPv3 credentials"},
		{"bad version", "Target[a]: #eth0:x@10.0.0.1:::::4\n", "Bad SNMP version 4"},
		{"unreadable options", "Target[a]: #eth0:x@10.0.0.1:::::3\nSnmpOptions[a]: username\n", "Unreadable SnmpOptions[a]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := write(t, t.TempDir(), "mrtg.cfg", c.cfg)
			m, err := Import([]Input{{Kind: "mrtg", Files: []string{path}}}, importer.Options{})
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, m, c.want, "mrtg.cfg")
		})
	}
}

// wantError fails the test unless one of m's errors says want and names
// a line of file.
func wantError(t *testing.T, m *importer.Model, want, file string) {
	t.Helper()
	var errs []string
	for _, d := range m.Diags.Errs() {
		errs = append(errs, d.Error())
	}
	if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, want) && strings.Contains(e, file+":") }) {
		t.Errorf("errors %q, want one with %q and a line of %s", errs, want, file)
	}
}
