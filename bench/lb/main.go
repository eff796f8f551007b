// Command lb measures the lvs role's nftables datapath: wrk from the lab's
// client through the VIP of the guide's LVS-NAT pair (h2g, c2g in front of
// f400 and dgx), against HAProxy in TCP mode on the same director, and
// against the client asking the real servers straight (the limit: wrk's
// two threads, one on each real server, so that the same connections
// meet the same two single-worker nginx without the director), and the
// same through the director as a plain router ("routed": the same hops as
// the VIP's, no load balancing: the bound of any datapath in the
// director's kernel, printed as such), with keep-alive and with short
// connections (one request each). It also
// measures how long a failed real server still gets requests, and what a
// Sync costs with 1,000 real servers when one weight changes (in a network
// namespace of its own). It prints the figures and ratios and ends with one
// line "result: key=value …".
//
// With -vm it compares instead, in a QEMU guest on Debian's kernel (which
// has IPVS and flowtables, unlike the lab's), hactl's IPVS datapath with
// keepalived's virtual server, and hactl's nftables datapath without and
// with its flowtable fast path (see vm.go).
//
// Run as root from the repository root: go run ./bench/lb. It installs wrk
// and haproxy (with -vm: wrk and keepalived; Debian packages) when missing.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ti-mo/conntrack"

	"github.com/hactl/hactl/bench/internal/benchenv"
	"github.com/hactl/hactl/e2e/lab"
	"github.com/hactl/hactl/plan/config"
	_ "github.com/hactl/hactl/providers/all"
)

const (
	vip       = "192.168.3.181"
	haproxyAt = "192.168.3.18:8080" // h2g's own outside address
	direct    = "192.168.0.3"       // f400
	direct2   = "192.168.0.27"      // dgx
	// routedFrom is a free outside address the client asks from when
	// routed (the lab's client and ctl have the highest ones).
	routedFrom = "192.168.3.200"
)

// routedVia adds or deletes (op) the client's routes to the real servers
// through h2g's outside address: "routed" is "direct" through the
// director as a plain router (the real servers answer through it anyway,
// their default route), the same hops as the VIP's without the load
// balancing. It goes from an address of its own (routedFrom): from the
// client's, its connections would have the 4-tuples of the VIP's short
// connections before them, whose conntrack entries on h2g (TIME_WAIT,
// NAT'd to the same real server and port) clash with them and drop
// their SYNs.
func routedVia(op string) string {
	gw := strings.Split(haproxyAt, ":")[0]
	script := fmt.Sprintf(`set -e
dev=$(ip -o route get %[1]s | sed -n 's/.* dev \([^ ]*\).*/\1/p')
ip addr %[2]s %[3]s/32 dev "$dev"`, gw, op, routedFrom)
	if op == "add" {
		// Deleting the address takes these routes with it.
		script += fmt.Sprintf("\nip route add %[1]s/32 via %[3]s src %[4]s\nip route add %[2]s/32 via %[3]s src %[4]s", direct, direct2, gw, routedFrom)
	}
	return script
}

// splitScript sends wrk's second thread (and its half of the
// connections) to dgx: straight to one real server, a single nginx worker
// would be the limit, where the balancers spread over two.
const splitScript = `local n = 0
function setup(thread)
  n = n + 1
  if n % 2 == 0 then
    thread.addr = wrk.lookup("` + direct2 + `", "80")[1]
  end
end
`

const clusterHCL = `cluster "lb" {
  key_file = "cluster.key"
}
network "outside" {
  cidr = "192.168.3.0/24"
}
network "inside" {
  cidr = "192.168.0.0/24"
}
node "h2g" {
  interface "eth0" {
    network = network.inside
    address = "192.168.0.18"
  }
  interface "eth1" {
    network = network.outside
    address = "192.168.3.18"
  }
}
node "c2g" {
  interface "eth0" {
    network = network.inside
    address = "192.168.0.17"
  }
  interface "eth1" {
    network = network.outside
    address = "192.168.3.17"
  }
}
node "f400" {
  interface "eth0" {
    network = network.inside
    address = "192.168.0.3"
  }
}
node "dgx" {
  interface "eth0" {
    network = network.inside
    address = "192.168.0.27"
  }
}
heartbeat {
  link "inside" {
    network = network.inside
  }
  link "outside" {
    network = network.outside
  }
}
group "directors" {
  location {
    node  = node.h2g
    score = 200
  }
  location {
    node  = node.c2g
    score = 100
  }
  vip "outside" {
    address   = "192.168.3.181/24"
    interface = "eth1"
  }
  vip "inside" {
    address   = "192.168.0.181/24"
    interface = "eth0"
  }
}
virtual_service "http" {
  vip        = vip.outside
  port       = 80
  scheduler  = "rr"
  forwarding = "nat"
  datapath   = "nftables"
  health_check {
    type     = "tcp"
    interval = "200ms"
    timeout  = "150ms"
    rise     = 2
    fall     = 3
  }
  real_server "f400" {
    node = node.f400
  }
  real_server "dgx" {
    node = node.dgx
  }
}
`

