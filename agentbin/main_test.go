package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

func TestRunVersionPrintsVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "hactl-agent dev ") {
		t.Errorf("version output %q", out.String())
	}
}

func TestRunRefusesUnknownCommands(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"apply"}, &out, &errOut); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errOut.String(), "usage") {
		t.Errorf("stderr %q lacks usage", errOut.String())
	}
}

// TestAgentLeavesOutHeavyLibraries keeps the agent small: every page of
// its binary tends to end up resident on every node. protobuf came in
// once with the Prometheus encoder and made the binary 4 MB bigger.
func TestAgentLeavesOutHeavyLibraries(t *testing.T) {
	// go test puts its own go command first on PATH.
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to list the agent's packages: %v", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, heavy := range []string{"google.golang.org/protobuf/", "github.com/prometheus/", "github.com/hashicorp/hcl", "github.com/charmbracelet/", "github.com/spf13/cobra"} {
			if strings.HasPrefix(pkg, heavy) {
				t.Errorf("the agent imports %s", pkg)
			}
		}
	}
}
