package proxy

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

func TestLatencyHistogramIsCumulative(t *testing.T) {
	var s backendStats
	for _, d := range []time.Duration{500 * time.Microsecond, 3 * time.Millisecond, 3 * time.Millisecond, 40 * time.Millisecond, time.Minute} {
		s.observe(d)
	}
	want := map[float64]uint64{1: 1, 2.5: 1, 5: 3, 25: 3, 50: 4, 10000: 4}
	for _, b := range s.buckets() {
		if n, ok := want[b.LEMS]; ok && b.Count != n {
			t.Errorf("le %v ms: %d, want %d", b.LEMS, b.Count, n)
		}
	}
	if s.requests.Load() != 5 {
		t.Errorf("requests %d, want 5 (the minute is in the +Inf bucket only)", s.requests.Load())
	}
}

// A backend's status counts its requests, errors and latencies as a
// metrics exporter reads them.
func TestBackendStatusCountsRequestsErrorsAndLatency(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond)
		if r.URL.Path == "/fail" {
			http.Error(w, "no", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(slow.Close)
	ap := netip.MustParseAddrPort(slow.Listener.Addr().String())
	p := httpProxy(t, spec.ProxyService{Name: "s", HealthCheck: fastCheck,
		Backends: []spec.Backend{{Name: "slow", Kind: "regular", Address: ap.Addr().String(), Port: int(ap.Port()), Weight: 1}}})
	r := runRole(t, p)
	for _, path := range []string{"/a", "/b", "/fail"} {
		get(t, mustReq(t, "GET", proxyURL(p)+path))
	}
	st := backendStatus(t, r, "s", "slow")
	if st.Requests != 3 || st.Errors != 1 || st.Active != 0 {
		t.Errorf("requests %d errors %d active %d, want 3 1 0", st.Requests, st.Errors, st.Active)
	}
	if st.LatencyMSSum < 90 || st.MeanLatencyMS < 30 {
		t.Errorf("latency sum %.1f ms, mean %.1f ms: each request took 30 ms", st.LatencyMSSum, st.MeanLatencyMS)
	}
	var below25, below10s uint64
	for _, b := range st.LatencyBuckets {
		switch b.LEMS {
		case 25:
			below25 = b.Count
		case 10000:
			below10s = b.Count
		}
	}
	if below25 != 0 || below10s != 3 {
		t.Errorf("buckets %+v: want none at most 25 ms, 3 at most 10 s", st.LatencyBuckets)
	}
}

// A backend's status says how long its last health check took, which the
// monitor exports as the check latency.
func TestBackendStatusHasTheLastCheckLatency(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		time.Sleep(30 * time.Millisecond)
	}))
	t.Cleanup(slow.Close)
	ap := netip.MustParseAddrPort(slow.Listener.Addr().String())
	check := &spec.HealthCheck{Type: "http", Path: "/health", IntervalMS: 100, TimeoutMS: 1000, Rise: 1, Fall: 1}
	p := httpProxy(t, spec.ProxyService{Name: "s", HealthCheck: check,
		Backends: []spec.Backend{{Name: "slow", Kind: "regular", Address: ap.Addr().String(), Port: int(ap.Port()), Weight: 1}}})
	r := runRole(t, p)
	if st := backendStatus(t, r, "s", "slow"); st.CheckLatencyMS < 30 || st.CheckLatencyMS > 1000 {
		t.Errorf("check latency %.1f ms: each check took 30 ms", st.CheckLatencyMS)
	}
}
