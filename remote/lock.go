package remote

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"time"
)

// lockPoll is how often a held lock is looked at again while waiting.
const lockPoll = time.Second

// exit codes of the lock snippets.
const (
	exitLocked    = 75
	exitLockGone  = 76
	exitLockTaken = 77
)

// LockInfo says who holds a host's apply lock.
type LockInfo struct {
	ID        string    `json:"id"` // random, tells two runs of one user apart
	User      string    `json:"user"`
	Host      string    `json:"host"` // the operator's machine
	PID       int       `json:"pid"`
	Time      time.Time `json:"time"`
	Operation string    `json:"operation"` // "apply", "destroy", …
}

// NewLockInfo describes this process running operation.
func NewLockInfo(operation string) LockInfo {
	host, _ := os.Hostname()
	return LockInfo{
		ID:        rand.Text(),
		User:      localUser(),
		Host:      host,
		PID:       os.Getpid(),
		Time:      time.Now().UTC().Truncate(time.Second),
		Operation: operation,
	}
}

func (i LockInfo) String() string {
	return fmt.Sprintf("%s@%s (pid %d, %s since %s)", i.User, i.Host, i.PID, i.Operation, i.Time.Format(time.RFC3339))
}

// HostLock is an apply lock this process holds on one host.
type HostLock struct {
	c    *Client
	path string
	info LockInfo
}

// Lock takes the apply lock at path (a directory created atomically on the
// host; its parent is created if missing). When another run holds it, Lock
// polls until wait has passed — bounded by ctx too — and then returns a
// *LockedError naming the holder.
func (c *Client) Lock(ctx context.Context, lockPath string, info LockInfo, wait time.Duration) (*HostLock, error) {
	owner, err := json.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("%s: lock %s: %w", c.target.Name, lockPath, err)
	}
	cmd := fmt.Sprintf(`d=%s
mkdir -p -- %s
if mkdir -- "$d" 2>/dev/null; then printf '%%s\n' %s > "$d/owner.json"; exit 0; fi
cat -- "$d/owner.json" 2>/dev/null
exit %d`, Quote(lockPath), Quote(path.Dir(lockPath)), Quote(string(owner)), exitLocked)
	start := time.Now()
	for {
		res, err := c.Run(ctx, cmd, nil)
		if err != nil {
			return nil, err
		}
		switch res.ExitCode {
		case 0:
			return &HostLock{c: c, path: lockPath, info: info}, nil
		case exitLocked:
		default:
			return nil, &ExitError{Host: c.target.Name, Cmd: "lock " + lockPath, Code: res.ExitCode, Stderr: string(res.Stderr)}
		}
		waited := time.Since(start)
		if waited >= wait {
			return nil, &LockedError{Host: c.target.Name, Path: lockPath, Holder: parseOwner(res.Stdout), Waited: waited}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", &LockedError{Host: c.target.Name, Path: lockPath, Holder: parseOwner(res.Stdout), Waited: waited}, context.Cause(ctx))
		case <-time.After(min(lockPoll, wait-waited)):
		}
	}
}

// Unlock releases the lock, unless it is no longer this run's (someone
// forced it away meanwhile), which is an error saying so.
func (l *HostLock) Unlock(ctx context.Context) error {
	owner, err := json.Marshal(l.info)
	if err != nil {
		return fmt.Errorf("%s: unlock %s: %w", l.c.target.Name, l.path, err)
	}
	cmd := fmt.Sprintf(`d=%s
[ -d "$d" ] || exit %d
if [ "$(cat -- "$d/owner.json" 2>/dev/null)" != %s ]; then cat -- "$d/owner.json" 2>/dev/null; exit %d; fi
rm -rf -- "$d"`, Quote(l.path), exitLockGone, Quote(string(owner)), exitLockTaken)
	res, err := l.c.Run(ctx, cmd, nil)
	switch {
	case err != nil:
		return err
	case res.ExitCode == exitLockGone:
		return fmt.Errorf("%s: unlock %s: the lock was removed while this run held it (force-unlock?)", l.c.target.Name, l.path)
	case res.ExitCode == exitLockTaken:
		return fmt.Errorf("%s: unlock %s: left in place: %w", l.c.target.Name, l.path,
			&LockedError{Host: l.c.target.Name, Path: l.path, Holder: parseOwner(res.Stdout)})
	case res.ExitCode != 0:
		return &ExitError{Host: l.c.target.Name, Cmd: "unlock " + l.path, Code: res.ExitCode, Stderr: string(res.Stderr)}
	}
	return nil
}

// ErrNotLocked is returned by ForceUnlock when there is no lock to remove.
var ErrNotLocked = errors.New("not locked")

// ForceUnlock removes the lock at lockPath whoever holds it, and returns
// who did (zero when the holder left no owner file).
func (c *Client) ForceUnlock(ctx context.Context, lockPath string) (LockInfo, error) {
	cmd := fmt.Sprintf(`d=%s
[ -d "$d" ] || exit %d
cat -- "$d/owner.json" 2>/dev/null
rm -rf -- "$d"`, Quote(lockPath), exitLockGone)
	res, err := c.Run(ctx, cmd, nil)
	switch {
	case err != nil:
		return LockInfo{}, err
	case res.ExitCode == exitLockGone:
		return LockInfo{}, fmt.Errorf("%s: force-unlock %s: %w", c.target.Name, lockPath, ErrNotLocked)
	case res.ExitCode != 0:
		return LockInfo{}, &ExitError{Host: c.target.Name, Cmd: "force-unlock " + lockPath, Code: res.ExitCode, Stderr: string(res.Stderr)}
	}
	return parseOwner(res.Stdout), nil
}

// parseOwner reads an owner file; a missing or torn one is a zero LockInfo.
func parseOwner(b []byte) LockInfo {
	var info LockInfo
	if json.Unmarshal([]byte(strings.TrimSpace(string(b))), &info) != nil {
		return LockInfo{}
	}
	return info
}
