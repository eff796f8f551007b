package drill

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/e2e/lab"
	"github.com/hactl/hactl/plan/topology"
)

// cluster builds a topology of n fenced (or not) members on lan and hb,
// all locations of one group with a VIP on lan.
func cluster(names []string, fenced bool, policy topology.QuorumPolicy) *topology.Topology {
	lan := &topology.Network{Name: "lan", Prefix: netip.MustParsePrefix("192.168.0.0/24")}
	hb := &topology.Network{Name: "hb", Prefix: netip.MustParsePrefix("192.168.1.0/24")}
	g := &topology.Group{Name: "web", Resources: []*topology.Resource{{Kind: topology.ResourceVIP,
		VIP: &topology.VIP{Name: "www", Address: netip.MustParsePrefix("192.168.0.33/24")}}}}
	topo := &topology.Topology{Networks: []*topology.Network{lan, hb}, Groups: []*topology.Group{g},
		Heartbeat: &topology.Heartbeat{Links: []*topology.Link{{Name: "lan", Network: lan}, {Name: "direct", Network: hb}}}}
	if policy != "" {
		topo.Quorum = &topology.Quorum{Policy: policy}
	}
	for i, name := range names {
		n := &topology.Node{Name: name, Interfaces: []*topology.Interface{
			{Name: "eth0", Network: lan, Address: netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, 0, byte(10 + i)}), 24)},
			{Name: "eth1", Network: hb, Address: netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, 1, byte(10 + i)}), 24)},
		}}
		if fenced {
			n.Fences = []*topology.Fence{{Type: topology.FenceLab}}
		}
		topo.Nodes = append(topo.Nodes, n)
		g.Locations = append(g.Locations, topology.Location{Node: n, Score: 100 * (len(names) - i)})
	}
	return topo
}

func TestWhoCanRunAGroupUnderAFault(t *testing.T) {
	two := cluster([]string{"h2g", "c2g"}, true, "")
	three := cluster([]string{"a", "b", "c"}, true, topology.QuorumStop)
	ignore := cluster([]string{"a", "b", "c"}, false, topology.QuorumIgnore)
	for _, tc := range []struct {
		name string
		topo *topology.Topology
		w    *world
		want []string
	}{
		{"healthy two", two, healthy(two), []string{"c2g", "h2g"}},
		// Both sides live and apart: fencing has not decided yet.
		{"two partitioned", two, duringFault(two, Fault{Kind: KindPartition, Sides: [][]string{{"h2g"}, {"c2g"}}}), nil},
		{"two, one off", two, duringFault(two, Fault{Kind: KindPower, Node: "h2g"}), []string{"c2g"}},
		{"two, one link cut", two, duringFault(two, Fault{Kind: KindCut, Node: "h2g", Iface: "eth1"}), []string{"c2g", "h2g"}},
		// h2g still heartbeats on hb, but its VIP interface is cut.
		{"two, VIP link cut", two, duringFault(two, Fault{Kind: KindCut, Node: "h2g", Iface: "eth0"}), []string{"c2g"}},
		{"two, cable pulled everywhere", two, duringFault(two, Fault{Kind: KindCut, Node: "h2g"}), nil},
		{"two, loss", two, duringFault(two, Fault{Kind: KindLoss, Node: "h2g", Percent: 30}), []string{"c2g", "h2g"}},
		{"two, agent killed", two, duringFault(two, Fault{Kind: KindAgentKill, Node: "c2g"}), []string{"h2g"}},
		{"three, minority alone", three, duringFault(three, Fault{Kind: KindPartition, Sides: [][]string{{"a"}, {"b", "c"}}}), []string{"b", "c"}},
		{"three, frozen", three, duringFault(three, Fault{Kind: KindFreeze, Node: "b"}), []string{"a", "c"}},
		{"three, two down", three, func() *world {
			w := healthy(three)
			w.state["a"], w.state["b"] = lab.StateOff, lab.StateDown
			return w
		}(), nil},
		{"three, policy ignore", ignore, duringFault(ignore, Fault{Kind: KindPartition, Sides: [][]string{{"a"}, {"b", "c"}}}), []string{"a", "b", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.w.canRun(tc.topo.Groups[0]); !slices.Equal(got, tc.want) {
				t.Errorf("can run: %v, want %v", got, tc.want)
			}
		})
	}
}

