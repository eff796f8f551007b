package e2e

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/monitor/history"
	"github.com/hactl/hactl/agentbin/monitor/metric"
	"github.com/hactl/hactl/agentbin/monitor/snmp"
	"github.com/hactl/hactl/agentbin/monitor/snmp/snmptest"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/e2e/lab"
)

// The guide's chapter 6.1: c2g runs Net-SNMP's snmpd, and the manager
// polls its interface traffic over the LAN: the poller from the lab's
// ctl, with v2c and with v3 authPriv, into the monitor's history; and
// h2g's agent, which the HCL makes c2g's SNMP manager, into its /metrics.
func TestSNMPDeviceInALabNodeGivesItsInterfaceTraffic(t *testing.T) {
	if _, err := exec.LookPath("snmpd"); err != nil {
		t.Skip("snmpd is not installed (apt-get install snmpd): the test needs a real Net-SNMP agent")
	}
	c := webCluster(t, func(hcl string) string {
		return hcl + `
monitor {
  nodes    = [node.h2g]
  interval = "1s"
  snmp_device "c2g" {
    address    = cidrhost(local.lan, 17)
    community  = "` + snmptest.Community + `"
    interfaces = ["eth0"]
    interval   = "2s"
  }
}
`
	})
	const node, dir = "c2g", "/tmp/hactl-snmptest"
	ssh, err := c.lab.SSHAddress(node)
	if err != nil {
		t.Fatal(err)
	}
	addr, _, err := net.SplitHostPort(ssh)
	if err != nil {
		t.Fatal(err)
	}
	c.onNode(node, fmt.Sprintf("mkdir -p %s && cat > %s/snmpd.conf <<'EOF'\n%sEOF", dir, dir, snmptest.Config("udp:161")))
	c.onNode(node, fmt.Sprintf("setsid %s > %s/log 2>&1 < /dev/null &", strings.Join(snmptest.Command(dir), " "), dir))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("snmpd's log:\n%s", c.onNode(node, "cat "+dir+"/log"))
		}
	})

	secrets := t.TempDir()
	for name, v := range map[string]string{"community": snmptest.Community, "auth": snmptest.AuthPass, "priv": snmptest.PrivPass} {
		if err := os.WriteFile(filepath.Join(secrets, "snmp-c2g-"+name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := spec.SNMPDevice{Name: node, Address: addr, Port: 161, Interfaces: []string{"eth0"}, OIDs: []string{"1.3.6.1.2.1.1.3.0"}}
	v2c, v3 := base, base
	v2c.Version, v2c.CommunityPath = "2c", "/etc/hactl/secrets/snmp-c2g-community"
	v3.Version, v3.User, v3.SecurityLevel = "3", snmptest.PrivUser, "authPriv"
	v3.AuthProtocol, v3.AuthPasswordPath = "SHA256", "/etc/hactl/secrets/snmp-c2g-auth"
	v3.PrivProtocol, v3.PrivPasswordPath = "AES", "/etc/hactl/secrets/snmp-c2g-priv"

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store, err := history.Open(t.TempDir(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	eth0 := metric.Label{Name: "interface", Value: "eth0"}
	want := metric.Sample{Name: "hactl_snmp_if_in_octets_total", Labels: []metric.Label{{Name: "device", Value: node}, eth0}}.Series()
	for _, dev := range []spec.SNMPDevice{v2c, v3} {
		t.Run("v"+dev.Version, func(t *testing.T) {
			// The poller's socket is made in ctl, which is on the LAN.
			var p *snmp.Poller
			if err := c.lab.InNetns(lab.Ctl, func() error {
				var err error
				p, err = snmp.NewPoller(dev, secrets)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			// snmpd was started in the background: wait for its answer.
			var samples []metric.Sample
			deadline := time.Now().Add(20 * time.Second)
			for samples, err = p.Poll(ctx); err != nil; samples, err = p.Poll(ctx) {
				if time.Now().After(deadline) {
					t.Fatalf("c2g's snmpd never answered: %v", err)
				}
				time.Sleep(500 * time.Millisecond)
			}
			if err := store.Record(time.Now(), samples); err != nil {
				t.Fatal(err)
			}
			// Traffic into c2g's eth0: 200 pings of 1400 bytes from ctl.
			if out, err := c.lab.Exec(ctx, lab.Ctl, "ping", "-q", "-c", "200", "-i", "0.01", "-s", "1400", addr); err != nil {
				t.Fatalf("ping: %v\n%s", err, out)
			}
			rx := c.rxBytes(node, "eth0")
			before := sampleValue(t, samples, want)
			if rx-before < 200*1400 {
				t.Fatalf("eth0 received %v bytes by /sys and %v by SNMP before the pings", rx, before)
			}
			// snmpd caches its interface table for a few seconds; it
			// must come to show what the kernel counted, and no more.
			deadline = time.Now().Add(30 * time.Second)
			first := time.Now()
			for {
				samples, err = p.Poll(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if err := store.Record(time.Now(), samples); err != nil {
					t.Fatal(err)
				}
				got := sampleValue(t, samples, want)
				if now := c.rxBytes(node, "eth0"); got > now {
					t.Fatalf("SNMP says eth0 received %v bytes, /sys %v", got, now)
				}
				if got >= rx {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("SNMP's ifHCInOctets of eth0 stayed at %v, below the %v /sys counted", got, rx)
				}
				time.Sleep(time.Second)
			}
			if up := sampleValue(t, samples, metric.Sample{Name: "hactl_snmp_if_oper_up", Labels: []metric.Label{{Name: "device", Value: node}, eth0}}.Series()); up != 1 {
				t.Errorf("eth0's oper status: %v, want up (1)", up)
			}
			if mem := sampleValue(t, samples, metric.Sample{Name: "hactl_snmp_memory_total_bytes", Labels: []metric.Label{{Name: "device", Value: node}}}.Series()); mem <= 0 {
				t.Errorf("memory total %v", mem)
			}
			// The history turned the counter into a rate: the pings'
			// bytes show in the minute they fell in.
			points, err := store.Fetch(want, history.Day, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			peak := 0.0
			for _, pt := range points[len(points)-3:] {
				if !math.IsNaN(pt.Max) {
					peak = max(peak, pt.Max)
				}
			}
			if peak <= 0 {
				t.Errorf("no rate of eth0's traffic in the history since %v: %+v", first, points[len(points)-3:])
			}
		})
	}

	t.Run("agent", func(t *testing.T) {
		// h2g's agent polls c2g every 2 s: its /metrics shows what
		// c2g's kernel counted into eth0.
		rx := c.rxBytes(node, "eth0")
		series := `hactl_snmp_if_in_octets_total{device="c2g",interface="eth0"}`
		deadline := time.Now().Add(60 * time.Second)
		for {
			fams := c.scrape("h2g")
			got, ok := value(fams, series)
			up, _ := value(fams, `hactl_snmp_up{device="c2g"}`)
			if ok && up == 1 && got >= rx {
				if now := c.rxBytes(node, "eth0"); got > now {
					t.Fatalf("h2g says c2g's eth0 received %v bytes, c2g's /sys %v", got, now)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("h2g's /metrics: %s = %v (present %v), hactl_snmp_up %v; c2g's /sys had %v", series, got, ok, up, rx)
			}
			time.Sleep(time.Second)
		}
	})
}

// rxBytes is what the node's kernel counted into iface.
func (c *cluster) rxBytes(node, iface string) float64 {
	c.t.Helper()
	out := c.onNode(node, "cat /sys/class/net/"+iface+"/statistics/rx_bytes")
	v, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
	if err != nil {
		c.t.Fatalf("rx_bytes of %s on %s: %q", iface, node, out)
	}
	return v
}

func sampleValue(t *testing.T, samples []metric.Sample, series string) float64 {
	t.Helper()
	for _, s := range samples {
		if s.Series() == series {
			return s.Value
		}
	}
	t.Fatalf("no %s in %v", series, samples)
	return 0
}
