package ipvs

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/ipvs"

	"github.com/hactl/hactl/agentbin/lvs/datapath"
)

var vip = netip.MustParseAddr("192.168.3.181")

func be(name, addr string, weight int) datapath.Backend {
	return datapath.Backend{Name: name, Address: netip.MustParseAddr(addr), Port: 80, Weight: weight}
}

// web is the guide's LVS-NAT service with its two real servers.
func web(sched string, backends ...datapath.Backend) datapath.Service {
	return datapath.Service{Name: "web", Protocol: "tcp", Address: vip, Port: 80, Scheduler: sched, Forwarding: "nat", Backends: backends}
}

func ftp(backends ...datapath.Backend) datapath.Service {
	return datapath.Service{Name: "ftp", Protocol: "tcp", Address: vip, Port: 21, Scheduler: "rr", Forwarding: "nat", Backends: backends}
}

var (
	f400 = be("f400", "192.168.0.3", 1)
	dgx  = be("dgx", "192.168.0.27", 1)
)

func weighted(b datapath.Backend, w int) datapath.Backend { b.Weight = w; return b }

func newTestDatapath(t *testing.T, k kernel) (*Datapath, *fakeDaemons) {
	t.Helper()
	sd := &fakeDaemons{}
	d, err := newDatapath(k, sd, routesVia("eth0"), Options{StatePath: filepath.Join(t.TempDir(), "ipvs.json")})
	if err != nil {
		t.Fatal(err)
	}
	return d, sd
}

const host32 = "255.255.255.255"

