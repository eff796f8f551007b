package remote

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

func TestForEachKeepsEveryHostsResult(t *testing.T) {
	s := startSSHD(t)
	good := []Target{s.target(t, "web-1"), s.target(t, "web-2"), s.target(t, "web-3")}
	down := s.target(t, "db-1")
	down.SSH.Port = freePort(t)
	targets := append(good, down)

	var running, most atomic.Int32
	results := ForEach(testContext(t), targets, 2, func(ctx context.Context, tg Target) error {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		c, err := Dial(ctx, tg, Options{})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Output(ctx, "true", nil)
		return err
	})

	if len(results) != len(targets) {
		t.Fatalf("results for %d hosts, want %d: %v", len(results), len(targets), results)
	}
	for _, tg := range good {
		if err, ok := results[tg.Name]; !ok || err != nil {
			t.Errorf("%s: %v (present %v), want success", tg.Name, err, ok)
		}
	}
	var dialErr *DialError
	if err := results["db-1"]; !errors.As(err, &dialErr) || dialErr.Kind != FailureRefused || !strings.HasPrefix(err.Error(), "db-1: ") {
		t.Errorf("db-1: %v, want a refused *DialError naming db-1", err)
	}
	if m := most.Load(); m > 2 {
		t.Errorf("%d hosts at once, want at most 2", m)
	}
}

func TestForEachReportsHostsNotStarted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	results := ForEach(ctx, []Target{{Name: "a"}, {Name: "b"}}, 1, func(context.Context, Target) error {
		t.Error("fn called after the context ended")
		return nil
	})
	for _, name := range []string{"a", "b"} {
		if err := results[name]; !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), name+": ") {
			t.Errorf("%s: %v, want context.Canceled naming the host", name, err)
		}
	}
}
