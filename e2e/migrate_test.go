package e2e

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hactl/hactl/e2e/lab"
	"github.com/hactl/hactl/plan/config"
)

// pairDir holds the keepalived pair that the import's tests read: the
// guide's two-node web setup under keepalived, one directory per host.
const pairDir = "../importer/testdata/keepalived/pair"

// heartbeatDir holds the guide's Heartbeat v1 pair (ha.cf, haresources,
// authkeys) and the nodes' addresses the import's golden test gives.
const heartbeatDir = "../importer/testdata/guide/two-node-web-v1"

// TestKeepalivedPairMigratesToHactl runs a real keepalived pair (Debian's
// keepalived, VRRP between h2g and c2g, the VIP in front of the nodes'
// web servers), imports its files, and migrates it with one hactl apply,
// which takes over from keepalived (takes_over) node by node, while the
// client asks the VIP every 10ms and the client's switch port asks who
// answers ARP for it. migrateByApply says what must hold.
func TestKeepalivedPairMigratesToHactl(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("keepalived"); err != nil {
		t.Fatal("keepalived is not installed: the migration starts from a running keepalived pair (apt-get install keepalived; it is in .ci/lab-packages)")
	}
	dir := t.TempDir()
	imp := exec.Command(hactlBin, "import", "keepalived",
		filepath.Join(pairDir, "h2g", "keepalived.conf"), filepath.Join(pairDir, "c2g", "keepalived.conf"),
		"-o", filepath.Join(dir, "cluster.hcl"))
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("hactl import: %v\n%s", err, out)
	}
	c := labCluster(t, "the imported keepalived pair", dir, lab.Options{Name: "e2e", Replace: true})

	// The hosts as they run before the migration: keepalived from the
	// files imported, its notify script in place.
	for _, n := range []string{"h2g", "c2g"} {
		c.onNode(n, "mkdir -p /etc/keepalived/conf.d /usr/local/bin"+
			" && printf '#!/bin/sh\\necho \"$@\" >> /var/log/mail-admin.log\\n' > /usr/local/bin/mail-admin && chmod 755 /usr/local/bin/mail-admin"+
			" && cat > /etc/keepalived/keepalived.conf <<'EOF'\n"+mustRead(t, filepath.Join(pairDir, n, "keepalived.conf"))+"\nEOF\n"+
			"cat > /etc/keepalived/conf.d/web.conf <<'EOF'\n"+mustRead(t, filepath.Join(pairDir, n, "conf.d", "web.conf"))+"\nEOF\n"+
			"cd /etc/keepalived && (keepalived --dont-fork --log-console --log-detail > /var/log/keepalived.log 2>&1 &)")
	}
	c.migrateByApply("keepalived", "/var/log/keepalived.log", 30*time.Second, nil)
}

