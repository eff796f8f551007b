package plan

import (
	"strings"
	"testing"
)

func TestTakeoverNoteOnlyWhereAnAgentStarts(t *testing.T) {
	tests := []struct {
		name      string
		takesOver string
		changes   []Change
		note      bool
	}{
		{"first apply", "keepalived", []Change{{Action: InstallAgent}, {Action: UpdateSpec}}, true},
		{"agent installed, not running", "heartbeat", []Change{{Action: StartAgent}}, true},
		{"taken over: a later change", "keepalived", []Change{{Action: UpdateSpec}}, false},
		{"taken over: nothing to do", "keepalived", []Change{}, false},
		{"no takes_over", "", []Change{{Action: InstallAgent}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			notes := takeoverNotes(&Desired{Node: "h2g", TakesOver: tt.takesOver}, tt.changes)
			if got := len(notes) == 1 && strings.Contains(notes[0], "takes over from "+tt.takesOver); got != tt.note {
				t.Errorf("notes = %q, want a takeover note: %v", notes, tt.note)
			}
		})
	}
}
