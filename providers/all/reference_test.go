package all_test

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/hactl/hactl/plan/config"
	"github.com/hactl/hactl/providers"
	_ "github.com/hactl/hactl/providers/all"
)

var update = flag.Bool("update", false, "rewrite docs/language.md and golden files")

const referencePath = "../../docs/language.md"

func reference(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := providers.WriteReference(&buf, providers.All(), config.FunctionDocs()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestLanguageReferenceUpToDate regenerates the reference from the schema;
// docs/language.md must be exactly that. Run with -update to rewrite it.
func TestLanguageReferenceUpToDate(t *testing.T) {
	want := reference(t)
	if *update {
		if err := os.WriteFile(referencePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatalf("%v; run go test ./providers/... -update", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/language.md is out of date with the schema; run go test ./providers/... -update")
	}
}

// sections splits a Markdown document into its "## " and "### " sections,
// by heading line.
func sections(doc string) map[string]string {
	out := map[string]string{}
	heading := ""
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "## ") || strings.HasPrefix(line, "### ") {
			heading = line
		}
		out[heading] += line + "\n"
	}
	return out
}

// TestLanguageReferenceCoversSchema fails when a block or attribute exists
// in the schema but not in docs/language.md, whatever generated it.
func TestLanguageReferenceCoversSchema(t *testing.T) {
	raw, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatal(err)
	}
	secs := sections(string(raw))
	blocks := 0
	for _, p := range providers.All() {
		p.Schema().Walk(func(path string, b *providers.Block) {
			blocks++
			sec, ok := secs[providers.SectionHeading(path)]
			if !ok {
				t.Errorf("block %s is in the schema but has no section %q in docs/language.md", path, providers.SectionHeading(path))
				return
			}
			for _, a := range b.Attrs {
				if !strings.Contains(sec, "| `"+a.Name+"` |") {
					t.Errorf("attribute %s.%s is in the schema but not documented in its section", path, a.Name)
				}
				if a.Default != "" && !strings.Contains(sec, "`"+a.Default+"`") {
					t.Errorf("default %s of %s.%s is not documented", a.Default, path, a.Name)
				}
				for _, e := range a.Enum {
					if !strings.Contains(sec, `"`+e+`"`) {
						t.Errorf("value %q of %s.%s is not documented", e, path, a.Name)
					}
				}
			}
			if !strings.Contains(sec, "Example:\n\n```hcl\n"+b.Type) {
				t.Errorf("block %s has no example in its section", path)
			}
		})
	}
	if blocks < 20 {
		t.Errorf("walked only %d blocks; are the providers registered?", blocks)
	}
	for _, f := range config.FunctionDocs() {
		if !strings.Contains(secs["## Functions"], "`"+f.Name+"(") {
			t.Errorf("function %s is not documented", f.Name)
		}
	}
}

// TestReferenceExamplesParse keeps every example of the reference valid
// HCL syntax, written (for the providers' own examples) as hactl fmt would.
func TestReferenceExamplesParse(t *testing.T) {
	doc := string(reference(t))
	parts := strings.Split(doc, "```hcl\n")
	for _, p := range parts[1:] {
		src, _, _ := strings.Cut(p, "```")
		if strings.Contains(src, "{ ... }") {
			continue // a block header, not an example
		}
		if _, diags := hclsyntax.ParseConfig([]byte(src), "example.hcl", hcl.InitialPos); diags.HasErrors() {
			t.Errorf("example does not parse: %s\n%s", diags, src)
		}
	}
}
