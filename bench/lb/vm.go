package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hactl/hactl/bench/internal/benchenv"
	"github.com/hactl/hactl/e2e/vm"
)

// runVM runs the guest's TestLBBenchmark (package e2e/vm/guest) in a VM
// booted on Debian's kernel, which has IPVS: wrk through the VIP to
// keepalived's virtual server and to hactl's IPVS datapath, and through
// the director as a plain router to one real server. keepalived and wrk
// run in the guest from the host's file system (shared read-only over
// virtio-9p). It also runs hactl's nftables datapath there, without its
// fast path and with it (a flowtable, which the lab's kernel lacks).
// Figures under software emulation are far below the lab's; the ratios
// are what compare.
func runVM(d time.Duration) error {
	if os.Geteuid() != 0 {
		return errors.New("run as root: QEMU and the kernel image need it")
	}
	if err := benchenv.Install("keepalived", "wrk"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	blocks := map[string][]string{}
	var console []string
	cur := ""
	res, note, err := vm.Boot(ctx, "e2e/vm", []string{"-test.run=^TestLBBenchmark$", "-lb.bench=" + d.String(), "-test.timeout=12m", "-test.v"}, func(line string) {
		console = append(console, line)
		if rest, ok := strings.CutPrefix(line, vm.BenchMarker+" "); ok {
			cur = strings.Join(strings.Fields(rest), "_")
			return
		}
		if line == vm.BenchEndMarker {
			cur = ""
			return
		}
		if cur != "" {
			blocks[cur] = append(blocks[cur], line)
		}
	})
	fmt.Println(note)
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("the guest benchmark failed (exit code %d)", res.ExitCode)
	}
	if err != nil {
		return fmt.Errorf("%w; the guest's console:\n%s", err, strings.Join(console, "\n"))
	}
	results := map[string]wrkResult{}
	for _, target := range []string{"keepalived", "hactl_ipvs", "hactl_nft_slow", "hactl_nft", "direct"} {
		for _, mode := range []string{"keepalive", "short"} {
			key := target + "_" + mode
			r, err := parseWrk([]byte(strings.Join(blocks[key], "\n")))
			if err != nil {
				return fmt.Errorf("%s %s: %w", target, mode, err)
			}
			results[key] = r
			fmt.Printf("%-14s %-9s %9.0f req/s  p99 %8.2fms  errors %d\n", target, mode, r.rps, r.p99ms, r.errors)
		}
	}
	k, h, di := results["keepalived_keepalive"], results["hactl_ipvs_keepalive"], results["direct_keepalive"]
	ks, hs, dis := results["keepalived_short"], results["hactl_ipvs_short"], results["direct_short"]
	nf, nfs := results["hactl_nft_keepalive"], results["hactl_nft_short"]
	sl, sls := results["hactl_nft_slow_keepalive"], results["hactl_nft_slow_short"]
	fmt.Printf("\nresult: vm_keepalived_ka_rps=%.0f vm_hactl_ipvs_ka_rps=%.0f vm_direct_ka_rps=%.0f vm_keepalived_short_rps=%.0f vm_hactl_ipvs_short_rps=%.0f vm_direct_short_rps=%.0f "+
		"vm_keepalived_ka_p99_ms=%.2f vm_hactl_ipvs_ka_p99_ms=%.2f vm_keepalived_short_p99_ms=%.2f vm_hactl_ipvs_short_p99_ms=%.2f "+
		"vm_ka_vs_keepalived=%.2f vm_short_vs_keepalived=%.2f vm_ka_vs_direct=%.2f vm_short_vs_direct=%.2f vm_hactl_errors=%d "+
		"vm_nft_ka_rps=%.0f vm_nft_slow_ka_rps=%.0f vm_nft_short_rps=%.0f vm_nft_slow_short_rps=%.0f vm_nft_ka_p99_ms=%.2f vm_nft_slow_ka_p99_ms=%.2f "+
		"vm_fastpath_ka_gain=%.2f vm_fastpath_short_gain=%.2f vm_nft_errors=%d\n",
		k.rps, h.rps, di.rps, ks.rps, hs.rps, dis.rps, k.p99ms, h.p99ms, ks.p99ms, hs.p99ms,
		ratio(h.rps, k.rps), ratio(hs.rps, ks.rps), ratio(h.rps, di.rps), ratio(hs.rps, dis.rps), h.errors+hs.errors,
		nf.rps, sl.rps, nfs.rps, sls.rps, nf.p99ms, sl.p99ms, ratio(nf.rps, sl.rps), ratio(nfs.rps, sls.rps), nf.errors+nfs.errors+sl.errors+sls.errors)
	return nil
}
