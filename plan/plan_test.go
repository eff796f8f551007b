package plan

import (
	"reflect"
	"testing"

	"github.com/hactl/hactl/agentbin/spec"
)

func TestComputePlansOnlyWhatDiffers(t *testing.T) {
	key := []byte("secret key")
	want := &Desired{Node: "n1", SpecHash: "s1", AgentSHA256: "a1", AgentVersion: "v1",
		Spec: &spec.Spec{FormatVersion: 1, Cluster: "c", Node: "n1"}, Secrets: map[string][]byte{"/etc/hactl/secrets/cluster-key": key}}
	converged := func() *Observed {
		return &Observed{Node: "n1", AgentInstalled: true, AgentSHA256: "a1", AgentRunning: true, SpecHash: "s1",
			Spec: want.Spec, SecretHashes: map[string]string{"/etc/hactl/secrets/cluster-key": spec.HashBytes(key)}}
	}
	tests := []struct {
		name    string
		observe func(o *Observed)
		actions []Action
		err     bool
	}{
		{"converged host: no changes", func(*Observed) {}, nil, false},
		{"fresh host: install, secrets, spec", func(o *Observed) { *o = Observed{Node: "n1"} }, []Action{InstallAgent, UpdateSecret, UpdateSpec}, false},
		{"other agent: upgrade", func(o *Observed) { o.AgentSHA256 = "a0" }, []Action{UpgradeAgent}, false},
		{"spec differs", func(o *Observed) { o.SpecHash = "s0" }, []Action{UpdateSpec}, false},
		{"secret no longer configured: removed", func(o *Observed) { o.SecretHashes["/etc/hactl/secrets/old"] = "x" }, []Action{UpdateSecret}, false},
		{"secret differs", func(o *Observed) { o.SecretHashes["/etc/hactl/secrets/cluster-key"] = "x" }, []Action{UpdateSecret}, false},
		{"agent stopped, nothing else: start", func(o *Observed) { o.AgentRunning = false }, []Action{StartAgent}, false},
		{"agent stopped and spec differs: both", func(o *Observed) { o.AgentRunning = false; o.SpecHash = "s0" }, []Action{UpdateSpec, StartAgent}, false},
		{"agent stopped and upgraded: the upgrade restarts it", func(o *Observed) { o.AgentRunning = false; o.AgentSHA256 = "a0" }, []Action{UpgradeAgent}, false},
		{"unreachable: error, no actions", func(o *Observed) { o.Error = "timeout" }, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := converged()
			tt.observe(o)
			p := Compute([]*Desired{want}, map[string]*Observed{"n1": o})
			var got []Action
			for _, c := range p.Hosts[0].Changes {
				got = append(got, c.Action)
			}
			if !reflect.DeepEqual(got, tt.actions) {
				t.Errorf("actions %v, want %v", got, tt.actions)
			}
			if p.HasErrors() != tt.err || p.HasChanges() != (len(tt.actions) > 0) {
				t.Errorf("HasErrors %v HasChanges %v", p.HasErrors(), p.HasChanges())
			}
		})
	}
}

func TestFingerprintChangesWithTheHost(t *testing.T) {
	a := &Observed{Node: "n1", SpecHash: "s1", SecretHashes: map[string]string{"/k": "1"}}
	b := &Observed{Node: "n1", SpecHash: "s1", SecretHashes: map[string]string{"/k": "1"}}
	if a.Fingerprint() != b.Fingerprint() {
		t.Fatal("equal observations, different fingerprints")
	}
	b.SecretHashes["/k"] = "2"
	if a.Fingerprint() == b.Fingerprint() {
		t.Fatal("a changed secret did not change the fingerprint")
	}
}
