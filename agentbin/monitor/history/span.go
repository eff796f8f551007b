package history

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Span is how far back a graph looks; each span has its own archive.
type Span int

const (
	// Day is 1-minute points for 24 hours.
	Day Span = iota
	// Week is 5-minute points for 7 days.
	Week
	// Month is 30-minute points for 31 days.
	Month
	// Year is 1-day points for two years (MRTG's yearly graph shows one).
	Year
)

var spanNames = [...]string{"day", "week", "month", "year"}

func (s Span) String() string {
	if s >= 0 && int(s) < len(spanNames) {
		return spanNames[s]
	}
	return "Span(" + strconv.Itoa(int(s)) + ")"
}

// ParseSpan reads a span's name ("day", "week", "month", "year").
func ParseSpan(name string) (Span, error) {
	for i, n := range spanNames {
		if n == name {
			return Span(i), nil
		}
	}
	return 0, fmt.Errorf("unknown span %q: want day, week, month or year", name)
}

// Point is one consolidated point: the average and the maximum of the
// primary points in the slot starting at Unix. NaN is unknown.
type Point struct {
	Unix int64   `json:"t"`
	Avg  float64 `json:"avg"`
	Max  float64 `json:"max"`
}

// jsonPoint is Point as JSON has it: unknown is null, since JSON has no NaN.
type jsonPoint struct {
	Unix int64    `json:"t"`
	Avg  *float64 `json:"avg"`
	Max  *float64 `json:"max"`
}

func known(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func orNaN(v *float64) float64 {
	if v == nil {
		return math.NaN()
	}
	return *v
}

// MarshalJSON writes unknown values as null.
func (p Point) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonPoint{Unix: p.Unix, Avg: known(p.Avg), Max: known(p.Max)})
}

// UnmarshalJSON reads null as unknown (NaN).
func (p *Point) UnmarshalJSON(b []byte) error {
	var j jsonPoint
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = Point{Unix: j.Unix, Avg: orNaN(j.Avg), Max: orNaN(j.Max)}
	return nil
}
