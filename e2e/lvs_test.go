package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/e2e/lab"
)

// The guide's LVS-NAT pair (chapter 4.2) on the nftables datapath: h2g and
// c2g direct 192.168.3.181:80 to f400 and dgx, whose default gateway is the
// inside VIP; the client asks the outside VIP every 20ms.

const lvsVIP = "192.168.3.181"

// lvsCluster deploys examples/lvs-nat with lab timings, the http service
// on the nftables datapath with quick health checks, and the real servers
// routed through the inside VIP.
func lvsCluster(t *testing.T, edit func(string) string) *cluster {
	t.Helper()
	c := startCluster(t, "lvs-nat")
	c.editHCL(func(hcl string) string {
		hcl = strings.ReplaceAll(hcl, "  fence \"lab\" {}\n", "")
		hcl = regexp.MustCompile(`(?s)  interval = "200ms".*?initdead = "10s"`).ReplaceAllString(hcl,
			"  interval = \"50ms\"\n  warntime = \"150ms\"\n  deadtime = \"300ms\"\n  initdead = \"3s\"")
		hcl = strings.Replace(hcl, `  forwarding = "nat"
`, `  forwarding = "nat"
  datapath   = "nftables"
`, 1)
		hcl = strings.Replace(hcl, `    interval      = "2s"
    timeout       = "1s"`, `    interval      = "200ms"
    timeout       = "150ms"`, 1)
		// The ftp service is the guide's too, but the lab's real servers
		// run no ftp server.
		hcl = regexp.MustCompile(`(?s)virtual_service "ftp" \{.*`).ReplaceAllString(hcl, "")
		if edit != nil {
			hcl = edit(hcl)
		}
		return hcl
	})
	c.mustHactl(0, "apply", "--auto-approve")
	for _, rs := range []string{"f400", "dgx"} {
		c.onNode(rs, "ip route replace default via 192.168.0.181")
	}
	return c
}

func lvsProbe(t *testing.T, c *cluster) probe {
	t.Helper()
	p := probe{c.lab.StartProber("http://"+lvsVIP+"/", 20*time.Millisecond)}
	t.Cleanup(p.Stop)
	return p
}

// spread counts the answers per real server since t, and the failures.
func spread(p probe, since time.Time) (map[string]int, int) {
	got, failed := map[string]int{}, 0
	for _, a := range p.Since(since) {
		if !a.OK {
			failed++
			continue
		}
		got[a.From]++
	}
	return got, failed
}

// waitServing waits until both real servers answer through the VIP.
func waitServing(t *testing.T, p probe) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		got, _ := spread(p, time.Now().Add(-time.Second))
		if got["f400"] > 0 && got["dgx"] > 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the VIP never answered from both f400 and dgx")
}

