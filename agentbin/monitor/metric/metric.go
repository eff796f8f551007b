// Package metric is the monitor's vocabulary, shared by what collects
// (the node's /proc, the other roles' status, SNMP devices), what keeps
// (the round-robin history) and what shows (/metrics, the dashboard): a
// sample is a named, labelled value of one kind at one time.
package metric

import (
	"sort"
	"strconv"
	"strings"
)

// Kind says how a sample's value is read.
type Kind int

const (
	// Gauge is a value that goes up and down (load, bytes used).
	Gauge Kind = iota
	// Counter only grows, except when its source restarts or wraps;
	// history keeps its per-second rate, never the raw count.
	Counter
)

// Label is one dimension of a sample (device="eth0").
type Label struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Sample is one value of one series, as collected.
type Sample struct {
	// Name follows Prometheus: node_exporter's names where the meaning
	// is the same (node_load1), hactl_ for the rest.
	Name   string  `json:"name"`
	Help   string  `json:"help,omitempty"`
	Kind   Kind    `json:"kind"`
	Labels []Label `json:"labels,omitempty"`
	Value  float64 `json:"value"`
}

// Series is the sample's identity: its name and labels in Prometheus'
// form with labels sorted, e.g. node_network_receive_bytes_total{device="eth0"}.
// History files and the dashboard key series by it.
func (s Sample) Series() string {
	if len(s.Labels) == 0 {
		return s.Name
	}
	labels := append([]Label(nil), s.Labels...)
	sort.Slice(labels, func(i, j int) bool { return labels[i].Name < labels[j].Name })
	var b strings.Builder
	b.WriteString(s.Name)
	b.WriteByte('{')
	for i, l := range labels {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.Name)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(l.Value))
	}
	b.WriteByte('}')
	return b.String()
}
