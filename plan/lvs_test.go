package plan

import (
	"strings"
	"testing"

	"github.com/hactl/hactl/agentbin/spec"
)

func TestLVSDatapaths(t *testing.T) {
	for _, tc := range []struct {
		name                string
		datapath, scheduler string
		forwarding          string
		ipvs                bool
		note, refused       string
	}{
		{"auto with IPVS", "auto", "wlc", "dr", true, `"web": ipvs datapath (auto: its kernel 6.1.0 has IPVS)`, ""},
		{"auto without IPVS", "auto", "rr", "nat", false, `"web": nftables datapath (auto: its kernel 6.1.0 has no IPVS; no fast path: its kernel 6.1.0 has no nftables flowtables)`, ""},
		{"auto without IPVS, wlc", "auto", "wlc", "nat", false, "", `"web" would run on the nftables datapath on h2g (auto: its kernel 6.1.0 has no IPVS), which has no "wlc" scheduler: use scheduler rr, wrr, sh, dh, or load the ip_vs module on that host`},
		{"nftables, direct routing", "nftables", "sh", "dr", true, "", `which forwards by NAT only, not "dr": use forwarding = "nat", or datapath = "ipvs" on a kernel with IPVS`},
		{"ipvs without IPVS", "ipvs", "lc", "nat", false, "", `asks for datapath "ipvs", but its kernel 6.1.0 on h2g has no IPVS (no /proc/net/ip_vs, no ip_vs module): load ip_vs there, or use datapath = "nftables" or "auto" (with scheduler rr, wrr, sh, dh and forwarding "nat")`},
		{"ipvs", "ipvs", "lc", "tunnel", true, `"web": ipvs datapath (set in the configuration)`, ""},
	} {
		d := &Desired{Node: "h2g", Spec: &spec.Spec{VirtualServices: []spec.VirtualService{{Name: "web", Datapath: tc.datapath, Scheduler: tc.scheduler, Forwarding: tc.forwarding}}}}
		o := &Observed{Node: "h2g", Facts: Facts{Kernel: "6.1.0", IPVS: tc.ipvs, NFTables: true}}
		notes, refused := lvsDatapaths(d, o)
		if got := strings.Join(notes, "\n"); (tc.note == "") != (got == "") || !strings.Contains(got, tc.note) {
			t.Errorf("%s: notes %q, want %q", tc.name, got, tc.note)
		}
		if got := strings.Join(refused, "\n"); (tc.refused == "") != (got == "") || !strings.Contains(got, tc.refused) {
			t.Errorf("%s: refused %q, want %q", tc.name, got, tc.refused)
		}
	}
	d := &Desired{Node: "h2g", Spec: &spec.Spec{VirtualServices: []spec.VirtualService{{Name: "web", Datapath: "nftables", Scheduler: "rr", Forwarding: "nat"}}}}
	o := &Observed{Node: "h2g", Facts: Facts{Kernel: "6.1.0", NFTables: true, Flowtable: true}}
	want := `"web": nftables datapath (set in the configuration; fast path: a flowtable for established connections)`
	if notes, _ := lvsDatapaths(d, o); len(notes) != 1 || notes[0] != "virtual service "+want {
		t.Errorf("with flowtables: notes %q, want %q", notes, want)
	}
}
