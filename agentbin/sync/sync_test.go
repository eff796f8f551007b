package sync

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

func TestExitPolicyRetriesEveryNonZeroExit(t *testing.T) {
	tests := []struct {
		code int
		ok   bool
		says string
	}{
		{0, true, ""},
		{23, false, "partial transfer"},
		{24, false, "vanished"},
		{25, false, "delete guard"},
		{255, false, "cannot reach the target"},
		{12, false, "refused or broke off"},
		{30, false, "timeout"},
		{1, false, "rsync exit 1"},
	}
	for _, tt := range tests {
		ok, why := exitPolicy(tt.code)
		if ok != tt.ok || !strings.Contains(why, tt.says) {
			t.Errorf("exit %d: ok=%v %q, want ok=%v and %q", tt.code, ok, why, tt.ok, tt.says)
		}
	}
}

func TestDeleteGuard(t *testing.T) {
	tests := []struct {
		name    string
		st      runStats
		recent  int64
		max     int
		blocked bool
	}{
		{"nothing deleted", runStats{files: 100}, 0, 50, false},
		{"a few files of a small tree is an edit", runStats{files: 1, deleted: 5}, 0, 50, false},
		{"most of the target", runStats{files: 1, deleted: 40}, 0, 50, true},
		{"under the share", runStats{files: 100, deleted: 20}, 0, 50, false},
		{"just over the share", runStats{files: 49, deleted: 51}, 0, 50, true},
		{"new files on the source do not count as on the target", runStats{files: 60, created: 50, deleted: 15}, 0, 50, true},
		{"guard off", runStats{files: 1, deleted: 1000}, 0, 0, false},
		{"a wipe spread over small runs", runStats{files: 5, deleted: 5}, 40, 50, true},
		{"recent deletions alone do not stop a run that deletes nothing", runStats{files: 5}, 40, 50, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			why := deleteGuard(tt.st, tt.recent, tt.max)
			if (why != "") != tt.blocked {
				t.Errorf("guard says %q, want blocked=%v", why, tt.blocked)
			}
			if why != "" && !strings.Contains(why, "hactl sync confirm") {
				t.Errorf("guard does not say how to go on: %q", why)
			}
		})
	}
}

