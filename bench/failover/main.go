// Command failover measures what a client sees when the active node of a
// two-node web cluster fails: hactl against keepalived (VRRP), in one lab
// of network namespaces, with the same client probing the VIP every 10ms.
//
// For each system and each run it cuts the active node's links (failover)
// and heals them (failback to the preferred node), and reports the outage:
// from the first failed probe to the first answered one. Then it counts
// false failovers over two periods with both cores saturated: one with 2%
// loss on one heartbeat link, one with that link's cable pulled (the other
// link alone carries the heartbeats). It prints medians and ratios and
// ends with one line "result: key=value …".
//
// Run as root from the repository root: go run ./bench/failover. It
// installs keepalived (Debian package) when missing.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hactl/hactl/bench/internal/benchenv"
	"github.com/hactl/hactl/e2e/lab"
	"github.com/hactl/hactl/plan/config"
	_ "github.com/hactl/hactl/providers/all"
)

const vip = "192.168.0.33"

// clusterHCL is the guide's two-node web cluster with hactl's LAN
// defaults (no heartbeat timings given) and the lab's ctl namespace as the
// tie-breaker.
const clusterHCL = `cluster "bench" {
  key_file = "cluster.key"
}
network "lan" {
  cidr = "192.168.0.0/24"
}
network "hb" {
  cidr = "192.168.1.0/24"
}
node "h2g" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.18"
  }
  interface "eth1" {
    network = network.hb
    address = "192.168.1.18"
  }
}
node "c2g" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.17"
  }
  interface "eth1" {
    network = network.hb
    address = "192.168.1.17"
  }
}
heartbeat {
  link "lan" {
    network = network.lan
  }
  link "direct" {
    network = network.hb
  }
}
quorum {
  tie_breaker = "%s"
}
group "web" {
  nodes = [node.h2g, node.c2g]
  vip "www" {
    address = "192.168.0.33/24"
  }
}
`

