package plan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"
)

func TestWithoutHostPrintsTheHostOnce(t *testing.T) {
	tests := []struct{ node, msg, want string }{
		{"a", "a: ssh root@10.0.0.1:22: connection refused", "ssh root@10.0.0.1:22: connection refused"},
		{"a", "a: probing: a: sh -c …: exit 1: boom", "probing: sh -c …: exit 1: boom"},
		{"a", "ssh ab: refused", "ssh ab: refused"},
		{"h2g", "c2g: locked", "c2g: locked"},
		{"a", "", ""},
	}
	for _, tt := range tests {
		if got := WithoutHost(tt.node, tt.msg); got != tt.want {
			t.Errorf("WithoutHost(%q, %q) = %q; want %q", tt.node, tt.msg, got, tt.want)
		}
	}
}

// Each action is drawn with its own sign and the sign's colour, like
// Terraform: + green, ~ yellow, - red.
func TestActionsHaveTheirOwnSignAndColour(t *testing.T) {
	tagged := func(tag string) lipgloss.Style { return lipgloss.NewStyle().SetString(tag) }
	st := Styles{Add: tagged("<green>"), Change: tagged("<yellow>"), Remove: tagged("<red>"), enabled: true}
	p := &Plan{Hosts: []HostPlan{
		{Node: "a", Changes: []Change{{Action: InstallAgent}, {Action: UpdateSpec}, {Action: UpgradeAgent}}},
		{Node: "b", Changes: []Change{{Action: RemoveAgent}}},
	}}
	var buf bytes.Buffer
	p.WriteText(&buf, st)
	for _, want := range []string{"<green> + install agent", "<yellow> ~ update spec", "<yellow> ~ upgrade agent", "<red> - remove hactl"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, buf.String())
		}
	}
}

// A host without changes, or one that could not be observed, has an empty
// list of changes in JSON, not null.
func TestPlanJSONHasNoNullChanges(t *testing.T) {
	desired := []*Desired{{Node: "a", SpecHash: "s"}, {Node: "b", SpecHash: "s"}}
	observed := map[string]*Observed{
		"a": {Node: "a", AgentInstalled: true, AgentRunning: true, SpecHash: "s"},
		"b": {Node: "b", Error: "b: ssh: timed out"},
	}
	for name, p := range map[string]*Plan{"plan": Compute(desired, observed), "destroy": DestroyPlan(map[string]*Observed{"b": observed["b"]})} {
		var buf bytes.Buffer
		if err := WriteJSON(&buf, p.Save(desired)); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), "null") {
			t.Errorf("%s JSON holds null:\n%s", name, buf.String())
		}
		var back SavedPlan
		if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
			t.Fatal(err)
		}
		for _, h := range back.Hosts {
			if h.Changes == nil {
				t.Errorf("%s: host %s has no changes list", name, h.Node)
			}
		}
	}
}
