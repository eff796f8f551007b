package guest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	cfipvs "github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"

	"github.com/hactl/hactl/agentbin/lvs/datapath"
	"github.com/hactl/hactl/agentbin/lvs/ipvs"
)

// The guide's LVS-NAT addresses: the outside VIP clients connect to, the
// inside VIP that is the real servers' gateway.
const (
	outsideVIP = "192.168.3.181/24"
	insideVIP  = "192.168.0.181/24"
	vipPort    = "192.168.3.181:80"
)

type lvsNAT struct {
	client, h2g, c2g, f400, dgx *host
}

func newLVSNAT(t *testing.T) *lvsNAT {
	bridge(t, "outside")
	bridge(t, "inside")
	director := func(name, out, in string) *host {
		h := newHost(t, name, []link{{"outside", "eth1", []string{out}}, {"inside", "eth0", []string{in}}}, "")
		h.sysctl(t, "net/ipv4/ip_forward", "1")
		return h
	}
	n := &lvsNAT{
		client: newHost(t, "client", []link{{"outside", "eth0", []string{"192.168.3.10/24"}}}, ""),
		h2g:    director("h2g", "192.168.3.1/24", "192.168.0.1/24"),
		c2g:    director("c2g", "192.168.3.2/24", "192.168.0.2/24"),
		f400:   newHost(t, "f400", []link{{"inside", "eth0", []string{"192.168.0.3/24"}}}, "192.168.0.181"),
		dgx:    newHost(t, "dgx", []link{{"inside", "eth0", []string{"192.168.0.27/24"}}}, "192.168.0.181"),
	}
	n.f400.serveName(t)
	n.dgx.serveName(t)
	return n
}

// takeVIPs moves both VIPs to the director d, as the heartbeat role does.
func (n *lvsNAT) takeVIPs(t *testing.T, from, to *host) {
	if from != nil {
		from.delAddr(t, "eth1", outsideVIP)
		from.delAddr(t, "eth0", insideVIP)
	}
	to.addAddr(t, "eth1", outsideVIP)
	to.addAddr(t, "eth0", insideVIP)
	for _, h := range []*host{n.client, n.f400, n.dgx} {
		h.flushNeighbours(t)
	}
}

func openDatapath(t *testing.T, h *host) *ipvs.Datapath {
	t.Helper()
	var dp *ipvs.Datapath
	err := inNS(h.ns, func() (err error) {
		dp, err = ipvs.Open(ipvs.Options{StatePath: "/run/" + h.name + "-ipvs.json", SyncInterface: "eth0", SyncID: 181})
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", h.name, err)
	}
	return dp
}

func realServer(name, addr string, weight int) datapath.Backend {
	return datapath.Backend{Name: name, Address: netip.MustParseAddr(addr), Port: 80, Weight: weight}
}

func web(sched string, f400w, dgxw int) datapath.Service {
	s := datapath.Service{Name: "web", Protocol: "tcp", Address: netip.MustParseAddr("192.168.3.181"), Port: 80, Scheduler: sched, Forwarding: "nat"}
	if f400w >= 0 {
		s.Backends = append(s.Backends, realServer("f400", "192.168.0.3", f400w))
	}
	if dgxw >= 0 {
		s.Backends = append(s.Backends, realServer("dgx", "192.168.0.27", dgxw))
	}
	return s
}

// get sends one request on a connection of its own and returns who
// answered.
func get(t *testing.T, client *host) string {
	t.Helper()
	return getFrom(t, client, vipPort)
}

func getFrom(t *testing.T, client *host, addr string) string {
	t.Helper()
	c, err := client.dial(addr)
	if err != nil {
		t.Fatalf("connecting to the VIP: %v", err)
	}
	defer c.Close()
	return request(t, c, bufio.NewReader(c), true)
}

func request(t *testing.T, c net.Conn, r *bufio.Reader, closing bool) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	conn := "keep-alive"
	if closing {
		conn = "close"
	}
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: web\r\nConnection: %s\r\n\r\n", conn); err != nil {
		t.Fatalf("sending a request: %v", err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return string(body)
}

// kept is a keep-alive connection to the VIP.
type kept struct {
	c     net.Conn
	r     *bufio.Reader
	first string // the real server that answered its first requests
}

// keep opens a connection to the VIP and asks on it four times, failing
// when another real server answers than the first.
func keep(t *testing.T, client *host) *kept {
	t.Helper()
	c, err := client.dial(vipPort)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	k := &kept{c: c, r: bufio.NewReader(c)}
	k.first = k.ask(t)
	for range 3 {
		if again := k.ask(t); again != k.first {
			t.Fatalf("answers %s then %s on one connection", k.first, again)
		}
	}
	return k
}

// ask sends a request on the connection and returns who answered.
func (k *kept) ask(t *testing.T) string {
	t.Helper()
	return request(t, k.c, k.r, false)
}

func gets(t *testing.T, client *host, n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, get(t, client))
	}
	return out
}