func TestConnectedOnlyThroughAWorkingHeartbeatLink(t *testing.T) {
	two := cluster([]string{"h2g", "c2g"}, true, "")
	for _, tc := range []struct {
		f    Fault
		want bool
	}{
		{Fault{Kind: KindCut, Node: "h2g", Iface: "eth0"}, true},
		{Fault{Kind: KindCutPort, Node: "c2g", Iface: "eth1"}, true},
		{Fault{Kind: KindCutPort, Node: "c2g"}, false},
		{Fault{Kind: KindPartition, Sides: [][]string{{"c2g"}, {"h2g"}}}, false},
		{Fault{Kind: KindFreeze, Node: "h2g"}, false},
		{Fault{Kind: KindAgentRestart, Node: "h2g"}, false},
		{Fault{Kind: KindMove, Group: "web", Node: "c2g"}, true},
		{Fault{Kind: KindApply, Edit: "notify"}, true},
	} {
		if got := duringFault(two, tc.f).connected("h2g", "c2g"); got != tc.want {
			t.Errorf("%s: connected %v, want %v", tc.f, got, tc.want)
		}
	}
}

func TestClientBlindOnlyWhenTheHolderLosesTheClient(t *testing.T) {
	two := cluster([]string{"h2g", "c2g"}, true, "")
	g := two.Groups[0]
	for _, tc := range []struct {
		f      Fault
		holder string
		want   bool
	}{
		{Fault{Kind: KindLoss, Node: "h2g", Percent: 20}, "h2g", true},
		{Fault{Kind: KindLoss, Node: "h2g", Iface: "eth1", Percent: 20}, "h2g", false},
		{Fault{Kind: KindLoss, Node: "c2g", Percent: 20}, "h2g", false},
		{Fault{Kind: KindCutPort, Node: "h2g", Iface: "eth0"}, "h2g", true},
		// A pulled cable takes the carrier: the holder sees it and moves.
		{Fault{Kind: KindCut, Node: "h2g", Iface: "eth0"}, "h2g", false},
	} {
		if got := clientBlind(two, tc.f, g, tc.holder); got != tc.want {
			t.Errorf("%s, holder %s: client blind %v, want %v", tc.f, tc.holder, got, tc.want)
		}
	}
	g.PingTargets = []netip.Addr{netip.MustParseAddr("192.168.0.254")}
	if clientBlind(two, Fault{Kind: KindCutPort, Node: "h2g", Iface: "eth0"}, g, "h2g") {
		t.Error("with ping targets the cluster sees a dead client-side port: it must be judged")
	}
}

func TestLongestGap(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	probes := func(pattern string) []lab.Probe {
		var out []lab.Probe
		for i, c := range pattern {
			out = append(out, lab.Probe{Sent: at(10 * i), OK: c == 'o', From: "n"})
		}
		return out
	}
	for _, tc := range []struct {
		pattern  string
		from, to int
		want     time.Duration
		open     bool
	}{
		{"oooooo", 0, 60, 0, false},
		{"oo..ooo...o", 0, 110, 30 * time.Millisecond, false},
		{"oo..oo.....", 0, 110, 50 * time.Millisecond, true},
		// A gap before the window is not this step's.
		{"..oooo", 20, 60, 0, false},
		{"oooo..", 0, 50, 10 * time.Millisecond, true},
	} {
		got, open := longestGap(probes(tc.pattern), at(tc.from), at(tc.to))
		if got != tc.want || open != tc.open {
			t.Errorf("%s in [%d, %d)ms: %v open %v, want %v open %v", tc.pattern, tc.from, tc.to, got, open, tc.want, tc.open)
		}
	}
}

func TestTakeoversFollowTheSoleHolder(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var samples []holderSample
	for i, hs := range [][]string{{"h2g"}, {}, {}, {"c2g"}, {"c2g", "h2g"}, {"h2g"}, {"h2g"}} {
		samples = append(samples, holderSample{At: t0.Add(time.Duration(i) * time.Second), Holders: hs})
	}
	got := takeovers(samples, "h2g")
	want := []takeover{{From: "h2g", To: "c2g", At: t0.Add(3 * time.Second)}, {From: "c2g", To: "h2g", At: t0.Add(4 * time.Second)}}
	if !slices.Equal(got, want) {
		t.Errorf("takeovers %v, want %v", got, want)
	}
}