func TestParseStats(t *testing.T) {
	out := `
Number of files: 1,234 (reg: 1,000, dir: 234)
Number of created files: 12 (reg: 12)
Number of deleted files: 3 (reg: 3)
Matched data: 199,310 bytes
Total bytes sent: 4,567
`
	got := parseStats(out)
	want := runStats{files: 1234, created: 12, deleted: 3, sent: 4567, matched: 199310}
	if got.differs.n != 0 || got.replaced != 0 {
		t.Errorf("stats lines taken for items: %+v", got)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestBatching(t *testing.T) {
	t0 := time.Unix(1000, 0)
	delay := 200 * time.Millisecond
	tests := []struct {
		name      string
		events    []time.Duration // after t0
		now       time.Duration
		full      bool
		due       bool
		lagAtNow  time.Duration
		remaining int // after a run that saw the first len(events)-1 events
	}{
		{"nothing pending", nil, time.Second, false, false, 0, 0},
		{"still within the delay", []time.Duration{0, 100 * time.Millisecond}, 250 * time.Millisecond, false, false, 250 * time.Millisecond, 1},
		{"quiet for the delay", []time.Duration{0, 100 * time.Millisecond}, 300 * time.Millisecond, false, true, 300 * time.Millisecond, 1},
		{"a steady stream does not postpone forever", []time.Duration{0, 700 * time.Millisecond, 790 * time.Millisecond}, 800 * time.Millisecond, false, true, 800 * time.Millisecond, 1},
		{"a full comparison is due at once", nil, 0, true, true, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p pending
			if tt.full {
				p.askFull(t0, true)
			}
			var last time.Time
			for i, e := range tt.events {
				last = t0.Add(e)
				p.add("f"+string(rune('a'+i)), last, uint64(i+1))
			}
			now := t0.Add(tt.now)
			if got := p.due(now, last, delay); got != tt.due {
				t.Errorf("due = %v, want %v", got, tt.due)
			}
			if o := p.oldest(); !o.IsZero() && now.Sub(o) != tt.lagAtNow {
				t.Errorf("lag %s, want %s", now.Sub(o), tt.lagAtNow)
			}
			p.done(tt.full, uint64(max(len(tt.events)-1, 0)))
			if len(p.paths) != tt.remaining || p.full {
				t.Errorf("after the run: %d pending (full %v), want %d: a change made during a run must stay pending", len(p.paths), p.full, tt.remaining)
			}
		})
	}
}

func TestPlanSendsTheDirectoriesOfChanges(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a/b", "new/x/y"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "a/b/f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var p pending
	for i, rel := range []string{"a/b/f", "a/gone", "gone/deeper/file", "new", "new/x", "new/x/y"} {
		p.add(rel, time.Now(), uint64(i))
	}
	tr := p.plan(root)
	if tr.full || !tr.vanished {
		t.Errorf("full=%v vanished=%v, want a change run that knows paths vanished", tr.full, tr.vanished)
	}
	if want := []string{"", "a"}; !slices.Equal(tr.shallow, want) {
		t.Errorf("shallow %q, want %q: the nearest existing directories of vanished paths only", tr.shallow, want)
	}
	if want := []string{"new"}; !slices.Equal(tr.deep, want) {
		t.Errorf("deep %q, want %q (a directory sent whole covers those under it)", tr.deep, want)
	}
	if want := []string{"a/b/f"}; !slices.Equal(tr.files, want) {
		t.Errorf("files %q, want %q", tr.files, want)
	}
	if want := []string{"a/b"}; !slices.Equal(tr.dirs, want) {
		t.Errorf("dirs %q, want %q: the directory of a changed file, not those sent whole", tr.dirs, want)
	}
}

// A batch that adds and changes files is one run that names them, and
// lists nothing else of their directory; one where paths vanished adds a
// shallow run of their directory, whose deletions the guard counts.
func TestChangeRunsSendWhatChangedAndNoListing(t *testing.T) {
	needRsync(t)
	src, dst := t.TempDir(), t.TempDir()
	tree := map[string]string{"top": "t"}
	for i := range 50 {
		tree[fmt.Sprintf("d/f%d", i)] = "old"
	}
	writeTree(t, src, tree)
	s := &spec.Sync{Name: "docroot", Path: src, Delete: true}
	if _, n := localRun(t, s, transfer{full: true, maxDelete: -1}, false, dst); n != 1 {
		t.Fatalf("%d full runs, want 1", n)
	}
	var p pending
	change := func(seq uint64, files map[string]string, gone ...string) {
		writeTree(t, src, files)
		for rel := range files {
			p.add(rel, time.Now(), seq)
		}
		for _, rel := range gone {
			if err := os.Remove(filepath.Join(src, rel)); err != nil {
				t.Fatal(err)
			}
			p.add(rel, time.Now(), seq)
		}
	}
	// f3 keeps its size, likely within the second of the copy. d's time
	// is set apart: rsync compares times to the second.
	change(1, map[string]string{"d/new": "n", "d/f3": "new", "top2": "u"})
	then := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(src, "d"), then, then); err != nil {
		t.Fatal(err)
	}
	st, n := localRun(t, s, p.plan(src), false, dst)
	if n != 1 {
		t.Errorf("%d runs for added and changed files, want 1", n)
	}
	// The two names, the directory's entry, and what rsync implies: the
	// root. Not the 50 entries of d.
	if st.files > 5 {
		t.Errorf("the run listed %d files, want the changed ones and their directories only", st.files)
	}
	if got, want := treeOf(t, dst), treeOf(t, src); !maps.Equal(got, want) {
		t.Errorf("target %v, want %v", got, want)
	}
	srcDir, _ := os.Stat(filepath.Join(src, "d"))
	dstDir, _ := os.Stat(filepath.Join(dst, "d"))
	if !srcDir.ModTime().Equal(dstDir.ModTime()) {
		t.Errorf("d's time on the target %s, want the source's %s", dstDir.ModTime(), srcDir.ModTime())
	}
	p.done(false, 1)

	change(2, map[string]string{"d/f9": "edit"}, "d/f7", "d/f8")
	st, n = localRun(t, s, p.plan(src), false, dst)
	if n != 2 {
		t.Errorf("%d runs, want the files and the shallow run of d", n)
	}
	if st.deleted != 2 {
		t.Errorf("%d deletions counted, want 2 (the guard adds them up)", st.deleted)
	}
	if got, want := treeOf(t, dst), treeOf(t, src); !maps.Equal(got, want) {
		t.Errorf("target %v, want %v", got, want)
	}
}

