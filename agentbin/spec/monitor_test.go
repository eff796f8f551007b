package spec

import (
	"math"
	"strings"
	"testing"
)

func TestMonitorValidate(t *testing.T) {
	secret := Secret{Name: "monitor-password", Path: "/etc/hactl/secrets/monitor-password", Digest: strings.Repeat("a", 64)}
	base := func() *Spec {
		return &Spec{FormatVersion: FormatVersion, Cluster: "c", Node: "n", Secrets: []Secret{secret},
			Monitor: &Monitor{Listen: "192.168.0.18:9694", IntervalMS: 10000}}
	}
	for _, c := range []struct {
		name   string
		change func(m *Monitor)
		want   string // "" valid
	}{
		{"management address", func(*Monitor) {}, ""},
		{"every address, as asked", func(m *Monitor) { m.Listen = ":9694" }, ""},
		{"IPv6", func(m *Monitor) { m.Listen = "[fd00::1]:9694" }, ""},
		{"no port", func(m *Monitor) { m.Listen = "192.168.0.18" }, "not host:port"},
		{"port out of range", func(m *Monitor) { m.Listen = "192.168.0.18:70000" }, "port must be"},
		{"basic auth from a secret", func(m *Monitor) { m.BasicAuth = &BasicAuth{User: "prom", PasswordPath: secret.Path} }, ""},
		{"basic auth password not a secret", func(m *Monitor) { m.BasicAuth = &BasicAuth{User: "prom", PasswordPath: "/tmp/pw"} }, "password_path must name a secret"},
		{"basic auth without user", func(m *Monitor) { m.BasicAuth = &BasicAuth{PasswordPath: secret.Path} }, "user must have"},
		{"tls key not a secret", func(m *Monitor) { m.TLS = &CertPair{CertPath: secret.Path, KeyPath: "/root/key.pem"} }, "key_path must name a secret"},
		{"threshold", func(m *Monitor) {
			m.Thresholds = []Threshold{{Name: "rx", Metric: `node_network_receive_bytes_total{device="eth0"}`, Above: new(1e6), ForMS: 30000}}
		}, ""},
		{"threshold without limit", func(m *Monitor) { m.Thresholds = []Threshold{{Name: "x", Metric: "node_load1"}} }, "needs above or below"},
		{"threshold NaN", func(m *Monitor) {
			m.Thresholds = []Threshold{{Name: "x", Metric: "node_load1", Below: new(math.NaN())}}
		}, "finite"},
		{"threshold bad selector", func(m *Monitor) { m.Thresholds = []Threshold{{Name: "x", Metric: "node load", Above: new(1.0)}} }, "metric name"},
		{"threshold twice", func(m *Monitor) {
			m.Thresholds = []Threshold{{Name: "x", Metric: "a", Above: new(1.0)}, {Name: "x", Metric: "b", Above: new(1.0)}}
		}, "unique"},
		{"threshold for too long", func(m *Monitor) {
			m.Thresholds = []Threshold{{Name: "x", Metric: "a", Above: new(1.0), ForMS: 365 * day}}
		}, "for_ms"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := base()
			c.change(s.Monitor)
			err := s.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}
