package plan

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

func TestDriftTellsHandChangesFromPendingConfiguration(t *testing.T) {
	desired := []*Desired{{Node: "n1", SpecHash: "s1", AgentSHA256: "a1", AgentVersion: "v1"}}
	applied := &Applied{SpecHash: "s1", AgentSHA256: "a1", Secrets: map[string]string{"/etc/hactl/secrets/cluster-key": "k1"}, SecretDigest: KeyedDigests}
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
		{"record of an older hactl with plain digests: only a deleted secret is judged", func(o *Observed, _ *Desired) {
			o.Applied = &Applied{SpecHash: "s1", AgentSHA256: "a1", Secrets: map[string]string{"/etc/hactl/secrets/cluster-key": "plain", "/etc/hactl/secrets/gone": "plain"}}
		}, []string{"drift: secret file deleted: /etc/hactl/secrets/gone"}},
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

func TestDriftReportsAddressesInVIPNetworksTheSpecDoesNotAccountFor(t *testing.T) {
	vipGroup := func(name, addr string) spec.Group {
		return spec.Group{Name: name, Resources: []spec.Resource{{Kind: "vip", Name: name + "-ip", Address: addr, Interface: "eth0"}}}
	}
	a := &Desired{Node: "a", SpecHash: "s1", AgentSHA256: "a1", Spec: &spec.Spec{Node: "a",
		Heartbeat: &spec.Heartbeat{Links: []spec.Link{{Name: "lan", Local: "10.0.0.12"}, {Name: "hb", Local: "10.1.0.1"}}},
		Groups:    []spec.Group{vipGroup("web", "10.0.0.110/24")}}}
	b := &Desired{Node: "b", SpecHash: "s2", AgentSHA256: "a1", Spec: &spec.Spec{Node: "b", Groups: []spec.Group{vipGroup("db", "10.0.0.200/24")}}}
	tests := []struct {
		name  string
		addrs []string
		want  []string // the addresses reported
	}{
		{"own address, own VIP, other networks, link-local", []string{"eth0 10.0.0.11/24", "eth0 10.0.0.110/24 secondary",
			"eth1 10.1.0.1/24", "eth2 172.16.0.5/24 secondary", "eth0 fe80::1/64"}, nil},
		{"a heartbeat link's local address, even secondary", []string{"eth0 10.0.0.11/24", "eth0 10.0.0.12/24 secondary"}, nil},
		{"a VIP on the loopback (direct-routing real server)", []string{"lo 127.0.0.1/8", "lo 10.0.0.200/32"}, nil},
		{"the old address of a VIP", []string{"eth0 10.0.0.11/24", "eth0 10.0.0.100/24 secondary"}, []string{"10.0.0.100/24 on eth0"}},
		{"another node's VIP", []string{"eth0 10.0.0.11/24", "eth0 10.0.0.200/24 secondary"}, []string{"10.0.0.200/24 on eth0"}},
		{"a host address added by hand", []string{"eth0 10.0.0.11/24", "eth0 10.0.0.123/32"}, []string{"10.0.0.123/32 on eth0"}},
		{"on another interface", []string{"eth1 10.0.0.77/24"}, nil},
		{"on another interface, beside its own", []string{"eth1 10.0.0.77/24", "eth1 10.0.0.78/24 secondary"}, []string{"10.0.0.78/24 on eth1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Observed{Node: "a", AgentInstalled: true, AgentSHA256: "a1", AgentRunning: true, SpecHash: "s1",
				Applied: &Applied{SpecHash: "s1", AgentSHA256: "a1"}, Facts: Facts{Addrs: tt.addrs}}
			var got []string
			for _, it := range Drift([]*Desired{a, b}, map[string]*Observed{"a": o}) {
				if it.Node != "a" {
					continue
				}
				if it.Kind != HandChange || !strings.HasPrefix(it.What, "address ") {
					t.Errorf("unexpected finding %s: %s", it.Kind, it.What)
					continue
				}
				where, _, _ := strings.Cut(strings.TrimPrefix(it.What, "address "), " is ")
				got = append(got, where)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("reported %q, want %q", got, tt.want)
			}
		})
	}
}
