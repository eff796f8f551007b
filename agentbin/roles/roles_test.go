package roles

import (
	"testing"

	"github.com/hactl/hactl/agentbin/spec"
)

// The CLI learns which blocks run from spec.Sections (it cannot import the
// Linux-only roles): the table and this list must agree, in order.
func TestEveryRegisteredRoleHasASectionMarkedRunAndNoOther(t *testing.T) {
	var want []string
	for _, sec := range spec.Sections {
		if sec.Runs {
			want = append(want, sec.Role)
		}
	}
	var got []string
	for _, k := range All {
		if spec.SectionOf(k.Name()) == nil {
			t.Errorf("role %q has no section in spec.Sections: add one", k.Name())
		}
		got = append(got, k.Name())
	}
	if len(got) != len(want) {
		t.Fatalf("registered roles %q, spec.Sections marks %q as run: set Runs on the section of every registered role, and only on those", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("role %d is %q, spec.Sections has %q: keep both in the same order", i, got[i], want[i])
		}
	}
}
