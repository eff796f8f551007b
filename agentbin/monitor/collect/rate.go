package collect

import (
	"time"

	"github.com/hactl/hactl/agentbin/monitor/metric"
)

// Rates gives each sample of successive collections the value thresholds
// and summaries read: a gauge's value, a counter's per-second rate since
// the previous collection. A counter seen for the first time, or lower
// than before (its source restarted, or a 32-bit counter wrapped), has no
// rate this time: a wrong guess would be a spike.
type Rates struct {
	last map[string]rated
	gen  uint64
}

type rated struct {
	v   float64
	t   time.Time
	gen uint64
}

// Update takes the samples collected at t and calls fn with each one that
// has a value, and its series key. Series absent from this collection are
// forgotten.
func (r *Rates) Update(t time.Time, samples []metric.Sample, fn func(s *metric.Sample, series string, v float64)) {
	if r.last == nil {
		r.last = map[string]rated{}
	}
	r.gen++
	for i := range samples {
		s := &samples[i]
		key := s.Series()
		if s.Kind != metric.Counter {
			fn(s, key, s.Value)
			continue
		}
		prev, seen := r.last[key]
		r.last[key] = rated{v: s.Value, t: t, gen: r.gen}
		if !seen || s.Value < prev.v || !t.After(prev.t) {
			continue
		}
		fn(s, key, (s.Value-prev.v)/t.Sub(prev.t).Seconds())
	}
	for k, v := range r.last {
		if v.gen != r.gen {
			delete(r.last, k)
		}
	}
}
