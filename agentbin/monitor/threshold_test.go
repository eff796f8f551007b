package monitor

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

func TestThresholdEvents(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const missing = math.MaxFloat64 // no value this collection
	for _, c := range []struct {
		name   string
		th     spec.Threshold
		values []float64 // one per 10 s collection
		want   []status.EventKind
	}{
		{"above at once", spec.Threshold{Above: new(4.0)}, []float64{1, 5, 6, 3},
			[]status.EventKind{status.ThresholdExceeded, status.ThresholdCleared}},
		{"for: a short peak is not reported", spec.Threshold{Above: new(4.0), ForMS: 20000}, []float64{5, 5, 1, 5, 5, 5, 5},
			[]status.EventKind{status.ThresholdExceeded}},
		{"below", spec.Threshold{Below: new(100.0)}, []float64{200, 50, 50, 150},
			[]status.EventKind{status.ThresholdExceeded, status.ThresholdCleared}},
		{"band", spec.Threshold{Above: new(10.0), Below: new(1.0)}, []float64{5, 11, 0.5, 5},
			[]status.EventKind{status.ThresholdExceeded, status.ThresholdCleared}},
		{"at the limit is within", spec.Threshold{Above: new(4.0)}, []float64{4, 4}, nil},
		{"a missing value keeps the state", spec.Threshold{Above: new(4.0)}, []float64{5, missing, 5, 3},
			[]status.EventKind{status.ThresholdExceeded, status.ThresholdCleared}},
		{"a series gone is cleared", spec.Threshold{Above: new(4.0)}, []float64{5, missing, missing, missing},
			[]status.EventKind{status.ThresholdExceeded, status.ThresholdCleared}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.th.Name, c.th.Metric = "x", "node_load1"
			ts, err := newThresholds([]spec.Threshold{c.th})
			if err != nil {
				t.Fatal(err)
			}
			var got []status.EventKind
			var details []string
			emit := func(ev status.Event) {
				got = append(got, ev.Kind)
				details = append(details, ev.Detail)
				if ev.Node != "h2g" {
					t.Errorf("event of node %q", ev.Node)
				}
			}
			for i, v := range c.values {
				now := t0.Add(time.Duration(i) * 10 * time.Second)
				if v != missing {
					ts[0].observe("node_load1", v, now, "h2g", emit)
				}
				ts[0].sweep(now, 25*time.Second, "h2g", emit)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("events %v, want %v (%q)", got, c.want, details)
			}
			for _, d := range details {
				if !strings.HasPrefix(d, "x: node_load1") {
					t.Errorf("detail %q does not name the threshold and series", d)
				}
			}
		})
	}
}
