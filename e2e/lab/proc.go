package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// nsID identifies a namespace: the device and inode of its nsfs file.
type nsID struct{ dev, ino uint64 }

// nsIDOf returns the identity of the namespace a path (a /run/netns mount
// or a /proc/PID/ns/* link) refers to.
func nsIDOf(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, err
	}
	return nsID{dev: st.Dev, ino: st.Ino}, nil
}

// pidsInNetns returns the processes whose network namespace is the named
// one: every thread of theirs is in it. A process with only one thread in
// it is visiting (another lab command or test dialing in from a locked
// thread) and is left alone. The calling process is never included.
func pidsInNetns(name string) ([]int, error) {
	id, err := nsIDOf(netnsPath(name))
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, nil
		}
		return nil, fmt.Errorf("network namespace %s: %w", name, err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if pidID, err := nsIDOf(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && pidID == id && allThreadsIn(pid, id) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// allThreadsIn reports whether every thread of a process is in the
// namespace.
func allThreadsIn(pid int, id nsID) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return true // gone, or exiting: nothing to tell
	}
	for _, t := range tasks {
		if tid, err := nsIDOf(fmt.Sprintf("/proc/%d/task/%s/ns/net", pid, t.Name())); err == nil && tid != id {
			return false
		}
	}
	return true
}

// procState returns the state letter of a process (R, S, T, Z…), or 0 when
// it is gone.
func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// startTime returns a process's start time in clock ticks since boot, which
// tells it apart from a later process with the same pid; 0 when it is gone.
func startTime(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	// Fields after the command: state is the 3rd field, starttime the 22nd.
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return 0
	}
	t, _ := strconv.ParseUint(fields[19], 10, 64)
	return t
}

// killNode kills every process of a node and waits until its init has
// exited. Init is PID 1 of the node's PID namespace, so the kernel ends
// its exit only after every other process of the node has exited and
// closed its files and mounts: a killed node answers nothing and its disk
// can be mounted again at once.
func killNode(ctx context.Context, n *nodeState) error {
	if err := killNetns(ctx, n.Netns); err != nil {
		return err
	}
	if err := killPid(ctx, n.InitPid, n.InitStart); err != nil {
		return fmt.Errorf("node %s: its init: %w", n.Name, err)
	}
	n.InitPid, n.InitStart = 0, 0
	return nil
}

// killPid SIGKILLs a process, unless its pid is 0 or now another
// process's, and waits until it has exited.
func killPid(ctx context.Context, pid int, start uint64) error {
	if pid == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		if s := procState(pid); s == 0 || s == 'Z' || startTime(pid) != start {
			return nil
		}
		_ = unix.Kill(pid, unix.SIGKILL)
		select {
		case <-ctx.Done():
			return fmt.Errorf("pid %d does not exit: %w", pid, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// pollInterval is how often bounded waits look again.
const pollInterval = 20 * time.Millisecond

// killNetns SIGKILLs every process in the named network namespace and
// waits until none is left.
func killNetns(ctx context.Context, name string) error {
	return signalUntil(ctx, name, "killing", unix.SIGKILL, func(s byte) bool { return s == 0 || s == 'Z' })
}

// stopNetns SIGSTOPs every process in the named network namespace and
// keeps at it until all are stopped, so that a process forked meanwhile is
// caught too.
func stopNetns(ctx context.Context, name string) error {
	return signalUntil(ctx, name, "stopping", unix.SIGSTOP, func(s byte) bool {
		return s == 0 || s == 'T' || s == 't' || s == 'Z' || s == 'X'
	})
}

// signalUntil sends sig to the processes of a network namespace until
// every one is done, as judged by its state letter, within a bound.
func signalUntil(ctx context.Context, name, doing string, sig syscall.Signal, done func(state byte) bool) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		pids, err := pidsInNetns(name)
		if err != nil {
			return err
		}
		var left []int
		for _, pid := range pids {
			if !done(procState(pid)) {
				left = append(left, pid)
				_ = unix.Kill(pid, sig)
			}
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s the processes of %s: %v are left: %w", doing, name, left, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// signalNetns sends sig to every process in the named network namespace.
func signalNetns(name string, sig syscall.Signal) error {
	pids, err := pidsInNetns(name)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		_ = unix.Kill(pid, sig)
	}
	return nil
}
