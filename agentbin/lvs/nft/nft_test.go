package nft

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"

	"github.com/hactl/hactl/agentbin/lvs/datapath"
)

func TestSchedule(t *testing.T) {
	be := func(name string, w int) datapath.Backend { return datapath.Backend{Name: name, Weight: w} }
	for _, tc := range []struct {
		scheduler string
		live      []datapath.Backend
		want      string
	}{
		{"rr", []datapath.Backend{be("a", 1), be("b", 3)}, "a b"},
		{"wrr", []datapath.Backend{be("a", 1), be("b", 3)}, "b a b b"},
		{"wrr", []datapath.Backend{be("a", 2), be("b", 4)}, "b a b"},
		{"wrr", []datapath.Backend{be("a", 5)}, "a"},
		{"sh", []datapath.Backend{be("a", 1), be("b", 1), be("c", 1)}, "a b c"},
		{"wrr", nil, ""},
	} {
		got := strings.Join(schedule(tc.scheduler, tc.live), " ")
		if got != tc.want {
			t.Errorf("schedule(%s, %v) = %q, want %q", tc.scheduler, tc.live, got, tc.want)
		}
	}
}

func TestCapable(t *testing.T) {
	for _, tc := range []struct {
		scheduler, forwarding string
		refused               string
	}{
		{"rr", "nat", ""},
		{"sh", "nat", ""},
		{"wlc", "nat", `no "wlc" scheduler`},
		{"rr", "dr", `NAT only, not "dr"`},
	} {
		err := Capable(datapath.Service{Name: "web", Scheduler: tc.scheduler, Forwarding: tc.forwarding})
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s/%s refused: %v", tc.scheduler, tc.forwarding, err)
		case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused) || !strings.Contains(err.Error(), `datapath = "ipvs"`)):
			t.Errorf("%s/%s: error %v, want one saying %q and naming ipvs", tc.scheduler, tc.forwarding, err, tc.refused)
		}
	}
}

// flow is a tracked connection from a client to the VIP, forwarded to a
// real server, in a TCP state (3: established, 7: time wait, 8: close).
func flow(client uint16, backend string, state uint8) conntrack.Flow {
	vip := netip.MustParseAddr("192.168.3.181")
	c := netip.MustParseAddr("192.168.3.12")
	f := conntrack.NewFlow(6, conntrack.StatusConfirmed|conntrack.StatusDstNAT|conntrack.StatusSeenReply, c, vip, client, 80, 120, 0)
	f.TupleReply.IP.SourceAddress = netip.MustParseAddr(backend)
	f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: state}
	return f
}

func TestConnStats(t *testing.T) {
	svc := service("web", 80, "rr", 0, 1, 1)
	withBytes := flow(40000, "192.168.0.3", 3)
	withBytes.CountersOrig = conntrack.Counter{Packets: 3, Bytes: 180}
	withBytes.CountersReply = conntrack.Counter{Packets: 2, Bytes: 120}
	flows := []conntrack.Flow{withBytes, flow(40001, "192.168.0.3", 7), flow(40002, "192.168.0.4", 3)}
	// The same service by firewall mark, its real servers on each
	// connection's own port; and one marking another port.
	marked := svc
	marked.Port, marked.FWMark = 0, 1
	marked.Mark = &datapath.Mark{Addresses: []netip.Addr{svc.Address}, Ports: []uint16{80}}
	marked.Backends = slices.Clone(svc.Backends)
	for i := range marked.Backends {
		marked.Backends[i].Port = 0
	}
	other := marked
	other.Mark = &datapath.Mark{Addresses: []netip.Addr{svc.Address}, Ports: []uint16{443}}
	for _, tc := range []struct {
		svc                   datapath.Service
		backend               int
		active, bytes, packet int64
	}{
		{svc, 0, 1, 300, 5},
		{svc, 1, 1, -1, -1},
		{marked, 0, 1, 300, 5},
		{marked, 1, 1, -1, -1},
		{other, 0, 0, -1, -1},
	} {
		got := connStats(tc.svc, tc.svc.Backends[tc.backend], flows)
		if got.ActiveConns != tc.active || got.Bytes != tc.bytes || got.Packets != tc.packet {
			t.Errorf("%s (%s): %+v, want active %d bytes %d packets %d", tc.svc.Backends[tc.backend].Name, tc.svc.Key(), got, tc.active, tc.bytes, tc.packet)
		}
	}
}