func TestSyncSendsOnlyWhatDiffers(t *testing.T) {
	persistent := web("rr", f400, dgx)
	persistent.Persistence, persistent.PersistMask = 300*time.Second, 24
	dr := web("wlc", f400, dgx)
	dr.Forwarding = "dr"
	f400tls := f400
	f400tls.Port = 443
	tun := web("sh", f400tls)
	tun.Name, tun.Port, tun.Forwarding = "tls", 443, "tunnel"
	unrelated := ipvs.Service{Address: netip.MustParseAddr("10.9.9.9"), Port: 80, Protocol: ipvs.TCP, Family: ipvs.INET, Scheduler: "rr"}
	tests := []struct {
		name    string
		before  []datapath.Service
		hand    func(k *fakeKernel)
		sync    []datapath.Service
		want    []string
		changed int
	}{
		{
			name: "empty kernel: the service, then its real servers, are created",
			sync: []datapath.Service{web("rr", f400, dgx)},
			want: []string{
				"create-service tcp 192.168.3.181:80 rr flags=0x0 timeout=0 mask=" + host32,
				"create-dest tcp 192.168.3.181:80 192.168.0.3:80 Masquerade w=1",
				"create-dest tcp 192.168.3.181:80 192.168.0.27:80 Masquerade w=1",
			},
			changed: 1,
		},
		{
			name:   "nothing differs: no command at all",
			before: []datapath.Service{web("rr", f400, dgx), ftp(f400)},
			sync:   []datapath.Service{web("rr", f400, dgx), ftp(f400)},
		},
		{
			name:    "a weight change edits that destination in place, nothing else",
			before:  []datapath.Service{web("wrr", f400, dgx), ftp(f400)},
			sync:    []datapath.Service{web("wrr", f400, weighted(dgx, 3)), ftp(f400)},
			want:    []string{"update-dest tcp 192.168.3.181:80 192.168.0.27:80 Masquerade w=3"},
			changed: 1,
		},
		{
			name:    "quiescent: weight 0 is an edit, not a removal",
			before:  []datapath.Service{web("rr", f400, dgx)},
			sync:    []datapath.Service{web("rr", weighted(f400, 0), dgx)},
			want:    []string{"update-dest tcp 192.168.3.181:80 192.168.0.3:80 Masquerade w=0"},
			changed: 1,
		},
		{
			name:    "a real server added is created alone",
			before:  []datapath.Service{web("rr", f400)},
			sync:    []datapath.Service{web("rr", f400, dgx)},
			want:    []string{"create-dest tcp 192.168.3.181:80 192.168.0.27:80 Masquerade w=1"},
			changed: 1,
		},
		{
			name:    "a failed real server is removed alone",
			before:  []datapath.Service{web("rr", f400, dgx)},
			sync:    []datapath.Service{web("rr", dgx)},
			want:    []string{"remove-dest tcp 192.168.3.181:80 192.168.0.3:80"},
			changed: 1,
		},
		{
			name:   "the sorry server replaces the last one: created before the other is removed",
			before: []datapath.Service{web("rr", f400)},
			sync:   []datapath.Service{web("rr", be(datapath.SorryName, "192.168.0.99", 1))},
			want: []string{
				"create-dest tcp 192.168.3.181:80 192.168.0.99:80 Masquerade w=1",
				"remove-dest tcp 192.168.3.181:80 192.168.0.3:80",
			},
			changed: 1,
		},
		{
			name:    "a scheduler change updates the service in place, its real servers untouched",
			before:  []datapath.Service{web("rr", f400, dgx)},
			sync:    []datapath.Service{web("lblcr", f400, dgx)},
			want:    []string{"update-service tcp 192.168.3.181:80 lblcr flags=0x0 timeout=0 mask=" + host32},
			changed: 1,
		},
		{
			name:    "persistence: flag, timeout and netmask",
			before:  []datapath.Service{web("rr", f400, dgx)},
			sync:    []datapath.Service{persistent},
			want:    []string{"update-service tcp 192.168.3.181:80 rr flags=0x1 timeout=300 mask=255.255.255.0"},
			changed: 1,
		},
		{
			name: "direct routing keeps the virtual port; tunnels are IPIP",
			sync: []datapath.Service{dr, tun},
			want: []string{
				"create-service tcp 192.168.3.181:80 wlc flags=0x0 timeout=0 mask=" + host32,
				"create-dest tcp 192.168.3.181:80 192.168.0.3:80 DirectRoute w=1",
				"create-dest tcp 192.168.3.181:80 192.168.0.27:80 DirectRoute w=1",
				"create-service tcp 192.168.3.181:443 sh flags=0x0 timeout=0 mask=" + host32,
				"create-dest tcp 192.168.3.181:443 192.168.0.3:443 Tunnel w=1",
			},
			changed: 2,
		},
		{
			name:    "a service that left the spec is removed, the other untouched",
			before:  []datapath.Service{web("rr", f400, dgx), ftp(f400)},
			sync:    []datapath.Service{web("rr", f400, dgx)},
			want:    []string{"remove-service tcp 192.168.3.181:21"},
			changed: 1,
		},
		{
			name:   "a service made by someone else is never touched",
			before: []datapath.Service{web("rr", f400)},
			hand: func(k *fakeKernel) {
				k.svcs[serviceKey(unrelated)] = &fakeService{svc: unrelated}
			},
			sync:    nil,
			want:    []string{"remove-service tcp 192.168.3.181:80"},
			changed: 1,
		},
		{
			name:   "a real server removed by hand is restored, a weight changed by hand reset",
			before: []datapath.Service{web("wrr", f400, weighted(dgx, 3))},
			hand: func(k *fakeKernel) {
				s := k.svcs["tcp 192.168.3.181:80"]
				s.dests = s.dests[1:]
				s.dests[0].Weight = 7
			},
			sync: []datapath.Service{web("wrr", f400, weighted(dgx, 3))},
			want: []string{
				"create-dest tcp 192.168.3.181:80 192.168.0.3:80 Masquerade w=1",
				"update-dest tcp 192.168.3.181:80 192.168.0.27:80 Masquerade w=3",
			},
			changed: 1,
		},
		{
			name:   "a real server added by hand is removed",
			before: []datapath.Service{web("rr", f400)},
			hand: func(k *fakeKernel) {
				s := k.svcs["tcp 192.168.3.181:80"]
				s.dests = append(s.dests, ipvs.DestinationExtended{Destination: ipvs.Destination{Address: netip.MustParseAddr("192.168.0.50"), Port: 80, Family: ipvs.INET, Weight: 1}})
			},
			sync:    []datapath.Service{web("rr", f400)},
			want:    []string{"remove-dest tcp 192.168.3.181:80 192.168.0.50:80"},
			changed: 1,
		},
		{
			name:    "an empty list of real servers keeps the service with none",
			before:  []datapath.Service{web("rr", f400, dgx)},
			sync:    []datapath.Service{web("rr")},
			want:    []string{"remove-dest tcp 192.168.3.181:80 192.168.0.3:80", "remove-dest tcp 192.168.3.181:80 192.168.0.27:80"},
			changed: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newFakeKernel()
			d, _ := newTestDatapath(t, k)
			if _, err := d.Sync(tt.before); err != nil {
				t.Fatal(err)
			}
			if tt.hand != nil {
				tt.hand(k)
			}
			k.calls = nil
			changed, err := d.Sync(tt.sync)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(k.calls, tt.want) {
				t.Errorf("commands:\n  %s\nwant:\n  %s", strings.Join(k.calls, "\n  "), strings.Join(tt.want, "\n  "))
			}
			if changed != tt.changed {
				t.Errorf("changed = %d, want %d", changed, tt.changed)
			}
			// The kernel matches now: a second Sync sends nothing, and
			// drift sees nothing.
			k.calls = nil
			if changed, err := d.Sync(tt.sync); err != nil || changed != 0 || len(k.calls) != 0 {
				t.Errorf("second Sync: changed %d, err %v, commands %q; want none", changed, err, k.calls)
			}
			if drift := d.Drift(tt.sync); len(drift) != 0 {
				t.Errorf("drift after Sync: %q", drift)
			}
		})
	}
}

