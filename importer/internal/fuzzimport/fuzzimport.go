// Package fuzzimport is the body shared by the importers' fuzz targets:
// whatever the input, an import must not panic, must finish, must give
// each diagnostic a summary and a place, and must render HCL.
package fuzzimport

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hactl/hactl/importer"
)

// Seeds adds the files matching the patterns to the fuzz corpus.
func Seeds(f *testing.F, patterns ...string) {
	for _, pattern := range patterns {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range files {
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
}

// Run imports data as one file of a kind, in a directory of its own (so
// that includes find nothing but what the input names).
func Run(t *testing.T, data []byte, imp func(*importer.Model, []*importer.Source)) {
	dir := t.TempDir()
	src, err := importer.NewSource(filepath.Join(dir, "input.conf"), data)
	if err != nil {
		return // binary or too large: refused before any parser runs
	}
	if err := os.WriteFile(src.Name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	m := importer.NewModel(importer.Options{Nodes: []string{"n1=10.0.0.1"}})
	imp(m, []*importer.Source{src})
	m.Finish()
	if len(m.HCL()) == 0 {
		t.Fatal("no HCL rendered")
	}
	for _, d := range m.Diags {
		if d.Summary == "" || d.Subject == nil {
			t.Fatalf("diagnostic without a summary or a place: %+v", d)
		}
	}
}
