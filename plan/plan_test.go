package plan

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hactl/hactl/agentbin/spec"
)

func TestComputePlansOnlyWhatDiffers(t *testing.T) {
	key := []byte("secret key")
	digestKey := spec.DigestKey(key)
	const keyPath = "/etc/hactl/secrets/cluster-key"
	want := &Desired{Node: "n1", SpecHash: "s1", AgentSHA256: "a1", AgentVersion: "v1",
		Spec:    &spec.Spec{FormatVersion: 1, Cluster: "c", Node: "n1", Secrets: []spec.Secret{{Name: "cluster-key", Path: keyPath, Digest: spec.SecretDigest(digestKey, spec.HashBytes(key))}}},
		Secrets: map[string][]byte{keyPath: key}}
	converged := func() *Observed {
		o := &Observed{Node: "n1", AgentInstalled: true, AgentSHA256: "a1", AgentRunning: true, SpecHash: "s1",
			Spec: want.Spec, SecretHashes: map[string]string{keyPath: spec.HashBytes(key)}} // as the probe reports it
		o.KeySecretHashes(digestKey)
		return o
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

// A notify command whose program the probe found missing is a warning
// naming the node and the notify block; one not probed is no warning.
func TestComputeWarnsOfAMissingNotifyProgram(t *testing.T) {
	d := &Desired{Node: "n1", SpecHash: "s1", Spec: &spec.Spec{Node: "n1", Notifies: []spec.Notify{
		{Name: "page", Command: "/usr/local/bin/page-oncall --urgent"}, {Name: "log", Command: "logger -t hactl"}}}}
	tests := []struct {
		name     string
		programs map[string]bool
		want     []string
	}{
		{"both found", map[string]bool{"/usr/local/bin/page-oncall": true, "logger": true}, nil},
		{"one missing", map[string]bool{"/usr/local/bin/page-oncall": false, "logger": true},
			[]string{`notify "page": /usr/local/bin/page-oncall is not an executable program on n1, so its events would go nowhere; install it there or fix command`}},
		{"not probed", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Observed{Node: "n1", AgentInstalled: true, AgentRunning: true, SpecHash: "s1", Facts: Facts{Programs: tt.programs}}
			p := Compute([]*Desired{d}, map[string]*Observed{"n1": o})
			if got := p.Hosts[0].Warnings; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("warnings %q, want %q", got, tt.want)
			}
			var text strings.Builder
			p.WriteText(&text, Styles{})
			for _, w := range tt.want {
				if !strings.Contains(text.String(), "  Warning: "+w+"\n") {
					t.Errorf("the plan's text does not show %q:\n%s", w, text.String())
				}
			}
		})
	}
}

// A node that pushes or receives a sync needs rsync; one that receives
// needs rrsync too. Each missing one is a warning naming the node and the
// syncs; programs not probed are none.
func TestComputeWarnsOfMissingRsyncAndRrsync(t *testing.T) {
	source := &spec.Spec{Node: "f400", Syncs: []spec.Sync{{Name: "docroot"}}}
	target := &spec.Spec{Node: "dgx", SyncReceives: []spec.SyncReceive{{Name: "docroot"}, {Name: "ftp"}, {Name: "ftp"}}}
	tests := []struct {
		name     string
		sp       *spec.Spec
		programs map[string]bool
		want     []string
	}{
		{"source has both", source, map[string]bool{Rsync: true, Rrsync: true}, nil},
		{"source needs no rrsync", source, map[string]bool{Rsync: true, Rrsync: false}, nil},
		{"source without rsync", source, map[string]bool{Rsync: false, Rrsync: false},
			[]string{"sync docroot: rsync is not installed on f400, so nothing is copied from or to it; install it there (Debian: apt-get install rsync)"}},
		{"target without rrsync", target, map[string]bool{Rsync: true, Rrsync: false},
			[]string{"sync docroot, ftp: rrsync is not installed on dgx, so it refuses the sources' key and receives nothing; install it there (Debian: rsync from bookworm on ships it in /usr/bin)"}},
		{"not probed", target, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Desired{Node: tt.sp.Node, SpecHash: "s1", Spec: tt.sp}
			o := &Observed{Node: tt.sp.Node, AgentInstalled: true, AgentRunning: true, SpecHash: "s1", Facts: Facts{Programs: tt.programs}}
			p := Compute([]*Desired{d}, map[string]*Observed{tt.sp.Node: o})
			if got := p.Hosts[0].Warnings; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("warnings %q, want %q", got, tt.want)
			}
		})
	}
}
