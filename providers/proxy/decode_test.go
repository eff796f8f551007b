package proxy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/plan/config"
	"github.com/hactl/hactl/providers"
	_ "github.com/hactl/hactl/providers/all" // every block kind, as hactl has them
)

// proxyHCL is a one-node cluster whose proxy holds body.
func proxyHCL(body string) string {
	return `cluster "c" { key_file = "cluster.key" }
network "lan" { cidr = "10.0.0.0/24" }
node "lb" {
  interface "eth0" {
    network = network.lan
    address = "10.0.0.1"
  }
}
proxy "front" {
  nodes = [node.lb]
` + body + `
  service "all" {
    backend "web" { address = "10.0.0.9" }
  }
}
`
}

// load loads src and returns its diagnostics and, when it has no errors,
// the spec of node lb.
func load(t *testing.T, src string) (hcl.Diagnostics, *spec.Spec) {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{"cluster.key": strings.Repeat("k", 44), "cluster.hcl": src} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	res, diags := config.Load(dir, config.Options{Environ: []string{}})
	if diags.HasErrors() {
		return diags, nil
	}
	sp, _, cdiags := providers.CompileNode(res.Topology, res.Topology.Nodes[0], dir)
	if cdiags.HasErrors() {
		t.Fatalf("compile: %s", cdiags.Error())
	}
	return append(diags, cdiags...), sp
}

func TestListenersTakeTheirOwnMethods(t *testing.T) {
	diags, sp := load(t, proxyHCL(`
  allowed_methods = ["standard"]
  listener "www" {
    port = 80
  }
  listener "dav" {
    port    = 8080
    methods = ["webdav", "patch"]
  }
`))
	if sp == nil || len(diags) > 0 {
		t.Fatalf("diagnostics: %s", diags.Error())
	}
	p := sp.Proxies[0]
	if want := []string{"GET", "HEAD", "POST"}; !slices.Equal(p.AllowedMethods, want) {
		t.Errorf("allowed_methods: got %q, want %q", p.AllowedMethods, want)
	}
	if p.Listeners[0].Methods != nil {
		t.Errorf("listener www: got methods %q, want none (the proxy's)", p.Listeners[0].Methods)
	}
	dav := p.Listeners[1].Methods
	if len(dav) != 20 || !slices.Contains(dav, "PROPFIND") || !slices.Contains(dav, "PATCH") || slices.Contains(dav, "CONNECT") {
		t.Errorf("listener dav: got methods %q, want the webdav set", dav)
	}
}

func TestMethodNamesAreChecked(t *testing.T) {
	for _, tc := range []struct {
		name, methods string
		severity      hcl.DiagnosticSeverity
		summary       string
	}{
		{"misspelt set", `["webdva"]`, hcl.DiagWarning, "Unknown method"},
		{"not a token", `["GET /"]`, hcl.DiagError, "Invalid method"},
		{"empty", `[""]`, hcl.DiagError, "Invalid method"},
		{"control character", "[\"GET\\n\"]", hcl.DiagError, "Invalid method"},
		{"a token outside Pound's sets", `["VERSION-CONTROL"]`, hcl.DiagWarning, "Unknown method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diags, _ := load(t, proxyHCL(`
  listener "www" {
    port    = 80
    methods = `+tc.methods+`
  }
`))
			if len(diags) != 1 || diags[0].Severity != tc.severity || diags[0].Summary != tc.summary {
				t.Fatalf("got %s, want one %q", diags.Error(), tc.summary)
			}
			if diags[0].Subject == nil || diags[0].Subject.Start.Line != 14 {
				t.Errorf("diagnostic at %v, want line 14 (the methods attribute)", diags[0].Subject)
			}
		})
	}
}

// TestAccessLogIsOnUnlessTurnedOff: a proxy logs its requests by default;
// access_log = false reaches the node's spec.
func TestAccessLogIsOnUnlessTurnedOff(t *testing.T) {
	for _, tc := range []struct {
		body  string
		noLog bool
	}{
		{"  listener \"www\" { port = 80 }\n", false},
		{"  access_log = true\n  listener \"www\" { port = 80 }\n", false},
		{"  access_log = false\n  listener \"www\" { port = 80 }\n", true},
	} {
		diags, sp := load(t, proxyHCL(tc.body))
		if sp == nil || len(diags) > 0 {
			t.Fatalf("%q: diagnostics: %s", tc.body, diags.Error())
		}
		if got := sp.Proxies[0].NoAccessLog; got != tc.noLog {
			t.Errorf("%q: NoAccessLog %v, want %v", tc.body, got, tc.noLog)
		}
	}
}