// TestHeartbeatPairMigratesToHactl runs a real Heartbeat 3 pair (Debian's
// heartbeat, v1 style: the guide's ha.cf, haresources and authkeys, the
// VIP added by the IPaddr resource agent), imports its files with the
// nodes' addresses, and migrates it with one hactl apply, which takes over
// from Heartbeat node by node. migrateByApply says what must hold.
func TestHeartbeatPairMigratesToHactl(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/etc/init.d/heartbeat"); err != nil {
		t.Fatal("heartbeat is not installed: the migration starts from a running Heartbeat pair (apt-get install heartbeat; it is in .ci/lab-packages)")
	}
	dir := t.TempDir()
	imp := exec.Command(hactlBin, "import", "heartbeat",
		filepath.Join(heartbeatDir, "ha.cf"), filepath.Join(heartbeatDir, "haresources"), filepath.Join(heartbeatDir, "authkeys"),
		"--node", "h2g=192.168.0.18@eth0,192.168.1.18@eth1", "--node", "c2g=192.168.0.17@eth0,192.168.1.17@eth1",
		"-o", filepath.Join(dir, "cluster.hcl"))
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("hactl import: %v\n%s", err, out)
	}
	c := labCluster(t, "the imported Heartbeat pair", dir, lab.Options{Name: "e2e", Replace: true})

	// The hosts as they run before the migration: Heartbeat from the
	// files imported, with the lab's host names (the guide's are
	// fully qualified; Heartbeat matches uname -n) and a log file (the
	// lab has no syslog), and the guide's httpd as an LSB script that the
	// lab's web server stands behind.
	unqualify := func(s string) string { return strings.ReplaceAll(s, ".example.com", "") }
	for _, n := range []string{"h2g", "c2g"} {
		c.onNode(n, "mkdir -p /etc/ha.d"+
			" && cat > /etc/ha.d/ha.cf <<'EOF'\n"+unqualify(mustRead(t, filepath.Join(heartbeatDir, "ha.cf")))+"\nlogfile /var/log/ha-log\nEOF\n"+
			"cat > /etc/ha.d/haresources <<'EOF'\n"+unqualify(mustRead(t, filepath.Join(heartbeatDir, "haresources")))+"\nEOF\n"+
			"cat > /etc/ha.d/authkeys <<'EOF'\n"+mustRead(t, filepath.Join(heartbeatDir, "authkeys"))+"\nEOF\n"+
			"chmod 600 /etc/ha.d/authkeys && cat > /etc/init.d/httpd <<'EOF'\n"+lsbHttpd+"EOF\n"+
			"chmod 755 /etc/init.d/httpd && /etc/init.d/heartbeat start")
	}
	c.migrateByApply("heartbeat", "/var/log/ha-log", 90*time.Second, func() {
		// A state apply must not take over from is refused before
		// anything changes: a Heartbeat on the holder whose ha.cf asks
		// for the kernel watchdog (read by the check; the running
		// Heartbeat read its ha.cf at start) would reboot the host when
		// killed.
		c.onNode("h2g", "cp /etc/ha.d/ha.cf /tmp/ha.cf && echo 'watchdog /dev/watchdog' >> /etc/ha.d/ha.cf")
		out := c.mustHactl(1, "apply", "--auto-approve")
		for _, want := range []string{"cannot take over from heartbeat", "uses the kernel watchdog", "nothing was changed"} {
			if !strings.Contains(out, want) {
				t.Errorf("the refused apply does not say %q:\n%s", want, out)
			}
		}
		for _, n := range []string{"h2g", "c2g"} {
			c.onNode(n, "pgrep -x heartbeat >/dev/null && ! pgrep -x hactl-agent")
		}
		c.onNode("h2g", "mv /tmp/ha.cf /etc/ha.d/ha.cf")
	})
}

// lsbHttpd stands for the guide's httpd init script: Heartbeat and then
// the agent start, stop and ask it as an LSB script.
const lsbHttpd = `#!/bin/sh
case "$1" in
start) touch /run/httpd.on ;;
stop) rm -f /run/httpd.on ;;
status) if [ -f /run/httpd.on ]; then echo running; exit 0; fi; echo stopped; exit 3 ;;
*) exit 2 ;;
esac
`