func TestLVSRoundRobinHealthAndDirectorFailover(t *testing.T) {
	c := lvsCluster(t, nil)
	c.directorHolds(lvsVIP, "h2g")
	p := lvsProbe(t, c)
	waitServing(t, p)

	// Round robin alternates: over 2s, each real server gets half.
	start := time.Now()
	time.Sleep(2 * time.Second)
	got, failed := spread(p, start)
	total := got["f400"] + got["dgx"]
	t.Logf("round robin over 2s: %v, %d failed", got, failed)
	if failed > 0 || total < 50 || abs(got["f400"]-got["dgx"]) > total/10+1 {
		t.Fatalf("round robin gave %v with %d failures, want an even spread and none failed", got, failed)
	}

	// nginx stopped on f400: after fall checks (3 × 200ms) no request
	// goes to it, and none fails (LVS-NAT retries nothing, so a request
	// in the fall window may: count them).
	c.onNode("f400", "kill $(cat /run/nginx-lab.pid)")
	stopped := time.Now()
	time.Sleep(2 * time.Second)
	settled := stopped.Add(time.Second)
	got, failed = spread(p, settled)
	_, windowFailed := spread(p, stopped)
	t.Logf("after stopping nginx on f400: %v, %d failed (%d during the fall window)", got, failed, windowFailed-failed)
	if got["f400"] > 0 || failed > 0 || got["dgx"] == 0 {
		for _, n := range []string{"h2g", "c2g"} {
			if log, err := os.ReadFile(c.lab.ConsoleLog(n)); err == nil {
				t.Logf("%s's console, last lines:\n%s", n, tail(string(log), 40))
			}
		}
		t.Fatalf("after f400's web server stopped: %v and %d failed; want all on dgx, none failed", got, failed)
	}

	// Started again, it returns after rise checks.
	c.onNode("f400", "setsid nginx -e stderr -c /etc/nginx/hactl-lab.conf </dev/null >/dev/null 2>&1 &")
	waitServing(t, p)

	// The active director cut off: the standby takes the VIPs and the
	// service; the requests lost meanwhile are counted and reported.
	cut := time.Now()
	if err := c.lab.Cut("h2g", ""); err != nil {
		t.Fatal(err)
	}
	// h2g, cut off, keeps its addresses: only c2g's matter.
	c.directorHoldsAlso(lvsVIP, "c2g")
	time.Sleep(4 * time.Second) // the takeover, and a second for the last probes' timeouts
	after, _ := spread(p, time.Now().Add(-time.Second))
	if after["f400"] == 0 || after["dgx"] == 0 {
		t.Fatalf("after the failover the VIP answered %v in the last second, want both real servers", after)
	}
	got, failed = spread(p, cut)
	var lost time.Duration
	for _, g := range p.Gaps(cut) {
		lost += g.Length
	}
	t.Logf("director failover: %d requests failed (%s without answers); answered %v", failed, lost, got)
	// The standby's rules act the instant the VIP comes up there: no
	// request reaches a director's own web server.
	if got["h2g"]+got["c2g"] > 0 {
		t.Errorf("during the failover a director answered itself: %v", got)
	}

}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// directorHoldsAlso waits until node holds addr.
func (c *cluster) directorHoldsAlso(addr, node string) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if len(c.addrHolders(addr, []string{node})) == 1 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s never moved to %s", addr, node)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// directorHolds waits until only node, of the two directors, holds addr.
func (c *cluster) directorHolds(addr, node string) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got []string
	for time.Now().Before(deadline) {
		if got = c.addrHolders(addr, []string{"h2g", "c2g"}); len(got) == 1 && got[0] == node {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s held by %v, want only %s", addr, got, node)
}

// shares waits d and returns the answers per node since then.
func shares(t *testing.T, p probe, d time.Duration) map[string]int {
	t.Helper()
	start := time.Now()
	time.Sleep(d)
	got, failed := spread(p, start)
	if failed > 0 {
		t.Fatalf("%d requests failed (answered: %v)", failed, got)
	}
	return got
}

// ruleset lists a node's table, with handles, without the counters'
// values, which traffic moves.
func (c *cluster) ruleset(node string) string {
	c.t.Helper()
	out := c.onNode(node, "nft -a list table inet hactl_lvs")
	return regexp.MustCompile(`packets \d+ bytes \d+`).ReplaceAllString(out, "")
}

// waitLog waits until a node's agent log has a line matching re.
func (c *cluster) waitLog(node string, re *regexp.Regexp) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if re.MatchString(c.onNode(node, "cat /var/log/hactl-agent.log 2>/dev/null; true")) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.t.Fatalf("%s's agent never logged %s", node, re)
}

