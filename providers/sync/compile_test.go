package sync_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/hactl/hactl/plan/config"
	"github.com/hactl/hactl/providers"
	_ "github.com/hactl/hactl/providers/all"
)

const groupSyncHCL = `
cluster "c" { key_file = "cluster.key" }
network "lan" { cidr = "192.168.0.0/24" }
node "a" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.1"
  }
}
node "b" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.2"
  }
}
node "c" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.3"
  }
}
heartbeat {
  link "lan" { network = network.lan }
}
group "web" {
  location {
    node  = node.a
    score = 200
  }
  location {
    node  = node.b
    score = 100
  }
}
sync "docs" {
  delete = true
  source {
    group = group.web
    path  = "/srv/docs"
  }
  SECOND_TARGET
}
`

func load(t *testing.T, text string) (*config.Result, string, error) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("HACTL_KNOWN_HOSTS", filepath.Join(dir, "no-known-hosts"))
	for name, data := range map[string]string{"cluster.hcl": text, "cluster.key": "0123456789abcdef0123456789abcdef0123456789ab"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	res, diags := config.Load(filepath.Join(dir, "cluster.hcl"), config.Options{})
	var errs []string
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs = append(errs, d.Summary+": "+d.Detail)
		}
	}
	if len(errs) > 0 {
		return res, dir, errors.New(strings.Join(errs, "\n"))
	}
	return res, dir, nil
}

// With a group as source, every location of the group pushes while it
// runs the group (to the others and to the listed targets) and receives
// from the others at the source path; a listed target receives only.
func TestGroupSourceCompilesForEveryLocation(t *testing.T) {
	res, dir, err := load(t, strings.Replace(groupSyncHCL, "SECOND_TARGET", `target {
    node = node.c
    path = "/backup/docs/"
  }`, 1))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		targets  string // node:path of each target, in order
		receives string
	}{
		"a": {"b:/srv/docs/ c:/backup/docs/", "/srv/docs/ from group web"},
		"b": {"a:/srv/docs/ c:/backup/docs/", "/srv/docs/ from group web"},
		"c": {"", "/backup/docs/ from group web"},
	}
	for _, n := range res.Topology.Nodes {
		sp, _, d := providers.CompileNode(res.Topology, n, dir)
		if d.HasErrors() {
			t.Fatalf("compiling %s: %s", n.Name, d.Error())
		}
		if err := sp.Validate(); err != nil {
			t.Errorf("%s: the spec is refused: %v", n.Name, err)
		}
		var targets, receives []string
		for _, s := range sp.Syncs {
			if s.Group != "web" || s.Path != "/srv/docs/" || s.KeyPath == "" {
				t.Errorf("%s pushes %+v, want docs from /srv/docs/ while group web runs here", n.Name, s)
			}
			for _, tg := range s.Targets {
				targets = append(targets, tg.Node+":"+tg.Path)
			}
		}
		for _, r := range sp.SyncReceives {
			receives = append(receives, r.Path+" from "+r.Source)
		}
		w := want[n.Name]
		if got := strings.Join(targets, " "); got != w.targets {
			t.Errorf("%s pushes to %q, want %q", n.Name, got, w.targets)
		}
		if got := strings.Join(receives, " "); got != w.receives {
			t.Errorf("%s receives %q, want %q", n.Name, got, w.receives)
		}
	}
	// Every node holds the same public key for the sync: any location
	// may push to any other.
	keys := map[string]bool{}
	for _, n := range res.Topology.Nodes {
		sp, _, _ := providers.CompileNode(res.Topology, n, dir)
		for _, r := range sp.SyncReceives {
			keys[strings.Join(r.PublicKeys, ",")] = true
		}
	}
	if len(keys) != 1 {
		t.Errorf("the nodes accept %d different keys, want one", len(keys))
	}
}

func TestGroupSourceMistakes(t *testing.T) {
	tests := []struct {
		name, hcl, want string
	}{
		{"node and group", strings.Replace(strings.Replace(groupSyncHCL, "group = group.web", "group = group.web\n    node = node.a", 1), "SECOND_TARGET", "", 1), "Sync source needs node or group"},
		{"a location as target", strings.Replace(groupSyncHCL, "SECOND_TARGET", "target {\n    node = node.b\n    path = \"/other/\"\n  }", 1), "one of the source group's nodes"},
		{"node source without target", strings.Replace(strings.Replace(groupSyncHCL, "group = group.web", "node = node.a", 1), "SECOND_TARGET", "", 1), "Sync without targets"},
		{"undeclared group", strings.Replace(strings.Replace(groupSyncHCL, "group = group.web", "group = group.db", 1), "SECOND_TARGET", "", 1), "undeclared group"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, tt.hcl)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
	// A group source without listed targets is complete.
	if _, _, err := load(t, strings.Replace(groupSyncHCL, "SECOND_TARGET", "", 1)); err != nil {
		t.Errorf("a group source with no target block: %v", err)
	}
}
