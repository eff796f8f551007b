package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/role"
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

// runAgent runs the agent until the test ends.
func runAgent(t *testing.T, a *Agent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestAgentTakesValidSpecsKeepsOldOnInvalidAndReportsMissing(t *testing.T) {
	dir := t.TempDir()
	specPath, statusPath := filepath.Join(dir, "spec.json"), filepath.Join(dir, "status.json")
	good := &spec.Spec{FormatVersion: spec.FormatVersion, Cluster: "c", Node: "n1"}
	goodHash := writeSpec(t, specPath, good)

	a := New(Config{Version: "test", SpecPath: specPath, StatusPath: statusPath, Poll: 5 * time.Millisecond, Logger: log.New(io.Discard, "", 0)})
	runAgent(t, a)

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

// reportingKind is a proxy role whose report is a number the test sets.
type reportingKind struct{ n atomic.Int64 }

func (k *reportingKind) Name() string { return "proxy" }

func (k *reportingKind) New(*spec.Spec, role.Env) (role.Role, error) { return k, nil }

func (k *reportingKind) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func (k *reportingKind) Report(st *status.Status) {
	st.Drift = append(st.Drift, fmt.Sprint("report ", k.n.Load()))
}

// statusInode tells one write of the status file from the next: each is
// a new file renamed into place.
func statusInode(t *testing.T, path string) uint64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Sys().(*syscall.Stat_t).Ino
}

// TestTheStatusIsWrittenWhenItChangesOrIsDue: turns of the loop that
// change nothing (the poll runs every 5 ms) write nothing; a role's new
// report is written at the next turn, and an unchanged status again once
// a Heartbeat has passed.
func TestTheStatusIsWrittenWhenItChangesOrIsDue(t *testing.T) {
	dir := t.TempDir()
	specPath, statusPath := filepath.Join(dir, "spec.json"), filepath.Join(dir, "status.json")
	s := &spec.Spec{FormatVersion: spec.FormatVersion, Cluster: "c", Node: "n1", Proxies: []spec.Proxy{{Name: "p"}}}
	writeSpec(t, specPath, s)
	kind := &reportingKind{}
	const heartbeat = 600 * time.Millisecond
	a := New(Config{Version: "test", SpecPath: specPath, StatusPath: statusPath, Poll: 5 * time.Millisecond,
		Heartbeat: heartbeat, Logger: log.New(io.Discard, "", 0), Roles: []role.Kind{kind}})
	runAgent(t, a)

	kind.n.Store(1)
	first := waitStatus(t, statusPath, "the role running and its report", func(st *status.Status) bool {
		return st.Healthy && roleState(st, "proxy").State == status.RoleRunning && slices.Contains(st.Drift, "report 1")
	})
	written := statusInode(t, statusPath)
	time.Sleep(heartbeat / 3)
	if statusInode(t, statusPath) != written {
		t.Errorf("the status was written again within %v though nothing changed", heartbeat/3)
	}

	kind.n.Store(2)
	changed := waitStatus(t, statusPath, "the role's new report", func(st *status.Status) bool { return slices.Contains(st.Drift, "report 2") })
	if !changed.Updated.After(first.Updated) {
		t.Errorf("the changed status says it was updated at %v, the first at %v", changed.Updated, first.Updated)
	}
	written = statusInode(t, statusPath)
	due := waitStatus(t, statusPath, "the unchanged status rewritten when due", func(st *status.Status) bool { return st.Updated.After(changed.Updated) })
	if gap := due.Updated.Sub(changed.Updated); gap < heartbeat {
		t.Errorf("the unchanged status was rewritten %v after the last write, before the %v heartbeat", gap, heartbeat)
	}
	if statusInode(t, statusPath) == written {
		t.Error("the status file shows a new update but is the same file")
	}
}

// TestASpecEditedInPlaceIsTaken: the poll reads the spec only when its
// file looks changed; a hand edit of the same size, in place, is one.
func TestASpecEditedInPlaceIsTaken(t *testing.T) {
	dir := t.TempDir()
	specPath, statusPath := filepath.Join(dir, "spec.json"), filepath.Join(dir, "status.json")
	first := writeSpec(t, specPath, &spec.Spec{FormatVersion: spec.FormatVersion, Cluster: "c", Node: "n1"})
	a := New(Config{Version: "test", SpecPath: specPath, StatusPath: statusPath, Poll: 5 * time.Millisecond,
		Heartbeat: time.Hour, Logger: log.New(io.Discard, "", 0)})
	runAgent(t, a)
	waitStatus(t, statusPath, "the first spec running", func(st *status.Status) bool { return st.SpecHash == first })
	info, err := os.Stat(specPath)
	if err != nil {
		t.Fatal(err)
	}
	// n1 becomes n2: the same size, written into the same file, its
	// modification time put back.
	data, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(data, []byte(`"n1"`), []byte(`"n2"`), 1)
	f, err := os.OpenFile(specPath, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(edited, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(specPath, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, statusPath, "the edited spec running", func(st *status.Status) bool { return st.SpecHash == spec.HashBytes(edited) })
	if st.SpecFileHash != st.SpecHash {
		t.Errorf("file hash %s, running %s", st.SpecFileHash, st.SpecHash)
	}
}