func TestDriftSaysWhatDiffersAndChangesNothing(t *testing.T) {
	k := newFakeKernel()
	d, _ := newTestDatapath(t, k)
	if _, err := d.Sync([]datapath.Service{web("wrr", f400, dgx), ftp(f400)}); err != nil {
		t.Fatal(err)
	}
	k.svcs["tcp 192.168.3.181:80"].dests[1].Weight = 5
	delete(k.svcs, "tcp 192.168.3.181:21")
	k.calls = nil
	got := d.Drift([]datapath.Service{web("wrr", f400, dgx), ftp(f400)})
	want := []string{
		"real server dgx (192.168.0.27:80) of web has weight 5 in IPVS, the spec says 1",
		"virtual service ftp (tcp 192.168.3.181:21) is missing from IPVS",
		"real server f400 (192.168.0.3:80) of ftp is missing from IPVS",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("drift:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if len(k.calls) != 0 {
		t.Errorf("Drift sent %q", k.calls)
	}
}

func TestSyncFailureNamesTheChange(t *testing.T) {
	k := newFakeKernel()
	d, _ := newTestDatapath(t, k)
	k.fail = "create-dest tcp 192.168.3.181:80 192.168.0.27:80 Masquerade w=1"
	_, err := d.Sync([]datapath.Service{web("rr", f400, dgx)})
	if err == nil || !strings.Contains(err.Error(), "real server dgx (192.168.0.27:80) of web is missing from IPVS: injected failure") {
		t.Fatalf("err = %v", err)
	}
	// The half-made service is ours: the next Sync completes it.
	k.fail, k.calls = "", nil
	if _, err := d.Sync([]datapath.Service{web("rr", f400, dgx)}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"create-dest tcp 192.168.3.181:80 192.168.0.27:80 Masquerade w=1"}; !reflect.DeepEqual(k.calls, want) {
		t.Errorf("commands %q, want %q", k.calls, want)
	}
}

func TestOwnedServicesSurviveReopening(t *testing.T) {
	k := newFakeKernel()
	state := filepath.Join(t.TempDir(), "run", "ipvs.json")
	d, err := newDatapath(k, &fakeDaemons{}, routesVia("eth0"), Options{StatePath: state})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Sync([]datapath.Service{web("rr", f400), ftp(f400)}); err != nil {
		t.Fatal(err)
	}
	// The agent restarts with ftp gone from the spec: the new datapath
	// knows ftp was its own.
	d2, err := newDatapath(k, &fakeDaemons{}, routesVia("eth0"), Options{StatePath: state})
	if err != nil {
		t.Fatal(err)
	}
	k.calls = nil
	if _, err := d2.Sync([]datapath.Service{web("rr", f400)}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"remove-service tcp 192.168.3.181:21"}; !reflect.DeepEqual(k.calls, want) {
		t.Errorf("commands %q, want %q", k.calls, want)
	}
}

func TestCloseRemovesOnlyOurServices(t *testing.T) {
	k := newFakeKernel()
	d, sd := newTestDatapath(t, k)
	if _, err := d.Sync([]datapath.Service{web("rr", f400), ftp(f400)}); err != nil {
		t.Fatal(err)
	}
	other := ipvs.Service{Address: netip.MustParseAddr("10.9.9.9"), Port: 80, Protocol: ipvs.TCP, Family: ipvs.INET, Scheduler: "rr"}
	k.svcs[serviceKey(other)] = &fakeService{svc: other}
	if err := d.SetMaster(true); err != nil {
		t.Fatal(err)
	}
	k.calls = nil
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"remove-service tcp 192.168.3.181:21", "remove-service tcp 192.168.3.181:80"}; !reflect.DeepEqual(k.calls, want) {
		t.Errorf("commands %q, want %q", k.calls, want)
	}
	if _, ok := k.svcs[serviceKey(other)]; !ok || len(sd.running) != 0 {
		t.Errorf("after Close: unrelated service kept %v, daemons %v", ok, sd.running)
	}
}

