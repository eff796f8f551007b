// Package api is the monitor role's JSON API, what `hactl dashboard` reads:
// the series the node keeps, one series' history over one span, the last
// collection and the agent's status. The role serves it on a Unix socket
// that only root may open (layout.MonitorSocket, see Listen) and never on
// the network; the dashboard reaches it through the operator's SSH
// connection to the node (a direct-streamlocal channel), so the API needs
// no authentication of its own and keeps none.
//
// Every answer is JSON. The API only reads: it answers GET and HEAD, and
// refuses any other method, any path it does not know and any query it
// does not understand (an unknown or repeated parameter, a span that is not
// day, week, month or year, a series the node does not keep) with a 4xx
// status and {"error": "..."} saying what was wrong. A history answer
// holds exactly the span asked for, so that the dashboard can fetch the day
// first and the longer spans only when they are looked at.
package api

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/hactl/hactl/agentbin/monitor/history"
	"github.com/hactl/hactl/agentbin/monitor/metric"
	"github.com/hactl/hactl/agentbin/status"
)

// Source is what the role gives the API.
type Source interface {
	// Series lists the series the node keeps history of (sorted).
	Series() []string
	// Fetch returns one series' points over span, oldest first.
	Fetch(series string, span history.Span, now time.Time) ([]history.Point, error)
	// Latest is the last collection.
	Latest() []metric.Sample
	// Status is the agent's status now.
	Status() (*status.Status, error)
}

// The paths the API answers.
const (
	SeriesPath  = "/api/v1/series"
	HistoryPath = "/api/v1/history"
	LatestPath  = "/api/v1/latest"
	StatusPath  = "/api/v1/status"
)

// maxSeriesLen bounds a series key in a query; real keys (a name and a few
// labels) are far shorter.
const maxSeriesLen = 1024

// SeriesList is the answer to SeriesPath.
type SeriesList struct {
	Series []string `json:"series"`
}

// History is the answer to HistoryPath: the points in columns (time,
// average, maximum), which is both compact and what a chart draws from.
// Unknown values are null.
type History struct {
	Series string     `json:"series"`
	Span   string     `json:"span"`
	Times  []int64    `json:"t"`
	Avg    []*float64 `json:"avg"`
	Max    []*float64 `json:"max"`
}

// Latest is the answer to LatestPath.
type Latest struct {
	Samples []Sample `json:"samples"`
}

// Sample is a collected sample with its series key; an unknown value (NaN
// or infinite, which JSON cannot carry) is null.
type Sample struct {
	Series string         `json:"series"`
	Name   string         `json:"name"`
	Kind   string         `json:"kind"`
	Labels []metric.Label `json:"labels,omitempty"`
	Value  *float64       `json:"value"`
}

// Error is the answer to a request the API refuses.
type Error struct {
	Error string `json:"error"`
}

// Handler serves the API from src.
func Handler(src Source) http.Handler {
	h := handler{src: src, now: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc(SeriesPath, h.series)
	mux.HandleFunc(HistoryPath, h.history)
	mux.HandleFunc(LatestPath, h.latest)
	mux.HandleFunc(StatusPath, h.status)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, fmt.Sprintf("no such path %q: the API has %s, %s, %s and %s", r.URL.Path, SeriesPath, HistoryPath, LatestPath, StatusPath))
	})
	return readOnly(mux)
}

type handler struct {
	src Source
	now func() time.Time
}

// readOnly refuses every method but GET and HEAD.
func readOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			fail(w, http.StatusMethodNotAllowed, "the monitor API only reads: use GET")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h handler) series(w http.ResponseWriter, r *http.Request) {
	if _, ok := query(w, r); !ok {
		return
	}
	list := h.src.Series()
	if list == nil {
		list = []string{}
	}
	reply(w, SeriesList{Series: list})
}

func (h handler) history(w http.ResponseWriter, r *http.Request) {
	q, ok := query(w, r, "series", "span")
	if !ok {
		return
	}
	series, spanName := q["series"], q["span"]
	switch {
	case series == "":
		fail(w, http.StatusBadRequest, "history needs series=NAME (one of "+SeriesPath+")")
		return
	case len(series) > maxSeriesLen:
		fail(w, http.StatusBadRequest, fmt.Sprintf("series is %d bytes long; no series key is longer than %d", len(series), maxSeriesLen))
		return
	}
	if spanName == "" {
		spanName = history.Day.String()
	}
	span, err := history.ParseSpan(spanName)
	if err != nil {
		fail(w, http.StatusBadRequest, fmt.Sprintf("span %q: %v", spanName, err))
		return
	}
	if _, found := slices.BinarySearch(h.src.Series(), series); !found {
		fail(w, http.StatusNotFound, fmt.Sprintf("this node keeps no series %q (see %s)", series, SeriesPath))
		return
	}
	points, err := h.src.Fetch(series, span, h.now())
	if err != nil {
		fail(w, http.StatusInternalServerError, fmt.Sprintf("reading the history of %s: %v", series, err))
		return
	}
	out := History{Series: series, Span: span.String(),
		Times: make([]int64, len(points)), Avg: make([]*float64, len(points)), Max: make([]*float64, len(points))}
	for i, p := range points {
		out.Times[i], out.Avg[i], out.Max[i] = p.Unix, known(p.Avg), known(p.Max)
	}
	reply(w, out)
}

func (h handler) latest(w http.ResponseWriter, r *http.Request) {
	if _, ok := query(w, r); !ok {
		return
	}
	samples := h.src.Latest()
	out := Latest{Samples: make([]Sample, 0, len(samples))}
	for _, s := range samples {
		kind := "gauge"
		if s.Kind == metric.Counter {
			kind = "counter"
		}
		out.Samples = append(out.Samples, Sample{Series: s.Series(), Name: s.Name, Kind: kind, Labels: s.Labels, Value: known(s.Value)})
	}
	reply(w, out)
}

func (h handler) status(w http.ResponseWriter, r *http.Request) {
	if _, ok := query(w, r); !ok {
		return
	}
	st, err := h.src.Status()
	if err != nil {
		fail(w, http.StatusServiceUnavailable, fmt.Sprintf("the agent's status: %v", err))
		return
	}
	reply(w, st)
}

// query parses r's query string, allowing each of names at most once and
// nothing else; on a bad query it answers the request and returns false.
func query(w http.ResponseWriter, r *http.Request, names ...string) (map[string]string, bool) {
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		fail(w, http.StatusBadRequest, "the query string cannot be read: "+err.Error())
		return nil, false
	}
	out := map[string]string{}
	for k, v := range values {
		if !slices.Contains(names, k) {
			fail(w, http.StatusBadRequest, fmt.Sprintf("unknown parameter %q for %s", k, r.URL.Path))
			return nil, false
		}
		if len(v) != 1 {
			fail(w, http.StatusBadRequest, fmt.Sprintf("parameter %q given %d times; give it once", k, len(v)))
			return nil, false
		}
		out[k] = v[0]
	}
	return out, true
}

// known is v, or nil when JSON cannot carry it.
func known(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func reply(w http.ResponseWriter, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		fail(w, http.StatusInternalServerError, "encoding the answer: "+err.Error())
		return
	}
	write(w, http.StatusOK, data)
}

func fail(w http.ResponseWriter, code int, msg string) {
	data, err := json.Marshal(Error{Error: msg})
	if err != nil {
		data = []byte(`{"error":"unencodable error"}`)
	}
	write(w, code, data)
}

func write(w http.ResponseWriter, code int, data []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(data, '\n'))
}
