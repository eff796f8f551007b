package importer

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Line is one logical line of a line-oriented file: its fields, with
// comments removed and continuation lines joined.
type Line struct {
	Fields []string
	Origin Origin
}

// LogicalLines splits a line-oriented file (ha.cf, haresources, authkeys,
// ldirectord.cf, crontab) into fields, dropping # comments and blank
// lines and joining lines ending in a backslash.
func (s *Source) LogicalLines() []Line {
	var out []Line
	var cur []string
	start := 0
	for i, raw := range s.Lines() {
		if cur == nil {
			start = i + 1
		}
		text, _, _ := strings.Cut(raw, "#")
		text = strings.TrimSpace(text)
		cont := strings.HasSuffix(text, "\\")
		text = strings.TrimSuffix(text, "\\")
		cur = append(cur, strings.Fields(text)...)
		if cont {
			continue
		}
		if len(cur) > 0 {
			out = append(out, Line{Fields: cur, Origin: Origin{File: s.Name, Line: start}})
		}
		cur = nil
	}
	if len(cur) > 0 {
		out = append(out, Line{Fields: cur, Origin: Origin{File: s.Name, Line: start}})
	}
	return out
}

// Seconds turns a number of seconds ("10", "1.5") or a duration with a
// unit ("500ms", "2s", "1min", "5m", "1.5h", "1d") into an HCL duration
// string.
func Seconds(v string) (string, error) {
	v = strings.TrimSpace(strings.ToLower(v))
	units := []struct {
		suffix, unit string
		d            time.Duration
	}{{"ms", "ms", time.Millisecond}, {"msec", "ms", time.Millisecond}, {"min", "m", time.Minute}, {"sec", "s", time.Second}, {"s", "s", time.Second}, {"m", "m", time.Minute}, {"h", "h", time.Hour}, {"d", "d", 24 * time.Hour}}
	num, unit, size := v, "s", time.Second
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			num, unit, size = strings.TrimSuffix(v, u.suffix), u.unit, u.d
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || f > 1e7 || f*float64(size) > 1e18 {
		return "", fmt.Errorf("%q is not a duration (a number of seconds, or with ms/s/min/h/d)", v)
	}
	switch {
	case f == float64(int64(f)):
	case unit == "s":
		return fmt.Sprintf("%dms", int64(f*1000)), nil
	default:
		// 1.5h → 1h30m0s: Go's form, which hactl reads.
		return time.Duration(f * float64(size)).Round(time.Millisecond).String(), nil
	}
	return fmt.Sprintf("%d%s", int64(f), unit), nil
}