func count(answers []string, name string) int {
	n := 0
	for _, a := range answers {
		if a == name {
			n++
		}
	}
	return n
}

func mustSync(t *testing.T, dp *ipvs.Datapath, services ...datapath.Service) int {
	t.Helper()
	changed, err := dp.Sync(services)
	if err != nil {
		t.Fatal(err)
	}
	if drift := dp.Drift(services); len(drift) != 0 {
		t.Fatalf("drift right after Sync: %q", drift)
	}
	return changed
}

// TestLVSNAT is the guide's LVS-NAT director pair on the IPVS datapath,
// against the kernel's ip_vs.
func TestLVSNAT(t *testing.T) {
	needGuest(t)
	n := newLVSNAT(t)
	n.takeVIPs(t, nil, n.h2g)
	dp := openDatapath(t, n.h2g)

	// A service made by hand (ipvsadm, keepalived) that hactl must leave
	// alone through every Sync.
	other := cfipvs.Service{Address: netip.MustParseAddr("192.168.3.181"), Port: 8080, Protocol: cfipvs.TCP, Family: cfipvs.INET, Scheduler: "rr", Netmask: mask32}
	var raw cfipvs.Client
	if err := inNS(n.h2g.ns, func() (err error) {
		if raw, err = cfipvs.New(); err == nil {
			err = raw.CreateService(other)
		}
		return err
	}); err != nil {
		t.Fatalf("making an unrelated service by hand: %v", err)
	}

	t.Run("rr alternates", func(t *testing.T) {
		if c := mustSync(t, dp, web("rr", 1, 1)); c != 1 {
			t.Errorf("changed = %d, want 1", c)
		}
		a := gets(t, n.client, 6)
		for i := 1; i < len(a); i++ {
			if a[i] == a[i-1] || (a[i] != "f400" && a[i] != "dgx") {
				t.Fatalf("answers %q do not alternate between f400 and dgx", a)
			}
		}
	})
	t.Run("wrr 1:3", func(t *testing.T) {
		mustSync(t, dp, web("wrr", 1, 3))
		a := gets(t, n.client, 40)
		if f := count(a, "f400"); f < 7 || f > 13 || count(a, "dgx") != 40-f {
			t.Fatalf("f400 answered %d of 40 (want 10±3, the rest dgx): %q", f, a)
		}
	})
	t.Run("sh keeps a client on one server", func(t *testing.T) {
		mustSync(t, dp, web("sh", 1, 1))
		a := gets(t, n.client, 10)
		if count(a, a[0]) != 10 {
			t.Fatalf("answers %q: not all from one server", a)
		}
	})
	t.Run("persistence keeps a client on one server under rr", func(t *testing.T) {
		s := web("rr", 1, 1)
		s.Persistence, s.PersistMask = time.Minute, 24
		mustSync(t, dp, s)
		a := gets(t, n.client, 6)
		if count(a, a[0]) != 6 {
			t.Fatalf("answers %q: not all from one server", a)
		}
	})
	t.Run("every other scheduler forwards", func(t *testing.T) {
		for _, sched := range []string{"lc", "wlc", "lblc", "lblcr", "dh", "sed", "nq", "mh"} {
			if c := mustSync(t, dp, web(sched, 1, 1)); c != 1 {
				t.Errorf("%s: changed = %d, want 1", sched, c)
			}
			for _, a := range gets(t, n.client, 3) {
				if a != "f400" && a != "dgx" {
					t.Fatalf("%s: answer %q", sched, a)
				}
			}
		}
	})
	t.Run("a firewall-mark service takes the packets hactl marks", func(t *testing.T) {
		s := web("rr", 1, 1)
		s.Port, s.FWMark = 0, 3
		s.Mark = &datapath.Mark{Addresses: []netip.Addr{s.Address}, Ports: []uint16{80}}
		for i := range s.Backends {
			s.Backends[i].Port = 0 // each connection on its own port
		}
		if c := mustSync(t, dp, s); c != 2 {
			t.Errorf("changed = %d, want 2 (web on port 80 removed, web by mark made)", c)
		}
		a := gets(t, n.client, 6)
		for i := 1; i < len(a); i++ {
			if a[i] == a[i-1] || (a[i] != "f400" && a[i] != "dgx") {
				t.Fatalf("answers %q do not alternate between f400 and dgx", a)
			}
		}
		if c := mustSync(t, dp, s); c != 0 {
			t.Errorf("a Sync with nothing changed: changed = %d, want 0", c)
		}
	})
	t.Run("a failed real server is removed and gets nothing", func(t *testing.T) {
		mustSync(t, dp, web("rr", 1, 1))
		mustSync(t, dp, web("rr", -1, 1))
		if a := gets(t, n.client, 6); count(a, "dgx") != 6 {
			t.Fatalf("answers %q: f400 still answers", a)
		}
	})
	t.Run("a weight change drops no connection", func(t *testing.T) {
		mustSync(t, dp, web("wrr", 1, 1))
		k := keep(t, n.client)
		first := k.first
		if c := mustSync(t, dp, web("wrr", 5, 2)); c != 1 {
			t.Errorf("changed = %d, want 1", c)
		}
		if c := mustSync(t, dp, web("wrr", 5, 2)); c != 0 {
			t.Errorf("a Sync with nothing changed: changed = %d, want 0", c)
		}
		if again := k.ask(t); again != first {
			t.Fatalf("the long-lived connection went to %s, then %s", first, again)
		}
		// IPVS sums its counters every 2 s (the rate estimator).
		var st []datapath.ServiceStats
		shows := func() bool {
			var err error
			if st, err = dp.Stats(); err != nil {
				t.Fatal(err)
			}
			for _, s := range st {
				for _, b := range s.Backends {
					if b.Name == first {
						return b.ActiveConns >= 1 && b.Bytes > 0 && b.Conns >= 1
					}
				}
			}
			return false
		}
		if !eventually(shows) {
			t.Errorf("stats %+v do not show %s's open connection and bytes", st, first)
		}
	})
	t.Run("the service made by hand is untouched", func(t *testing.T) {
		if _, err := raw.Service(other); err != nil {
			t.Fatalf("the unrelated service is gone: %v", err)
		}
	})
	t.Run("an established connection survives a director failover (sync daemon)", func(t *testing.T) {
		standby := openDatapath(t, n.c2g)
		if err := standby.SetMaster(false); err != nil {
			t.Fatal(err)
		}
		if err := dp.SetMaster(true); err != nil {
			t.Fatal(err)
		}
		svc := web("rr", 1, 1)
		mustSync(t, dp, svc)
		k := keep(t, n.client)
		first := k.first
		// The master sends a connection after a few packets; wait until
		// the backup has it.
		deadline := time.Now().Add(30 * time.Second)
		for !hasConn(t, n.c2g, "192.168.3.10") {
			if time.Now().After(deadline) {
				t.Fatal("the standby's IPVS never received the connection from the sync daemon")
			}
			time.Sleep(100 * time.Millisecond)
		}
		n.takeVIPs(t, n.h2g, n.c2g)
		if err := standby.SetMaster(true); err != nil {
			t.Fatal(err)
		}
		mustSync(t, standby, svc)
		if again := k.ask(t); again != first {
			t.Fatalf("after the failover the connection went to %s, before to %s", again, first)
		}
		if a := get(t, n.client); a != "f400" && a != "dgx" {
			t.Fatalf("a new connection after the failover: %q", a)
		}
		if err := standby.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := dp.Close(); err != nil {
		t.Error(err)
	}
	if _, err := raw.Service(other); err != nil {
		t.Errorf("Close removed the unrelated service: %v", err)
	}
}

// hasConn says whether the host's IPVS connection table has a connection
// from the client address.
func hasConn(t *testing.T, h *host, client string) bool {
	t.Helper()
	var data []byte
	if err := inNS(h.ns, func() (err error) { data, err = os.ReadFile("/proc/thread-self/net/ip_vs_conn"); return err }); err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr(client).As4()
	return strings.Contains(strings.ToUpper(string(data)), fmt.Sprintf("%02X%02X%02X%02X", ip[0], ip[1], ip[2], ip[3]))
}

var mask32 = netmask.MaskFrom4([4]byte{255, 255, 255, 255})
