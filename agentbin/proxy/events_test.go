package proxy

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/hactl/hactl/agentbin/health"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

func TestLevelOfAService(t *testing.T) {
	up, down, unknown := health.Up, health.Down, health.Unknown
	for _, tc := range []struct {
		regular, emergency []health.State
		want               level
	}{
		{[]health.State{up, down}, []health.State{up}, levelRegular},
		{[]health.State{unknown}, nil, levelRegular},
		{[]health.State{down, down}, []health.State{up}, levelEmergency},
		{[]health.State{down}, []health.State{unknown}, levelEmergency},
		{[]health.State{down}, []health.State{down}, levelDown},
		{[]health.State{down}, nil, levelDown},
		{nil, []health.State{up}, levelRegular},
		{nil, []health.State{down}, levelDown},
	} {
		if got := levelOf(tc.regular, tc.emergency); got != tc.want {
			t.Errorf("regular %v, emergency %v: got %d, want %d", tc.regular, tc.emergency, got, tc.want)
		}
	}
}

// A backend's death and return, the emergency backend taking over and the
// service going down and coming back are reported as events, in order.
func TestBackendsAndServicesReportEvents(t *testing.T) {
	r1, e1 := newWeb(t, "r1"), newWeb(t, "e1")
	r2 := spec.Backend{Name: "r2", Kind: "regular", Address: "127.0.0.1", Port: freePort(t), Weight: 5}
	emergency := e1.backend(5)
	emergency.Kind = "emergency"
	p := httpProxy(t, spec.ProxyService{Name: "s", HealthCheck: fastCheck, Backends: []spec.Backend{r1.backend(5), r2, emergency}})
	var mu sync.Mutex
	var events []string
	env := roleEnv()
	env.Emit = func(e status.Event) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, fmt.Sprintf("%s %s", e.Kind, e.Detail))
	}
	r, err := New([]spec.Proxy{p}, env)
	if err != nil {
		t.Fatal(err)
	}
	r.logSink = func(string) {}
	startRole(t, r, 1)
	expect := func(want ...string) {
		t.Helper()
		waitFor(t, fmt.Sprintf("events %q", want), func() bool {
			mu.Lock()
			defer mu.Unlock()
			if len(events) < len(want) {
				return false
			}
			for i, w := range want {
				if !strings.HasPrefix(events[i], w) {
					t.Fatalf("event %d: got %q, want %q…", i, events[i], w)
				}
			}
			events = events[len(want):]
			return true
		})
	}
	expect("proxy_backend_down proxy front, service s, backend r2")
	r1.srv.Close()
	expect("proxy_backend_down proxy front, service s, backend r1", "proxy_emergency proxy front, service s")
	e1.srv.Close()
	expect("proxy_backend_down proxy front, service s, backend e1", "proxy_service_down proxy front, service s")
	ln, err := netListen(netJoin(r2.Address, r2.Port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "r2") })}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	expect("proxy_backend_up proxy front, service s, backend r2", "proxy_service_restored proxy front, service s: backend r2")
	mu.Lock()
	defer mu.Unlock()
	if len(events) > 0 {
		t.Errorf("more events: %q", events)
	}
}
