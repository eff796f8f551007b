package monitor

import (
	"bytes"
	"compress/gzip"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/hactl/hactl/agentbin/monitor/metric"
)

// exposition is one collection encoded in the Prometheus text format, and
// gzipped on the first scrape that asks for it.
type exposition struct {
	text []byte
	once sync.Once
	gz   []byte
}

// encode writes the samples in the Prometheus text format (version
// 0.0.4), each family's lines together under its HELP and TYPE, families
// in the order their first sample came (collectors keep related series
// together), byte for byte what prometheus/common's expfmt writes. It is
// written here rather than taken from expfmt because expfmt works on
// client_model's protobuf messages, and the protobuf runtime calls
// reflect's MethodByName, which makes the linker keep every exported
// method of every type: the agent's binary was 19.4 MB with it, 15.1
// without, and most of a binary's pages end up resident. sizeHint is the
// length of the previous exposition, so that the buffer is allocated once.
func encode(samples []metric.Sample, sizeHint int) []byte {
	// Each family is a chain of sample indexes: next[i] is the index of
	// the family's sample after i, -1 at its end.
	type family struct{ head, tail int }
	var families []family
	byName := make(map[string]int, 64)
	next := make([]int, len(samples))
	for i := range samples {
		next[i] = -1
		f, ok := byName[samples[i].Name]
		if !ok {
			byName[samples[i].Name] = len(families)
			families = append(families, family{i, i})
			continue
		}
		next[families[f].tail] = i
		families[f].tail = i
	}
	b := make([]byte, 0, max(sizeHint+sizeHint/8, 64*len(samples)))
	for _, f := range families {
		first := &samples[f.head]
		if first.Help != "" {
			b = append(b, "# HELP "...)
			b = append(b, first.Name...)
			b = append(b, ' ')
			b = appendEscaped(b, first.Help, false)
			b = append(b, '\n')
		}
		b = append(b, "# TYPE "...)
		b = append(b, first.Name...)
		if first.Kind == metric.Counter {
			b = append(b, " counter\n"...)
		} else {
			b = append(b, " gauge\n"...)
		}
		for i := f.head; i >= 0; i = next[i] {
			s := &samples[i]
			b = append(b, s.Name...)
			for j, l := range s.Labels {
				if j == 0 {
					b = append(b, '{')
				} else {
					b = append(b, ',')
				}
				b = append(b, l.Name...)
				b = append(b, '=', '"')
				b = appendEscaped(b, l.Value, true)
				b = append(b, '"')
			}
			if len(s.Labels) > 0 {
				b = append(b, '}')
			}
			b = append(b, ' ')
			b = appendValue(b, s.Value)
			b = append(b, '\n')
		}
	}
	return b
}

// appendEscaped escapes as the text format asks: backslash and newline
// always, the double quote inside a label value.
func appendEscaped(b []byte, s string, quoted bool) []byte {
	if !strings.ContainsAny(s, "\\\n\"") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quoted:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendValue writes a value as expfmt does: the shortest form that
// reads back exactly, the format's names of the infinities, and 0 for
// both zeros.
func appendValue(b []byte, v float64) []byte {
	switch {
	case v == 0:
		return append(b, '0')
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// gzipper is the one compressor every exposition is gzipped with, reset
// for each: a new one allocates some 400 KB of tables and window, which
// made each scrape's garbage most of the collector's.
var gzipper struct {
	sync.Mutex
	w *gzip.Writer
}

func (e *exposition) gzipped() []byte {
	e.once.Do(func() {
		buf := bytes.NewBuffer(make([]byte, 0, len(e.text)/4))
		gzipper.Lock()
		defer gzipper.Unlock()
		if gzipper.w == nil {
			gzipper.w, _ = gzip.NewWriterLevel(buf, gzip.BestSpeed)
		} else {
			gzipper.w.Reset(buf)
		}
		_, _ = gzipper.w.Write(e.text)
		_ = gzipper.w.Close()
		e.gz = buf.Bytes()
	})
	return e.gz
}
