package guest

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/hactl/hactl/agentbin/lvs/datapath"
	"github.com/hactl/hactl/agentbin/lvs/nft"
	"github.com/hactl/hactl/e2e/vm"
)

var lbBench = flag.Duration("lb.bench", 0, "run TestLBBenchmark, each wrk run this long (go run ./bench/lb -vm sets it)")

// wrk is the host's, run chrooted in its file system.
const wrk = "/usr/bin/wrk"

// TestLBBenchmark is bench/lb's part in the VM, where the kernel has
// IPVS: wrk from the client through the VIP of the LVS-NAT pair, to
// keepalived's virtual server and to hactl's IPVS datapath; to hactl's
// nftables datapath without its fast path (the forward chain emptied by
// hand) and with it (restored by a Sync); and straight to f400 through
// h2g (the limit), with keep-alive and short connections.
// It prints wrk's output between vm.BenchMarker lines for bench/lb.
func TestLBBenchmark(t *testing.T) {
	needGuest(t)
	if *lbBench == 0 {
		t.Skip("a benchmark: go run ./bench/lb -vm runs it")
	}
	mountHost(t)
	for _, p := range []string{keepalived, wrk} {
		if _, err := os.Stat(hostRoot + p); err != nil {
			t.Fatalf("the host has no %s (bench/lb installs it): %v", p, err)
		}
	}
	n := newLVSNAT(t)
	n.takeVIPs(t, nil, n.h2g)
	// "Direct" goes through h2g as a plain router.
	if err := n.client.h.RouteAdd(&netlink.Route{Dst: mustCIDR("192.168.0.0/24"), Gw: []byte{192, 168, 3, 1}}); err != nil {
		t.Fatal(err)
	}

	stop := startKeepalived(t, n.h2g)
	waitFor(t, "keepalived's virtual server", func() bool { return serving(t, n.h2g) })
	bench(t, n.client, "keepalived", "http://192.168.3.181/")
	stop()
	waitFor(t, "keepalived's virtual server to go", func() bool { return !hasService(t, n.h2g) })

	dp := openDatapath(t, n.h2g)
	mustSync(t, dp, web("rr", 1, 1))
	bench(t, n.client, "hactl_ipvs", "http://192.168.3.181/")
	if err := dp.Close(); err != nil {
		t.Fatal(err)
	}

	nd := openNFT(t, n.h2g)
	svcs := []datapath.Service{web("rr", 1, 1)}
	if _, err := nd.Sync(svcs); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(nd.FastPath(), "flowtable on") {
		t.Fatalf("the nftables datapath has no fast path here: %s", nd.FastPath())
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(n.h2g.ns)))
	if err != nil {
		t.Fatal(err)
	}
	// The datapath's forward chain, whose one rule offloads.
	c.FlushChain(&nftables.Chain{Name: "forward", Table: &nftables.Table{Name: nft.TableName, Family: nftables.TableFamilyINet}})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	bench(t, n.client, "hactl_nft_slow", "http://192.168.3.181/")
	if _, err := nd.Sync(svcs); err != nil {
		t.Fatal(err)
	}
	if drift := nd.Drift(svcs); len(drift) != 0 {
		t.Fatalf("the fast path is not restored: %q", drift)
	}
	bench(t, n.client, "hactl_nft", "http://192.168.3.181/")
	if err := nd.Close(); err != nil {
		t.Fatal(err)
	}

	bench(t, n.client, "direct", "http://192.168.0.3/")
}

// bench runs wrk from the client against url, keep-alive then short
// connections, and prints its output between markers.
func bench(t *testing.T, client *host, target, url string) {
	t.Helper()
	for _, mode := range []string{"keepalive", "short"} {
		args := []string{"-t1", "-c8", "-d" + strconv.Itoa(int(lbBench.Seconds())) + "s", "--latency", "--timeout", "2s"}
		if mode == "short" {
			args = append(args, "-H", "Connection: close")
		}
		cmd := exec.Command(wrk, append(args, url)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: hostRoot}
		cmd.Dir = "/"
		var out []byte
		err := inNS(client.ns, func() (err error) { out, err = cmd.CombinedOutput(); return err })
		if err != nil {
			t.Fatalf("wrk %s %s: %v\n%s", target, mode, err, out)
		}
		fmt.Printf("%s %s %s\n%s\n%s\n", vm.BenchMarker, target, mode, out, vm.BenchEndMarker)
	}
}

func mustCIDR(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}
