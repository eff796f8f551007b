package monitor

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"sync"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/hactl/hactl/agentbin/monitor/metric"
)

// exposition is one collection encoded in the Prometheus text format, and
// gzipped on the first scrape that asks for it.
type exposition struct {
	text []byte
	once sync.Once
	gz   []byte
}

// encode writes the samples in the text format, families in the order
// their first sample came (collectors keep related series together).
func encode(samples []metric.Sample) ([]byte, error) {
	var families []*dto.MetricFamily
	byName := map[string]*dto.MetricFamily{}
	for i := range samples {
		s := &samples[i]
		mf := byName[s.Name]
		if mf == nil {
			mf = &dto.MetricFamily{Name: &s.Name}
			if s.Help != "" {
				mf.Help = &s.Help
			}
			typ := dto.MetricType_GAUGE
			if s.Kind == metric.Counter {
				typ = dto.MetricType_COUNTER
			}
			mf.Type = &typ
			byName[s.Name] = mf
			families = append(families, mf)
		}
		m := &dto.Metric{Label: make([]*dto.LabelPair, len(s.Labels))}
		for j := range s.Labels {
			m.Label[j] = &dto.LabelPair{Name: &s.Labels[j].Name, Value: &s.Labels[j].Value}
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
	buf.Grow(64 * len(samples))
	for _, mf := range families {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			return nil, fmt.Errorf("encoding %s: %w", mf.GetName(), err)
		}
	}
	return buf.Bytes(), nil
}

func (e *exposition) gzipped() []byte {
	e.once.Do(func() {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		_, _ = zw.Write(e.text)
		_ = zw.Close()
		e.gz = buf.Bytes()
	})
	return e.gz
}
