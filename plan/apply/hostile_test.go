package apply

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/plan"
	"github.com/hactl/hactl/plan/internal/hostile"
)

// fileNames are the hostile names a file can have.
func fileNames() []string {
	var out []string
	for _, n := range hostile.Names {
		if n != "" && n != "." && n != ".." && !strings.Contains(n, "/") {
			out = append(out, n)
		}
	}
	return out
}

// The cleanup after uploading secrets once joined the kept names into a
// double-quoted string: a name with $(…) ran as root, and one with a
// space kept other files (issue 15, defect 4; fails on main). Run under
// /bin/sh, it must keep exactly the kept files, whatever their names, and
// run nothing.
func TestPruneSecretsTakesEveryNameLiterally(t *testing.T) {
	tests := []struct {
		name  string
		keep  []string
		stale []string
	}{
		{name: "every hostile name kept", keep: fileNames(), stale: []string{"sw", "x", "old-secret", "sw'x"}},
		{name: "nothing kept", stale: fileNames()},
		{name: "one hostile name kept", keep: []string{"sw x"}, stale: []string{"sw", "x", "sw$(touch HACTL_PWNED)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			work := t.TempDir()
			dir := filepath.Join(work, "secrets")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			for _, n := range append(slices.Clone(tt.keep), tt.stale...) {
				if err := os.WriteFile(filepath.Join(dir, n), []byte("s"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command("/bin/sh", "-c", pruneSecretsCmd(dir, tt.keep))
			cmd.Dir = work
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var left []string
			for _, e := range entries {
				left = append(left, e.Name())
			}
			want := slices.Clone(tt.keep)
			slices.Sort(want)
			if !slices.Equal(left, want) {
				t.Errorf("left %q; want %q", left, want)
			}
			for _, d := range []string{work, dir} {
				if _, err := os.Stat(filepath.Join(d, hostile.Marker)); err == nil {
					t.Errorf("a name was run as a command: %s exists", filepath.Join(d, hostile.Marker))
				}
			}
		})
	}
}

// recordingHost is a Host that writes nothing and remembers what it was
// asked to do.
type recordingHost struct{ uploads, cmds []string }

func (h *recordingHost) Run(_ context.Context, cmd string) ([]byte, error) {
	h.cmds = append(h.cmds, cmd)
	return nil, nil
}

func (h *recordingHost) Upload(_ context.Context, _ []byte, dest string, _ fs.FileMode) error {
	h.uploads = append(h.uploads, dest)
	return nil
}

// A plan whose secret path leaves the secrets folder (made by hand, or by
// a hactl without the compile-time check) is refused before anything is
// written (fails on main, which wrote /etc/cron.d/x as root).
func TestSecretsOutsideTheSecretsFolderAreNeverWritten(t *testing.T) {
	for _, p := range []string{
		layout.SecretsDir + "/../../cron.d/x",
		layout.SecretsDir + "/a/b",
		layout.SecretsDir + "/..",
		layout.SecretsDir + "/-rf",
		"/etc/cron.d/x",
		layout.SecretsDir + "x",
	} {
		t.Run(p, func(t *testing.T) {
			h := &recordingHost{}
			d := &plan.Desired{Secrets: map[string][]byte{layout.SecretsDir + "/cluster-key": []byte("k"), p: []byte("* * * * * root touch /tmp/x\n")}}
			err := uploadSecrets(context.Background(), h, d)
			if err == nil || !strings.Contains(err.Error(), "refusing") {
				t.Errorf("uploadSecrets = %v; want a refusal", err)
			}
			if slices.Contains(h.uploads, p) {
				t.Errorf("%s was uploaded", p)
			}
		})
	}
}
