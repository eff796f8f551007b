package proxy

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// Reloads that add, remove and reweigh backends while clients send
// requests on kept-alive connections fail none of them; the listener stays
// open, and a removed backend gets no new request.
func TestReloadUnderLoadFailsNoRequest(t *testing.T) {
	a, b, c := newWeb(t, "a"), newWeb(t, "b"), newWeb(t, "c")
	p := httpProxy(t, spec.ProxyService{Name: "s", HealthCheck: fastCheck, Backends: []spec.Backend{a.backend(5), b.backend(5)}})
	r := runRole(t, p)
	var stop atomic.Bool
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for !stop.Load() {
				code, _ := get(t, mustReq(t, "GET", proxyURL(p)+"/"))
				sent.Add(1)
				if code != 200 {
					failed.Add(1)
				}
			}
		})
	}
	steps := [][]spec.Backend{
		{a.backend(5), b.backend(5), c.backend(5)},
		{a.backend(1), c.backend(9)},
		{c.backend(5)},
		{a.backend(5), c.backend(5)},
	}
	for _, backends := range steps {
		time.Sleep(150 * time.Millisecond)
		next := p
		next.Services = []spec.ProxyService{{Name: "s", HealthCheck: fastCheck, Backends: backends}}
		if err := r.Reload(&spec.Spec{Proxies: []spec.Proxy{next}}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	bHits := b.hits.Load()
	time.Sleep(200 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if failed.Load() > 0 || sent.Load() < 100 {
		t.Errorf("%d of %d requests failed across reloads", failed.Load(), sent.Load())
	}
	if b.hits.Load() != bHits {
		t.Errorf("removed backend b got %d requests after its removal", b.hits.Load()-bHits)
	}
	if got := backendStatus(t, r, "s", "a"); got.Requests == 0 || got.State != "up" {
		t.Errorf("a kept across reloads: %+v", got)
	}
}
