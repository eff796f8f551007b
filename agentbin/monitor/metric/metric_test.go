package metric

import "testing"

func TestSeriesSortsLabelsAndQuotesValues(t *testing.T) {
	for _, c := range []struct {
		sample Sample
		want   string
	}{
		{Sample{Name: "node_load1"}, "node_load1"},
		{Sample{Name: "x", Labels: []Label{{"b", "2"}, {"a", "1"}}}, `x{a="1",b="2"}`},
		{Sample{Name: "x", Labels: []Label{{"device", "e\"th\n0"}}}, `x{device="e\"th\n0"}`},
	} {
		if got := c.sample.Series(); got != c.want {
			t.Errorf("Series() = %s, want %s", got, c.want)
		}
	}
}
