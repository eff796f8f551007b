package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/monitor/history"
	"github.com/hactl/hactl/agentbin/monitor/metric"
	"github.com/hactl/hactl/agentbin/status"
)

// memSource is a Source held in memory: the API's behaviour is what is
// under test, not the history's.
type memSource struct {
	mu      sync.Mutex
	points  map[string][]history.Point
	fetched []history.Span
	latest  []metric.Sample
	status  *status.Status
	err     error
}

func (m *memSource) Series() []string {
	return []string{"node_load1", `node_network_receive_bytes_total{device="eth0"}`}
}

func (m *memSource) Fetch(series string, span history.Span, _ time.Time) ([]history.Point, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fetched = append(m.fetched, span)
	if m.err != nil {
		return nil, m.err
	}
	return m.points[series], nil
}

func (m *memSource) Latest() []metric.Sample { return m.latest }

func (m *memSource) Status() (*status.Status, error) {
	if m.status == nil {
		return nil, errors.New("no status yet")
	}
	return m.status, nil
}

// serve runs the handler on a real Unix socket made by Listen and returns
// a client that talks to it, as the dashboard does through SSH.
func serve(t *testing.T, src Source) *http.Client {
	t.Helper()
	path := filepath.Join(t.TempDir(), "monitor.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != SocketMode {
		t.Errorf("socket mode %v, want %v", fi.Mode().Perm(), SocketMode)
	}
	srv := &http.Server{Handler: Handler(src), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
}

func get(t *testing.T, c *http.Client, method, target string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://monitor"+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); method != http.MethodHead && ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, target, ct)
	}
	return resp.StatusCode, body
}

func TestRequestsTheAPIRefuses(t *testing.T) {
	src := &memSource{}
	c := serve(t, src)
	long := strings.Repeat("x", maxSeriesLen+1)
	for _, tc := range []struct {
		name, method, target string
		code                 int
		says                 string
	}{
		{"bad span", "GET", "/api/v1/history?series=node_load1&span=decade", 400, `span "decade"`},
		{"numeric span", "GET", "/api/v1/history?series=node_load1&span=1", 400, "span"},
		{"span in capitals", "GET", "/api/v1/history?series=node_load1&span=DAY", 400, "span"},
		{"unknown series", "GET", "/api/v1/history?series=node_nope&span=day", 404, `no series "node_nope"`},
		{"series with a label it does not have", "GET", `/api/v1/history?series=node_load1{a="b"}`, 404, "no series"},
		{"no series", "GET", "/api/v1/history?span=week", 400, "needs series"},
		{"series twice", "GET", "/api/v1/history?series=node_load1&series=node_load1", 400, "given 2 times"},
		{"span twice", "GET", "/api/v1/history?series=node_load1&span=day&span=year", 400, "given 2 times"},
		{"unknown parameter", "GET", "/api/v1/history?series=node_load1&from=0", 400, `unknown parameter "from"`},
		{"parameter on series", "GET", "/api/v1/series?x=1", 400, "unknown parameter"},
		{"bad escape", "GET", "/api/v1/history?series=%zz", 400, "cannot be read"},
		{"semicolon", "GET", "/api/v1/history?series=node_load1;span=day", 400, "cannot be read"},
		{"huge series", "GET", "/api/v1/history?series=" + long, 400, "bytes long"},
		{"NUL in series", "GET", "/api/v1/history?series=node_load1%00", 404, "no series"},
		{"traversal in series", "GET", "/api/v1/history?series=../../etc/passwd", 404, "no series"},
		{"unknown path", "GET", "/api/v2/series", 404, "no such path"},
		{"path below a known one", "GET", "/api/v1/series/x", 404, "no such path"},
		{"write", "POST", "/api/v1/series", 405, "only reads"},
		{"delete", "DELETE", "/api/v1/history?series=node_load1", 405, "only reads"},
		{"status before the agent has one", "GET", "/api/v1/status", 503, "no status yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, c, tc.method, tc.target)
			if code != tc.code {
				t.Errorf("status %d, want %d (%s)", code, tc.code, body)
			}
			var e Error
			if err := json.Unmarshal(body, &e); err != nil || !strings.Contains(e.Error, tc.says) {
				t.Errorf("body %s does not say %q (%v)", body, tc.says, err)
			}
		})
	}
	if len(src.fetched) != 0 {
		t.Errorf("refused requests reached the history: %v", src.fetched)
	}
}

