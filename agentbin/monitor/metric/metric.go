// Package metric is the monitor's vocabulary, shared by what collects
// (the node's /proc, the other roles' status, SNMP devices), what keeps
// (the round-robin history) and what shows (/metrics, the dashboard): a
// sample is a named, labelled value of one kind at one time.
package metric

import (
	"fmt"
	"slices"
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
	// Collectors give their labels sorted, most of them one label: copy
	// and sort only when needed, this runs for every sample of every
	// collection.
	labels := s.Labels
	byName := func(a, b Label) int { return strings.Compare(a.Name, b.Name) }
	if !slices.IsSortedFunc(labels, byName) {
		labels = slices.SortedFunc(slices.Values(labels), byName)
	}
	n := len(s.Name) + 2
	for _, l := range labels {
		n += len(l.Name) + len(l.Value) + 4
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(s.Name)
	b.WriteByte('{')
	var quoted [64]byte
	for i, l := range labels {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.Name)
		b.WriteByte('=')
		b.Write(strconv.AppendQuote(quoted[:0], l.Value))
	}
	b.WriteByte('}')
	return b.String()
}

// Selector picks series: by name, and by the labels it gives (others may
// have any value). Thresholds and the dashboard name series by selectors.
type Selector struct {
	Name   string
	Labels []Label
}

// ParseSelector reads a selector written as Prometheus writes a series:
// node_load1, or node_network_receive_bytes_total{device="eth0"}.
func ParseSelector(s string) (Selector, error) {
	name, rest, braces := strings.Cut(s, "{")
	sel := Selector{Name: strings.TrimSpace(name)}
	if !validName(sel.Name) {
		return Selector{}, fmt.Errorf("metric %q: a metric name has letters, digits, _ and :, and no digit first", s)
	}
	if !braces {
		return sel, nil
	}
	rest = strings.TrimSpace(rest)
	if !strings.HasSuffix(rest, "}") {
		return Selector{}, fmt.Errorf("metric %q: labels must end with }", s)
	}
	rest = strings.TrimSpace(strings.TrimSuffix(rest, "}"))
	for rest != "" {
		key, after, ok := strings.Cut(rest, "=")
		key = strings.TrimSpace(key)
		after = strings.TrimSpace(after)
		if !ok || !validName(key) || strings.Contains(key, ":") || !strings.HasPrefix(after, `"`) {
			return Selector{}, fmt.Errorf(`metric %q: labels are written name="value", separated by commas`, s)
		}
		quoted, err := strconv.QuotedPrefix(after)
		if err != nil {
			return Selector{}, fmt.Errorf("metric %q: label %s: the value must be a quoted string", s, key)
		}
		value, _ := strconv.Unquote(quoted)
		sel.Labels = append(sel.Labels, Label{Name: key, Value: value})
		rest = strings.TrimSpace(after[len(quoted):])
		if rest != "" {
			if rest[0] != ',' {
				return Selector{}, fmt.Errorf("metric %q: labels must be separated by commas", s)
			}
			rest = strings.TrimSpace(rest[1:])
		}
	}
	return sel, nil
}

// Matches says whether the sample is one of the selector's series.
func (sel Selector) Matches(s *Sample) bool {
	if s.Name != sel.Name {
		return false
	}
	for _, want := range sel.Labels {
		found := false
		for _, l := range s.Labels {
			if l.Name == want.Name {
				found = l.Value == want.Value
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
