package monitor

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/hactl/hactl/agentbin/monitor/collect"
	"github.com/hactl/hactl/agentbin/monitor/metric"
	"github.com/hactl/hactl/agentbin/status"
)

// expfmtText is the samples as prometheus/common's expfmt writes them:
// the reference the agent's own encoder must match byte for byte.
func expfmtText(t *testing.T, samples []metric.Sample) []byte {
	t.Helper()
	var families []*dto.MetricFamily
	byName := map[string]*dto.MetricFamily{}
	for i := range samples {
		s := &samples[i]
		mf := byName[s.Name]
		if mf == nil {
			typ := dto.MetricType_GAUGE
			if s.Kind == metric.Counter {
				typ = dto.MetricType_COUNTER
			}
			mf = &dto.MetricFamily{Name: &s.Name, Type: &typ}
			if s.Help != "" {
				mf.Help = &s.Help
			}
			byName[s.Name] = mf
			families = append(families, mf)
		}
		m := &dto.Metric{}
		for j := range s.Labels {
			m.Label = append(m.Label, &dto.LabelPair{Name: &s.Labels[j].Name, Value: &s.Labels[j].Value})
		}
		v := s.Value
		if s.Kind == metric.Counter {
			m.Counter = &dto.Counter{Value: &v}
		} else {
			m.Gauge = &dto.Gauge{Value: &v}
		}
		mf.Metric = append(mf.Metric, m)
	}
	var buf bytes.Buffer
	for _, mf := range families {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestEncodeWritesWhatExpfmtWrites(t *testing.T) {
	// The fixture's mounts are not this machine's: statfs fails on them,
	// the rest is collected.
	fixture, _ := collect.NewNode("collect/testdata/proc", "collect/testdata/sys", collect.NodeCollectors).Collect(nil)
	if len(fixture) < 50 {
		t.Fatalf("the node fixture gave %d samples", len(fixture))
	}
	st := &status.Status{Healthy: true, Heartbeat: &status.Heartbeat{Quorate: true,
		Members: []status.Member{{Name: "h2g", Self: true, Alive: true}, {Name: "c2g", Alive: true, Links: []status.Link{{Name: "lan", Up: true, RTTMS: 0.25}}}}}}
	cluster := collect.NewCluster([]string{"heartbeat"}).Collect(nil, st, time.Unix(1_800_000_000, 0))
	for _, tc := range []struct {
		name    string
		samples []metric.Sample
	}{
		{"node fixture", fixture},
		{"cluster", cluster},
		{"none", nil},
		{"values", []metric.Sample{
			{Name: "v", Kind: metric.Gauge, Value: 0}, {Name: "v", Kind: metric.Gauge, Value: 1}, {Name: "v", Kind: metric.Gauge, Value: -1},
			{Name: "v", Kind: metric.Gauge, Value: 0.1}, {Name: "v", Kind: metric.Gauge, Value: 1e21}, {Name: "v", Kind: metric.Gauge, Value: 123456789},
			{Name: "v", Kind: metric.Gauge, Value: math.NaN()}, {Name: "v", Kind: metric.Gauge, Value: math.Inf(1)}, {Name: "v", Kind: metric.Gauge, Value: math.Inf(-1)},
			{Name: "v", Kind: metric.Gauge, Value: math.Copysign(0, -1)}, {Name: "v", Kind: metric.Gauge, Value: 5e-324},
		}},
		{"escapes", []metric.Sample{
			{Name: "snmp_if_in_octets_total", Help: "a \\ help\nover two lines \"quoted\"", Kind: metric.Counter, Value: 3,
				Labels: []metric.Label{{Name: "device", Value: "ge-0/0/1 \"uplink\"\\\nnext"}, {Name: "name", Value: "ünïcode ☃"}}},
		}},
		{"a family split by another", []metric.Sample{
			{Name: "a", Kind: metric.Counter, Value: 1, Labels: []metric.Label{{Name: "x", Value: "1"}}},
			{Name: "b", Kind: metric.Gauge, Value: 2},
			{Name: "a", Kind: metric.Counter, Value: 3, Labels: []metric.Label{{Name: "x", Value: "2"}}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := expfmtText(t, tc.samples)
			for _, hint := range []int{0, 10, 1 << 16} {
				if got := encode(tc.samples, hint); !bytes.Equal(got, want) {
					t.Errorf("size hint %d: encode wrote\n%s\nexpfmt writes\n%s", hint, got, want)
				}
			}
			if len(tc.samples) > 0 {
				parse(t, strings.NewReader(string(encode(tc.samples, 0))))
			}
		})
	}
}

// TestEveryExpositionGzipsToItsOwnText: the one compressor, reset for
// each exposition, never mixes one's bytes into another's, even when
// scrapes of different collections gzip at once.
func TestEveryExpositionGzipsToItsOwnText(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			text := []byte(strings.Repeat(fmt.Sprintf("node_load1 %d\n", i), 100+i*50))
			e := &exposition{text: text}
			zr, err := gzip.NewReader(bytes.NewReader(e.gzipped()))
			if err != nil {
				t.Error(err)
				return
			}
			got, err := io.ReadAll(zr)
			if err != nil {
				t.Error(err)
				return
			}
			if !bytes.Equal(got, text) {
				t.Errorf("exposition %d gunzips to %d bytes, not its own %d", i, len(got), len(text))
			}
		}()
	}
	wg.Wait()
}