func TestHistoryAnswersTheSpanAskedWithUnknownAsNull(t *testing.T) {
	nan := math.NaN()
	src := &memSource{points: map[string][]history.Point{
		"node_load1": {{Unix: 60, Avg: 0.5, Max: 1}, {Unix: 120, Avg: nan, Max: nan}, {Unix: 180, Avg: 2, Max: math.Inf(1)}},
	}}
	c := serve(t, src)
	for _, tc := range []struct {
		query string
		span  history.Span
	}{
		{"series=node_load1", history.Day},
		{"series=node_load1&span=day", history.Day},
		{"span=week&series=node_load1", history.Week},
		{"series=node_load1&span=month", history.Month},
		{"series=node_load1&span=year", history.Year},
	} {
		t.Run(tc.query, func(t *testing.T) {
			src.fetched = nil
			code, body := get(t, c, "GET", "/api/v1/history?"+tc.query)
			if code != 200 {
				t.Fatalf("status %d: %s", code, body)
			}
			if len(src.fetched) != 1 || src.fetched[0] != tc.span {
				t.Errorf("fetched spans %v, want only %v", src.fetched, tc.span)
			}
			want := `{"series":"node_load1","span":"` + tc.span.String() + `","t":[60,120,180],"avg":[0.5,null,2],"max":[1,null,null]}`
			if got := strings.TrimSpace(string(body)); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func TestLabelledSeriesIsFoundWhenEscaped(t *testing.T) {
	key := `node_network_receive_bytes_total{device="eth0"}`
	src := &memSource{points: map[string][]history.Point{key: {{Unix: 1, Avg: 3, Max: 4}}}}
	c := serve(t, src)
	code, body := get(t, c, "GET", "/api/v1/history?span=day&series="+url.QueryEscape(key))
	if code != 200 || !strings.Contains(string(body), `"avg":[3]`) {
		t.Errorf("status %d: %s", code, body)
	}
}

func TestHistoryReadErrorIsAServerError(t *testing.T) {
	c := serve(t, &memSource{err: errors.New("disk on fire")})
	code, body := get(t, c, "GET", "/api/v1/history?series=node_load1")
	if code != 500 || !strings.Contains(string(body), "disk on fire") {
		t.Errorf("status %d: %s", code, body)
	}
}

func TestSeriesLatestAndStatus(t *testing.T) {
	src := &memSource{
		latest: []metric.Sample{
			{Name: "node_load1", Value: 0.25},
			{Name: "hactl_snmp_if_oper_up", Kind: metric.Counter, Labels: []metric.Label{{Name: "interface", Value: "eth0"}, {Name: "device", Value: "sw1"}}, Value: math.NaN()},
		},
		status: &status.Status{AgentVersion: "1.2.3", Healthy: true, Heartbeat: &status.Heartbeat{Groups: []status.Group{{Name: "web", RunningOn: []string{"n1"}}}}},
	}
	c := serve(t, src)

	code, body := get(t, c, "GET", "/api/v1/series")
	var list SeriesList
	if err := json.Unmarshal(body, &list); code != 200 || err != nil || len(list.Series) != 2 {
		t.Errorf("series: %d %s %v", code, body, err)
	}

	code, body = get(t, c, "GET", "/api/v1/latest")
	want := `{"samples":[{"series":"node_load1","name":"node_load1","kind":"gauge","value":0.25},` +
		`{"series":"hactl_snmp_if_oper_up{device=\"sw1\",interface=\"eth0\"}","name":"hactl_snmp_if_oper_up","kind":"counter","labels":[{"name":"interface","value":"eth0"},{"name":"device","value":"sw1"}],"value":null}]}`
	if got := strings.TrimSpace(string(body)); code != 200 || got != want {
		t.Errorf("latest: %d\ngot  %s\nwant %s", code, got, want)
	}

	code, body = get(t, c, "GET", "/api/v1/status")
	var st status.Status
	if err := json.Unmarshal(body, &st); code != 200 || err != nil || st.AgentVersion != "1.2.3" || st.Heartbeat.Groups[0].RunningOn[0] != "n1" {
		t.Errorf("status: %d %s %v", code, body, err)
	}

	if code, _ := get(t, c, "HEAD", "/api/v1/series"); code != 200 {
		t.Errorf("HEAD: %d", code)
	}
}

func TestListenReplacesAStaleSocketButNothingElse(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "monitor.sock")
	first, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	// A crashed run leaves its socket file behind (closing a Go listener
	// removes it, so forget it instead).
	first.(*net.UnixListener).SetUnlinkOnClose(false)
	first.Close()
	second, err := Listen(sock)
	if err != nil {
		t.Fatalf("a stale socket was not replaced: %v", err)
	}
	second.Close()

	file := filepath.Join(dir, "precious")
	if err := os.WriteFile(file, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(file); !errors.Is(err, ErrNotSocket) {
		t.Errorf("Listen over a regular file: %v, want ErrNotSocket", err)
	}
	if data, _ := os.ReadFile(file); string(data) != "keep" {
		t.Errorf("the file was replaced")
	}
}
