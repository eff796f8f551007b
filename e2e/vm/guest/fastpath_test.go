package guest

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"

	"github.com/hactl/hactl/agentbin/lvs/datapath"
	"github.com/hactl/hactl/agentbin/lvs/nft"
)

// tcpEstablished is conntrack's TCP_CONNTRACK_ESTABLISHED.
const tcpEstablished = 3

// openNFT opens the nftables datapath on the host's network namespace.
func openNFT(t *testing.T, h *host) *nft.Datapath {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", int(h.ns)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	dp, err := nft.Open(f)
	if err != nil {
		t.Fatalf("%s: %v", h.name, err)
	}
	return dp
}

// vipFlow finds h's conntrack entry of the client's connection from port
// to the VIP.
func vipFlow(t *testing.T, h *host, port uint16) (conntrack.Flow, bool) {
	t.Helper()
	c, err := conntrack.Dial(&netlink.Config{NetNS: int(h.ns)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	flows, err := c.Dump(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flows {
		if f.TupleOrig.IP.DestinationAddress == netip.MustParseAddr("192.168.3.181") && f.TupleOrig.Proto.SourcePort == port {
			return f, true
		}
	}
	return conntrack.Flow{}, false
}

func backendStats(t *testing.T, dp *nft.Datapath, name string) datapath.BackendStats {
	t.Helper()
	stats, err := dp.Stats()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stats {
		for _, b := range s.Backends {
			if b.Name == name {
				return b
			}
		}
	}
	t.Fatalf("Stats has no real server %s: %+v", name, stats)
	return datapath.BackendStats{}
}

// TestNFTablesFastPath is the nftables datapath on a kernel with
// flowtables (Debian's; the CI machines' has none): an established
// connection through the VIP is offloaded to the flowtable and still
// counted (bytes, active connection), keeps its real server when that one
// is quiesced (drain), and leaves the flowtable when it closes, so that
// conntrack tracks the close as before.
func TestNFTablesFastPath(t *testing.T) {
	needGuest(t)
	n := newLVSNAT(t)
	n.takeVIPs(t, nil, n.h2g)
	// The agent sets it in its own namespace as it opens the datapath.
	n.h2g.sysctl(t, "net/netfilter/nf_conntrack_acct", "1")
	dp := openNFT(t, n.h2g)
	svcs := []datapath.Service{web("rr", 1, 1)}
	if _, err := dp.Sync(svcs); err != nil {
		t.Fatal(err)
	}
	if drift := dp.Drift(svcs); len(drift) != 0 {
		t.Errorf("drift right after Sync: %q", drift)
	}
	// The ipip module gives every namespace a tunl0 too.
	if got := dp.FastPath(); !strings.HasPrefix(got, "flowtable on eth0, eth1") {
		t.Fatalf("FastPath() = %q, want the flowtable on both interfaces", got)
	}

	k := keep(t, n.client)
	port := uint16(k.c.LocalAddr().(*net.TCPAddr).Port)
	// A connection is offloaded by a packet that passes the forward
	// chain once conntrack has seen it established both ways.
	waitFor(t, "the connection to be offloaded", func() bool {
		k.ask(t)
		f, ok := vipFlow(t, n.h2g, port)
		return ok && f.Status.Offload()
	})
	before := backendStats(t, dp, k.first)
	for range 20 {
		if got := k.ask(t); got != k.first {
			t.Fatalf("the offloaded connection answered from %s, then %s", k.first, got)
		}
	}
	after := backendStats(t, dp, k.first)
	if after.ActiveConns != 1 || after.Bytes <= before.Bytes || after.Packets <= before.Packets {
		t.Errorf("%s's stats while offloaded: %+v, then %+v; want one active connection and growing bytes and packets", k.first, before, after)
	}

	// Quiesce the connection's real server: it drains, new connections
	// go to the other.
	f400w, dgxw := 0, 1
	other := "dgx"
	if k.first == "dgx" {
		f400w, dgxw, other = 1, 0, "f400"
	}
	if _, err := dp.Sync([]datapath.Service{web("rr", f400w, dgxw)}); err != nil {
		t.Fatal(err)
	}
	if got := k.ask(t); got != k.first {
		t.Errorf("after quiescing %s, its established connection answered from %s", k.first, got)
	}
	for i, got := range gets(t, n.client, 4) {
		if got != other {
			t.Errorf("new connection %d after quiescing %s went to %s", i, k.first, got)
		}
	}

	k.c.Close()
	waitFor(t, "the closed connection to leave the flowtable", func() bool {
		f, ok := vipFlow(t, n.h2g, port)
		return !ok || (!f.Status.Offload() && f.ProtoInfo.TCP != nil && f.ProtoInfo.TCP.State != tcpEstablished)
	})
	if err := dp.Close(); err != nil {
		t.Fatal(err)
	}
}