func TestDeparted(t *testing.T) {
	names := func(m map[string][]datapath.Backend) string {
		var out []string
		for svc, bs := range m {
			for _, b := range bs {
				out = append(out, svc+"/"+b.Name)
			}
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	both := service("web", 80, "rr", 0, 1, 1)
	quiesced := service("web", 80, "rr", 0, 1, 0)
	removed := both
	removed.Backends = both.Backends[1:]
	for _, tc := range []struct {
		name        string
		before, now []datapath.Service
		want        string
	}{
		{"unchanged", []datapath.Service{both}, []datapath.Service{both}, ""},
		{"weight 0", []datapath.Service{both}, []datapath.Service{quiesced}, "web/rs1"},
		{"removed", []datapath.Service{both}, []datapath.Service{removed}, "web/rs0"},
		{"back", []datapath.Service{removed}, []datapath.Service{both}, ""},
		{"new service", nil, []datapath.Service{both}, ""},
	} {
		if got := names(departed(tc.before, tc.now)); got != tc.want {
			t.Errorf("%s: departed %q, want %q", tc.name, got, tc.want)
		}
	}
}

// nsName is the name of the test's network namespace (netns).
func nsName() string { return fmt.Sprintf("hactl-nft-%d", os.Getpid()) }

// netns runs the test's datapath in a network namespace of its own, so
// that the host's nftables stay untouched.
func netns(t *testing.T) (*Datapath, func(args ...string) string) {
	t.Helper()
	if os.Geteuid() != 0 {
		// scripts/test (CI) runs as root, so these kernel tests run there.
		t.Skip("needs root for a network namespace; scripts/test runs it as root")
	}
	name := nsName()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		// As root this is a broken machine, not a reason to prove nothing.
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	d, err := Open(f)
	if err != nil {
		t.Fatal(err)
	}
	nft := func(args ...string) string {
		out, err := exec.Command("ip", append([]string{"netns", "exec", name, "nft"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	return d, nft
}

func service(name string, port uint16, scheduler string, persist time.Duration, weights ...int) datapath.Service {
	s := datapath.Service{Name: name, Protocol: "tcp", Address: netip.MustParseAddr("192.168.3.181"), Port: port,
		Scheduler: scheduler, Forwarding: "nat", Persistence: persist, PersistMask: 32}
	for i, w := range weights {
		s.Backends = append(s.Backends, datapath.Backend{Name: fmt.Sprintf("rs%d", i), Address: netip.AddrFrom4([4]byte{192, 168, 0, byte(3 + i)}), Port: 80, Weight: w})
	}
	return s
}

// TestSyncKernel programs a real kernel's nftables: the rules load, a
// second Sync writes nothing, a change rewrites only its service, a rule
// deleted by hand is reported and restored, and Close removes the table.
func TestSyncKernel(t *testing.T) {
	d, nft := netns(t)
	web := service("web", 80, "wrr", 0, 1, 3)
	ftp := service("ftp", 21, "sh", 300*time.Second, 1, 1)
	svcs := []datapath.Service{web, ftp}

	if n, err := d.Sync(svcs); err != nil || n != 2 {
		t.Fatalf("first Sync = %d, %v; want 2 services written", n, err)
	}
	ruleset := nft("list", "table", "inet", TableName)
	for _, want := range []string{"numgen inc mod 4 vmap @sched-web", "jhash @nh,96,32 mod 2 seed 0x68616374 vmap @sched-ftp",
		"counter name \"conns-web-rs0\" dnat ip to 192.168.0.3:80", "tcp dport 80 fib daddr type local goto svc-web", "update @persist-ftp-rs0 { @nh,96,32 }", "@nh,96,32 @persist-ftp-rs1 goto be-ftp-rs1"} {
		if !strings.Contains(ruleset, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, ruleset)
		}
	}
	if drift := d.Drift(svcs); len(drift) != 0 {
		t.Errorf("drift right after Sync: %q", drift)
	}
	stats, err := d.Stats()
	if err != nil || len(stats) != 2 || len(stats[0].Backends) != 2 || stats[0].Backends[0].Conns != 0 || stats[0].Backends[0].ActiveConns != 0 {
		t.Errorf("Stats = %+v, %v; want two services, each real server with 0 connections", stats, err)
	}
	writes := d.Writes()
	if n, err := d.Sync(svcs); err != nil || n != 0 || d.Writes() != writes {
		t.Fatalf("unchanged Sync = %d, %v, %d writes; want nothing written", n, err, d.Writes()-writes)
	}

	web.Backends[1].Weight = 1
	svcs = []datapath.Service{web, ftp}
	if n, err := d.Sync(svcs); err != nil || n != 1 {
		t.Fatalf("weight change Sync = %d, %v; want 1 service written", n, err)
	}
	if got := nft("list", "map", "inet", TableName, "sched-web"); !strings.Contains(got, "0 : goto be-web-rs0, 1 : goto be-web-rs1") {
		t.Errorf("after the weight change, map sched-web is\n%s", got)
	}

	nft("flush", "chain", "inet", TableName, "be-web-rs1")
	drift := d.Drift(svcs)
	if !slices.ContainsFunc(drift, func(s string) bool { return strings.Contains(s, "be-web-rs1") }) {
		t.Errorf("a flushed chain is not reported: %q", drift)
	}
	if n, err := d.Sync(svcs); err != nil || n != 1 {
		t.Fatalf("restoring Sync = %d, %v; want 1", n, err)
	}
	if drift := d.Drift(svcs); len(drift) != 0 {
		t.Errorf("drift after restoring: %q", drift)
	}

	if n, err := d.Sync([]datapath.Service{ftp}); err != nil || n != 1 {
		t.Fatalf("removing a service: %d, %v", n, err)
	}
	if got := nft("list", "table", "inet", TableName); strings.Contains(got, "web") {
		t.Errorf("service web left objects behind:\n%s", got)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if got := nft("list", "tables"); strings.Contains(got, TableName) {
		t.Errorf("Close left the table: %s", got)
	}
}

// TestSyncFastPath gives the datapath two interfaces: on a kernel with
// flowtables, the services' connections are labelled and offloaded to a
// flowtable on both, which drift watches; on one without, the fast path is
// off, says why, and leaves nothing behind (the probe's table included).
func TestSyncFastPath(t *testing.T) {
	d, nft := netns(t)
	if out, err := exec.Command("ip", "-n", nsName(), "link", "add", "name", "v0", "type", "veth", "peer", "name", "v1").CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v: %s", err, out)
	}
	svcs := []datapath.Service{service("web", 80, "rr", 0, 1, 1)}
	if n, err := d.Sync(svcs); err != nil || n != 1 {
		t.Fatalf("Sync = %d, %v; want 1 service written", n, err)
	}
	ruleset := nft("list", "ruleset")
	if strings.Contains(ruleset, probeTable) {
		t.Errorf("the probe left its table:\n%s", ruleset)
	}
	if drift := d.Drift(svcs); len(drift) != 0 {
		t.Errorf("drift right after Sync: %q", drift)
	}
	if d.fastErr != nil {
		t.Logf("this kernel has no fast path: %v", d.fastErr)
		if got := d.FastPath(); !strings.HasPrefix(got, "off: the kernel has no nftables flowtables") {
			t.Errorf("FastPath() = %q, want it off, saying why", got)
		}
		for _, unwanted := range []string{"flowtable", "flow add", "ct label", "chain forward"} {
			if strings.Contains(ruleset, unwanted) {
				t.Errorf("fast path off, but the ruleset has %q:\n%s", unwanted, ruleset)
			}
		}
		// As if the probe had passed: the kernel refuses the flowtable
		// in the Sync itself, and the services go without it.
		d.fastErr = nil
		svcs[0].Backends[0].Weight = 0
		if n, err := d.Sync(svcs); err != nil || n != 1 {
			t.Fatalf("Sync with the flowtable refused = %d, %v; want 1 service written without it", n, err)
		}
		if got := d.FastPath(); !strings.HasPrefix(got, "off: the kernel refused the flowtable on v0, v1: ") {
			t.Errorf("FastPath() after a refusal = %q", got)
		}
		if drift := d.Drift(svcs); len(drift) != 0 {
			t.Errorf("drift after the refusal: %q", drift)
		}
		writes := d.Writes()
		if n, err := d.Sync(svcs); err != nil || n != 0 || d.Writes() != writes {
			t.Errorf("the Sync after a refusal = %d, %v, %d writes; want nothing tried again", n, err, d.Writes()-writes)
		}
		return
	}
	if got := d.FastPath(); got != "flowtable on v0, v1" {
		t.Errorf("FastPath() = %q, want the flowtable on v0, v1", got)
	}
	for _, want := range []string{"flowtable fastpath", "devices = { v0, v1 }", "flags counter", "flow add @fastpath", "ct label set"} {
		if !strings.Contains(ruleset, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, ruleset)
		}
	}
	nft("flush", "chain", "inet", TableName, forwardChain)
	nft("delete", "flowtable", "inet", TableName, flowtableName)
	if drift := d.Drift(svcs); !slices.ContainsFunc(drift, func(s string) bool { return strings.Contains(s, "flowtable "+flowtableName) }) {
		t.Errorf("a flowtable deleted by hand is not reported: %q", drift)
	}
	if _, err := d.Sync(svcs); err != nil {
		t.Fatalf("restoring Sync: %v", err)
	}
	if drift := d.Drift(svcs); len(drift) != 0 {
		t.Errorf("drift after restoring: %q", drift)
	}
	if _, err := d.Sync(nil); err != nil {
		t.Fatalf("Sync without services: %v", err)
	}
	if got := nft("list", "ruleset"); strings.Contains(got, "flowtable") || strings.Contains(got, "chain forward") {
		t.Errorf("no service, but the fast path stays:\n%s", got)
	}
}

// TestSyncLargeService writes a service of 1,000 real servers, then one
// weight change (2,001 slots: more than one netlink attribute holds), and
// finds the kernel matching each time.
func TestSyncLargeService(t *testing.T) {
	d, nft := netns(t)
	svc := datapath.Service{Name: "big", Protocol: "tcp", Address: netip.MustParseAddr("192.168.3.181"), Port: 80, Scheduler: "wrr", Forwarding: "nat"}
	for i := range 1000 {
		svc.Backends = append(svc.Backends, datapath.Backend{Name: fmt.Sprintf("rs%04d", i),
			Address: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Port: 80, Weight: 2})
	}
	for step, change := range []func(){func() {}, func() { svc.Backends[500].Weight = 3 }} {
		change()
		start := time.Now()
		if n, err := d.Sync([]datapath.Service{svc}); err != nil || n != 1 {
			t.Fatalf("step %d: Sync = %d, %v", step, n, err)
		}
		t.Logf("step %d: Sync took %s", step, time.Since(start))
		if drift := d.Drift([]datapath.Service{svc}); len(drift) != 0 {
			t.Fatalf("step %d: drift %q", step, drift[:min(3, len(drift))])
		}
	}
	if got := strings.Count(nft("list", "map", "inet", TableName, "sched-big"), "goto be-big-rs0500"); got != 3 {
		t.Errorf("rs0500 has %d slots, want 3 (weight 3 among weights 2)", got)
	}
}

// TestSyncForgetsDepartedConnections: when a real server leaves, the
// conntrack entries of its closed connections go (a client reusing the
// port would otherwise be sent to it again), its established ones stay.
func TestSyncForgetsDepartedConnections(t *testing.T) {
	d, _ := netns(t)
	svc := service("web", 80, "rr", 0, 1, 1)
	if _, err := d.Sync([]datapath.Service{svc}); err != nil {
		t.Fatal(err)
	}
	ct, err := conntrack.Dial(&netlink.Config{NetNS: d.netns})
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	for _, f := range []conntrack.Flow{flow(40000, "192.168.0.3", 3), flow(40001, "192.168.0.3", 8), flow(40002, "192.168.0.4", 8)} {
		if err := ct.Create(f); err != nil {
			t.Fatalf("creating a conntrack entry: %v", err)
		}
	}
	svc.Backends = svc.Backends[1:] // rs0, 192.168.0.3, fails
	if _, err := d.Sync([]datapath.Service{svc}); err != nil {
		t.Fatal(err)
	}
	flows, err := ct.Dump(nil)
	if err != nil {
		t.Fatal(err)
	}
	var left []uint16
	for _, f := range flows {
		left = append(left, f.TupleOrig.Proto.SourcePort)
	}
	slices.Sort(left)
	if !slices.Equal(left, []uint16{40000, 40002}) {
		t.Errorf("connections left from client ports %v, want 40000 (established to rs0) and 40002 (to rs1)", left)
	}
}

// TestSweep: a real server that left is swept for a while, not once it is
// back.
func TestSweep(t *testing.T) {
	d := &Datapath{}
	both := service("web", 80, "rr", 0, 1, 1)
	one := both
	one.Backends = both.Backends[1:]
	now := time.Now()
	d.last = []datapath.Service{both}
	if got := d.sweep([]datapath.Service{one}, now)["web"]; len(got) != 1 || got[0].Name != "rs0" {
		t.Fatalf("right after rs0 left: sweep %v", got)
	}
	d.last = []datapath.Service{one}
	if got := d.sweep([]datapath.Service{one}, now.Add(5*time.Second))["web"]; len(got) != 1 {
		t.Fatalf("5s later: sweep %v, want rs0 still", got)
	}
	if got := d.sweep([]datapath.Service{one}, now.Add(sweepFor+time.Second)); len(got) != 0 {
		t.Fatalf("after sweepFor: sweep %v, want nothing", got)
	}
	d.last = []datapath.Service{both}
	d.sweep([]datapath.Service{one}, now)
	if got := d.sweep([]datapath.Service{both}, now.Add(time.Second)); len(got) != 0 {
		t.Fatalf("rs0 back: sweep %v, want nothing", got)
	}
}

// TestSyncFirewallMark programs a firewall-mark service: its packets are
// marked in table hactl_lvs_mark and its dispatch rule matches the mark;
// its real servers keep each packet's port. A marking rule deleted by
// hand is reported and restored, and the table goes with the service.
func TestSyncFirewallMark(t *testing.T) {
	d, nft := netns(t)
	web := service("web", 0, "rr", time.Minute, 1, 1)
	web.FWMark = 7
	web.Mark = &datapath.Mark{Addresses: []netip.Addr{netip.MustParseAddr("192.168.3.181")}, Ports: []uint16{80, 443}}
	for i := range web.Backends {
		web.Backends[i].Port = 0
	}
	svcs := []datapath.Service{web}
	if n, err := d.Sync(svcs); err != nil || n != 1 {
		t.Fatalf("first Sync = %d, %v; want 1 service written", n, err)
	}
	marks := nft("list", "table", "inet", MarkTable)
	for _, want := range []string{"type filter hook prerouting priority mangle", "ip daddr 192.168.3.181 tcp dport 80 meta mark set 0x00000007", "ip daddr 192.168.3.181 tcp dport 443 meta mark set 0x00000007"} {
		if !strings.Contains(marks, want) {
			t.Errorf("marking table lacks %q:\n%s", want, marks)
		}
	}
	lb := nft("list", "table", "inet", TableName)
	for _, want := range []string{"meta mark 0x00000007 fib daddr type local goto svc-web", "dnat ip to 192.168.0.3 comment"} {
		if !strings.Contains(lb, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, lb)
		}
	}
	if drift := d.Drift(svcs); len(drift) != 0 {
		t.Errorf("drift right after Sync: %q", drift)
	}
	writes := d.Writes()
	if n, err := d.Sync(svcs); err != nil || n != 0 || d.Writes() != writes {
		t.Fatalf("unchanged Sync = %d, %v, %d writes; want nothing written", n, err, d.Writes()-writes)
	}

	nft("flush", "chain", "inet", MarkTable, "marking")
	if drift := d.Drift(svcs); !slices.ContainsFunc(drift, func(s string) bool { return strings.Contains(s, `"web": rules marking its packets are missing`) }) {
		t.Errorf("flushed marking rules are not reported: %q", drift)
	}
	if n, err := d.Sync(svcs); err != nil || n != 1 {
		t.Fatalf("restoring Sync = %d, %v; want 1", n, err)
	}
	if drift := d.Drift(svcs); len(drift) != 0 {
		t.Errorf("drift after restoring: %q", drift)
	}

	for _, edit := range [][]string{{"delete", "chain", "inet", MarkTable, "marking"}, {"delete", "table", "inet", MarkTable}} {
		nft(edit...)
		if drift := d.Drift(svcs); len(drift) == 0 {
			t.Errorf("after nft %s: no drift", strings.Join(edit, " "))
		}
		if n, err := d.Sync(svcs); err != nil || n != 1 {
			t.Fatalf("restoring Sync after nft %s = %d, %v; want 1", strings.Join(edit, " "), n, err)
		}
		if drift := d.Drift(svcs); len(drift) != 0 {
			t.Errorf("drift after restoring: %q", drift)
		}
	}

	if n, err := d.Sync(nil); err != nil || n != 1 {
		t.Fatalf("removing the service: %d, %v", n, err)
	}
	if got := nft("list", "tables"); strings.Contains(got, MarkTable) {
		t.Errorf("the marking table outlived its service: %s", got)
	}
}
