package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hactl/hactl/plan/config"
)

const importData = "../../importer/testdata/"

// TestImportCommand drives hactl import as a user would: what it writes,
// where the secrets go and with which mode, what it prints, its exit
// status.
func TestImportCommand(t *testing.T) {
	guide := importData + "guide/two-node-web-v2/"
	pair := importData + "keepalived/pair/"
	nodes := []string{"--node", "h2g=192.168.0.18@eth0,192.168.1.18@eth1", "--node", "c2g=192.168.0.17@eth0,192.168.1.17@eth1"}
	cases := []struct {
		name      string
		args      []string
		json      bool
		wantCode  int
		wantErr   string   // in stderr
		wantHCL   []string // in the written file
		secret    string   // must appear nowhere but in a 0600 file
		wantFiles []string
	}{
		{
			name:      "heartbeat v2 with cib.xml",
			args:      append([]string{"import", "heartbeat", guide + "ha.cf", guide + "authkeys", guide + "cib.xml"}, nodes...),
			wantHCL:   []string{`group "group_1"`, `score = 200`, `"192.168.0.33/24"`, "# from cib.xml:"},
			secret:    "GuideHeartbeatSecret",
			wantFiles: []string{"cluster.key"},
		},
		{
			name:      "keepalived pair with includes",
			args:      []string{"import", "keepalived", pair + "h2g/keepalived.conf", pair + "c2g/keepalived.conf"},
			wantHCL:   []string{`node "h2g"`, `address = "192.168.0.17"`, "# from h2g/conf.d/web.conf:"},
			secret:    "Gu1deVrrp",
			wantFiles: []string{"cluster.key"},
		},
		{
			name:     "a difference hactl cannot match is an error",
			args:     []string{"import", "keepalived", importData + "keepalived/samples/keepalived.conf.sample"},
			wantCode: exitError,
			wantErr:  "nopreempt behaves differently in hactl",
		},
		{
			name:      "accepted differences are warnings",
			args:      []string{"import", "--accept-differences", "keepalived", importData + "keepalived/samples/keepalived.conf.sample"},
			wantErr:   "accepted with --accept-differences",
			wantHCL:   []string{"failback = false", `variable "LVS_DEVEL_net_192_168_200_0_address"`},
			wantFiles: []string{"cluster.key"},
		},
		{
			name:     "errors as JSON",
			args:     []string{"import", "keepalived", importData + "keepalived/samples/keepalived.conf.sample"},
			json:     true,
			wantCode: exitError,
		},
		{
			name:     "no kind",
			args:     []string{"import", "ha.cf", "cib.xml"},
			wantCode: exitError,
			wantErr:  `"ha.cf" is not a kind`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "cluster.hcl")
			args := append(c.args, "-o", out)
			if c.json {
				args = append(args, "--json")
			}
			code, stdout, stderr := hactl(t, args...)
			if code != c.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, c.wantCode, stderr)
			}
			if !strings.Contains(stderr, c.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", c.wantErr, stderr)
			}
			if c.json {
				var doc config.JSONDiagnostics
				if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
					t.Fatalf("--json printed no JSON document: %v\n%s", err, stdout)
				}
				if doc.Valid || doc.ErrorCount == 0 || doc.Diagnostics[0].Range == nil || doc.Diagnostics[0].Range.Start.Line == 0 {
					t.Errorf("want errors with places, got %+v", doc)
				}
			}
			if c.wantCode != 0 {
				if _, err := os.Stat(out); err == nil {
					t.Error("a failed import wrote the configuration")
				}
				return
			}
			hcl, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range c.wantHCL {
				if !strings.Contains(string(hcl), want) {
					t.Errorf("output lacks %q:\n%s", want, hcl)
				}
			}
			if c.secret != "" && strings.Contains(string(hcl)+stdout+stderr, c.secret) {
				t.Errorf("the secret %q leaked into the output or the diagnostics", c.secret)
			}
			for _, f := range c.wantFiles {
				st, err := os.Stat(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != 0o600 {
					t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
				}
			}
		})
	}
}

// TestImportKeepsExistingKey keeps a cluster.key that exists (it may be a
// running cluster's) but refuses to replace another secret file.
func TestImportKeepsExistingKey(t *testing.T) {
	guide := importData + "guide/two-node-web-v1/"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cluster.key"), []byte("another key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := hactl(t, "import", "heartbeat", guide+"ha.cf", guide+"authkeys", guide+"haresources", "-o", filepath.Join(dir, "cluster.hcl"), "--node", "h2g=192.168.0.18", "--node", "c2g=192.168.0.17")
	if code != 0 || !strings.Contains(stderr, "Kept the existing") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "cluster.key")); string(data) != "another key\n" {
		t.Error("the existing key was replaced")
	}
	mrtg := importData + "guide/monitoring/mrtg.cfg"
	community := filepath.Join(dir, "secrets", "snmp-dev_192_168_0_254-community")
	if err := os.MkdirAll(filepath.Dir(community), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(community, []byte("other\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = hactl(t, "import", "mrtg", mrtg, "-o", filepath.Join(dir, "monitoring.hcl"))
	if code != exitError || !strings.Contains(stderr, "exists with another content") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}
