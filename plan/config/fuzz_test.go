package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad asserts that Load never panics, whatever the file and --var
// value, and that a failed load always says why. Seeds: the examples, the
// golden cases and the model; crashers found are kept under
// testdata/fuzz/FuzzLoad as regression seeds.
func FuzzLoad(f *testing.F) {
	var seeds []string
	for _, pattern := range []string{"../../examples/*/*.hcl", "testdata/validate/*.hcl", "testdata/model/*.hcl"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, m...)
	}
	for _, p := range seeds {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src, "")
	}
	f.Add([]byte("variable \"v\" {\n  type = number\n}\ncluster \"c\" {\n  key_file = tostring(var.v)\n}\n"), "v=[1]")
	f.Fuzz(func(t *testing.T, src []byte, varArg string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "cluster.hcl")
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		var vars []string
		if varArg != "" {
			vars = strings.Split(varArg, "\n")
		}
		res, diags := Load(path, Options{Vars: vars, Environ: []string{}})
		if res == nil {
			t.Fatal("Load returned a nil result")
		}
		if !diags.HasErrors() && res.Topology == nil {
			t.Fatal("Load succeeded without a topology")
		}
		for _, d := range diags {
			if d.Summary == "" {
				t.Fatalf("diagnostic without a summary: %+v", d)
			}
		}
	})
}
