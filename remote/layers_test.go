package remote

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNothingOfHactl keeps remote a leaf: it takes plain targets, so
// the topology, the planner and the agent's packages stay out of it and it
// cannot grow a dependency cycle with the packages that drive it.
func TestImportsNothingOfHactl(t *testing.T) {
	const self = "github.com/hactl/hactl/remote"
	out, err := exec.Command("go", "list", "-deps", self).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", self, err, out)
	}
	var bad []string
	for _, dep := range strings.Fields(string(out)) {
		if dep != self && strings.HasPrefix(dep, "github.com/hactl/hactl/") {
			bad = append(bad, dep)
		}
	}
	if len(bad) > 0 {
		t.Errorf("package remote depends on %s; give it plain values (remote.Target) instead", strings.Join(bad, ", "))
	}
}
