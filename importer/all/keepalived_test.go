package all

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/hactl/hactl/importer"
	"github.com/hactl/hactl/plan/config"
)

// sampleOutcomes is what becomes of each sample configuration shipped in
// Debian's keepalived package (copied from
// /usr/share/doc/keepalived/samples into testdata/keepalived/samples):
//
//   - "valid": imports as it is, and validates once the nodes' addresses
//     (which a keepalived.conf does not hold) are set;
//   - "differences": refused with one error per directive hactl cannot
//     reproduce, each naming file and line; with --accept-differences it
//     imports and validates;
//   - "refused": refused even with --accept-differences, with per-line
//     errors.
var sampleOutcomes = map[string]string{
	"keepalived.conf.HTTP_GET.port":         "differences",
	"keepalived.conf.IPv6":                  "differences",
	"keepalived.conf.PING_CHECK":            "differences",
	"keepalived.conf.SMTP_CHECK":            "differences",
	"keepalived.conf.SSL_GET":               "differences",
	"keepalived.conf.UDP_CHECK":             "differences",
	"keepalived.conf.conditional_conf":      "refused",
	"keepalived.conf.fwmark":                "differences",
	"keepalived.conf.inhibit":               "differences",
	"keepalived.conf.misc_check":            "valid",
	"keepalived.conf.misc_check_arg":        "valid",
	"keepalived.conf.quorum":                "differences",
	"keepalived.conf.sample":                "differences",
	"keepalived.conf.status_code":           "differences",
	"keepalived.conf.track_interface":       "differences",
	"keepalived.conf.virtual_server_group":  "differences",
	"keepalived.conf.virtualhost":           "differences",
	"keepalived.conf.vrrp":                  "valid",
	"keepalived.conf.vrrp.localcheck":       "differences",
	"keepalived.conf.vrrp.lvs_syncd":        "valid",
	"keepalived.conf.vrrp.routes":           "differences",
	"keepalived.conf.vrrp.rules":            "differences",
	"keepalived.conf.vrrp.scripts":          "valid",
	"keepalived.conf.vrrp.static_ipaddress": "differences",
	"keepalived.conf.vrrp.sync":             "valid",
}

// TestKeepalivedSamples imports every sample and checks its outcome.
func TestKeepalivedSamples(t *testing.T) {
	samples, _ := filepath.Glob("../testdata/keepalived/samples/keepalived.conf.*")
	if len(samples) < 20 {
		t.Fatalf("want Debian's keepalived samples, found %d", len(samples))
	}
	for _, path := range samples {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			got := sampleOutcome(t, path)
			t.Logf("%s: %s", name, got)
			if want := sampleOutcomes[name]; got != want {
				t.Errorf("outcome %q, want %q", got, want)
			}
		})
	}
}

func sampleOutcome(t *testing.T, path string) string {
	t.Helper()
	inputs := []Input{{Kind: "keepalived", Files: []string{path}}}
	outcome := "valid"
	for _, accept := range []bool{false, true} {
		m, err := Import(inputs, importer.Options{AcceptDifferences: accept})
		if err != nil {
			t.Fatal(err)
		}
		if m.Diags.HasErrors() {
			for _, d := range m.Diags.Errs() {
				checkPlaced(t, d.(*hcl.Diagnostic))
				if !accept {
					t.Logf("  %s:%d: %s", filepath.Base(d.(*hcl.Diagnostic).Subject.Filename), d.(*hcl.Diagnostic).Subject.Start.Line, d.(*hcl.Diagnostic).Summary)
				}
			}
			if accept {
				return "refused"
			}
			outcome = "differences"
			continue
		}
		validates(t, m)
		return outcome
	}
	return outcome
}

// checkPlaced fails unless the diagnostic names a file and line.
func checkPlaced(t *testing.T, d *hcl.Diagnostic) {
	t.Helper()
	if d.Subject == nil || d.Subject.Filename == "" || d.Subject.Start.Line < 1 {
		t.Errorf("diagnostic without file and line: %s: %s", d.Summary, d.Detail)
	}
}

// validates writes the model and loads it with every address variable set
// to a free host of its network.
func validates(t *testing.T, m *importer.Model) {
	t.Helper()
	dir := t.TempDir()
	for name, data := range m.Secrets {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "cluster.hcl")
	if err := os.WriteFile(path, m.HCL(), 0o644); err != nil {
		t.Fatal(err)
	}
	var vars []string
	host := 10
	used := map[netip.Addr]bool{}
	for _, g := range m.Groups {
		for _, r := range g.Resources {
			used[r.Address.Addr()] = true
		}
	}
	for _, n := range m.Nodes {
		for _, i := range n.Interfaces {
			if i.Var == "" {
				continue
			}
			a := i.Network.Prefix.Masked().Addr()
			for range host {
				a = a.Next()
			}
			for used[a] {
				a = a.Next()
			}
			used[a] = true
			vars = append(vars, fmt.Sprintf("%s=%s", i.Var, a))
		}
	}
	_, diags := config.Load(path, config.Options{Vars: vars, Environ: []string{}})
	if diags.HasErrors() {
		src, _ := os.ReadFile(path)
		t.Fatalf("the import does not validate: %v\n%s", diags.Errs(), src)
	}
}
