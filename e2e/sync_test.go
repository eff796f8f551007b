package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/status"
)

// The rsync-docroot example run for real: f400's agent watches
// /var/www/html and pushes it to dgx with rsync over SSH, logged in with
// the module's key, which dgx accepts for rrsync into that path only.

const docroot = "/var/www/html"

// treeDigest is the digest of the tree at dir: every path, type, mode and
// file content, so that a missing, extra or different entry shows. The
// directory where a new group source keeps what it replaced is left out.
func treeDigest(dir string) string {
	find := `find . -mindepth 1 -path ./.hactl-sync-kept -prune -o `
	return `cd ` + dir + ` && ` + find + `-printf '%y %m %p\n' | LC_ALL=C sort | sha256sum | cut -c1-16; ` +
		find + `-type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -c1-16`
}

func syncCluster(t *testing.T) *cluster {
	t.Helper()
	c := startCluster(t, "rsync-docroot")
	// A full comparison every 3s rather than 5m, for the repair test.
	editFile(t, filepath.Join(c.dir, "cluster.hcl"), "  trigger  = \"change\"\n  interval = \"5m\"", "  trigger  = \"change\"\n  interval = \"3s\"")
	c.onNode("f400", "mkdir -p /var/ftp/pub "+docroot+" && echo f400 > "+docroot+"/index.html")
	c.onNode("dgx", "mkdir -p /var/ftp/pub "+docroot)
	c.mustHactl(0, "apply", "--auto-approve")
	c.waitSame("the first full comparison", 20*time.Second)
	return c
}

// waitSame waits until dgx's docroot is f400's.
func (c *cluster) waitSame(what string, within time.Duration) {
	c.t.Helper()
	c.waitTreesMatch(what, "f400", "dgx", docroot, within)
}

