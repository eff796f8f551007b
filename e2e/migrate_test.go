package e2e

import (
	"context"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hactl/hactl/e2e/lab"
)

// pairDir holds the keepalived pair that the import's tests read: the
// guide's two-node web setup under keepalived, one directory per host.
const pairDir = "../importer/testdata/keepalived/pair"

// TestKeepalivedPairMigratesToHactl runs a real keepalived pair (Debian's
// keepalived, VRRP between h2g and c2g, the VIP in front of the nodes'
// web servers), imports its files, and carries out docs/import.md's
// migration procedure step by step while the client asks the VIP every
// 10ms and the client's switch port asks who answers ARP for it. The VIP
// must never have two holders and must answer from h2g at the end, under
// hactl (a cut then moves it); the test prints the longest gap the client
// saw during the migration.
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
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range []string{"h2g", "c2g"} {
				out, _ := c.lab.Exec(context.Background(), n, "sh", "-c", "ip -o addr show eth0; ps ax; tail -n 30 /var/log/keepalived.log")
				t.Logf("%s:\n%s", n, out)
			}
		}
	})
	p := startProbe(t, c.lab)
	p.waitFor(t, "h2g")
	c.oneHolder("h2g")

	watch := watchHolders(t, c.lab, "net_192_168_0_0", netip.MustParseAddr(vip))
	start := time.Now()

	// Step 2: keepalived stops on the backup; the master keeps the VIP.
	c.onNode("c2g", "pid=$(cat /run/keepalived.pid) && kill $pid && while kill -0 $pid 2>/dev/null; do sleep 0.1; done")
	p.holds(t, "h2g", time.Second)

	// Step 3: hactl apply. h2g's agent starts the group where keepalived
	// holds the VIP, and adopts the address; c2g's stays standby.
	c.mustHactl(0, "apply", "--auto-approve")
	c.statusShows("running on h2g")

	// Step 4: keepalived on the master is killed, its processes at once
	// (systemctl kill --signal=SIGKILL keepalived), so that it leaves the
	// address to hactl's agent instead of removing it.
	c.onNode("h2g", "kill -KILL $(cat /run/vrrp.pid) $(cat /run/keepalived.pid)")
	c.onNode("h2g", "sleep 1; if pidof keepalived; then echo keepalived still runs; exit 1; fi")
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
	t.Logf("longest gap the client saw during the migration: %s (%d probes sent, %d unanswered; keepalived's own failover takes three adverts and a skew, 3.6s)", longest.Length, sent, lost)
	watch.stop()

	// hactl now owns the VIP: a cut moves it, a heal brings it back.
	if err := c.lab.Cut("h2g", ""); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "c2g")
	if err := c.lab.Heal("h2g", ""); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "h2g")
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