// haproxyStart runs HAProxy in TCP mode on h2g, round robin over the same
// real servers, on h2g's own outside address.
const haproxyStart = `mkdir -p /etc/haproxy && cat > /etc/haproxy/bench.cfg <<'END'
global
  maxconn 4000
  nbthread 2
defaults
  mode tcp
  timeout connect 1s
  timeout client 30s
  timeout server 30s
listen lb
  bind ` + haproxyAt + `
  balance roundrobin
  server f400 192.168.0.3:80
  server dgx 192.168.0.27:80
END
haproxy -D -f /etc/haproxy/bench.cfg -p /run/haproxy-bench.pid`

func main() {
	duration := flag.Duration("d", 8*time.Second, "each wrk run")
	conns := flag.Int("c", 32, "wrk connections")
	only := flag.String("only", "", "run only these wrk targets (comma-separated: hactl, haproxy, direct, routed; none for the other measures only), and skip the real server's failure")
	inVM := flag.Bool("vm", false, "instead of the lab: in a QEMU guest on Debian's kernel, which has IPVS, compare hactl's IPVS datapath with keepalived's virtual server (e2e/vm)")
	flag.Parse()
	run := run
	if *inVM {
		run = func(d time.Duration, _ int, _ string) error { return runVM(d) }
	}
	if err := run(*duration, *conns, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(d time.Duration, conns int, only string) error {
	if os.Geteuid() != 0 {
		return errors.New("run as root: the lab builds network namespaces")
	}
	if err := benchenv.Install("wrk", "haproxy"); err != nil {
		return err
	}
	cost, err := syncCost(1000)
	if err != nil {
		return fmt.Errorf("sync cost: %w", err)
	}
	fmt.Printf("Sync with 1000 real servers: first %s, unchanged %s, one weight changed %s\n", cost.first, cost.same, cost.one)

	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hactl-bench-lb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	l, err := deploy(ctx, dir)
	if err != nil {
		return err
	}
	defer l.Down(context.Background())

	// First, while the client has all its ports: the wrk runs leave
	// thousands in TIME_WAIT.
	var last time.Duration
	var failed int
	if only == "" {
		if last, failed, err = failureToLastRequest(ctx, l); err != nil {
			return err
		}
		fmt.Printf("f400's web server stopped: the last request reached it %s later; %d requests failed\n", last, failed)
		if err := waitBoth(l); err != nil {
			return err
		}
	}

	split := filepath.Join(dir, "split.lua")
	if err := os.WriteFile(split, []byte(splitScript), 0o644); err != nil {
		return err
	}
	// A target's client script runs before its wrk run, the undo after.
	type target struct{ name, url, script, client, undo string }
	targets := []target{{"hactl", "http://" + vip + "/", "", "", ""}, {"haproxy", "http://" + haproxyAt + "/", "", "", ""},
		{"direct", "http://" + direct + "/", split, "", ""},
		{"routed", "http://" + direct + "/", split, routedVia("add"), routedVia("del")}}
	results := map[string]wrkResult{}
	for _, mode := range []string{"keepalive", "short"} {
		for _, t := range targets {
			if only != "" && !strings.Contains(","+only+",", ","+t.name+",") {
				continue
			}
			if err := forgetConnections(l); err != nil {
				return err
			}
			if t.client != "" {
				if out, err := l.Exec(ctx, lab.Client, "sh", "-c", t.client); err != nil {
					return fmt.Errorf("%s: %v\n%s", t.name, err, out)
				}
			}
			r, err := wrk(ctx, l, t.url, t.script, mode == "short", d, conns)
			if t.undo != "" {
				if out, uerr := l.Exec(ctx, lab.Client, "sh", "-c", t.undo); uerr != nil && err == nil {
					err = fmt.Errorf("%v\n%s", uerr, out)
				}
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", t.name, mode, err)
			}
			results[t.name+"_"+mode] = r
			fmt.Printf("%-8s %-9s %9.0f req/s  p99 %8.2fms  errors %d\n", t.name, mode, r.rps, r.p99ms, r.errors)
		}
	}

	applyFirst, applyOne, err := applyBig(ctx, l, dir, 1000)
	if err != nil {
		return err
	}
	fmt.Printf("apply of a virtual service with 1000 real servers: %s; one weight changed among them, until h2g's kernel has it: %s\n", applyFirst, applyOne)

	h, hp, di, ro := results["hactl_keepalive"], results["haproxy_keepalive"], results["direct_keepalive"], results["routed_keepalive"]
	hs, hps, dis, ros := results["hactl_short"], results["haproxy_short"], results["direct_short"], results["routed_short"]
	if ro.rps > 0 && di.rps > 0 && hp.rps > 0 {
		// Routed is the director's kernel forwarding with no NAT and no
		// balancing: the most any datapath in that kernel (IPVS or
		// nftables) can give on this machine, against the goals of 0.9×
		// direct and 2× HAProxy.
		fmt.Printf("bound: routed reads %.2f× direct and %.2f× HAProxy on keep-alive, %.2f× and %.2f× on short connections\n",
			ratio(ro.rps, di.rps), ratio(ro.rps, hp.rps), ratio(ros.rps, dis.rps), ratio(ros.rps, hps.rps))
	}
	fmt.Printf("\nresult: hactl_ka_rps=%.0f haproxy_ka_rps=%.0f direct_ka_rps=%.0f hactl_ka_p99_ms=%.2f haproxy_ka_p99_ms=%.2f direct_ka_p99_ms=%.2f "+
		"hactl_short_rps=%.0f haproxy_short_rps=%.0f direct_short_rps=%.0f hactl_short_p99_ms=%.2f haproxy_short_p99_ms=%.2f direct_short_p99_ms=%.2f "+
		"ka_vs_haproxy=%.2f ka_vs_direct=%.2f short_vs_haproxy=%.2f short_vs_direct=%.2f ka_p99_vs_direct=%.2f short_p99_vs_direct=%.2f hactl_errors=%d "+
		"routed_ka_rps=%.0f routed_short_rps=%.0f routed_ka_p99_ms=%.2f routed_short_p99_ms=%.2f ka_vs_routed=%.2f short_vs_routed=%.2f "+
		"routed_ka_vs_direct=%.2f routed_short_vs_direct=%.2f routed_ka_vs_haproxy=%.2f routed_short_vs_haproxy=%.2f "+
		"failure_to_last_request_ms=%.0f failed_requests=%d sync1000_first_ms=%.1f sync1000_unchanged_ms=%.1f sync1000_one_weight_ms=%.1f apply1000_s=%.2f apply1000_one_weight_s=%.2f\n",
		h.rps, hp.rps, di.rps, h.p99ms, hp.p99ms, di.p99ms,
		hs.rps, hps.rps, dis.rps, hs.p99ms, hps.p99ms, dis.p99ms,
		ratio(h.rps, hp.rps), ratio(h.rps, di.rps), ratio(hs.rps, hps.rps), ratio(hs.rps, dis.rps), ratio(h.p99ms, di.p99ms), ratio(hs.p99ms, dis.p99ms), h.errors+hs.errors,
		ro.rps, ros.rps, ro.p99ms, ros.p99ms, ratio(h.rps, ro.rps), ratio(hs.rps, ros.rps),
		ratio(ro.rps, di.rps), ratio(ros.rps, dis.rps), ratio(ro.rps, hp.rps), ratio(ros.rps, hps.rps),
		ms(last), failed, ms(cost.first), ms(cost.same), ms(cost.one), applyFirst.Seconds(), applyOne.Seconds())
	return nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// deploy builds hactl and its agent, brings the lab up, applies the
// cluster, routes the real servers through the inside VIP (LVS-NAT),
// starts HAProxy on h2g and waits until the VIP answers from both real
// servers.
func deploy(ctx context.Context, dir string) (*lab.Lab, error) {
	hactl, err := benchenv.Build(dir)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(filepath.Join(dir, "cluster.key"), []byte(base64.StdEncoding.EncodeToString(key)), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "cluster.hcl"), []byte(clusterHCL), 0o644); err != nil {
		return nil, err
	}
	res, diags := config.Load(dir, config.Options{})
	if diags.HasErrors() {
		return nil, diags
	}
	l, err := lab.Up(ctx, res.Topology, lab.Options{Name: "lb", Replace: true})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*lab.Lab, error) {
		_ = l.Down(context.Background())
		return nil, err
	}
	cmd, err := l.Command(ctx, lab.Ctl, hactl, "apply", "--auto-approve", "-f", dir)
	if err != nil {
		return fail(err)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("hactl apply: %v\n%s", err, out))
	}
	for _, step := range []struct{ node, script string }{
		{"f400", "ip route replace default via 192.168.0.181"},
		{"dgx", "ip route replace default via 192.168.0.181"},
		{"h2g", haproxyStart},
	} {
		if out, err := l.Exec(ctx, step.node, "sh", "-c", step.script); err != nil {
			return fail(fmt.Errorf("%s: %v\n%s", step.node, err, out))
		}
	}
	if err := waitBoth(l); err != nil {
		return fail(err)
	}
	return l, nil
}

