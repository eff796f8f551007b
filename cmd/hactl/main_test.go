package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The configurations of the loader's golden tests serve here too.
const (
	goldenDir = "../../plan/config/testdata/validate/"
	goodFile  = goldenDir + "ok_two_node_web.hcl"
	badFile   = goldenDir + "unknown_network_of_first_interface.hcl"
)

// hactl runs the command line as main would and returns the exit code and
// both outputs. Every run is also checked for leaked stack traces.
func hactl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	for _, out := range []string{stdout.String(), stderr.String()} {
		if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") {
			t.Fatalf("hactl %v printed a stack trace:\n%s", args, out)
		}
	}
	return code, stdout.String(), stderr.String()
}

// copyFile copies a testdata file into a fresh directory.
func copyFile(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(dst, src, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// testKey is a cluster key file's content that the agent accepts.
const testKey = "dGhpcyBpcyBhIHRlc3Qga2V5IG9mIHRoaXJ0eS10d28gYnl0ZXM=\n"

// exampleDir copies an example's configuration into a fresh directory
// with the fixed stand-ins of testdata/example-secrets for the files the
// operator makes (the cluster key, TLS keys, passwords), as a user would
// before validating it.
func exampleDir(t *testing.T, hclPath string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/example-secrets")); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(hclPath)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "cluster.hcl", src)
	return dir
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidate(t *testing.T) {
	empty := t.TempDir()
	writeFile(t, empty, "README.md", []byte("no configuration here"))
	good := t.TempDir()
	src, _ := os.ReadFile(goodFile)
	writeFile(t, good, "cluster.hcl", src)
	writeFile(t, good, "cluster.key", []byte(testKey))
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string // substrings
		stderr   []string
		noStdout bool
	}{
		{name: "good file", args: []string{"validate", goodFile}, code: exitOK,
			stdout: []string{`Success! Cluster "web": 2 nodes, 2 networks, 1 group (2 resources).`}},
		{name: "good file with -f", args: []string{"validate", "-f", goodFile}, code: exitOK,
			stdout: []string{"Success!"}},
		{name: "directory of .hcl files", args: []string{"validate", good}, code: exitOK, stdout: []string{"Success!"}},
		{name: "unusable cluster keys", args: []string{"validate", goldenDir + "key_files_unusable.hcl"}, code: exitError, noStdout: true,
			stderr: []string{"Error: Not a usable cluster key", "hello.key: 6 raw bytes, need at least 32", "Error: Cluster key file not found",
				`5:   previous_key_file = "missing.key"`, "head -c 32 /dev/urandom | base64 > missing.key"}},
		{name: "errors", args: []string{"validate", badFile}, code: exitError, noStdout: true,
			stderr: []string{"Error: Reference to undeclared network", "on " + badFile + " line 11, in node \"h2g\":",
				"  11:     network = network.lna", "Did you mean network.lan?", "1 error, 0 warnings."}},
		{name: "warnings are not errors", args: []string{"validate", goldenDir + "warn_secret_inline.hcl"}, code: exitOK,
			stdout: []string{"Success!", "2 warnings above."}, stderr: []string{"Warning: Secret written inline"}},
		{name: "empty file", args: []string{"validate", goldenDir + "empty.hcl"}, code: exitError,
			stderr: []string{"Error: Missing cluster block", "empty.hcl has none"}},
		{name: "binary file", args: []string{"validate", goldenDir + "binary.hcl"}, code: exitError,
			stderr: []string{"Error: Not a text file", "binary.hcl holds binary data"}},
		{name: "syntax error", args: []string{"validate", goldenDir + "syntax_error.hcl"}, code: exitError,
			stderr: []string{"Error: Invalid block definition", "syntax_error.hcl line 10"}},
		{name: "missing path", args: []string{"validate", filepath.Join(empty, "nope.hcl")}, code: exitError,
			stderr: []string{"Error: Cannot read configuration", "no such file or directory", "Give the path of a .hcl file"}},
		{name: "default path missing", args: []string{"validate", "-f", filepath.Join(empty, "cluster.hcl")}, code: exitError,
			stderr: []string{"Cannot read configuration"}},
		{name: "directory without .hcl files", args: []string{"validate", empty}, code: exitError,
			stderr: []string{"Error: No configuration files", "holds no .hcl file"}},
		{name: "undeclared --var", args: []string{"validate", goodFile, "--var", "x=1"}, code: exitError,
			stderr: []string{`Undeclared variable "x"`}},
		{name: "two paths", args: []string{"validate", "a.hcl", "b.hcl"}, code: exitError,
			stderr: []string{"accepts at most 1 arg"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := hactl(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code = %d; want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout does not contain %q:\n%s", s, stdout)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr does not contain %q:\n%s", s, stderr)
				}
			}
			if tt.noStdout && stdout != "" {
				t.Errorf("stdout should be empty on failure:\n%s", stdout)
			}
		})
	}
}

