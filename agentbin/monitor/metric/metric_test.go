package metric

import (
	"strings"
	"testing"
)

func TestSeriesSortsLabelsAndQuotesValues(t *testing.T) {
	for _, c := range []struct {
		sample Sample
		want   string
	}{
		{Sample{Name: "node_load1"}, "node_load1"},
		{Sample{Name: "x", Labels: []Label{{"b", "2"}, {"a", "1"}}}, `x{a="1",b="2"}`},
		{Sample{Name: "x", Labels: []Label{{"device", "e\"th\n0"}}}, `x{device="e\"th\n0"}`},
		{Sample{Name: "x", Labels: []Label{{"c", "3"}, {"a", "1"}, {"b", "2"}}}, `x{a="1",b="2",c="3"}`},
		{Sample{Name: "x", Labels: []Label{{"name", strings.Repeat("long ", 30)}}}, `x{name="` + strings.Repeat("long ", 30) + `"}`},
	} {
		if got := c.sample.Series(); got != c.want {
			t.Errorf("Series() = %s, want %s", got, c.want)
		}
	}
}

func TestParseSelectorAndMatch(t *testing.T) {
	eth0 := Sample{Name: "rx_total", Labels: []Label{{"device", "eth0"}, {"x", "1"}}}
	for _, c := range []struct {
		in      string
		err     bool
		matches bool // eth0
	}{
		{in: "rx_total", matches: true},
		{in: `rx_total{device="eth0"}`, matches: true},
		{in: ` rx_total { device = "eth0" , x="1" } `, matches: true},
		{in: `rx_total{device="eth1"}`},
		{in: `rx_total{other="eth0"}`},
		{in: "node_load1"},
		{in: "", err: true},
		{in: "1abc", err: true},
		{in: "rx total", err: true},
		{in: `rx_total{device=eth0}`, err: true},
		{in: `rx_total{device="eth0"`, err: true},
		{in: `rx_total{device="eth0" x="1"}`, err: true},
		{in: `rx_total{de:v="a"}`, err: true},
	} {
		sel, err := ParseSelector(c.in)
		if (err != nil) != c.err {
			t.Errorf("ParseSelector(%q) error %v, want error %v", c.in, err, c.err)
			continue
		}
		if err == nil && sel.Matches(&eth0) != c.matches {
			t.Errorf("%q matches %v: %v, want %v", c.in, eth0, !c.matches, c.matches)
		}
	}
}