// waitBoth waits until the VIP answers from both real servers.
func waitBoth(l *lab.Lab) error {
	client := l.HTTPClient(lab.Client)
	client.Timeout = time.Second
	seen := map[string]bool{}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !(seen["f400"] && seen["dgx"]); {
		if from, ok := get(client, "http://"+vip+"/"); ok {
			seen[from] = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !seen["f400"] || !seen["dgx"] {
		return fmt.Errorf("the VIP never answered from both real servers (saw %v)", seen)
	}
	return nil
}

// get asks url once and returns the answering node's name.
func get(client *http.Client, url string) (string, bool) {
	resp, err := client.Get(url)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	return strings.TrimSpace(string(body)), resp.StatusCode == http.StatusOK
}

type wrkResult struct {
	rps, p99ms float64
	errors     int
}

var (
	rpsRE    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p99RE    = regexp.MustCompile(`\s99%\s+([0-9.]+)(us|ms|s)`)
	errorsRE = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	non2xxRE = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// forgetConnections empties h2g's conntrack table before a wrk run. A
// short-connection run leaves some 100,000 entries in TIME_WAIT (two
// minutes), and they slowed the runs after it (the table fills, lookups
// lengthen, a reused 4-tuple must reopen its entry): the later targets
// were measured against a fuller table than the first.
func forgetConnections(l *lab.Lab) error {
	return l.InNetns("h2g", func() error {
		c, err := conntrack.Dial(nil)
		if err != nil {
			return fmt.Errorf("h2g: connecting to conntrack: %w", err)
		}
		defer c.Close()
		if err := c.Flush(); err != nil {
			return fmt.Errorf("h2g: emptying the conntrack table: %w", err)
		}
		return nil
	})
}

// wrk runs wrk from the client against url, with a Lua script when
// script is not empty.
func wrk(ctx context.Context, l *lab.Lab, url, script string, short bool, d time.Duration, conns int) (wrkResult, error) {
	args := []string{"wrk", "-t2", "-c" + strconv.Itoa(conns), "-d" + d.String(), "--latency", "--timeout", "2s"}
	if script != "" {
		args = append(args, "-s", script)
	}
	if short {
		args = append(args, "-H", "Connection: close")
	}
	out, err := l.Exec(ctx, lab.Client, append(args, url)...)
	if err != nil {
		return wrkResult{}, fmt.Errorf("%v\n%s", err, out)
	}
	return parseWrk(out)
}

// parseWrk reads wrk's figures from its output.
func parseWrk(out []byte) (wrkResult, error) {
	var r wrkResult
	m, p := rpsRE.FindSubmatch(out), p99RE.FindSubmatch(out)
	if m == nil || p == nil {
		return r, fmt.Errorf("cannot read wrk's output:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	r.p99ms, _ = strconv.ParseFloat(string(p[1]), 64)
	switch string(p[2]) {
	case "us":
		r.p99ms /= 1000
	case "s":
		r.p99ms *= 1000
	}
	if e := errorsRE.FindSubmatch(out); e != nil {
		for _, s := range e[1:] {
			n, _ := strconv.Atoi(string(s))
			r.errors += n
		}
	}
	if e := non2xxRE.FindSubmatch(out); e != nil {
		n, _ := strconv.Atoi(string(e[1]))
		r.errors += n
	}
	return r, nil
}
