package e2e

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hactl/hactl/agentbin/monitor/metric"
	"github.com/hactl/hactl/e2e/lab"
)

// The monitor role in the lab: every node's /metrics, scraped from ctl as
// a Prometheus server on the management network would, parses with
// Prometheus' own text parser and agrees with the node's /proc; a failover
// shows in the metrics, and a threshold on them runs the notify command.

// monitorHCL adds monitoring every second, and a threshold on a dead
// member that the notify command records.
func monitorHCL(hcl string) string {
	return hcl + `
monitor {
  interval = "1s"
  threshold "peer_dead" {
    metric = "hactl_member_alive{member=\"h2g\"}"
    below  = 1
  }
}

notify "record" {
  command = "/usr/local/bin/record-event"
  events  = ["threshold_exceeded", "threshold_cleared"]
}
`
}

// scrape reads a node's /metrics from ctl, where listen defaults to: its
// SSH address, port 9694.
func (c *cluster) tryScrape(node string) (map[string]*dto.MetricFamily, error) {
	ssh, err := c.lab.SSHAddress(node)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(ssh)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, "9694")+"/metrics", nil)
	resp, err := c.lab.HTTPClient(lab.Ctl).Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", node, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s: %s", node, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		c.t.Fatalf("%s's /metrics does not parse: %v", node, err)
	}
	return fams, nil
}

// scrape is tryScrape that fails the test on an error.
func (c *cluster) scrape(node string) map[string]*dto.MetricFamily {
	c.t.Helper()
	fams, err := c.tryScrape(node)
	if err != nil {
		c.t.Fatal(err)
	}
	return fams
}

// value is the series' value in a scrape; ok false when it is absent.
func value(fams map[string]*dto.MetricFamily, series string) (float64, bool) {
	sel, err := metric.ParseSelector(series)
	if err != nil {
		panic(err)
	}
	f := fams[sel.Name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.Metric {
		s := metric.Sample{Name: sel.Name}
		for _, l := range m.Label {
			s.Labels = append(s.Labels, metric.Label{Name: l.GetName(), Value: l.GetValue()})
		}
		if sel.Matches(&s) && len(s.Labels) == len(sel.Labels) {
			if m.Counter != nil {
				return m.Counter.GetValue(), true
			}
			return m.Gauge.GetValue(), true
		}
	}
	return 0, false
}

// procNumber reads field (0-based, after the line's name) of the line of
// a node's /proc file that starts with prefix.
func (c *cluster) procNumber(node, file, prefix string, field int) float64 {
	c.t.Helper()
	for line := range strings.Lines(c.onNode(node, "cat "+file)) {
		// /proc/net/dev may join a name and a long counter: "eth0:123".
		line = strings.Replace(line, ":", ": ", 1)
		name, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		if prefix != "" && strings.TrimSpace(name) != prefix {
			continue
		}
		f := strings.Fields(rest)
		if prefix == "" {
			f = append([]string{name}, f...)
		}
		v, err := strconv.ParseFloat(f[field], 64)
		if err != nil {
			c.t.Fatalf("%s: %s: %v", node, file, err)
		}
		return v
	}
	c.t.Fatalf("%s: %s has no line %q", node, file, prefix)
	return 0
}

// waitMetric scrapes a node until want holds of the series' value.
func (c *cluster) waitMetric(node, series string, want func(float64) bool, what string) float64 {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Until the first collection is made, /metrics answers 503.
		fams, err := c.tryScrape(node)
		v, ok := value(fams, series)
		if ok && want(v) {
			return v
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: %s = %v (given: %v; scrape error: %v), want %s", node, series, v, ok, err, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestMetricsMatchProcAndShowAFailover(t *testing.T) {
	c := webCluster(t, monitorHCL)
	for _, n := range []string{"h2g", "c2g"} {
		c.onNode(n, "cat > /usr/local/bin/record-event <<'EOF'\n"+recordEvent+"EOF\nchmod 755 /usr/local/bin/record-event")
	}
	p := startProbe(t, c.lab)
	p.waitFor(t, "h2g")
	for _, n := range []string{"h2g", "c2g"} {
		c.waitMetric(n, `hactl_group_holder{group="web",node="h2g"}`, func(v float64) bool { return v == 1 }, "1: h2g runs web")

		// A counter the heartbeats keep moving, read from the node's
		// /proc before and after a collection: the scrape's is between.
		before := c.procNumber(n, "/proc/net/dev", "eth0:", 0)
		time.Sleep(1500 * time.Millisecond)
		fams := c.scrape(n)
		after := c.procNumber(n, "/proc/net/dev", "eth0:", 0)
		if rx, ok := value(fams, `node_network_receive_bytes_total{device="eth0"}`); !ok || rx < before || rx > after {
			t.Errorf("%s: eth0 received %v bytes (given: %v); /proc/net/dev said %v before and %v after", n, rx, ok, before, after)
		}
		if total, ok := value(fams, "node_memory_MemTotal_bytes"); !ok || total != c.procNumber(n, "/proc/meminfo", "MemTotal:", 0)*1024 {
			t.Errorf("%s: MemTotal %v (given: %v), /proc/meminfo disagrees", n, total, ok)
		}
		avail := c.procNumber(n, "/proc/meminfo", "MemAvailable:", 0) * 1024
		if v, ok := value(fams, "node_memory_MemAvailable_bytes"); !ok || math.Abs(v-avail) > 0.1*avail {
			t.Errorf("%s: MemAvailable %v (given: %v), /proc/meminfo says %v", n, v, ok, avail)
		}
		load := c.procNumber(n, "/proc/loadavg", "", 0)
		if v, ok := value(fams, "node_load1"); !ok || math.Abs(v-load) > 0.5+0.25*load {
			t.Errorf("%s: node_load1 %v (given: %v), /proc/loadavg says %v", n, v, ok, load)
		}
		if f := fams["node_cpu_seconds_total"]; f == nil || f.GetType() != dto.MetricType_COUNTER {
			t.Errorf("%s: no node_cpu_seconds_total counter", n)
		}
		if v, ok := value(fams, `hactl_heartbeat_link_up{link="lan",member="`+map[string]string{"h2g": "c2g", "c2g": "h2g"}[n]+`"}`); !ok || v != 1 {
			t.Errorf("%s: lan link to the peer up = %v (given: %v)", n, v, ok)
		}
	}
	out := c.mustHactl(0, "status")
	if !strings.Contains(out, "Metrics (") || !strings.Contains(out, "load ") {
		t.Errorf("hactl status has no metrics lines:\n%s", out)
	}

	if err := c.lab.Cut("h2g", ""); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "c2g")
	c.waitMetric("c2g", `hactl_group_holder{group="web",node="c2g"}`, func(v float64) bool { return v == 1 }, "1: c2g took web over")
	c.waitMetric("c2g", `hactl_failovers_total{group="web"}`, func(v float64) bool { return v >= 1 }, "at least 1")
	d := c.waitMetric("c2g", `hactl_failover_duration_seconds{group="web"}`, func(v float64) bool { return v > 0 && v < 10 }, "between 0 and 10 s")
	t.Logf("failover as c2g measured it: %.3fs", d)
	c.waitMetric("c2g", `hactl_member_alive{member="h2g"}`, func(v float64) bool { return v == 0 }, "0: h2g is dead")
	c.recorded("c2g", "threshold_exceeded c2g ")
}
