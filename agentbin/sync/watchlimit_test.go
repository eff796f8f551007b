package sync

import (
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// watchLimit is the inotify watch limit the test sets in its own user
// namespace. The limit is per user namespace (user.max_inotify_watches,
// counted up the chain of namespaces), so a small one there leaves the
// host's, and the other tests', alone.
const watchLimit = 8

const watchLimitChild = "HACTL_SYNC_TEST_WATCH_LIMIT"

// Running out of inotify watches, at start or as the tree grows, falls
// back to full comparisons: status says "full runs" and why, every target
// has a full comparison due (which sends everything, nothing lost), and
// the module keeps going.
func TestRunningOutOfWatchesFallsBackToFullRuns(t *testing.T) {
	if os.Getenv(watchLimitChild) == "" {
		runInUserNamespace(t)
		return
	}
	if err := os.WriteFile("/proc/sys/user/max_inotify_watches", []byte(fmt.Sprint(watchLimit)), 0o644); err != nil {
		t.Fatalf("setting the namespace's watch limit: %v", err)
	}
	for _, tc := range []struct {
		name     string
		dirsThen int // directories at start, then made while watched
		dirsNow  int
	}{
		{"at start", 2 * watchLimit, 0},
		{"as the tree grows", 2, 2 * watchLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			mkdirs := func(n int, prefix string) {
				for i := range n {
					if err := os.MkdirAll(filepath.Join(root, fmt.Sprintf("%s%d", prefix, i)), 0o755); err != nil {
						t.Fatal(err)
					}
				}
			}
			mkdirs(tc.dirsThen, "old")
			s := &spec.Sync{Name: "docroot", Path: root + "/", Trigger: "change", Targets: []spec.SyncTarget{{Node: "dgx", Address: "192.0.2.1", Path: "/srv/"}}}
			m := newModule(s, t.TempDir(), log.New(io.Discard, "", 0), func(status.Event) {})
			ctx := t.Context()
			m.startWatching(ctx)
			if tc.dirsNow > 0 {
				// As after the first run: nothing pending. What is lost
				// from now on must ask for a full comparison again.
				m.mu.Lock()
				m.targets[0].pending = pending{}
				m.mu.Unlock()
				mkdirs(tc.dirsNow, "new")
			}
			deadline := time.Now().Add(5 * time.Second)
			var st status.Sync
			for {
				st = m.report(time.Now())
				if st.Mode == "full runs" || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if st.Mode != "full runs" || !strings.Contains(st.Watch, "max_user_watches") {
				t.Fatalf("status %+v, want mode \"full runs\" saying the watches ran out", st)
			}
			if st.Targets[0].Pending != -1 || st.Targets[0].LagMS < 0 {
				t.Errorf("target %+v, want a full comparison due", st.Targets[0])
			}
			if st.Watches > watchLimit {
				t.Errorf("%d watches, more than the limit %d", st.Watches, watchLimit)
			}
		})
	}
}

// runInUserNamespace runs the calling test again in a child process, as
// root of a user namespace of its own.
func runInUserNamespace(t *testing.T) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), watchLimitChild+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(err.Error(), "operation not permitted") {
		t.Skipf("cannot make a user namespace here: %v", err)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("in a user namespace with %d watches: %v\n%s", watchLimit, err, out)
	}
	t.Logf("in a user namespace with %d watches:\n%s", watchLimit, out)
}
