package agent

import (
	"context"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

func writeSpec(t testing.TB, path string, s *spec.Spec) string {
	t.Helper()
	data, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return spec.HashBytes(data)
}

// waitStatus polls the status file until cond holds; the agent runs in the
// background, so the test waits for what it reports rather than sleeping.
func waitStatus(t testing.TB, path string, what string, cond func(*status.Status) bool) *status.Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last *status.Status
	for time.Now().Before(deadline) {
		if st, err := status.Read(path); err == nil {
			last = st
			if cond(st) {
				return st
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("status never showed %s; last: %+v", what, last)
	return nil
}

func TestAgentTakesValidSpecsKeepsOldOnInvalidAndReportsMissing(t *testing.T) {
	dir := t.TempDir()
	specPath, statusPath := filepath.Join(dir, "spec.json"), filepath.Join(dir, "status.json")
	good := &spec.Spec{FormatVersion: spec.FormatVersion, Cluster: "c", Node: "n1"}
	goodHash := writeSpec(t, specPath, good)

	a := New(Config{Version: "test", SpecPath: specPath, StatusPath: statusPath, Poll: 5 * time.Millisecond, Logger: log.New(io.Discard, "", 0)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	waitStatus(t, statusPath, "the good spec running", func(s *status.Status) bool {
		return s.Healthy && s.SpecHash == goodHash && s.SpecFileHash == goodHash
	})

	bad := &spec.Spec{FormatVersion: spec.FormatVersion, Cluster: "c", Node: "n1",
		Heartbeat: &spec.Heartbeat{IntervalMS: 100, DeadtimeMS: 150, Port: 694, KeyPath: "/k"}}
	badHash := writeSpec(t, specPath, bad)
	st := waitStatus(t, statusPath, "the bad spec refused", func(s *status.Status) bool { return s.SpecFileHash == badHash })
	if st.Healthy || st.SpecHash != goodHash || !strings.Contains(st.SpecError, "deadtime_ms") {
		t.Errorf("after an invalid spec: healthy=%v running=%s error=%q; want unhealthy, still %s, error about deadtime", st.Healthy, st.SpecHash, st.SpecError, goodHash)
	}

	if err := os.Remove(specPath); err != nil {
		t.Fatal(err)
	}
	st = waitStatus(t, statusPath, "the missing spec", func(s *status.Status) bool { return s.SpecFileHash == "" })
	if st.Healthy || !strings.Contains(st.SpecError, "missing") || st.SpecHash != goodHash {
		t.Errorf("after removing the spec: %+v; want unhealthy, 'missing', still running %s", st, goodHash)
	}

	writeSpec(t, specPath, good)
	waitStatus(t, statusPath, "healthy again", func(s *status.Status) bool { return s.Healthy && s.SpecError == "" })
}
