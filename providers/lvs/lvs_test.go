package lvs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/hactl/hactl/plan/config"
	"github.com/hactl/hactl/providers"
	_ "github.com/hactl/hactl/providers/all"
)

// load writes examples/lvs-nat with its http service edited and loads it.
func load(t *testing.T, edit func(string) string) (*config.Result, string, string) {
	t.Helper()
	src, err := os.ReadFile("../../examples/lvs-nat/cluster.hcl")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cluster.hcl"), []byte(edit(string(src))), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cluster.key"), []byte("dGhpcyBpcyBhIHRlc3Qga2V5IG9mIHRoaXJ0eS10d28gYnl0ZXM=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, diags := config.Load(dir, config.Options{Environ: []string{}})
	var errs []string
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs = append(errs, d.Summary+": "+d.Detail)
		}
	}
	return res, dir, strings.Join(errs, "\n")
}

const httpPort = "  port       = 80\n"

// TestFirewallMarkServices: fwmark = N with a mark block compiles to a
// firewall-mark service marking the VIP's listed ports, whose real servers
// keep each packet's port; malformed ones are refused, saying what to do.
func TestFirewallMarkServices(t *testing.T) {
	res, dir, errs := load(t, func(hcl string) string {
		return strings.Replace(hcl, httpPort, "  fwmark     = 5\n  mark {\n    ports = [80, 443]\n  }\n", 1)
	})
	if errs != "" {
		t.Fatalf("load: %s", errs)
	}
	for _, n := range res.Topology.Nodes {
		if n.Name != "h2g" {
			continue
		}
		s, _, diags := providers.CompileNode(res.Topology, n, dir)
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		vs := s.VirtualServices[0]
		if vs.FWMark != 5 || vs.Port != 0 || vs.Mark == nil || strings.Join(vs.Mark.Addresses, ",") != "192.168.3.181" || len(vs.Mark.Ports) != 2 {
			t.Errorf("compiled %+v (mark %+v), want fwmark 5 marking 192.168.3.181 ports 80, 443", vs, vs.Mark)
		}
		if vs.RealServers[0].Port != 0 {
			t.Errorf("real server port %d, want 0 (each packet's own)", vs.RealServers[0].Port)
		}
		// The inside network holds the real servers and the other director.
		if vs.SyncInterface != "eth0" || s.VirtualServices[1].SyncInterface != "eth0" {
			t.Errorf("sync interface %q, want eth0 (the real servers' network)", vs.SyncInterface)
		}
	}
	for _, tc := range []struct{ name, replace, want string }{
		{"neither port nor fwmark", "", "Virtual service needs port or fwmark"},
		{"both", httpPort + "  fwmark = 5\n", "Port and fwmark together"},
		{"mark without fwmark", httpPort + "  mark {\n    ports = [80]\n  }\n", "Mark without fwmark"},
		{"a mark out of range", "  fwmark = 0\n", "Invalid firewall mark"},
		{"a port out of range", "  fwmark = 5\n  mark {\n    ports = [0]\n  }\n", "Invalid port"},
		{"another family", "  fwmark = 5\n  mark {\n    ports = [80]\n    addresses = [\"2001:db8::1\"]\n  }\n", "Marked address of another family"},
		{"nothing to check", "  fwmark = 5\n", "Real server has no port to check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, errs := load(t, func(hcl string) string { return strings.Replace(hcl, httpPort, tc.replace, 1) })
			if !strings.Contains(errs, tc.want) {
				t.Errorf("errors %q, want %q", errs, tc.want)
			}
		})
	}
}