func TestPDULogTellsWhoWasFencedWhen(t *testing.T) {
	log := `2026/12/02 01:26:58.070614 power switch of lab drill listening on port 6230 (pid 26025)
2026/12/02 01:27:04.327649 c2g (192.168.0.17): POST /off/h2g: 200 OK
2026/12/02 01:27:05.000001 192.168.0.250: POST /reboot/c2g: 401 Unauthorized
2026/12/02 01:27:06.5 garbage
`
	entries := parsePDULog(log, time.UTC)
	want := []fenceEntry{
		{At: time.Date(2026, 12, 2, 1, 27, 4, 327649000, time.UTC), By: "c2g", Action: "off", Node: "h2g", OK: true},
		{At: time.Date(2026, 12, 2, 1, 27, 5, 1000, time.UTC), By: "192.168.0.250", Action: "reboot", Node: "c2g", OK: false},
	}
	if !slices.Equal(entries, want) {
		t.Fatalf("entries %v, want %v", entries, want)
	}
	fence := want[0].At
	for _, tc := range []struct {
		node        string
		from, until time.Time
		want        bool
	}{
		{"h2g", fence.Add(-time.Second), fence.Add(time.Millisecond), true},
		// The line is written as the switch answers: it may trail the takeover a little.
		{"h2g", fence.Add(-time.Second), fence.Add(-100 * time.Millisecond), true},
		{"h2g", fence.Add(-time.Second), fence.Add(-time.Second / 2), false},
		{"h2g", fence.Add(time.Millisecond), fence.Add(time.Second), false},
		// A refused request fences nobody.
		{"c2g", fence, fence.Add(time.Minute), false},
	} {
		if got := fencedBetween(entries, tc.node, tc.from, tc.until); got != tc.want {
			t.Errorf("%s fenced in [%s, %s]: %v, want %v", tc.node, tc.from.Format("05.000"), tc.until.Format("05.000"), got, tc.want)
		}
	}
}

