package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hactl/hactl/plan/internal/hostile"
)

// The words of `hactl move GROUP NODE` and the like go to the agent over
// the host's shell: run under /bin/sh, the program must get each of them
// as one argument, unchanged, and the shell must run nothing else.
func TestCommandLineGivesEveryWordLiterally(t *testing.T) {
	work := t.TempDir()
	printer := filepath.Join(work, "argv printer")
	if err := os.WriteFile(printer, []byte("#!/bin/sh\nprintf '%s\\0' \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range hostile.Names {
		t.Run(name, func(t *testing.T) {
			want := []string{"ctl", "move", name, "--", name}
			cmd := exec.Command("/bin/sh", "-c", commandLine(printer, want...))
			cmd.Dir = work
			out, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Split(string(bytes.TrimSuffix(out, []byte{0})), "\x00")
			if !slices.Equal(got, want) {
				t.Errorf("the program got %q; want %q", got, want)
			}
			if _, err := os.Stat(filepath.Join(work, hostile.Marker)); err == nil {
				t.Error("a name was run as a command")
			}
		})
	}
}
