package plan

import (
	"reflect"
	"testing"

	"github.com/hactl/hactl/agentbin/status"
)

func TestDriftTellsHandChangesFromPendingConfiguration(t *testing.T) {
	desired := []*Desired{{Node: "n1", SpecHash: "s1", AgentSHA256: "a1", AgentVersion: "v1"}}
	applied := &Applied{SpecHash: "s1", AgentSHA256: "a1", Secrets: map[string]string{"/etc/hactl/secrets/cluster-key": "k1"}}
	healthy := func() *Observed {
		return &Observed{Node: "n1", AgentInstalled: true, AgentSHA256: "a1", AgentRunning: true, SpecHash: "s1",
			SecretHashes: map[string]string{"/etc/hactl/secrets/cluster-key": "k1"}, Applied: applied, Status: &status.Status{Healthy: true}}
	}
	tests := []struct {
		name   string
		change func(o *Observed, d *Desired)
		want   []string // kind: what
	}{
		{"in sync", func(*Observed, *Desired) {}, nil},
		{"spec deleted and agent stopped", func(o *Observed, _ *Desired) { o.SpecHash = ""; o.AgentRunning = false },
			[]string{"drift: agent not running", "drift: spec file deleted"}},
		{"spec edited by hand", func(o *Observed, _ *Desired) { o.SpecHash = "other" }, []string{"drift: spec file changed by hand"}},
		{"secret changed", func(o *Observed, _ *Desired) { o.SecretHashes["/etc/hactl/secrets/cluster-key"] = "k2" },
			[]string{"drift: secret file changed by hand: /etc/hactl/secrets/cluster-key"}},
		{"role reports a removed vip", func(o *Observed, _ *Desired) { o.Status.Drift = []string{"vip 192.168.0.33/24 missing on eth0"} },
			[]string{"drift: vip 192.168.0.33/24 missing on eth0"}},
		{"configuration changed, not applied", func(_ *Observed, d *Desired) { d.SpecHash = "s2" },
			[]string{"pending: configuration changed since the last apply"}},
		{"new agent, not applied", func(_ *Observed, d *Desired) { d.AgentSHA256, d.AgentVersion = "a2", "v2" },
			[]string{"pending: agent upgrade to v2"}},
		{"no agent known to this hactl: upgrades not judged", func(_ *Observed, d *Desired) { d.AgentSHA256, d.AgentVersion = "", "" }, nil},
		{"never applied", func(o *Observed, _ *Desired) { o.Applied = nil }, []string{"pending: never applied"}},
		{"unreachable", func(o *Observed, _ *Desired) { o.Error = "connection refused" }, []string{"unreachable: connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := healthy()
			d := *desired[0]
			tt.change(o, &d)
			var got []string
			for _, it := range Drift([]*Desired{&d}, map[string]*Observed{"n1": o}) {
				got = append(got, string(it.Kind)+": "+it.What)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Drift = %q, want %q", got, tt.want)
			}
		})
	}
}