func TestValidateExamples(t *testing.T) {
	dirs, _ := filepath.Glob("../../examples/*/cluster.hcl")
	if len(dirs) < 5 {
		t.Fatalf("want the five examples of the guide's scenarios, found %v", dirs)
	}
	for _, p := range dirs {
		t.Run(filepath.Base(filepath.Dir(p)), func(t *testing.T) {
			if code, stdout, stderr := hactl(t, "validate", exampleDir(t, p)); code != exitOK || !strings.HasPrefix(stdout, "Success!") {
				t.Errorf("exit %d\n%s%s", code, stdout, stderr)
			}
		})
	}
}

func TestValidateJSON(t *testing.T) {
	type pos struct{ Line, Column, Byte int }
	type doc struct {
		FormatVersion string `json:"format_version"`
		Valid         bool   `json:"valid"`
		ErrorCount    int    `json:"error_count"`
		WarningCount  int    `json:"warning_count"`
		Diagnostics   []struct {
			Severity, Summary, Detail, Snippet string
			Range                              *struct {
				Filename   string
				Start, End pos
			}
		}
	}
	decode := func(t *testing.T, out string) doc {
		t.Helper()
		var d doc
		dec := json.NewDecoder(strings.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("not the JSON document: %v\n%s", err, out)
		}
		return d
	}

	t.Run("errors", func(t *testing.T) {
		code, stdout, stderr := hactl(t, "validate", "--json", badFile)
		if code != exitError || stderr != "" {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		d := decode(t, stdout)
		if d.FormatVersion != "1" || d.Valid || d.ErrorCount != 1 || d.WarningCount != 0 || len(d.Diagnostics) != 1 {
			t.Fatalf("document = %+v", d)
		}
		diag := d.Diagnostics[0]
		if diag.Severity != "error" || diag.Summary != "Reference to undeclared network" || !strings.Contains(diag.Detail, "network.lan") {
			t.Errorf("diagnostic = %+v", diag)
		}
		r := diag.Range
		if r == nil || r.Filename != badFile || r.Start != (pos{11, 15, 139}) || r.End != (pos{11, 26, 150}) {
			t.Errorf("range = %+v", r)
		}
		if diag.Snippet != "    network = network.lna" {
			t.Errorf("snippet = %q", diag.Snippet)
		}
	})
	t.Run("valid with warnings", func(t *testing.T) {
		code, stdout, _ := hactl(t, "validate", "--json", goldenDir+"warn_secret_inline.hcl")
		d := decode(t, stdout)
		if code != exitOK || !d.Valid || d.ErrorCount != 0 || d.WarningCount != 2 || d.Diagnostics[0].Severity != "warning" {
			t.Errorf("exit %d, document %+v", code, d)
		}
	})
	t.Run("valid", func(t *testing.T) {
		code, stdout, _ := hactl(t, "validate", "--json", goodFile)
		d := decode(t, stdout)
		if code != exitOK || !d.Valid || d.Diagnostics == nil || len(d.Diagnostics) != 0 {
			t.Errorf("exit %d, document %+v", code, d)
		}
		if !strings.Contains(stdout, `"diagnostics": []`) {
			t.Errorf("diagnostics must be an empty list, not null:\n%s", stdout)
		}
	})
	t.Run("missing path has no range", func(t *testing.T) {
		code, stdout, _ := hactl(t, "validate", "--json", filepath.Join(t.TempDir(), "nope.hcl"))
		d := decode(t, stdout)
		if code != exitError || d.ErrorCount != 1 || d.Diagnostics[0].Range != nil {
			t.Errorf("exit %d, document %+v", code, d)
		}
	})
}

func TestFmt(t *testing.T) {
	formatted, _ := os.ReadFile(goodFile)
	unformatted, _ := os.ReadFile("testdata/unformatted.hcl")

	t.Run("check passes on a formatted file", func(t *testing.T) {
		code, stdout, stderr := hactl(t, "fmt", "--check", goodFile)
		if code != exitOK || stdout != "" || stderr != "" {
			t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})
	t.Run("check fails on an unformatted file and writes nothing", func(t *testing.T) {
		p := copyFile(t, "unformatted.hcl")
		code, stdout, _ := hactl(t, "fmt", "--check", p)
		if code != exitUnformatted || strings.TrimSpace(stdout) != p {
			t.Errorf("exit %d, stdout %q", code, stdout)
		}
		if got, _ := os.ReadFile(p); !bytes.Equal(got, unformatted) {
			t.Error("--check changed the file")
		}
	})
	t.Run("check on a directory", func(t *testing.T) {
		p := copyFile(t, "unformatted.hcl")
		writeFile(t, filepath.Dir(p), "good.hcl", formatted)
		code, stdout, _ := hactl(t, "fmt", "--check", filepath.Dir(p))
		if code != exitUnformatted || strings.TrimSpace(stdout) != p {
			t.Errorf("exit %d, stdout %q", code, stdout)
		}
	})
	t.Run("diff", func(t *testing.T) {
		p := copyFile(t, "unformatted.hcl")
		code, stdout, _ := hactl(t, "fmt", "--check", "--diff", p)
		for _, want := range []string{"--- " + p + " (original)", "+++ " + p + " (formatted)", "-key_file=\"cluster.key\"", "+  key_file = \"cluster.key\"", "+    port = 22"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("diff does not contain %q:\n%s", want, stdout)
			}
		}
		if code != exitUnformatted {
			t.Errorf("exit %d", code)
		}
	})
	t.Run("diff alone prints the diff and writes nothing", func(t *testing.T) {
		p := copyFile(t, "unformatted.hcl")
		code, stdout, _ := hactl(t, "fmt", "--diff", p)
		if code != exitOK || !strings.Contains(stdout, "+  key_file = \"cluster.key\"") {
			t.Errorf("exit %d, stdout %q", code, stdout)
		}
		if got, _ := os.ReadFile(p); !bytes.Equal(got, unformatted) {
			t.Error("--diff changed the file")
		}
	})
	t.Run("-f names the file, as for the other commands", func(t *testing.T) {
		p := copyFile(t, "unformatted.hcl")
		code, stdout, stderr := hactl(t, "fmt", "--check", "-f", p)
		if code != exitUnformatted || strings.TrimSpace(stdout) != p {
			t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})
	t.Run("rewrites in place", func(t *testing.T) {
		p := copyFile(t, "unformatted.hcl")
		if err := os.Chmod(p, 0o600); err != nil {
			t.Fatal(err)
		}
		code, stdout, _ := hactl(t, "fmt", p)
		if code != exitOK || strings.TrimSpace(stdout) != p {
			t.Errorf("exit %d, stdout %q", code, stdout)
		}
		got, _ := os.ReadFile(p)
		want := "cluster \"web\" {\n  key_file = \"cluster.key\"\n  ssh {\n    user = \"root\"\n    port = 22\n  }\n}\n"
		if string(got) != want {
			t.Errorf("formatted file:\n%s\nwant:\n%s", got, want)
		}
		if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
			t.Errorf("mode = %v; fmt must keep it", st.Mode().Perm())
		}
		if code, _, _ := hactl(t, "fmt", "--check", p); code != exitOK {
			t.Errorf("a formatted file fails --check: exit %d", code)
		}
		if entries, _ := os.ReadDir(filepath.Dir(p)); len(entries) != 1 {
			t.Errorf("fmt left files behind: %v", entries)
		}
	})
	t.Run("refuses a file with syntax errors and leaves it alone", func(t *testing.T) {
		src := []byte("cluster \"web\" {\nkey_file = \n")
		p := writeFile(t, t.TempDir(), "broken.hcl", src)
		code, stdout, stderr := hactl(t, "fmt", p)
		if code != exitError || stdout != "" {
			t.Errorf("exit %d, stdout %q", code, stdout)
		}
		for _, want := range []string{"broken.hcl line 2", "has syntax errors; not formatted"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr does not contain %q:\n%s", want, stderr)
			}
		}
		if got, _ := os.ReadFile(p); !bytes.Equal(got, src) {
			t.Error("fmt changed a file with syntax errors")
		}
	})
	t.Run("missing path", func(t *testing.T) {
		code, _, stderr := hactl(t, "fmt", filepath.Join(t.TempDir(), "nope.hcl"))
		if code != exitError || !strings.Contains(stderr, "no such file or directory") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("examples are formatted", func(t *testing.T) {
		dirs, _ := filepath.Glob("../../examples/*")
		for _, d := range dirs {
			if st, err := os.Stat(d); err != nil || !st.IsDir() {
				continue
			}
			if code, stdout, stderr := hactl(t, "fmt", "--check", d); code != exitOK {
				t.Errorf("%s: exit %d\n%s%s", d, code, stdout, stderr)
			}
		}
	})
}

func TestVersion(t *testing.T) {
	code, stdout, _ := hactl(t, "version")
	if code != exitOK || !strings.HasPrefix(stdout, "hactl dev (commit ") || !strings.Contains(stdout, "go1.") {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	if code, _, stderr := hactl(t, "version", "extra"); code != exitError || !strings.Contains(stderr, "unknown command") && !strings.Contains(stderr, "accepts 0 arg") {
		t.Errorf("version extra: exit %d, stderr %q", code, stderr)
	}
}

func TestCompletionAndUnknownCommand(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		code, stdout, _ := hactl(t, "completion", shell)
		if code != exitOK || !strings.Contains(stdout, "hactl") {
			t.Errorf("completion %s: exit %d, %d bytes", shell, code, len(stdout))
		}
	}
	code, _, stderr := hactl(t, "valdate")
	if code != exitError || !strings.Contains(stderr, `unknown command "valdate"`) || !strings.Contains(stderr, "validate") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
