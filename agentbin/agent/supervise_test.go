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
)

func TestSuperviseRestartsAChildThatDiesAndStopsItOnCancel(t *testing.T) {
	starts := filepath.Join(t.TempDir(), "starts")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// Each start appends a line and dies at once, so the supervisor must
	// start it again and again.
	go func() {
		done <- Supervise(ctx, log.New(io.Discard, "", 0), []string{"sh", "-c", "echo start >> " + starts + "; exit 3"})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, _ := os.ReadFile(starts)
		if strings.Count(string(data), "start") >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child started %d times in 20s, want at least 3", strings.Count(string(data), "start"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Supervise: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Supervise did not return after cancel")
	}
}

func TestSuperviseStopsALongRunningChildOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Supervise(ctx, log.New(io.Discard, "", 0), []string{"sleep", "600"}) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Supervise: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Supervise did not stop its child")
	}
}
