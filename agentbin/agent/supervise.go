package agent

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"time"
)

// Supervise runs argv as a child and starts it again whenever it exits,
// until ctx ends; then it stops the child with SIGTERM. It is the service
// manager of hosts without systemd (the lab's nodes, small containers).
// Restarts back off from 100ms to 10s, and reset after a child ran 30s.
func Supervise(ctx context.Context, logger *log.Logger, argv []string) error {
	backoff := 100 * time.Millisecond
	for {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		started := time.Now()
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("starting %s: %w", argv[0], err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-ctx.Done():
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			return nil
		case err := <-done:
			if time.Since(started) > 30*time.Second {
				backoff = 100 * time.Millisecond
			}
			logger.Printf("agent exited (%v); restarting in %s", err, backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
		}
	}
}