// waitTreesMatch waits until dir on to is the same as on from.
func (c *cluster) waitTreesMatch(what, from, to, dir string, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	var src, dst string
	for time.Now().Before(deadline) {
		src, dst = c.onNode(from, treeDigest(dir)), c.onNode(to, treeDigest(dir))
		if src == dst {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s: %s's %s never matched %s's within %s (%s %q, %s %q)\n%s status: %s", what, to, dir, from, within, from, src, to, dst, from, c.statusOf(from))
}

func (c *cluster) syncStatus() string { return c.statusOf("f400") }

func (c *cluster) statusOf(node string) string {
	return c.onNode(node, "cat "+layout.StatusPath)
}

// syncOn is node's agent's report of the sync named name.
func (c *cluster) syncOn(node, name string) status.Sync {
	c.t.Helper()
	var st status.Status
	if err := json.Unmarshal([]byte(c.statusOf(node)), &st); err != nil {
		c.t.Fatal(err)
	}
	for _, s := range st.Syncs {
		if s.Name == name {
			return s
		}
	}
	c.t.Fatalf("%s's status has no sync %s: %+v", node, name, st.Syncs)
	return status.Sync{}
}

// docrootTarget is f400's view of its docroot target.
func (c *cluster) docrootTarget() (status.Sync, status.SyncTarget) {
	c.t.Helper()
	s := c.syncOn("f400", "docroot")
	if len(s.Targets) != 1 {
		c.t.Fatalf("f400's docroot sync has %d targets, want dgx: %+v", len(s.Targets), s)
	}
	return s, s.Targets[0]
}

// waitTargetState waits until f400 reports its docroot target in state.
func (c *cluster) waitTargetState(state string, within time.Duration) status.SyncTarget {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, tg := c.docrootTarget()
		if tg.State == state {
			return tg
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the docroot target is not %s after %s:\n%s\nf400's agent log:\n%s", state, within, c.syncStatus(), c.onNode("f400", "tail -20 "+layout.LogPath))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestSyncChangesReachTheTarget(t *testing.T) {
	c := syncCluster(t)
	steps := []struct{ what, script string }{
		{"create", "mkdir -p a/b && echo one > a/b/f1 && head -c 200000 /dev/urandom > big && echo x > 'sp ace'"},
		{"change", "echo two >> a/b/f1 && dd if=/dev/urandom of=big bs=1 count=10 seek=5000 conv=notrunc 2>/dev/null && chmod 600 'sp ace'"},
		{"rename", "mv a/b/f1 a/f2 && mv a/b a/c"},
		{"delete", "rm -r a/c && rm big"},
		{"excluded", "echo tmp > skip.tmp"},
	}
	for _, s := range steps {
		start := time.Now()
		c.onNode("f400", "cd "+docroot+" && "+s.script)
		if s.what == "excluded" {
			time.Sleep(time.Second)
			if out := c.onNode("dgx", "ls "+docroot); strings.Contains(out, "skip.tmp") {
				t.Errorf("excluded *.tmp reached dgx: %s", out)
			}
			continue
		}
		c.waitSame(s.what, 5*time.Second)
		t.Logf("%s: on dgx after %s", s.what, time.Since(start).Round(time.Millisecond))
	}
	tg := c.waitTargetState("in_sync", 5*time.Second)
	// A run racing the edits may fail (a file renamed under it, rsync exit
	// 23/24) and be retried: failures are allowed, lost changes are not.
	if tg.Runs < 2 || tg.BytesSent == 0 || tg.BytesSaved == 0 || tg.LastError != "" {
		t.Errorf("status of the target: %+v (want runs, bytes sent and saved by the delta transfer of the edit, no error left)", tg)
	}
	// hactl status shows the sync.
	if out := c.mustHactl(0, "status"); !strings.Contains(out, "docroot") {
		t.Errorf("hactl status does not show the sync:\n%s", out)
	}
}

func TestSyncRepairsAHandEditAndCatchesUpAfterACut(t *testing.T) {
	c := syncCluster(t)
	c.onNode("dgx", "echo edited-by-hand > "+docroot+"/index.html && touch "+docroot+"/stray")
	c.waitSame("hand edit on dgx repaired by the full comparison", 10*time.Second)

	if err := c.lab.Cut("dgx", "eth0"); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	c.onNode("f400", "cd "+docroot+" && for i in $(seq 1 50); do echo $i > cut-$i; done && rm index.html")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, tg := c.docrootTarget(); tg.State == "failing" && tg.Pending != 0 && tg.LastError != "" {
			t.Logf("while cut: %s after %s, %d pending, lag %dms: %s", tg.State, time.Since(cut).Round(100*time.Millisecond), tg.Pending, tg.LagMS, tg.LastError)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cut target is not reported failing with changes pending:\n%s", c.syncStatus())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := c.lab.Heal("dgx", "eth0"); err != nil {
		t.Fatal(err)
	}
	c.waitSame("catch-up after heal", 45*time.Second)
	if _, tg := c.docrootTarget(); tg.Failures == 0 {
		t.Errorf("the failed runs while cut are not counted: %+v", tg)
	}
}

func TestSyncWatchesADeepTree(t *testing.T) {
	c := syncCluster(t)
	c.onNode("f400", "cd "+docroot+" && bash -c 'mkdir -p deep/d{1..100}/e{1..100}'")
	c.waitSame("10,000 new directories", 60*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, _ := c.docrootTarget()
		if s.Watches >= 10000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("watching %d directories, want over 10,000 (%s)", s.Watches, s.Watch)
		}
		time.Sleep(200 * time.Millisecond)
	}
	start := time.Now()
	c.onNode("f400", "echo deep > "+docroot+"/deep/d77/e42/file")
	c.waitSame("a file in the deep tree", 5*time.Second)
	t.Logf("a write 3 levels down a 10,000-directory tree reached dgx in %s", time.Since(start).Round(time.Millisecond))
}

func TestSyncDeleteGuardStopsAWipe(t *testing.T) {
	c := syncCluster(t)
	c.onNode("f400", "cd "+docroot+" && for i in $(seq 1 40); do echo $i > keep-$i; done")
	c.waitSame("40 files", 10*time.Second)
	c.onNode("f400", "rm "+docroot+"/keep-*")
	if tg := c.waitTargetState("blocked", 20*time.Second); !strings.Contains(tg.Blocked, "would delete 40 of") {
		t.Errorf("blocked, saying %q", tg.Blocked)
	}
	if out, _ := c.hactl("status"); !strings.Contains(out, "blocked") || !strings.Contains(out, "hactl sync confirm docroot") {
		t.Errorf("hactl status does not say the run is stopped and how to go on:\n%s", out)
	}
	if n := strings.TrimSpace(c.onNode("dgx", "ls "+docroot+" | grep -c keep- || true")); n != "40" {
		t.Fatalf("dgx kept %s of the 40 files while the guard held", n)
	}
	c.onNode("f400", layout.AgentBin+" ctl sync confirm docroot")
	c.waitSame("the confirmed deletion", 10*time.Second)
}

func TestSyncKeyIsRestrictedToTheTargetPath(t *testing.T) {
	c := syncCluster(t)
	ssh := "ssh -i " + layout.SecretsDir + "/sync-docroot.key -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=" + layout.StateDir + "/sync/docroot.known_hosts"
	attempts := []string{
		ssh + " root@192.168.0.27 id",
		ssh + " -t root@192.168.0.27 sh -c id",
		"rsync -a -e '" + ssh + "' /etc/hostname root@192.168.0.27:/tmp/escape",
		"rsync -a -e '" + ssh + "' /etc/hostname root@192.168.0.27:../escape",
		"rsync -a -e '" + ssh + "' root@192.168.0.27:/etc/shadow /tmp/stolen",
	}
	for _, a := range attempts {
		out, err := c.lab.Exec(t.Context(), "f400", "sh", "-c", a+" 2>&1")
		if err == nil || strings.Contains(string(out), "uid=0") {
			t.Errorf("f400 with the sync key: %s succeeded:\n%s", a, out)
		}
	}
	if out := c.onNode("dgx", "ls /tmp/escape /var/www/escape 2>&1 || true"); !strings.Contains(out, "No such file") || strings.Count(out, "No such file") != 2 {
		t.Errorf("a file was written outside the target path:\n%s", out)
	}
	if out := c.onNode("f400", "ls /tmp/stolen 2>&1 || true"); !strings.Contains(out, "No such file") {
		t.Errorf("the sync key read from dgx:\n%s", out)
	}
	// And the key works for what it is for.
	c.onNode("f400", "echo ok > "+docroot+"/allowed")
	c.waitSame("allowed write", 5*time.Second)
}
