package plan

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hactl/hactl/agentbin/spec"
)

// A plan with nothing to apply still shows what a host runs outside the
// configuration, instead of "the hosts match".
func TestPlanShowsWhatTheConfigurationDoesNotAccountFor(t *testing.T) {
	d := &Desired{Node: "a", SpecHash: "s1", AgentSHA256: "a1", Spec: &spec.Spec{Node: "a", Groups: []spec.Group{{Name: "web",
		Resources: []spec.Resource{{Kind: "vip", Name: "web-ip", Address: "10.0.0.110/24", Interface: "eth0"}}}}}}
	o := &Observed{Node: "a", AgentInstalled: true, AgentSHA256: "a1", AgentRunning: true, SpecHash: "s1",
		Facts: Facts{Addrs: []string{"eth0 10.0.0.11/24", "eth0 10.0.0.110/24 secondary", "eth0 10.0.0.100/24 secondary"}}}
	p := Compute([]*Desired{d}, map[string]*Observed{"a": o})
	if p.HasChanges() || len(p.Hosts[0].Unaccounted) != 1 {
		t.Fatalf("plan %+v: want no changes and the old VIP address unaccounted", p.Hosts)
	}
	var out bytes.Buffer
	p.WriteText(&out, Styles{})
	for _, want := range []string{"! address 10.0.0.100/24 on eth0 is in the network of VIP 10.0.0.110/24", "No changes to apply, but the hosts have 1 thing the configuration does not account for"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan text lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "match the configuration") {
		t.Errorf("plan says the hosts match:\n%s", out.String())
	}
}
