package monitor

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/monitor/api"
	"github.com/hactl/hactl/agentbin/monitor/snmp/snmptest"
	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// apiGet asks the role's API over its unix socket, as the dashboard does
// through SSH.
func apiGet(t *testing.T, socket, path string, v any) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	resp, err := client.Get("http://monitor" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// The role records the node's history and the SNMP device's, polls a real
// snmpd, and serves both through the API socket and /metrics.
func TestRoleWiresHistorySNMPAndAPI(t *testing.T) {
	port := snmptest.Start(t)
	dir := t.TempDir()
	community := filepath.Join(dir, "community")
	if err := os.WriteFile(community, []byte(snmptest.Community+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &spec.Monitor{Listen: freeAddr(t), IntervalMS: 100, Collectors: []string{"load", "network"},
		Devices: []spec.SNMPDevice{{Name: "lo-snmpd", Address: "127.0.0.1", Port: port, Version: "2c", CommunityPath: community,
			Interfaces: []string{"lo"}, IntervalMS: 200}}}
	st := &status.Status{Healthy: true}
	env := role.Env{StateDir: dir, Status: func() (*status.Status, error) { return st, nil }}
	r := start(t, m, env, http.DefaultClient, "http")

	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + m.Listen + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		fams := parse(t, resp.Body)
		resp.Body.Close()
		up := fams["hactl_snmp_up"]
		if up != nil && up.Metric[0].GetGauge().GetValue() == 1 && fams["hactl_snmp_if_in_octets_total"] != nil {
			break
		}
		if time.Now().After(deadline) {
			var sum status.Status
			r.Report(&sum)
			t.Fatalf("no SNMP samples in /metrics: %v (status error %q)", up, sum.Monitor.Error)
		}
		time.Sleep(100 * time.Millisecond)
	}

	var series api.SeriesList
	for {
		apiGet(t, r.apiSocket, api.SeriesPath, &series)
		if slices.Contains(series.Series, "node_load1") && slices.ContainsFunc(series.Series, func(s string) bool {
			return strings.HasPrefix(s, `hactl_snmp_if_in_octets_total{device="lo-snmpd"`)
		}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("API series %q: want the node's and the device's", series.Series)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var hist api.History
	apiGet(t, r.apiSocket, api.HistoryPath+"?series=node_load1&span=day", &hist)
	if len(hist.Times) == 0 || hist.Avg[len(hist.Avg)-1] == nil || *hist.Avg[len(hist.Avg)-1] != 2.52 {
		t.Errorf("node_load1's day: last point %v, want 2.52", hist.Avg[len(hist.Avg)-1])
	}
	if fi, err := os.Stat(filepath.Join(dir, "monitor", "node")); err != nil || !fi.IsDir() {
		t.Errorf("no node history under the state directory: %v", err)
	}
	if fi, err := os.Stat(r.apiSocket); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("API socket: %v %v", fi, err)
	}
	var sum status.Status
	r.Report(&sum)
	if sum.Monitor.HistoryBytes == 0 {
		t.Error("history size not reported")
	}
}

// A device whose community file is missing is reported; the node's own
// monitoring goes on.
func TestBadDeviceDoesNotStopTheNode(t *testing.T) {
	m := &spec.Monitor{Listen: freeAddr(t), IntervalMS: 100, Collectors: []string{"load"},
		Devices: []spec.SNMPDevice{{Name: "sw", Address: "127.0.0.1", Port: 1, Version: "2c", CommunityPath: "/nonexistent/community", IntervalMS: 1000}}}
	r := start(t, m, role.Env{}, http.DefaultClient, "http")
	var sum status.Status
	r.Report(&sum)
	if sum.Monitor.Load1 != 2.52 || !strings.Contains(sum.Monitor.Error, "/nonexistent/community") {
		t.Errorf("status %+v", sum.Monitor)
	}
}
