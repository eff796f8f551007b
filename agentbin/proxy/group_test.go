package proxy

import (
	"context"
	"io"
	"log"
	"strings"
	"testing"

	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// A proxy tied to a VIP listens only while its group runs here, and drift
// reports a proxy that should serve and cannot.
func TestAProxyFollowsItsGroupAndReportsDrift(t *testing.T) {
	w := newWeb(t, "w")
	p := httpProxy(t, spec.ProxyService{Name: "s", HealthCheck: fastCheck, Backends: []spec.Backend{w.backend(5)}})
	p.Group = "front"
	r, err := New([]spec.Proxy{p}, role.Env{Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	r.logSink = func(string) {}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	serving := func() bool {
		_, err := netDial(listenAddr(p.Listeners[0]))
		return err == nil
	}
	waitFor(t, "the role to start", func() bool {
		var st status.Status
		r.Report(&st)
		return len(st.Proxies) == 1
	})
	if serving() {
		t.Fatal("the proxy listens while its group runs elsewhere")
	}
	if d := r.Drift(time0()); len(d) != 0 {
		t.Errorf("drift while the group is elsewhere: %q", d)
	}
	r.GroupChanged(role.GroupChange{Group: "front", Here: true})
	waitFor(t, "the proxy to listen where its group runs", serving)
	r.GroupChanged(role.GroupChange{Group: "front", Here: false})
	waitFor(t, "the proxy to stop when its group leaves", func() bool { return !serving() })

	// The listener's port taken by someone else: drift says so.
	blocker, err := netListen(listenAddr(p.Listeners[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	r.GroupChanged(role.GroupChange{Group: "front", Here: true})
	waitFor(t, "drift to report the listener", func() bool {
		d := r.Drift(time0())
		return len(d) == 1 && strings.Contains(d[0], "listener http") && strings.Contains(d[0], "not serving")
	})
}
