package lvs

import (
	"context"
	"io"
	"log"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/health"
	"github.com/hactl/hactl/agentbin/lvs/datapath"
	_ "github.com/hactl/hactl/agentbin/lvs/nft"
	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/spec"
)

func TestMaskBits(t *testing.T) {
	for _, tc := range []struct {
		mask string
		v4   bool
		want int
	}{
		{"255.255.255.255", true, 32},
		{"255.255.255.0", true, 24},
		{"", true, 32},
		{"", false, 128},
		{"ffff:ffff:ffff:ffff::", false, 64},
	} {
		if got := maskBits(tc.mask, tc.v4); got != tc.want {
			t.Errorf("maskBits(%q) = %d, want %d", tc.mask, got, tc.want)
		}
	}
}

// listener is a real server on loopback; closing it makes it fail its
// checks.
func listener(t *testing.T) (net.Listener, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l, l.Addr().(*net.TCPAddr).Port
}

// TestWant checks real TCP servers on loopback and computes what the
// datapath must forward: the servers that are up; a down one removed, or
// at weight 0 when the service is quiescent; the sorry server when none
// is up.
func TestWant(t *testing.T) {
	for _, tc := range []struct {
		name      string
		quiescent bool
		sorry     string
		down      []int // indexes of the servers to stop
		want      string
	}{
		{"all up", false, "", nil, "a:1 b:3"},
		{"one down, removed", false, "", []int{0}, "b:3"},
		{"one down, quiescent", true, "", []int{0}, "a:0 b:3"},
		{"all down, sorry server", true, "127.0.0.1:8080", []int{0, 1}, "sorry_server:1"},
		{"all down, no sorry server", false, "", []int{0, 1}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			la, pa := listener(t)
			lb, pb := listener(t)
			vs := spec.VirtualService{Name: "web", Address: "127.0.0.1", Protocol: "tcp", Port: 80, Scheduler: "wrr", Forwarding: "nat",
				Datapath: "nftables", Quiescent: tc.quiescent, SorryServer: tc.sorry,
				HealthCheck: &spec.HealthCheck{Type: "tcp", IntervalMS: 20, TimeoutMS: 100, Rise: 1, Fall: 1},
				RealServers: []spec.RealServer{{Name: "a", Address: "127.0.0.1", Port: pa, Weight: 1}, {Name: "b", Address: "127.0.0.1", Port: pb, Weight: 3}}}
			svc, err := newService(vs, "directors")
			if err != nil {
				t.Fatal(err)
			}
			for _, i := range tc.down {
				[]net.Listener{la, lb}[i].Close()
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			defer wg.Wait()
			defer cancel()
			if err := svc.watch(ctx, &wg, func(health.Transition) {}); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			var got string
			for time.Now().Before(deadline) {
				if got = backends(svc.want()); got == tc.want && settled(svc) {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Errorf("want() = %q, want %q", got, tc.want)
		})
	}
}

func settled(svc *service) bool {
	for _, st := range svc.checker.Snapshot() {
		if st.State == health.Unknown {
			return false
		}
	}
	return true
}

func backends(s datapath.Service) string {
	var out []string
	for _, b := range s.Backends {
		out = append(out, b.Name+":"+strconv.Itoa(b.Weight))
	}
	return strings.Join(out, " ")
}

// TestNewRefusesWhatTheDatapathCannotDo: a least-connection service on the
// nftables datapath is refused, not approximated.
func TestNewRefusesWhatTheDatapathCannotDo(t *testing.T) {
	s := &spec.Spec{VirtualServices: []spec.VirtualService{{Name: "web", Address: "192.168.3.181", Protocol: "tcp", Port: 80,
		Scheduler: "wlc", Forwarding: "nat", Datapath: "nftables"}}}
	_, err := Kind{}.New(s, roleEnv())
	if err == nil || !strings.Contains(err.Error(), `no "wlc" scheduler`) {
		t.Fatalf("New = %v, want a refusal of wlc", err)
	}
}

func TestResolve(t *testing.T) {
	k, why, err := Resolve("auto")
	if err != nil {
		t.Fatal(err)
	}
	if _, ipvs := datapath.Lookup("ipvs"); !ipvs && (k.Name != "nftables" || !strings.Contains(why, "no IPVS datapath")) {
		t.Errorf("auto without an IPVS datapath = %s (%s), want nftables", k.Name, why)
	}
	if _, _, err := Resolve("nosuch"); err == nil || !strings.Contains(err.Error(), "nftables") {
		t.Errorf("an unknown datapath: %v, want an error naming the datapaths there are", err)
	}

}

func roleEnv() role.Env { return role.Env{Logger: log.New(io.Discard, "", 0)} }

// TestRestoresInDrift: the hand edits restored within restoredWindow stay
// in the drift report, newest first, with when; older ones drop out.
func TestRestoresInDrift(t *testing.T) {
	now := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	old := restore{at: now.Add(-restoredWindow - time.Second), datapath: "nftables", what: []string{"chain svc-web is missing"}}
	a := restore{at: now.Add(-5 * time.Minute), datapath: "nftables", what: []string{`virtual service "web": the rules of chain svc-web were changed`}}
	b := restore{at: now.Add(-3 * time.Second), datapath: "ipvs", what: []string{"real server f400 has weight 5 in IPVS, the spec says 1", "x"}}
	for _, tc := range []struct {
		name string
		rs   []restore
		want []string
	}{
		{"none", nil, nil},
		{"an old one is forgotten", []restore{old}, nil},
		{"recent ones, newest first", []restore{old, a, b}, []string{
			"lvs (ipvs): rules changed by hand were restored 3s ago (04:59:57 UTC): real server f400 has weight 5 in IPVS, the spec says 1; x",
			`lvs (nftables): rules changed by hand were restored 5m0s ago (04:55:00 UTC): virtual service "web": the rules of chain svc-web were changed`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := restoredSentences(recent(tc.rs, now), now)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestFirewallMarkService: a firewall-mark service's mark reaches the
// datapath, and its real servers without a port are checked on the first
// marked port.
func TestFirewallMarkService(t *testing.T) {
	vs := spec.VirtualService{Name: "web", Address: "192.168.3.181", Protocol: "tcp", FWMark: 3, Scheduler: "rr", Forwarding: "nat", Datapath: "nftables",
		Mark:        &spec.Mark{Addresses: []string{"192.168.3.181"}, Ports: []int{80, 443}},
		RealServers: []spec.RealServer{{Name: "a", Address: "192.168.0.3", Weight: 1}}}
	svc, err := newService(vs, "directors")
	if err != nil {
		t.Fatal(err)
	}
	if svc.base.FWMark != 3 || svc.base.Key() != "fwmark 3" || svc.base.Mark == nil || len(svc.base.Mark.Ports) != 2 || svc.base.Mark.Addresses[0].String() != "192.168.3.181" {
		t.Errorf("datapath service = %+v (mark %+v)", svc.base, svc.base.Mark)
	}
	if got := targets(vs); len(got) != 1 || got[0].Port != 80 {
		t.Errorf("targets = %+v, want the real server checked on port 80", got)
	}
}
