package layout

import (
	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"
)

// shellSafe is what a generated script may use unquoted.
var shellSafe = regexp.MustCompile(`^/[A-Za-z0-9._/-]+$`)

func TestPathsAreCleanAbsoluteAndShellSafe(t *testing.T) {
	paths := append(Owned(), SpecPath, SecretsDir, AppliedPath, StatusPath, ControlPath, MonitorSocket, PidFile, LockPath,
		AgentDir, AgentLink, LabDir, LabBootDir, LabPDUPath)
	for _, p := range paths {
		if !shellSafe.MatchString(p) || path.Clean(p) != p {
			t.Errorf("%q is not a clean absolute path a shell leaves alone", p)
		}
	}
}

func TestOwnedHasNoPathTwiceNorTheLock(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Owned() {
		if seen[p] {
			t.Errorf("%s listed twice", p)
		}
		seen[p] = true
		if p == LockPath || strings.HasPrefix(LockPath, p+"/") {
			t.Errorf("%s covers the apply lock, which destroy holds while it removes the rest", p)
		}
	}
}

// TestStandardLibraryOnly keeps the package importable by the agent, which
// stays small and static.
func TestStandardLibraryOnly(t *testing.T) {
	const self = "github.com/hactl/hactl/agentbin/layout"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", self).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", self, err, out)
	}
	if deps := strings.Fields(string(out)); len(deps) != 1 || deps[0] != self {
		t.Errorf("layout depends on %v; it must use the standard library only", deps)
	}
}
