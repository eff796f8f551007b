package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Down removes a lab — its processes, namespaces, mounts and files — from
// its state directory alone. It works after a crash or a killed Up, and
// removing a lab that does not exist is not an error.
func Down(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	unlock, err := lockLab()
	if err != nil {
		return err
	}
	defer unlock()
	return down(ctx, name)
}

// Down removes the lab; see the package function Down.
func (l *Lab) Down(ctx context.Context) error { return Down(ctx, l.st.Name) }

// down does Down's work; the caller holds the lab lock.
func down(ctx context.Context, name string) error {
	dir := dirOf(name)
	if _, err := os.Stat(dir); errNotExist(err) {
		return nil
	}
	st, err := loadState(name)
	if err != nil && !errNotExist(err) {
		return fmt.Errorf("%w; remove what is left by hand: namespaces in /run/netns, then %s", err, dir)
	}
	var errs []error
	if st != nil {
		// The power switch first, lest it boot a node again.
		if st.PDU != nil {
			if err := killPid(ctx, st.PDU.Pid, st.PDU.Start); err != nil {
				errs = append(errs, fmt.Errorf("the power switch: %w", err))
			}
		}
		for _, n := range st.Nodes {
			if err := killNode(ctx, n); err != nil {
				errs = append(errs, err)
			}
		}
		for _, ns := range st.namespaces() {
			if err := killNetns(ctx, ns); err != nil {
				errs = append(errs, err)
			}
		}
		for _, ns := range st.namespaces() {
			if err := deleteNetns(ns); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := unmountAll(dir, true); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("taking lab %s down: %w", name, errors.Join(errs...))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	if names, err := List(); err == nil && len(names) == 0 {
		// The last lab is gone: leave nothing, the lock file included.
		_ = os.Remove(filepath.Join(BaseDir, ".lock"))
		_ = os.Remove(BaseDir)
	}
	return nil
}

// unmountAll lazily unmounts everything mounted under dir (and dir itself
// when self is set) in this mount namespace, deepest first.
func unmountAll(dir string, self bool) error {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	var targets []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 1 && ((self && fields[1] == dir) || strings.HasPrefix(fields[1], dir+"/")) {
			targets = append(targets, fields[1])
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading mounts: %w", err)
	}
	for i := len(targets) - 1; i >= 0; i-- {
		if err := unix.Unmount(targets[i], unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmounting %s: %w", targets[i], err)
		}
	}
	return nil
}