// migrateByApply takes the lab's running pair of daemon (keepalived,
// heartbeat) over to hactl with one hactl apply of the imported file,
// while the client asks the VIP every 10ms and the client's switch port
// asks who answers ARP for it. It waits up to startup for the old pair to
// serve the VIP from h2g, then runs before (when set), then applies. The VIP must never have two holders, no gap the
// client sees may be longer than one hactl failover (the imported
// deadtime), daemon must run on no node afterwards, a second plan must
// have nothing to do, and hactl must own the VIP (a cut moves it, a heal
// brings it back). It prints the longest gap.
func (c *cluster) migrateByApply(daemon, logFile string, startup time.Duration, before func()) {
	t := c.t
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range []string{"h2g", "c2g"} {
				out, _ := c.lab.Exec(context.Background(), n, "sh", "-c", "ip -o addr show eth0; ps ax; tail -n 30 "+logFile+" /var/log/hactl-agent.log")
				t.Logf("%s:\n%s", n, out)
			}
		}
	})
	res, diags := config.Load(c.dir, config.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if got := res.Topology.Cluster.TakesOver; got != daemon {
		t.Fatalf("the import wrote takes_over = %q, want %q", got, daemon)
	}
	failover := res.Topology.Heartbeat.Deadtime

	p := startProbe(t, c.lab)
	if err := p.WaitFor("h2g", 20, startup); err != nil {
		t.Fatalf("the %s pair does not serve the VIP from h2g: %v", daemon, err)
	}
	c.oneHolder("h2g")
	if before != nil {
		before()
	}

	watch := watchHolders(t, c.lab, "net_192_168_0_0", netip.MustParseAddr(vip))
	start := time.Now()
	out := c.mustHactl(0, "apply", "--auto-approve")
	t.Logf("hactl apply:\n%s", out)
	for _, step := range []string{"c2g: stop and disable " + daemon, "h2g: kill and disable " + daemon} {
		if !strings.Contains(out, step) {
			t.Errorf("apply did not %q", step)
		}
	}
	c.statusShows("running on h2g")
	for _, n := range []string{"h2g", "c2g"} {
		c.onNode(n, "if pgrep -x "+daemon+"; then echo "+daemon+" still runs; exit 1; fi")
	}
	p.waitFor(t, "h2g")
	c.oneHolder("h2g")
	end := time.Now()

	var longest lab.Gap
	for _, g := range p.Gaps(start) {
		if g.Start.Before(end) && g.Length > longest.Length {
			longest = g
		}
	}
	sent, lost := 0, 0
	for _, pr := range p.Since(start) {
		if pr.Sent.Before(end) {
			sent++
			if !pr.OK {
				lost++
			}
		}
	}
	t.Logf("longest gap the client saw during the migration from %s: %s (%d probes sent, %d unanswered; one hactl failover: deadtime %s)", daemon, longest.Length, sent, lost, failover)
	if longest.Length > failover {
		t.Errorf("the VIP went unanswered for %s from %s, longer than one failover (%s)", longest.Length, longest.Start.Format("15:04:05.000"), failover)
	}
	watch.stop()

	// The takeover is done: takes_over changes nothing any more.
	c.mustHactl(0, "plan", "--detailed-exitcode")

	// hactl now owns the VIP: a cut moves it, a heal brings it back.
	if err := c.lab.Cut("h2g", ""); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor("c2g", 20, 2*failover+30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.lab.Heal("h2g", ""); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor("h2g", 20, 2*failover+30*time.Second); err != nil {
		t.Fatal(err)
	}
	c.oneHolder("h2g")
}

// holderWatch asks who answers ARP for an address from the client's
// switch port every 150ms and fails the test on an answer from two nodes
// at once.
type holderWatch struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func watchHolders(t *testing.T, l *lab.Lab, network string, addr netip.Addr) *holderWatch {
	t.Helper()
	a, err := l.NewARPAsker(network)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &holderWatch{cancel: cancel}
	w.wg.Go(func() {
		defer a.Close()
		tick := time.NewTicker(150 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			holders, err := a.WhoHas(addr, 100*time.Millisecond)
			if err != nil {
				t.Errorf("asking who holds %s: %v", addr, err)
				return
			}
			if len(holders) > 1 {
				t.Errorf("at %s, %s answered ARP from %s at once", time.Now().Format("15:04:05.000"), addr, strings.Join(holders, " and "))
			}
		}
	})
	t.Cleanup(w.stop)
	return w
}

// stop ends the watch and waits for its last question.
func (w *holderWatch) stop() {
	w.cancel()
	w.wg.Wait()
}