func TestLVSWeightsDriftHashAndSorryServer(t *testing.T) {
	c := lvsCluster(t, func(hcl string) string {
		hcl = strings.Replace(hcl, `scheduler  = "rr"`, `scheduler  = "wrr"`, 1)
		hcl = strings.Replace(hcl, "  real_server \"dgx\" {\n    node = node.dgx\n", "  real_server \"dgx\" {\n    node   = node.dgx\n    weight = 3\n", 1)
		// h2g's own web server is the sorry server.
		return strings.Replace(hcl, `  datapath   = "nftables"`, "  datapath   = \"nftables\"\n  sorry_server = \"192.168.0.18:80\"", 1)
	})
	c.directorHolds(lvsVIP, "h2g")
	p := lvsProbe(t, c)
	waitServing(t, p)

	// Weights 1:3 give f400 a quarter.
	got := shares(t, p, 3*time.Second)
	total := got["f400"] + got["dgx"]
	t.Logf("weights 1:3 over 3s: %v", got)
	if total < 60 || got["f400"]*100 < total*20 || got["f400"]*100 > total*30 {
		t.Fatalf("weights 1:3 gave %v, want f400 at 25%% ± 5", got)
	}
	c.statusShows("nftables  wrr")

	// A second apply with nothing changed touches no rule (handles and
	// all stay).
	before := c.ruleset("h2g")
	c.mustHactl(0, "apply", "--auto-approve")
	time.Sleep(time.Second)
	if after := c.ruleset("h2g"); after != before {
		t.Fatalf("an apply with nothing changed rewrote the rules:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// A chain flushed by hand is reported and written back.
	c.onNode("h2g", "nft flush chain inet hactl_lvs svc-http")
	c.waitLog("h2g", regexp.MustCompile(`event lvs_rules_restored .*the rules of chain svc-http were changed`))
	waitServing(t, p)

	// The plan names the datapath and why, and its fast path or why not.
	if out := c.mustHactl(0, "plan"); !regexp.MustCompile(`virtual service "http": nftables datapath \(set in the configuration; (fast path: a flowtable|no fast path: its kernel \S+ has no nftables flowtables)`).MatchString(out) {
		t.Errorf("the plan does not name the datapath and its fast path:\n%s", out)
	}
	out := c.mustHactl(0, "status", "--json")
	if !regexp.MustCompile(`"datapath_reason": "set in the spec; fast path: (flowtable on |off: )`).MatchString(out) {
		t.Errorf("the status does not say the datapath's fast path:\n%s", out)
	}
	// The real servers' last health checks are timed, for the monitor.
	if !regexp.MustCompile(`"check_latency_ms": [0-9.e-]+`).MatchString(out) {
		t.Errorf("the status does not time the real servers' health checks:\n%s", out)
	}

	// Source hashing keeps the client on one real server; the change
	// drops no established connection.
	kept := c.keepAlive(t)
	from := kept.ask(t)
	c.editHCL(func(hcl string) string { return strings.Replace(hcl, `scheduler  = "wrr"`, `scheduler  = "sh"`, 1) })
	c.mustHactl(0, "apply", "--auto-approve")
	if again := kept.ask(t); again != from {
		t.Fatalf("an established connection answered from %s, then from %s after the update", from, again)
	}
	time.Sleep(time.Second)
	got = shares(t, p, 2*time.Second)
	t.Logf("source hash over 2s: %v", got)
	if len(got) != 1 || got["h2g"] > 0 {
		t.Fatalf("source hash spread one client over %v, want one real server", got)
	}

	// Both web servers stopped: after fall checks the sorry server answers.
	for _, rs := range []string{"f400", "dgx"} {
		c.onNode(rs, "kill $(cat /run/nginx-lab.pid)")
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if got, _ := spread(p, time.Now().Add(-500*time.Millisecond)); got["h2g"] > 10 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	got = shares(t, p, time.Second)
	if got["h2g"] == 0 || got["f400"]+got["dgx"] > 0 {
		t.Fatalf("with both real servers down the VIP answered %v, want the sorry server (h2g) alone", got)
	}
	c.statusShows("h2g, to the sorry server")
	for _, rs := range []string{"f400", "dgx"} {
		c.onNode(rs, "setsid nginx -e stderr -c /etc/nginx/hactl-lab.conf </dev/null >/dev/null 2>&1 &")
	}
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if got, _ := spread(p, time.Now().Add(-500*time.Millisecond)); got["h2g"] == 0 && got["f400"]+got["dgx"] > 10 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the real servers never took the traffic back from the sorry server")
}

// keptConn is one keep-alive HTTP connection from the client to the VIP.
type keptConn struct {
	conn net.Conn
	r    *bufio.Reader
}

func (c *cluster) keepAlive(t *testing.T) *keptConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := c.lab.Dial(ctx, lab.Client, "tcp", lvsVIP+":80")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &keptConn{conn: conn, r: bufio.NewReader(conn)}
}

// ask sends a request on the connection and returns who answered.
func (k *keptConn) ask(t *testing.T) string {
	t.Helper()
	_ = k.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(k.conn, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", lvsVIP); err != nil {
		t.Fatalf("the established connection broke: %v", err)
	}
	resp, err := http.ReadResponse(k.r, nil)
	if err != nil {
		t.Fatalf("the established connection broke: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the established connection answered %d, %v", resp.StatusCode, err)
	}
	return strings.TrimSpace(string(body))
}

// TestLVSFirewallMarkAndRestoredHandEdits runs the http service as a
// firewall-mark service on the nftables datapath: hactl marks the
// packets to the VIP's port 80 itself, and the marked connections are
// spread over both real servers. A marking rule flushed by hand is
// written back, and hactl drift says so for a while afterwards, though
// the rules match again.
func TestLVSFirewallMarkAndRestoredHandEdits(t *testing.T) {
	c := lvsCluster(t, func(hcl string) string {
		return strings.Replace(hcl, "  port       = 80\n", "  fwmark     = 80\n  mark {\n    ports = [80]\n  }\n", 1)
	})
	c.directorHolds(lvsVIP, "h2g")
	p := lvsProbe(t, c)
	waitServing(t, p)
	got := shares(t, p, 2*time.Second)
	t.Logf("round robin by mark over 2s: %v", got)
	if got["f400"] == 0 || got["dgx"] == 0 || abs(got["f400"]-got["dgx"]) > (got["f400"]+got["dgx"])/5 {
		t.Fatalf("the marked connections went %v, want both real servers about evenly", got)
	}
	if rs := c.ruleset("h2g"); !strings.Contains(rs, "meta mark 0x00000050 fib daddr type local goto svc-http") {
		t.Errorf("the service does not match the mark:\n%s", rs)
	}
	c.statusShows("http fwmark 80 (192.168.3.181)")

	c.onNode("h2g", "nft flush chain inet hactl_lvs_mark marking")
	c.waitLog("h2g", regexp.MustCompile(`event lvs_rules_restored .*rules marking its packets are missing`))
	waitServing(t, p)
	if out := c.mustHactl(2, "drift"); !strings.Contains(out, "rules changed by hand were restored") || !strings.Contains(out, "rules marking its packets are missing") {
		t.Errorf("drift does not tell of the restored hand edit:\n%s", out)
	}
}