func TestRsyncRuns(t *testing.T) {
	s := &spec.Sync{Name: "docroot", Path: "/var/www/html/", Delete: true, Atomic: true, Excludes: []string{"*.tmp"}, KeyPath: "/etc/hactl/secrets/sync-docroot.key"}
	tg := spec.SyncTarget{Node: "dgx", Address: "192.168.0.27", Path: "/var/www/html/", Port: 22}
	full := rsyncRuns(s, tg, "/var/lib/hactl/sync/docroot.known_hosts", transfer{full: true, maxDelete: 7}, false)
	if len(full) != 1 {
		t.Fatalf("full: %d runs", len(full))
	}
	args := strings.Join(full[0].args, " ")
	for _, want := range []string{"-az ", "--delete --max-delete=7", "--delay-updates", "--exclude=*.tmp", "StrictHostKeyChecking=yes", "UserKnownHostsFile=/var/lib/hactl/sync/docroot.known_hosts", "-- /var/www/html/ root@192.168.0.27:"} {
		if !strings.Contains(args, want) {
			t.Errorf("full run %q lacks %q", args, want)
		}
	}
	if strings.Contains(args, "StrictHostKeyChecking=no") {
		t.Error("host keys not checked")
	}
	change := rsyncRuns(s, tg, "kh", transfer{files: []string{"a/f"}, dirs: []string{"a"}, shallow: []string{"", "a"}, deep: []string{"n"}, maxDelete: -1}, false)
	if len(change) != 3 {
		t.Fatalf("change: %d runs, want files, shallow, deep", len(change))
	}
	if a := strings.Join(change[0].args, " "); !strings.Contains(a, "--ignore-times --from0 --files-from=-") || change[0].stdin != "a/f\x00a\x00" || strings.Contains(a, "--delete") {
		t.Errorf("files run %q stdin %q", a, change[0].stdin)
	}
	if a := strings.Join(change[1].args, " "); !strings.Contains(a, "-d -R -- /var/www/html/./ /var/www/html/./a/ root@") || !strings.Contains(a, "--delete") {
		t.Errorf("shallow run %q", a)
	}
	if a := strings.Join(change[2].args, " "); !strings.Contains(a, "-r -R -- /var/www/html/./n/ root@") {
		t.Errorf("deep run %q", a)
	}
	dry := rsyncRuns(s, tg, "kh", transfer{full: true, maxDelete: 0}, true)
	if a := strings.Join(dry[0].args, " "); !strings.Contains(a, "--dry-run") || strings.Contains(a, "--max-delete") || strings.Contains(a, "--delay-updates") {
		t.Errorf("dry run %q", a)
	}
}

