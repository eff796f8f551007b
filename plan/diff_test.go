package plan

import (
	"reflect"
	"testing"

	"github.com/hactl/hactl/agentbin/spec"
)

func lvsSpec(weight int, vipIface string) *spec.Spec {
	return &spec.Spec{
		FormatVersion: spec.FormatVersion, Cluster: "lvs", Node: "h2g",
		Secrets: []spec.Secret{{Name: "cluster-key", Path: "/etc/hactl/secrets/cluster-key", Digest: "aa"}},
		Groups: []spec.Group{{Name: "director", Failback: true, Locations: []spec.Location{{Node: "h2g", Score: 200}},
			Resources: []spec.Resource{{Kind: "vip", Name: "outside", Address: "192.168.3.181/24", Interface: vipIface, MonitorIntervalMS: 10000}}}},
		VirtualServices: []spec.VirtualService{{Name: "http", VIP: "outside", Port: 80, Scheduler: "wlc",
			RealServers: []spec.RealServer{{Name: "dgx", Address: "192.168.0.27", Port: 80, Weight: weight}}}},
	}
}

func TestDiffSpecsDescribesChangesInWords(t *testing.T) {
	base := lvsSpec(1, "eth1")
	secretChanged := lvsSpec(1, "eth1")
	secretChanged.Secrets[0].Digest = "bb"
	noRS := lvsSpec(1, "eth1")
	noRS.VirtualServices[0].RealServers = nil
	tests := []struct {
		name     string
		old, new *spec.Spec
		want     []string
	}{
		{"identical specs", base, lvsSpec(1, "eth1"), nil},
		{"weight changed", base, lvsSpec(3, "eth1"),
			[]string{"~ virtual service http / real server dgx: weight 1 → 3"}},
		{"vip moved to another interface", base, lvsSpec(1, "eth0"),
			[]string{"~ group director / vip outside: interface eth1 → eth0"}},
		{"real server removed", base, noRS, []string{"- virtual service http / real server dgx"}},
		{"real server added", noRS, base,
			[]string{"+ virtual service http / real server dgx (address 192.168.0.27, port 80, weight 1)"}},
		{"secret content changed, digest not shown", base, secretChanged,
			[]string{"~ secret cluster-key: content changed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DiffSpecs(tt.old, tt.new)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DiffSpecs:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestDiffSpecsOfANewSpecListsTopLevelEntities(t *testing.T) {
	got := DiffSpecs(nil, lvsSpec(1, "eth1"))
	want := []string{
		"+ spec (new)",
		"+ secret cluster-key (path /etc/hactl/secrets/cluster-key)",
		"+ group director (failback true, failback delay 0s)",
		"+ virtual service http (vip outside, port 80, scheduler wlc)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DiffSpecs(nil, spec):\n got %q\nwant %q", got, want)
	}
}
