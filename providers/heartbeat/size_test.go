package heartbeat_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/hactl/hactl/plan/config"
	_ "github.com/hactl/hactl/providers/all" // every block kind, as hactl has them
)

// clusterHCL is a cluster of nodes members, on two heartbeat links, with
// groups groups of names prefix-NNN, each allowed on every node.
func clusterHCL(nodes, groups int, prefix string) string {
	var b strings.Builder
	b.WriteString(`cluster "c" { key_file = "cluster.key" }
network "lan" { cidr = "10.0.0.0/16" }
network "hb" { cidr = "10.1.0.0/16" }
heartbeat {
  link "lan" { network = network.lan }
  link "hb" { network = network.hb }
}
`)
	for i := range nodes {
		fmt.Fprintf(&b, `node "node-%02d" {
  interface "eth0" {
    network = network.lan
    address = "10.0.%d.%d"
  }
  interface "eth1" {
    network = network.hb
    address = "10.1.%d.%d"
  }
}
`, i, i/200, i%200+1, i/200, i%200+1)
	}
	for g := range groups {
		fmt.Fprintf(&b, "group %q {\n", fmt.Sprintf("%s-%03d", prefix, g))
		for i := range nodes {
			fmt.Fprintf(&b, "  location {\n    node = node.node-%02d\n    score = %d\n  }\n", i, 100*(nodes-i))
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func TestValidateBoundsTheHeartbeatState(t *testing.T) {
	for _, tc := range []struct {
		name          string
		nodes, groups int
		prefix        string
		wantErr       bool
	}{
		{"two nodes, a hundred groups", 2, 100, "group", false},
		{"sixteen nodes, fifty groups", 16, 50, "service", false},
		{"sixteen nodes, two hundred groups", 16, 200, "g", false},
		{"two nodes, two hundred long-named groups", 2, 200, strings.Repeat("long-group-name-", 2), true},
		{"sixteen nodes, four hundred groups", 16, 400, "group", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "cluster.key"), []byte(strings.Repeat("k", 44)), 0o600); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "cluster.hcl")
			if err := os.WriteFile(path, []byte(clusterHCL(tc.nodes, tc.groups, tc.prefix)), 0o644); err != nil {
				t.Fatal(err)
			}
			_, diags := config.Load(path, config.Options{Environ: []string{}})
			var found string
			for _, d := range diags {
				if d.Summary == "Heartbeat state too large" {
					found = d.Detail
				} else if d.Severity == hcl.DiagError {
					t.Fatalf("unexpected error: %s: %s", d.Summary, d.Detail)
				}
			}
			switch {
			case tc.wantErr && found == "":
				t.Fatal("no diagnostic for a state that cannot fit a heartbeat")
			case !tc.wantErr && found != "":
				t.Fatalf("diagnostic for a state that fits: %s", found)
			case found != "":
				for _, want := range []string{"may run", "bytes of state", "has room for", "Let fewer groups run", "shorten the groups' names"} {
					if !strings.Contains(found, want) {
						t.Errorf("the diagnostic does not say %q: %s", want, found)
					}
				}
				t.Log(found)
			}
		})
	}
}
