package collect

import (
	"math"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/monitor/metric"
)

func TestRatesNeverSpikeOnResetOrWrap(t *testing.T) {
	t0 := time.Unix(1000, 0)
	counter := func(v float64) []metric.Sample {
		return []metric.Sample{{Name: "c_total", Kind: metric.Counter, Value: v}, {Name: "g", Kind: metric.Gauge, Value: v}}
	}
	for _, c := range []struct {
		name   string
		values []float64
		want   []float64 // the counter's rate at each step; NaN: none
	}{
		{"steady", []float64{100, 200, 400}, []float64{math.NaN(), 10, 20}},
		{"reset to zero", []float64{1000, 1100, 5, 105}, []float64{math.NaN(), 10, math.NaN(), 10}},
		{"32-bit wrap", []float64{math.MaxUint32 - 50, 49, 149}, []float64{math.NaN(), math.NaN(), 10}},
		{"unchanged", []float64{7, 7}, []float64{math.NaN(), 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r Rates
			for i, v := range c.values {
				got, gauge := math.NaN(), math.NaN()
				r.Update(t0.Add(time.Duration(i)*10*time.Second), counter(v), func(s *metric.Sample, series string, v float64) {
					if series == "c_total" {
						got = v
					} else {
						gauge = v
					}
				})
				if !(math.IsNaN(got) && math.IsNaN(c.want[i])) && got != c.want[i] {
					t.Errorf("step %d: rate %v, want %v", i, got, c.want[i])
				}
				if gauge != v {
					t.Errorf("step %d: gauge %v, want its value %v", i, gauge, v)
				}
			}
		})
	}
}

func TestRatesForgetSeriesThatWentAway(t *testing.T) {
	var r Rates
	t0 := time.Unix(1000, 0)
	a := []metric.Sample{{Name: "a_total", Kind: metric.Counter, Value: 5}}
	r.Update(t0, a, func(*metric.Sample, string, float64) {})
	r.Update(t0.Add(time.Second), nil, func(*metric.Sample, string, float64) {})
	called := false
	a[0].Value = 1e9
	r.Update(t0.Add(2*time.Second), a, func(*metric.Sample, string, float64) { called = true })
	if called || len(r.last) != 1 {
		t.Errorf("a series back after an absence got a rate (%v), or the map kept %d series", called, len(r.last))
	}
}
