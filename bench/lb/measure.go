package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hactl/hactl/agentbin/lvs/datapath"
	"github.com/hactl/hactl/agentbin/lvs/nft"
	"github.com/hactl/hactl/e2e/lab"
)

// failureToLastRequest stops f400's web server while four clients ask the
// VIP as fast as they can, and returns how long after the stop the last
// request still went to f400 (the requests that failed: f400 refused them,
// dgx is up) and how many failed. It starts the web server again.
func failureToLastRequest(ctx context.Context, l *lab.Lab) (time.Duration, int, error) {
	type answer struct {
		sent time.Time
		ok   bool
	}
	var (
		mu      sync.Mutex
		answers []answer
		wg      sync.WaitGroup
	)
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			client := l.HTTPClient(lab.Client)
			client.Timeout = time.Second
			for {
				select {
				case <-stop:
					return
				default:
				}
				sent := time.Now()
				_, ok := get(client, "http://"+vip+"/")
				mu.Lock()
				answers = append(answers, answer{sent, ok})
				mu.Unlock()
			}
		})
	}
	time.Sleep(time.Second)
	stopped := time.Now()
	if out, err := l.Exec(ctx, "f400", "sh", "-c", "kill $(cat /run/nginx-lab.pid)"); err != nil {
		close(stop)
		wg.Wait()
		return 0, 0, fmt.Errorf("stopping nginx on f400: %v\n%s", err, out)
	}
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	var last time.Duration
	failed := 0
	byTenth := map[int]int{}
	for _, a := range answers {
		if !a.ok {
			failed++
			last = max(last, a.sent.Sub(stopped))
			byTenth[int(a.sent.Sub(stopped)/(100*time.Millisecond))]++
		}
	}
	fmt.Printf("failed requests by 100ms since the stop: %v\n", byTenth)
	if out, err := l.Exec(ctx, "f400", "sh", "-c", "setsid nginx -e stderr -c /etc/nginx/hactl-lab.conf </dev/null >/dev/null 2>&1 &"); err != nil {
		return 0, 0, fmt.Errorf("starting nginx on f400: %v\n%s", err, out)
	}
	return last, failed, nil
}

type cost struct{ first, same, one time.Duration }

// syncCost times the nftables datapath's Sync of one service with n real
// servers, in a network namespace of its own: the first, one with nothing
// changed, and one with one weight changed.
func syncCost(n int) (cost, error) {
	var c cost
	name := fmt.Sprintf("hactl-bench-lb-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return c, fmt.Errorf("ip netns add %s: %v: %s", name, err, out)
	}
	defer exec.Command("ip", "netns", "del", name).Run()
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		return c, err
	}
	defer f.Close()
	d, err := nft.Open(f)
	if err != nil {
		return c, err
	}
	svc := datapath.Service{Name: "big", Protocol: "tcp", Address: netip.MustParseAddr("192.168.3.181"), Port: 80, Scheduler: "wrr", Forwarding: "nat"}
	for i := range n {
		svc.Backends = append(svc.Backends, datapath.Backend{Name: fmt.Sprintf("rs%04d", i),
			Address: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), Port: 80, Weight: 2})
	}
	timed := func(s datapath.Service, want int) (time.Duration, error) {
		start := time.Now()
		changed, err := d.Sync([]datapath.Service{s})
		took := time.Since(start)
		if err == nil && changed != want {
			err = fmt.Errorf("the Sync changed %d services, want %d", changed, want)
		}
		return took, err
	}
	if c.first, err = timed(svc, 1); err != nil {
		return c, err
	}
	if c.same, err = timed(svc, 0); err != nil {
		return c, err
	}
	svc.Backends[n/2].Weight = 3
	if c.one, err = timed(svc, 1); err != nil {
		return c, err
	}
	return c, d.Close()
}

// applyBig adds a virtual service of n real servers (addresses only, no
// health check) to the cluster and applies it, then changes one weight
// and times the apply until h2g's kernel has the new weight (the real
// server's slots in the service's map).
func applyBig(ctx context.Context, l *lab.Lab, dir string, n int) (first, one time.Duration, err error) {
	write := func(changed int) error {
		var b strings.Builder
		b.WriteString(clusterHCL)
		b.WriteString("virtual_service \"big\" {\n  vip        = vip.outside\n  port       = 8080\n  scheduler  = \"wrr\"\n  forwarding = \"nat\"\n  datapath   = \"nftables\"\n")
		for i := range n {
			w := 2
			if i == changed {
				w = 3
			}
			fmt.Fprintf(&b, "  real_server \"rs%04d\" {\n    address = \"10.1.%d.%d\"\n    weight  = %d\n  }\n", i, i>>8, i&0xff, w)
		}
		b.WriteString("}\n")
		return os.WriteFile(filepath.Join(dir, "cluster.hcl"), []byte(b.String()), 0o644)
	}
	apply := func() (time.Duration, error) {
		start := time.Now()
		cmd, err := l.Command(ctx, lab.Ctl, filepath.Join(dir, "hactl"), "apply", "--auto-approve", "-f", dir)
		if err != nil {
			return 0, err
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("hactl apply: %v\n%s", err, out)
		}
		return time.Since(start), nil
	}
	// slots counts the real server's slots in the map on h2g.
	slots := func(rs string) int {
		out, _ := l.Exec(ctx, "h2g", "nft", "list", "map", "inet", "hactl_lvs", "sched-big")
		return strings.Count(string(out), "goto be-big-"+rs+",") + strings.Count(string(out), "goto be-big-"+rs+" ")
	}
	wait := func(rs string, want int, start time.Time) (time.Duration, error) {
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if slots(rs) == want {
				return time.Since(start), nil
			}
		}
		return 0, fmt.Errorf("h2g never had %d slots for %s", want, rs)
	}
	if err := write(-1); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if _, err := apply(); err != nil {
		return 0, 0, err
	}
	if first, err = wait("rs0000", 1, start); err != nil {
		return 0, 0, err
	}
	if err := write(n / 2); err != nil {
		return 0, 0, err
	}
	start = time.Now()
	took, err := apply()
	if err != nil {
		return 0, 0, err
	}
	one, err = wait(fmt.Sprintf("rs%04d", n/2), 3, start)
	fmt.Printf("  (hactl apply itself took %s of it)\n", took)
	return first, one, err
}
