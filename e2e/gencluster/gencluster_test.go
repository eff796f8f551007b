package gencluster

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/hactl/hactl/plan/config"
	_ "github.com/hactl/hactl/providers/all" // every block kind, as hactl has them
)

// The generated configurations are valid, up to the largest.
func TestHCLValidates(t *testing.T) {
	for _, o := range []Options{
		{Cluster: "two", Nodes: 2, Groups: 1, Locations: 2},
		{Cluster: "scale", Nodes: 16, Groups: 50, Timing: []string{`interval = "100ms"`, `deadtime = "1s"`}},
		{Cluster: "most", Nodes: MaxNodes, Groups: MaxGroups},
	} {
		t.Run(o.Cluster, func(t *testing.T) {
			src, err := HCL(o)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			key := make([]byte, 32)
			_, _ = rand.Read(key)
			if err := os.WriteFile(filepath.Join(dir, "cluster.key"), []byte(base64.StdEncoding.EncodeToString(key)), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "cluster.hcl"), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			res, diags := config.Load(dir, config.Options{Environ: []string{}})
			if diags.HasErrors() {
				t.Fatalf("%s\n%s", diags.Error(), src)
			}
			if got := len(res.Topology.Nodes); got != o.Nodes {
				t.Errorf("%d nodes, want %d", got, o.Nodes)
			}
			if got := len(res.Topology.Groups); got != o.Groups {
				t.Errorf("%d groups, want %d", got, o.Groups)
			}
		})
	}
	if _, err := HCL(Options{Nodes: MaxNodes + 1}); err == nil {
		t.Error("more nodes than the address plan has were accepted")
	}
}