func TestASeedReplaysTheSameFaults(t *testing.T) {
	topo := cluster([]string{"a", "b", "c"}, true, topology.QuorumStop)
	draw := func(seed uint64) []string {
		s := newSchedule(seed, topo, nil, 2*time.Second)
		var out []string
		for range 50 {
			f := s.next()
			out = append(out, f.String()+" "+f.Hold.String())
		}
		return out
	}
	a, b, c := draw(7), draw(7), draw(8)
	if !slices.Equal(a, b) {
		t.Errorf("seed 7 drew two sequences:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Error("seeds 7 and 8 drew the same sequence")
	}
	kinds := map[Kind]bool{}
	s := newSchedule(1, topo, nil, 2*time.Second)
	for range 500 {
		f := s.next()
		kinds[f.Kind] = true
		if f.Hold < 3*time.Second || f.Hold > 5*time.Second {
			t.Errorf("%s: hold %s, want the bound plus 1 to 3s", f, f.Hold)
		}
		if f.Kind == KindPartition && (len(f.Sides) != 2 || len(f.Sides[0]) == 0 || len(f.Sides[1]) == 0) {
			t.Errorf("partition with sides %v", f.Sides)
		}
	}
	if len(kinds) != len(Kinds) {
		t.Errorf("500 faults drew the kinds %v, want all %d", kinds, len(Kinds))
	}
	only := newSchedule(1, topo, []Kind{KindPower}, time.Second)
	if f := only.next(); f.Kind != KindPower {
		t.Errorf("--faults power drew %s", f)
	}
}

func TestParseKinds(t *testing.T) {
	got, err := ParseKinds("partition, power,partition")
	if err != nil || !slices.Equal(got, []Kind{KindPartition, KindPower}) {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := ParseKinds("partition,meteor"); err == nil || !strings.Contains(err.Error(), `"meteor"`) || !strings.Contains(err.Error(), "cut-port") {
		t.Errorf("an unknown kind: %v", err)
	}
}

func TestFlipFailback(t *testing.T) {
	src := "group \"web\" {\n  failback = true\n  vip \"www\" {}\n}\n\ngroup \"db\" {\n  vip \"d\" {}\n}\n"
	for _, tc := range []struct{ group, want string }{
		{"web", "group \"web\" {\n  failback = false\n  vip \"www\" {}\n}\n\ngroup \"db\" {\n  vip \"d\" {}\n}\n"},
		// The default is true: flipping it writes false.
		{"db", "group \"web\" {\n  failback = true\n  vip \"www\" {}\n}\n\ngroup \"db\" {\n  failback = false\n  vip \"d\" {}\n}\n"},
	} {
		got, err := flipFailback(src, tc.group)
		if err != nil || got != tc.want {
			t.Errorf("flip %s: %v\n%s", tc.group, err, got)
		}
		back, err := flipFailback(got, tc.group)
		if err != nil || (tc.group == "web" && back != src) {
			t.Errorf("flip %s twice: %v\n%s", tc.group, err, back)
		}
	}
	if _, err := flipFailback(src, "ftp"); err == nil {
		t.Error("flipping a group that is not there succeeded")
	}
}

func TestReportTableAndViolations(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &Report{Cluster: "web", Config: "cluster.hcl", Lab: "drill", Seed: 42, Duration: time.Minute, Ran: time.Minute, Bound: 2100 * time.Millisecond}
	for i, o := range []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 200 * time.Millisecond} {
		r.Steps = append(r.Steps, Step{Index: i + 1, Start: t0, Fault: Fault{Kind: KindCut, Node: "h2g"},
			Groups: []GroupOutcome{{Group: "web", Before: "h2g", After: "c2g", Outage: o}}})
	}
	s := r.Summary()
	if len(s) != 1 || s[0].Faults != 4 || s[0].Outages != 3 || s[0].Median != 200*time.Millisecond || s[0].Max != 300*time.Millisecond {
		t.Errorf("summary %+v", s)
	}
	var b strings.Builder
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "cut                 4        3    0.200s    0.300s") || !strings.Contains(b.String(), "Violations: none.") || strings.Contains(b.String(), "Replay") {
		t.Errorf("report without violations:\n%s", b.String())
	}
	r.Violations = []Violation{{Step: 2, At: t0, Invariant: "two holders", Group: "web", Detail: "192.168.0.33 answered ARP from c2g and h2g at once"}}
	r.Events = []string{"00:00:00.000 c2g saw node_dead h2g"}
	b.Reset()
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Violations: 1.", "step 2 at 00:00:00.000: two holders: group web: 192.168.0.33", "Replay: hactl lab drill -f cluster.hcl --seed 42 --duration 1m0s", "#2", "cut h2g", "c2g saw node_dead h2g"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report with a violation lacks %q:\n%s", want, b.String())
		}
	}
}

func TestEveryReportFieldIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/drill.md")
	if err != nil {
		t.Fatal(err)
	}
	var walk func(reflect.Type)
	seen := map[reflect.Type]bool{}
	walk = func(ty reflect.Type) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || seen[ty] || ty.PkgPath() == "time" {
			return
		}
		seen[ty] = true
		for i := range ty.NumField() {
			name, _, _ := strings.Cut(ty.Field(i).Tag.Get("json"), ",")
			documented := false
			for _, form := range []string{"`" + name + "`", "`" + name + "[]`", "." + name + "`", "." + name + "[]`"} {
				documented = documented || strings.Contains(string(doc), form)
			}
			if name != "" && !documented {
				t.Errorf("report field %q is not in docs/drill.md", name)
			}
			walk(ty.Field(i).Type)
		}
	}
	walk(reflect.TypeOf(Report{}))
}

func TestLeftoversNameWhatRemains(t *testing.T) {
	gone := filepath.Join(t.TempDir(), "gone")
	if left := leftovers([]string{"hl0000-nothere"}, gone, nil); len(left) != 0 {
		t.Errorf("a lab that left nothing: %v", left)
	}
	dir := t.TempDir()
	self, err := inode("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	left := leftovers(nil, dir, map[uint64]string{self: "hl0000-ctl"})
	if !slices.ContainsFunc(left, func(s string) bool { return strings.Contains(s, dir+" is still there") }) ||
		!slices.ContainsFunc(left, func(s string) bool { return strings.Contains(s, "still runs in network namespace hl0000-ctl") }) {
		t.Errorf("leftovers of a lab whose directory and processes remain: %v", left)
	}
}
