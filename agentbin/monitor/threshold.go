package monitor

import (
	"fmt"
	"slices"
	"time"

	"github.com/hactl/hactl/agentbin/monitor/metric"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// threshold is a spec threshold and the state of each series it watches.
type threshold struct {
	spec.Threshold
	sel    metric.Selector
	forDur time.Duration
	series map[string]*watched
}

// watched is one series of a threshold: since when it has been beyond
// the limit (zero: it is not), whether that was reported, and when it
// last had a value.
type watched struct {
	since    time.Time
	exceeded bool
	seen     time.Time
}

func newThresholds(ts []spec.Threshold) ([]*threshold, error) {
	var out []*threshold
	for _, t := range ts {
		sel, err := metric.ParseSelector(t.Metric)
		if err != nil {
			return nil, fmt.Errorf("threshold %q: %w", t.Name, err)
		}
		out = append(out, &threshold{Threshold: t, sel: sel, forDur: time.Duration(t.ForMS) * time.Millisecond, series: map[string]*watched{}})
	}
	return out, nil
}

// beyond says whether v is past a limit, and which.
func (t *threshold) beyond(v float64) (string, bool) {
	if t.Above != nil && v > *t.Above {
		return fmt.Sprintf("above %g", *t.Above), true
	}
	if t.Below != nil && v < *t.Below {
		return fmt.Sprintf("below %g", *t.Below), true
	}
	return "", false
}

// observe takes one series' value (a gauge's, a counter's rate) at now.
func (t *threshold) observe(series string, v float64, now time.Time, node string, emit func(status.Event)) {
	w := t.series[series]
	if w == nil {
		w = &watched{}
		t.series[series] = w
	}
	w.seen = now
	limit, out := t.beyond(v)
	switch {
	case out && w.since.IsZero():
		w.since = now
	case !out:
		w.since = time.Time{}
		if w.exceeded {
			w.exceeded = false
			emit(status.Event{Time: now.UTC(), Kind: status.ThresholdCleared, Node: node, Detail: fmt.Sprintf("%s: %s = %g, within the limit again", t.Name, series, v)})
		}
		return
	}
	if !w.exceeded && now.Sub(w.since) >= t.forDur {
		w.exceeded = true
		emit(status.Event{Time: now.UTC(), Kind: status.ThresholdExceeded, Node: node, Detail: fmt.Sprintf("%s: %s = %g, %s for %s", t.Name, series, v, limit, now.Sub(w.since).Round(time.Second))})
	}
}

// sweep forgets the series without a value for longer than maxAge; one
// that was exceeded is reported cleared.
func (t *threshold) sweep(now time.Time, maxAge time.Duration, node string, emit func(status.Event)) {
	for series, w := range t.series {
		if now.Sub(w.seen) <= maxAge {
			continue
		}
		if w.exceeded {
			emit(status.Event{Time: now.UTC(), Kind: status.ThresholdCleared, Node: node, Detail: fmt.Sprintf("%s: %s is no longer collected", t.Name, series)})
		}
		delete(t.series, series)
	}
}

// exceeded lists "NAME series" for each series beyond its limit now.
func exceeded(ts []*threshold) []string {
	var out []string
	for _, t := range ts {
		for series, w := range t.series {
			if w.exceeded {
				out = append(out, t.Name+" "+series)
			}
		}
	}
	slices.Sort(out)
	return out
}
