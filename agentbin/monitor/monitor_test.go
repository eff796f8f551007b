package monitor

import (
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

type events struct {
	mu  sync.Mutex
	all []status.Event
}

func (e *events) emit(ev status.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
}

func (e *events) kinds() []status.EventKind {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []status.EventKind
	for _, ev := range e.all {
		out = append(out, ev.Kind)
	}
	return out
}

// start runs the role for m on the fixtures' /proc until the test ends,
// and waits until /metrics answers.
func start(t *testing.T, m *spec.Monitor, env role.Env, client *http.Client, scheme string) *Role {
	t.Helper()
	if env.StateDir == "" {
		env.StateDir = t.TempDir()
	}
	inst, err := Kind{}.New(&spec.Spec{Node: "h2g", Monitor: m}, env)
	if err != nil {
		t.Fatal(err)
	}
	r := inst.(*Role)
	r.procRoot, r.sysRoot = "collect/testdata/proc", "collect/testdata/sys"
	r.apiSocket = filepath.Join(t.TempDir(), "monitor.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	// Ready when the first collection is made and the port answers (with
	// basic auth, a 401).
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := client.Get(scheme + "://" + m.Listen + "/metrics")
		if err == nil {
			resp.Body.Close()
			if r.latest.Load() != nil {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics does not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func parse(t *testing.T, body io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(body)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	return families
}

func TestMetricsParseAndCarryNodeAndClusterFigures(t *testing.T) {
	m := &spec.Monitor{Listen: freeAddr(t), IntervalMS: 50, Collectors: []string{"load", "memory", "network", "heartbeat"},
		Thresholds: []spec.Threshold{{Name: "load", Metric: "node_load1", Above: new(2.0)}, {Name: "rx", Metric: `node_network_receive_bytes_total{device="eth0"}`, Above: new(1.0)}}}
	st := &status.Status{Healthy: true, Heartbeat: &status.Heartbeat{Quorate: true,
		Members: []status.Member{{Name: "h2g", Self: true, Alive: true}, {Name: "c2g", Alive: true, Links: []status.Link{{Name: "lan", Up: true, RTTMS: 0.25}}}},
		Groups:  []status.Group{{Name: "web", RunningOn: []string{"h2g"}}}}}
	var evs events
	env := role.Env{Status: func() (*status.Status, error) { return st, nil }, Emit: evs.emit}
	r := start(t, m, env, http.DefaultClient, "http")
	// The fixtures' counters do not move: their rate is 0, under rx's
	// limit; the load is over its limit from the first collection.
	if got := evs.kinds(); len(got) != 1 || got[0] != status.ThresholdExceeded {
		t.Errorf("events %v, want one threshold_exceeded (load)", got)
	}

	resp, err := http.Get("http://" + m.Listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	fams := parse(t, resp.Body)
	for name, want := range map[string]float64{"node_load1": 2.52, "node_memory_MemTotal_bytes": 24683584 * 1024, "hactl_heartbeat_quorate": 1} {
		f := fams[name]
		if f == nil || f.GetType() != dto.MetricType_GAUGE || f.Metric[0].GetGauge().GetValue() != want {
			t.Errorf("%s: %v, want the gauge %v", name, f, want)
		}
	}
	if f := fams["node_network_receive_bytes_total"]; f == nil || f.GetType() != dto.MetricType_COUNTER || len(f.Metric) != 2 {
		t.Errorf("node_network_receive_bytes_total: %v, want a counter per interface", f)
	}
	if f := fams["hactl_group_holder"]; f == nil || len(f.Metric) != 2 {
		t.Errorf("hactl_group_holder: %v, want one per member", f)
	}
	if f := fams["node_cpu_seconds_total"]; f != nil {
		t.Error("cpu collected though not asked")
	}

	var got status.Status
	r.Report(&got)
	if s := got.Monitor; s == nil || s.Load1 != 2.52 || s.MemoryAvailableBytes != 23966880*1024 || s.Series == 0 || s.Listen != m.Listen || s.Error != "" ||
		len(s.Exceeded) != 1 || s.Exceeded[0] != "load node_load1" {
		t.Errorf("status %+v", got.Monitor)
	}

	for path, code := range map[string]int{"/": 404, "/api/v1/series": 404, "/metrics?x=1": 200} {
		resp, err := http.Get("http://" + m.Listen + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, code)
		}
	}
	resp, err = http.Post("http://"+m.Listen+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}

func TestMetricsGzipped(t *testing.T) {
	m := &spec.Monitor{Listen: freeAddr(t), IntervalMS: 1000, Collectors: []string{"load"}}
	start(t, m, role.Env{}, http.DefaultClient, "http")
	req, _ := http.NewRequest(http.MethodGet, "http://"+m.Listen+"/metrics", nil)
	// Set by hand, the transport leaves the body compressed.
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("not gzipped: %v", resp.Header)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if fams := parse(t, zr); fams["node_load5"] == nil {
		t.Errorf("no node_load5 in %v", fams)
	}
}

func TestBasicAuthAndTLS(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := selfSigned(t, dir)
	pwPath := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwPath, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &spec.Monitor{Listen: freeAddr(t), IntervalMS: 1000, Collectors: []string{"load"},
		BasicAuth: &spec.BasicAuth{User: "prom", PasswordPath: pwPath}, TLS: &spec.CertPair{CertPath: certPath, KeyPath: keyPath}}
	pem, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	start(t, m, role.Env{}, client, "https")
	for _, c := range []struct {
		user, pw string
		want     int
	}{{"prom", "s3cret", 200}, {"prom", "wrong", 401}, {"other", "s3cret", 401}, {"", "", 401}} {
		req, _ := http.NewRequest(http.MethodGet, "https://"+m.Listen+"/metrics", nil)
		if c.user != "" {
			req.SetBasicAuth(c.user, c.pw)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s:%s: %d, want %d", c.user, c.pw, resp.StatusCode, c.want)
		}
	}
	// Plain HTTP to the TLS listener gets Go's 400, never the metrics.
	if resp, err := http.Get("http://" + m.Listen + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served")
		}
	}
}

func TestNewFailsOnMissingSecrets(t *testing.T) {
	for _, m := range []*spec.Monitor{
		{Listen: "127.0.0.1:1", BasicAuth: &spec.BasicAuth{User: "u", PasswordPath: "/nonexistent/pw"}},
		{Listen: "127.0.0.1:1", TLS: &spec.CertPair{CertPath: "/nonexistent/c", KeyPath: "/nonexistent/k"}},
	} {
		if _, err := (Kind{}).New(&spec.Spec{Monitor: m}, role.Env{}); err == nil || !strings.Contains(err.Error(), "/nonexistent/") {
			t.Errorf("New: %v, want an error naming the file", err)
		}
	}
}

func TestRunFailsOnAnAddressNotOfThisNode(t *testing.T) {
	inst, err := Kind{}.New(&spec.Spec{Monitor: &spec.Monitor{Listen: "192.0.2.1:9694", IntervalMS: 1000}}, role.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "192.0.2.1:9694") {
		t.Errorf("Run: %v, want an error naming the address", err)
	}
}

func selfSigned(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "h2g"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}