func TestAuthorizedKeysKeepTheOperatorsLines(t *testing.T) {
	file := filepath.Join(t.TempDir(), ".ssh", "authorized_keys")
	operator := "ssh-ed25519 AAAAoperator admin@laptop\n"
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(operator), 0o600); err != nil {
		t.Fatal(err)
	}
	recv := []spec.SyncReceive{{Name: "docroot", Source: "f400", Path: "/var/www/html/", PublicKeys: []string{"ssh-ed25519 AAAAnew", "ssh-ed25519 AAAAold"}}}
	if err := installAuthorized(file, authorizedLines("/usr/bin/rrsync", recv)); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(file)
	want := operator +
		`restrict,command="/usr/bin/rrsync -wo /var/www/html" ssh-ed25519 AAAAnew hactl-sync:docroot` + "\n" +
		`restrict,command="/usr/bin/rrsync -wo /var/www/html" ssh-ed25519 AAAAold hactl-sync:docroot` + "\n"
	if string(got) != want {
		t.Errorf("authorized_keys:\n%s\nwant:\n%s", got, want)
	}
	// The rotation ends: the old key goes, the operator's line stays.
	recv[0].PublicKeys = recv[0].PublicKeys[:1]
	if err := installAuthorized(file, authorizedLines("/usr/bin/rrsync", recv)); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(file); strings.Contains(string(got), "AAAAold") || !strings.HasPrefix(string(got), operator) {
		t.Errorf("after rotation:\n%s", got)
	}
	if err := installAuthorized(file, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(file); string(got) != operator {
		t.Errorf("after the sync is gone:\n%s", got)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
}

func TestWatcherFollowsDirectoriesAsTheyComeAndGo(t *testing.T) {
	root := t.TempDir()
	changed := make(chan string, 1000)
	w, err := newWatcher(root, func(rel string) { changed <- rel }, func(why string) { t.Errorf("lost: %s", why) })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.addTree(root, false); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer close(done)
	go w.run(done)
	waitFor := func(rel string) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case got := <-changed:
				if got == rel {
					return
				}
			case <-deadline:
				t.Fatalf("no event for %s", rel)
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "a/b/c"), 0o755); err != nil {
		t.Fatal(err)
	}
	waitFor("a")
	// A directory made before its parent's watch was added is found by
	// the walk of the new parent, and then watched itself.
	deadline := time.Now().Add(5 * time.Second)
	for w.count() < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if w.count() != 4 {
		t.Fatalf("watching %d directories, want 4", w.count())
	}
	if err := os.WriteFile(filepath.Join(root, "a/b/c/f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("a/b/c/f")
	if err := os.Rename(filepath.Join(root, "a/b"), filepath.Join(root, "a/moved")); err != nil {
		t.Fatal(err)
	}
	waitFor("a/moved")
	if err := os.RemoveAll(filepath.Join(root, "a")); err != nil {
		t.Fatal(err)
	}
	waitFor("a")
	deadline = time.Now().Add(5 * time.Second)
	for w.count() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if w.count() != 1 {
		t.Errorf("watching %d directories after the tree went, want the root only", w.count())
	}
}

// localRun runs rsyncRuns against a local directory instead of a target
// over SSH: the same rsync options, the real rsync. It returns the runs'
// figures added up, and how many runs there were.
func localRun(t *testing.T, s *spec.Sync, tr transfer, dryRun bool, dst string) (runStats, int) {
	t.Helper()
	runs := rsyncRuns(s, spec.SyncTarget{Node: "dgx", Address: "192.0.2.1"}, "kh", tr, dryRun)
	var total runStats
	for _, run := range runs {
		var args []string
		for i := 0; i < len(run.args); i++ {
			if run.args[i] == "-e" {
				i++ // no SSH: the destination is local
				continue
			}
			args = append(args, run.args[i])
		}
		args[len(args)-1] = dst + "/"
		cmd := exec.Command("rsync", args...)
		cmd.Stdin = strings.NewReader(run.stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("rsync %q: %v\n%s", args, err, out)
		}
		st := parseStats(string(out))
		total.files += st.files
		total.deleted += st.deleted
		total.replaced += st.replaced
		total.differs.merge(st.differs)
	}
	return total, len(runs)
}

// treeOf maps every path under dir to its content ("/" for directories).
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out[rel] = "/"
			return nil
		}
		b, err := os.ReadFile(p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The drift check (a dry run of the whole tree) lists what differs,
// bounded, and changes nothing on the target.
func TestDryRunListsWhatDiffersAndChangesNothing(t *testing.T) {
	needRsync(t)
	src, dst := t.TempDir(), t.TempDir()
	writeTree(t, src, map[string]string{"same": "1", "changed": "new content", "only-on-source": "x", "d/kept": "k"})
	extra := map[string]string{"same": "1", "changed": "old", "d/kept": "k"}
	for i := range 8 {
		extra[fmt.Sprintf("d/stray-%d", i)] = "s"
	}
	writeTree(t, dst, extra)
	// Same times, so that only content and presence differ.
	for _, f := range []string{"same", "d/kept"} {
		mt := time.Unix(1_700_000_000, 0)
		for _, root := range []string{src, dst} {
			if err := os.Chtimes(filepath.Join(root, f), mt, mt); err != nil {
				t.Fatal(err)
			}
		}
	}
	before := treeOf(t, dst)
	s := &spec.Sync{Name: "docroot", Path: src, Delete: true}
	st, _ := localRun(t, s, transfer{full: true}, true, dst)
	if !maps.Equal(treeOf(t, dst), before) {
		t.Fatal("the dry run changed the target")
	}
	got := st.differs.list()
	if st.differs.n != 10 || len(got) != maxListed+1 || got[maxListed] != "and 5 more" {
		t.Errorf("differs %q (%d), want 10 paths: 5 named and \"and 5 more\"", got, st.differs.n)
	}
	for _, want := range []string{"changed", "only-on-source"} {
		if !slices.Contains(got, want) {
			t.Errorf("differs %q does not name %q", got, want)
		}
	}
	if slices.Contains(got, "same") || slices.Contains(got, "d/kept") {
		t.Errorf("differs %q names an identical file", got)
	}
}

// The first full run of a new group source makes the target identical
// and keeps what it replaced or deleted there: changes the former source
// may not have sent.
func TestTakeoverRunKeepsWhatItReplaces(t *testing.T) {
	needRsync(t)
	src, dst := t.TempDir(), t.TempDir()
	writeTree(t, src, map[string]string{"a": "new", "b": "same"})
	writeTree(t, dst, map[string]string{"a": "unsent edit", "b": "same", "c": "unsent file"})
	mt := time.Unix(1_700_000_000, 0)
	for _, root := range []string{src, dst} {
		if err := os.Chtimes(filepath.Join(root, "b"), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	s := &spec.Sync{Name: "docroot", Path: src, Delete: true, Group: "web"}
	keep := keptDir + "/20261202T050000Z"
	st, _ := localRun(t, s, transfer{full: true, keep: keep, maxDelete: -1}, false, dst)
	if st.replaced != 2 {
		t.Errorf("replaced %d, want 2 (a changed, c deleted)", st.replaced)
	}
	got := treeOf(t, dst)
	want := map[string]string{"a": "new", "b": "same", keptDir: "/", keep: "/", keep + "/a": "unsent edit", keep + "/c": "unsent file"}
	if !maps.Equal(got, want) {
		t.Errorf("target %v, want %v", got, want)
	}
	// Later runs neither send nor delete the kept directory.
	st, _ = localRun(t, s, transfer{full: true, maxDelete: -1}, false, dst)
	if !maps.Equal(treeOf(t, dst), want) || st.deleted != 0 {
		t.Errorf("a later full run touched the kept files: %v", treeOf(t, dst))
	}
}

// A group's sync pushes only while the group runs here: standby before,
// runs (failing here: nothing listens on the target's port) once the
// group starts, and no run at all once it stops.
func TestGroupSyncPushesOnlyWhileTheGroupRunsHere(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("ssh is not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // a closed port on loopback: every run fails at once
	src := t.TempDir()
	s := spec.Sync{Name: "docs", Path: src + "/", Trigger: "change", Group: "web", KeyPath: filepath.Join(t.TempDir(), "key"),
		Targets: []spec.SyncTarget{{Node: "c2g", Address: "127.0.0.1", Port: port, Path: "/srv/docs/"}}}
	r, err := Kind{}.New(&spec.Spec{Syncs: []spec.Sync{s}}, role.Env{StateDir: t.TempDir(), Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	sr := r.(*Role)
	m := sr.modules[0]
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.follow(ctx) }()
	report := func() status.Sync { return m.report(time.Now()) }
	waitFor := func(what string, ok func(status.Sync) bool) status.Sync {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			st := report()
			if ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: status %+v", what, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if st := report(); st.Mode != "standby" || st.Group != "web" || len(st.Targets) != 0 {
		t.Errorf("before the group runs here: %+v, want standby", st)
	}
	sr.GroupChanged(role.GroupChange{Group: "other", Here: true})
	sr.GroupChanged(role.GroupChange{Group: "web", Here: true})
	st := waitFor("the group runs here", func(st status.Sync) bool {
		return st.Mode == "change" && len(st.Targets) == 1 && st.Targets[0].Runs > 0
	})
	if tg := st.Targets[0]; tg.State != "failing" || tg.Pending != -1 {
		t.Errorf("target %+v, want failing with the first full comparison pending", tg)
	}
	sr.GroupChanged(role.GroupChange{Group: "web", Here: false})
	waitFor("the group stopped here", func(st status.Sync) bool { return st.Mode == "standby" })
	runs := m.targets[0].st.Runs
	time.Sleep(time.Second) // the retries' backoff is 250 ms, then 500 ms
	m.mu.Lock()
	after := m.targets[0].st.Runs
	m.mu.Unlock()
	if after != runs {
		t.Errorf("%d runs after the group stopped here, want none", after-runs)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("follow: %v", err)
	}
}

// A source directory missing at start is not watched, and says so; once
// it is there, the next try watches it (the run loop tries at every full
// comparison of the fallback).
func TestMissingSourceIsWatchedOnceItExists(t *testing.T) {
	root := filepath.Join(t.TempDir(), "docs")
	s := &spec.Sync{Name: "docs", Path: root + "/", Trigger: "change", Targets: []spec.SyncTarget{{Node: "c2g", Address: "127.0.0.1", Path: "/srv/"}}}
	m := newModule(s, t.TempDir(), log.New(io.Discard, "", 0), func(status.Event) {})
	m.startWatching(t.Context())
	if st := m.report(time.Now()); st.Mode != "full runs" || !strings.Contains(st.Watch, "missing") {
		t.Fatalf("status %+v, want full runs saying the directory is missing", st)
	}
	if err := os.MkdirAll(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	m.targets[0].pending = pending{}
	m.mu.Unlock()
	m.startWatching(t.Context())
	st := m.report(time.Now())
	if st.Mode != "change" || st.Watch != "" || st.Watches != 2 || st.Targets[0].Pending != -1 {
		t.Errorf("status %+v, want the tree watched (2 directories) and a full comparison due", st)
	}
	m.mu.Lock()
	m.w.Close()
	m.mu.Unlock()
}

// needRsync skips a test that runs the real rsync where it is missing.
// CI has it: scripts/test installs .ci/lab-packages, which lists rsync.
func needRsync(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("rsync is not installed (apt-get install rsync; scripts/test installs it from .ci/lab-packages)")
	}
}