func TestStatsNameRealServers(t *testing.T) {
	k := newFakeKernel()
	d, _ := newTestDatapath(t, k)
	if _, err := d.Sync([]datapath.Service{web("rr", f400, dgx)}); err != nil {
		t.Fatal(err)
	}
	s := k.svcs["tcp 192.168.3.181:80"]
	s.dests[0].ActiveConnections = 4
	s.dests[0].Stats64 = ipvs.Stats{Connections: 9, IncomingBytes: 100, OutgoingBytes: 2000, IncomingPackets: 3, OutgoingPackets: 4}
	got, err := d.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := []datapath.ServiceStats{{Name: "web", Backends: []datapath.BackendStats{
		{Name: "f400", ActiveConns: 4, Conns: 9, Bytes: 2100, Packets: 7},
		{Name: "dgx", ActiveConns: 1},
	}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

func TestSetMasterSwitchesDaemons(t *testing.T) {
	tests := []struct {
		name    string
		running []daemon
		master  bool
		want    []string
	}{
		{name: "nothing running: master started", master: true, want: []string{"start master eth0 id=0"}},
		{name: "nothing running: backup started", master: false, want: []string{"start backup eth0 id=0"}},
		{name: "backup running, becomes master: backup stopped first", running: []daemon{{stateBackup, "eth0", 0}}, master: true,
			want: []string{"stop backup", "start master eth0 id=0"}},
		{name: "already master: nothing sent", running: []daemon{{stateMaster, "eth0", 0}}, master: true},
		{name: "master on another interface: restarted", running: []daemon{{stateMaster, "eth1", 0}}, master: true,
			want: []string{"stop master", "start master eth0 id=0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, sd := newTestDatapath(t, newFakeKernel())
			if _, err := d.Sync([]datapath.Service{web("rr", f400)}); err != nil {
				t.Fatal(err)
			}
			sd.running = tt.running
			if err := d.SetMaster(tt.master); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(sd.calls, tt.want) {
				t.Errorf("daemon commands %q, want %q", sd.calls, tt.want)
			}
		})
	}
}

func TestSetMasterWaitsForAnInterface(t *testing.T) {
	d, sd := newTestDatapath(t, newFakeKernel())
	if err := d.SetMaster(false); err != nil {
		t.Fatal(err)
	}
	want := []string{"the IPVS backup sync daemon is not running: no interface for the IPVS sync daemon yet: none is configured and no real server is known to route to"}
	if drift := d.Drift(nil); !reflect.DeepEqual(drift, want) || len(sd.calls) != 0 {
		t.Fatalf("before any real server: drift %q, daemon commands %q", drift, sd.calls)
	}
	if _, err := d.Sync([]datapath.Service{web("rr", f400)}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"start backup eth0 id=0"}; !reflect.DeepEqual(sd.calls, want) {
		t.Errorf("daemon commands %q, want %q", sd.calls, want)
	}
	if drift := d.Drift([]datapath.Service{web("rr", f400)}); len(drift) != 0 {
		t.Errorf("drift once the daemon runs: %q", drift)
	}
}

func TestCapableRefusesMalformedServices(t *testing.T) {
	badSched := web("fo", f400)
	drPort := web("rr", datapath.Backend{Name: "x", Address: netip.MustParseAddr("192.168.0.3"), Port: 8080, Weight: 1})
	drPort.Forwarding = "dr"
	mixed := web("rr", be("v6", "2001:db8::1", 1))
	mask := web("rr", f400)
	mask.Persistence, mask.PersistMask = time.Minute, 33
	dup := web("rr", f400, be("again", "192.168.0.3", 1))
	tests := []struct {
		svc  datapath.Service
		want string
	}{
		{web("rr", f400), ""},
		{badSched, `IPVS has no scheduler "fo"`},
		{drPort, "dr forwarding cannot change the port 80 (use nat)"},
		{mixed, "only tunnels can mix IPv4 and IPv6"},
		{mask, "persistence mask /33 is not between /1 and /32"},
		{dup, "real servers f400 and again are both 192.168.0.3:80"},
	}
	for _, tt := range tests {
		err := capable(tt.svc)
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("capable(%+v) = %v, want %q", tt.svc, err, tt.want)
		}
	}
	for _, s := range Schedulers {
		if err := capable(web(s, f400)); err != nil {
			t.Errorf("scheduler %s refused: %v", s, err)
		}
	}
}

// TestDiffFirewallMarkServices: a firewall-mark service (ipvsadm -f) is
// found by its mark, whatever its address; the role cannot ask for one
// yet (datapath.Service has no mark), the kernel side is ready.
func TestDiffFirewallMarkServices(t *testing.T) {
	marked := ipvs.Service{FWMark: 7, Family: ipvs.INET, Scheduler: "wlc"}
	dest := ipvs.Destination{Address: netip.MustParseAddr("192.168.0.3"), Port: 80, Family: ipvs.INET, Weight: 2}
	want := []virtual{{name: "marked", svc: marked, dests: []real{{name: "f400", dest: dest}}}}
	rr := marked
	rr.Scheduler = "rr"
	tests := []struct {
		name string
		cur  map[string]current
		want []string
	}{
		{"missing: created by mark", map[string]current{}, []string{"create-service fwmark 7 INET", "create-dest fwmark 7 INET 192.168.0.3:80"}},
		{"matches: nothing", map[string]current{"fwmark 7 INET": {svc: marked, dests: []ipvs.DestinationExtended{{Destination: dest}}}}, nil},
		{"scheduler differs: updated by mark", map[string]current{"fwmark 7 INET": {svc: rr, dests: []ipvs.DestinationExtended{{Destination: dest}}}}, []string{"update-service fwmark 7 INET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, o := range diff(want, tt.cur, nil) {
				rec := fmt.Sprintf("%s %s", o.kind, serviceKey(o.svc))
				if o.kind == createDest {
					rec += " " + destKey(o.dest)
				}
				got = append(got, rec)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ops %q, want %q", got, tt.want)
			}
		})
	}
}
