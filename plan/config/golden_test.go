package config

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hactl/hactl/plan/golden"
	_ "github.com/hactl/hactl/providers/all"
)

// libraryWords are phrases of Go's, go-cty's and HCL's own messages that
// name a function or a type system instead of the operator's mistake.
var libraryWords = []string{"netip.", "Parse", "is required", "required, but have", "error parsing regexp",
	"This object does not have an attribute", "open ", "stat ", "Names of"}

// goldenOptions reads the options of a golden case from its leading
// comment lines: "# var: name=value", "# var-file: path" (relative to the
// case's directory) and "# env: NAME=value". The environment is empty
// otherwise, so that the outcome does not depend on the machine.
func goldenOptions(t *testing.T, path string) Options {
	t.Helper()
	opts := Options{Environ: []string{}}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "# ")
		if !ok {
			break
		}
		key, val, _ := strings.Cut(line, ": ")
		switch key {
		case "var":
			opts.Vars = append(opts.Vars, val)
		case "var-file":
			opts.VarFiles = append(opts.VarFiles, filepath.Join(filepath.Dir(path), val))
		case "env":
			opts.Environ = append(opts.Environ, val)
		}
	}
	return opts
}

// TestValidateGolden loads every testdata/validate/NAME.hcl and compares
// the diagnostics, as hactl validate prints them without colour at width
// 100, with NAME.golden. Run with -update to rewrite the golden files, then
// read them: each must point at the right line and say what to do.
func TestValidateGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/validate/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 20 {
		t.Fatalf("found only %d golden cases", len(cases))
	}
	for _, path := range cases {
		name := strings.TrimSuffix(filepath.Base(path), ".hcl")
		t.Run(name, func(t *testing.T) {
			res, diags := Load(path, goldenOptions(t, path))
			var buf bytes.Buffer
			if err := WriteDiagnostics(&buf, res.Files, diags, 100, false); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, strings.TrimSuffix(path, ".hcl")+".golden", buf.String())
			for _, leak := range libraryWords {
				if strings.Contains(buf.String(), leak) {
					t.Errorf("a diagnostic leaks the library's own words %q:\n%s", leak, buf.String())
				}
			}
			// ok_* cases load cleanly, warn_* ones with warnings only; any
			// other case must have an error.
			ok, warn := strings.HasPrefix(name, "ok_"), strings.HasPrefix(name, "warn_")
			switch {
			case (ok || warn) == diags.HasErrors():
				t.Errorf("HasErrors = %v for %s", diags.HasErrors(), name)
			case ok && len(diags) > 0:
				t.Errorf("%s has diagnostics:\n%s", name, buf.String())
			case warn && len(diags) == 0:
				t.Errorf("%s has no warning", name)
			}
		})
	}
}