func main() {
	runs := flag.Int("runs", 5, "failovers (and failbacks) per system")
	soak := flag.Duration("soak", 60*time.Second, "each false-failover period under load: with loss, then with one link cut")
	flag.Parse()
	if err := run(*runs, *soak); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type system struct {
	name  string
	start func(ctx context.Context) error
	stop  func(ctx context.Context)
}

func run(runs int, soak time.Duration) error {
	if os.Geteuid() != 0 {
		return errors.New("run as root: the lab builds network namespaces")
	}
	if err := benchenv.Install("keepalived"); err != nil {
		return err
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hactl-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	hactl, err := benchenv.Build(dir)
	if err != nil {
		return err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(filepath.Join(dir, "cluster.key"), []byte(base64.StdEncoding.EncodeToString(key)), 0o600); err != nil {
		return err
	}
	// The tie-breaker address is the lab's ctl, known once the lab is up:
	// build the lab from a first version of the file.
	write := func(tie string) error {
		return os.WriteFile(filepath.Join(dir, "cluster.hcl"), []byte(fmt.Sprintf(clusterHCL, tie)), 0o644)
	}
	if err := write("192.168.0.254"); err != nil {
		return err
	}
	res, diags := config.Load(dir, config.Options{})
	if diags.HasErrors() {
		return diags
	}
	l, err := lab.Up(ctx, res.Topology, lab.Options{Name: "bench", Replace: true})
	if err != nil {
		return err
	}
	defer l.Down(context.Background())
	gw, err := l.CtlAddress("lan")
	if err != nil {
		return err
	}
	if err := write(gw.String()); err != nil {
		return err
	}

	inCtl := func(ctx context.Context, args ...string) error {
		cmd, err := l.Command(ctx, lab.Ctl, append([]string{hactl}, args...)...)
		if err != nil {
			return err
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("hactl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	systems := []system{
		{name: "hactl",
			start: func(ctx context.Context) error { return inCtl(ctx, "apply", "--auto-approve", "-f", dir) },
			stop:  func(ctx context.Context) { _ = inCtl(ctx, "destroy", "--auto-approve", "-f", dir) }},
		keepalived(l, "keepalived_advert1", 2, "1"),
		keepalived(l, "keepalived_vrrp3_100ms", 3, "0.1"),
	}
	results := map[string]*measure{}
	for _, s := range systems {
		fmt.Printf("\n== %s\n", s.name)
		if err := s.start(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		m, err := measureSystem(ctx, l, runs, soak)
		s.stop(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		results[s.name] = m
		fmt.Printf("%s: failover median %.3fs %v, failback median %.3fs %v, probes lost in failbacks %v, false failovers %d with 2%% loss, %d with one link cut\n",
			s.name, median(m.failover), secs(m.failover), median(m.failback), secs(m.failback), m.failbackLost, m.falseFailovers, m.falseOnCut)
	}
	h, k1, k3 := results["hactl"], results["keepalived_advert1"], results["keepalived_vrrp3_100ms"]
	fmt.Printf("\nresult: hactl_failover_s=%.3f hactl_failback_s=%.3f hactl_failback_lost=%d hactl_false_failovers=%d hactl_false_failovers_link_cut=%d keepalived_advert1_failover_s=%.3f keepalived_vrrp3_failover_s=%.3f keepalived_vrrp3_failback_s=%.3f keepalived_vrrp3_false_failovers=%d keepalived_vrrp3_false_failovers_link_cut=%d ratio_vs_vrrp3=%.2f ratio_vs_advert1=%.2f\n",
		median(h.failover), median(h.failback), sum(h.failbackLost), h.falseFailovers, h.falseOnCut, median(k1.failover), median(k3.failover), median(k3.failback), k3.falseFailovers, k3.falseOnCut,
		median(h.failover)/median(k3.failover), median(h.failover)/median(k1.failover))
	return nil
}

// keepalived runs a VRRP pair in the nodes: h2g priority 200, c2g 100,
// preempting (failback), the same VIP.
func keepalived(l *lab.Lab, name string, version int, advert string) system {
	conf := func(prio int) string {
		return fmt.Sprintf(`global_defs {
  vrrp_version %d
  enable_script_security
}
vrrp_instance web {
  state BACKUP
  interface eth0
  virtual_router_id 33
  priority %d
  advert_int %s
  virtual_ipaddress {
    %s/24 dev eth0
  }
}
`, version, prio, advert, vip)
	}
	return system{name: name,
		start: func(ctx context.Context) error {
			for n, prio := range map[string]int{"h2g": 200, "c2g": 100} {
				script := fmt.Sprintf("mkdir -p /etc/keepalived && cat > /etc/keepalived/bench.conf <<'EOF'\n%sEOF\nkeepalived -f /etc/keepalived/bench.conf -p /run/keepalived-bench.pid", conf(prio))
				if out, err := l.Exec(ctx, n, "sh", "-c", script); err != nil {
					return fmt.Errorf("%s: %v\n%s", n, err, out)
				}
			}
			return nil
		},
		stop: func(ctx context.Context) {
			for _, n := range []string{"h2g", "c2g"} {
				_, _ = l.Exec(ctx, n, "sh", "-c", "kill $(cat /run/keepalived-bench.pid) 2>/dev/null; sleep 1; ip addr del "+vip+"/24 dev eth0 2>/dev/null; true")
			}
		}}
}

type measure struct {
	failover, failback []time.Duration
	failbackLost       []int // probes unanswered during each failback
	falseFailovers     int   // with 2% loss on a heartbeat link
	falseOnCut         int   // with a heartbeat link cut
}

func measureSystem(ctx context.Context, l *lab.Lab, runs int, soak time.Duration) (*measure, error) {
	p := l.StartProber("http://"+vip+"/", 10*time.Millisecond)
	defer p.Stop()
	m := &measure{}
	if err := p.WaitFor("h2g", 30, 60*time.Second); err != nil {
		return nil, err
	}
	for i := range runs {
		at := time.Now()
		if err := l.Cut("h2g", ""); err != nil {
			return nil, err
		}
		if err := p.WaitFor("c2g", 30, 60*time.Second); err != nil {
			return nil, fmt.Errorf("run %d, failover: %w", i+1, err)
		}
		// Probes sent into the outage are still waiting for their
		// timeout: let them finish before reading the outage.
		time.Sleep(1500 * time.Millisecond)
		m.failover = append(m.failover, p.Outage(at, "c2g"))
		at = time.Now()
		if err := l.Heal("h2g", ""); err != nil {
			return nil, err
		}
		if err := p.WaitFor("h2g", 30, 60*time.Second); err != nil {
			return nil, fmt.Errorf("run %d, failback: %w", i+1, err)
		}
		time.Sleep(1500 * time.Millisecond)
		m.failback = append(m.failback, p.Outage(at, "h2g"))
		lost := 0
		for _, pr := range p.Since(at) {
			if !pr.OK {
				lost++
			}
		}
		m.failbackLost = append(m.failbackLost, lost)
	}
	if soak <= 0 {
		return m, nil
	}
	var err error
	m.falseFailovers, err = falseFailovers(p, soak, func() (func(), error) {
		_, err := l.Loss(ctx, "h2g", "eth1", 2)
		return func() { _, _ = l.Loss(ctx, "h2g", "eth1", 0) }, err
	})
	if err != nil {
		return nil, err
	}
	// The active node loses its heartbeat-only link: its peer hears it on
	// lan alone, and it sends on a link whose peer's ARP goes unanswered.
	m.falseOnCut, err = falseFailovers(p, soak, func() (func(), error) {
		return func() { _ = l.Heal("h2g", "eth1") }, l.Cut("h2g", "eth1")
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// falseFailovers saturates both cores under a fault on h2g's
// heartbeat-only link, which fault sets and its returned function undoes,
// and counts how often the VIP left h2g.
func falseFailovers(p *lab.Prober, d time.Duration, fault func() (undo func(), err error)) (int, error) {
	if err := p.WaitFor("h2g", 30, 60*time.Second); err != nil {
		return 0, fmt.Errorf("before the soak: %w", err)
	}
	undo, err := fault()
	defer undo()
	if err != nil {
		return 0, err
	}
	// Busy loops, one per core, compete with the agents for the CPUs.
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for !stop.Load() {
			}
		})
	}
	start := time.Now()
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	moves, last := 0, "h2g"
	for _, pr := range p.Since(start) {
		if pr.OK && pr.From != last {
			if pr.From != "h2g" {
				moves++
			}
			last = pr.From
		}
	}
	return moves, nil
}

func median(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Seconds()
}

func sum(ns []int) int {
	total := 0
	for _, n := range ns {
		total += n
	}
	return total
}

func secs(ds []time.Duration) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = fmt.Sprintf("%.3f", d.Seconds())
	}
	return out
}
