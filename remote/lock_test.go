package remote

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLockIsExclusiveAndNamesItsHolder(t *testing.T) {
	s := startSSHD(t)
	tg := s.target(t, "h1")
	first := dial(t, tg, Options{})
	second := dial(t, tg, Options{})
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "var", "lib", "hactl", "apply.lock")

	alice := LockInfo{ID: "run-1", User: "alice", Host: "laptop", PID: 4242, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Operation: "apply"}
	held, err := first.Lock(ctx, path, alice, 0)
	if err != nil {
		t.Fatal(err)
	}

	_, err = second.Lock(ctx, path, NewLockInfo("destroy"), 0)
	var locked *LockedError
	if !errors.As(err, &locked) || locked.Holder != alice {
		t.Fatalf("Lock of a held lock: %v, want a *LockedError naming alice's run", err)
	}
	for _, want := range []string{"h1: ", "alice@laptop", "pid 4242", "apply", "2026-01-02T03:04:05Z", path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}

	// A waiting Lock gets the lock once the holder lets go.
	got := make(chan error, 1)
	go func() {
		l, err := second.Lock(ctx, path, NewLockInfo("apply"), time.Minute)
		if err == nil {
			err = l.Unlock(ctx)
		}
		got <- err
	}()
	if err := held.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("waiting Lock: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("lock still there after Unlock: %v", err)
	}
}

func TestForceUnlockRemovesAnyonesLock(t *testing.T) {
	s := startSSHD(t)
	c := dial(t, s.target(t, "h1"), Options{})
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "apply.lock")

	if _, err := c.ForceUnlock(ctx, path); !errors.Is(err, ErrNotLocked) {
		t.Fatalf("ForceUnlock without a lock: %v, want ErrNotLocked", err)
	}
	dead := NewLockInfo("apply")
	held, err := c.Lock(ctx, path, dead, 0)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := c.ForceUnlock(ctx, path)
	if err != nil || holder != dead {
		t.Fatalf("ForceUnlock = %+v, %v; want the holder %+v", holder, err, dead)
	}
	if err := held.Unlock(ctx); err == nil || !strings.Contains(err.Error(), "removed while this run held it") {
		t.Fatalf("Unlock of a forced lock: %v, want an error saying it was removed", err)
	}

	// A run that died between mkdir and writing its owner file.
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = c.Lock(ctx, path, NewLockInfo("apply"), 0)
	var locked *LockedError
	if !errors.As(err, &locked) || locked.Holder.ID != "" || !strings.Contains(err.Error(), "unknown holder") {
		t.Fatalf("Lock of an ownerless lock: %v, want a *LockedError with an unknown holder", err)
	}
	if _, err := c.ForceUnlock(ctx, path); err != nil {
		t.Fatal(err)
	}
}
