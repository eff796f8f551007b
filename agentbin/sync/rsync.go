package sync

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// transfer is what one rsync run sends to one target.
type transfer struct {
	full bool
	// shallow are directories (relative, "" the root) whose entries are
	// sent without recursion, deletions within them included.
	shallow []string
	// deep are new directories sent whole.
	deep []string
	// files are changed files (not directories) sent one by one.
	files []string
	// dirs are the directories holding files, whose own entries (times,
	// mode) go with them, not their content.
	dirs []string
	// maxDelete bounds the deletions of the run (--max-delete) when the
	// guard is on: what its dry run found, or none without one, so that
	// files deleted on the source between the dry run and the run are not
	// deleted unchecked. -1 is no bound.
	maxDelete int
	// vanished says whether some changed path is gone from the source:
	// only then may a change run delete on the target.
	vanished bool
	// keep, on a full run, is the directory (relative to the target's
	// root) where what the run replaces or deletes is moved (rsync
	// --backup-dir), and each item is listed to count them.
	keep string
}

// keptDir holds, on a target of a group-sourced sync, what the first full
// run of a new source replaced or deleted. It is never sent nor deleted:
// every run of such a sync excludes it.
const keptDir = ".hactl-sync-kept"

// How soon a cut target is noticed. A run in flight finds out through
// SSH's keepalives, answered within a round trip on a live link:
// aliveIntervalS × aliveCountMax seconds of silence end it (before, 5 s ×
// 2 took 10 to 20 s with a run's own timers). A keepalive is a few dozen
// bytes a second, and only while a connection is open. A new connection
// gives up after connectTimeoutS, which on a LAN is a thousand round trips.
const (
	connectTimeoutS = 3
	aliveIntervalS  = 1
	aliveCountMax   = 3
)

// sshCommand is rsync's -e: the module's key only, the target's host key
// checked against the module's known_hosts only, never a prompt. Runs
// share one SSH connection per target (ControlMaster), kept for a while
// after the last: a handshake costs more than a small run.
func sshCommand(s *spec.Sync, t spec.SyncTarget, knownHosts string) string {
	return strings.Join(append([]string{"ssh"}, sshOptions(s, t, knownHosts)...), " ")
}

func sshOptions(s *spec.Sync, t spec.SyncTarget, knownHosts string) []string {
	port := t.Port
	if port == 0 {
		port = 22
	}
	return []string{
		"-o", "ControlMaster=auto",
		"-o", "ControlPath=" + controlPath(s, knownHosts),
		"-o", "ControlPersist=120",
		"-i", s.KeyPath, "-o", "IdentitiesOnly=yes",
		"-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "ConnectTimeout=" + strconv.Itoa(connectTimeoutS),
		"-o", "ServerAliveInterval=" + strconv.Itoa(aliveIntervalS), "-o", "ServerAliveCountMax=" + strconv.Itoa(aliveCountMax),
		"-p", strconv.Itoa(port)}
}

// controlPath is the socket of a module's shared connections. It is the
// module's own: a connection is logged in with one module's key, which
// its targets restrict to that module's path, so a run of another module
// through it would write into the wrong directory. A digest of the name
// keeps the path within a socket's length limit.
func controlPath(s *spec.Sync, knownHosts string) string {
	sum := sha256.Sum256([]byte(s.Name))
	return filepath.Join(filepath.Dir(knownHosts), "cm-"+hex.EncodeToString(sum[:6])+"-%C")
}

// destination is the rsync destination: root on the target, the path
// being rrsync's on the target side.
func destination(t spec.SyncTarget) string {
	host := t.Address
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "root@" + host + ":"
}

// rsyncRun is one rsync command line and what it reads on stdin.
type rsyncRun struct {
	args  []string
	stdin string
}

// rsyncRuns are the rsync runs for tr; dryRun only counts what they would
// do (the delete guard).
//
// A change run sends the changed files first, named one by one with
// --ignore-times: rsync compares times to the whole second (the
// nanosecond comparison, --modify-window=-1, is refused by rrsync), and a
// file rewritten at the same size within the second of its last run
// would otherwise never be sent; the delta transfer keeps that cheap.
// Their directories' entries go with them (rsync reads a directory named
// in --files-from as the entry alone). Then the directories where paths
// vanished go shallow, with their deletions, and new directories whole:
// a batch that only adds and changes files is one rsync run.
//
// Every run compresses (-z, the rsync -az operators run by hand): beside
// text, it codes the delta's runs of matched blocks, which uncompressed
// cost 4 bytes per block of the file (8 KB for a 4 MB file) at every run
// that sends a small edit of it. rsync leaves already compressed files
// (by suffix) as they are.
func rsyncRuns(s *spec.Sync, t spec.SyncTarget, knownHosts string, tr transfer, dryRun bool) []rsyncRun {
	base := []string{"-az", "--stats", "--numeric-ids", "-e", sshCommand(s, t, knownHosts)}
	if dryRun {
		base = append(base, "--dry-run", "--itemize-changes")
	}
	if s.Atomic && !dryRun {
		base = append(base, "--delay-updates")
	}
	if s.Checksum {
		base = append(base, "--checksum")
	}
	if s.BWLimitKBs > 0 {
		base = append(base, "--bwlimit="+strconv.Itoa(s.BWLimitKBs))
	}
	for _, e := range s.Excludes {
		base = append(base, "--exclude="+e)
	}
	if s.Group != "" {
		base = append(base, "--exclude=/"+keptDir+"/")
	}
	if tr.keep != "" && !dryRun {
		base = append(base, "--backup", "--backup-dir="+tr.keep, "--itemize-changes")
	}
	with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
	del := []string{}
	if s.Delete {
		del = []string{"--delete"}
		if tr.maxDelete >= 0 && !dryRun {
			del = append(del, "--max-delete="+strconv.Itoa(tr.maxDelete))
		}
	}
	root := strings.TrimRight(s.Path, "/") + "/"
	dest := destination(t)
	if tr.full {
		return []rsyncRun{{args: append(with(del...), "--", root, dest)}}
	}
	// -R keeps each path's place under the root ("/./" marks where the
	// relative part starts).
	var runs []rsyncRun
	if len(tr.files) > 0 && !dryRun {
		runs = append(runs, rsyncRun{
			args:  append(with("--ignore-times", "--from0", "--files-from=-"), "--", root, dest),
			stdin: strings.Join(append(append([]string{}, tr.files...), tr.dirs...), "\x00") + "\x00",
		})
	}
	if len(tr.shallow) > 0 {
		args := append(with(del...), "-d", "-R", "--")
		for _, d := range tr.shallow {
			args = append(args, relArg(root, d))
		}
		runs = append(runs, rsyncRun{args: append(args, dest)})
	}
	if len(tr.deep) > 0 {
		args := append(with(del...), "-r", "-R", "--")
		for _, d := range tr.deep {
			args = append(args, relArg(root, d))
		}
		runs = append(runs, rsyncRun{args: append(args, dest)})
	}
	return runs
}

func relArg(root, dir string) string {
	if dir == "" {
		return root + "./"
	}
	return root + "./" + filepath.ToSlash(dir) + "/"
}

// exitPolicy says what an rsync exit code means for the run: ok only for
// 0. 23 (some files not transferred) and 24 (source files vanished) are
// failures like any other, retried: lsyncd counts them as success and
// loses what they did not send.
func exitPolicy(code int) (ok bool, why string) {
	switch code {
	case 0:
		return true, ""
	case 23:
		return false, "partial transfer (rsync exit 23): some files were not sent; retrying"
	case 24:
		return false, "source files vanished during the run (rsync exit 24); retrying"
	case 255:
		return false, "cannot reach the target over SSH (exit 255): it is down, its host key differs from the one hactl installed, or it refused the sync key"
	case 25:
		return false, "more files to delete than the delete guard's dry run found (rsync exit 25, --max-delete): files were deleted on the source meanwhile; checking again"
	case 5, 12:
		return false, fmt.Sprintf("the target's rsync refused or broke off (rsync exit %d): check its rrsync and the path", code)
	case 30, 35:
		return false, fmt.Sprintf("timeout talking to the target (rsync exit %d)", code)
	default:
		return false, fmt.Sprintf("rsync exit %d", code)
	}
}

// runStats are the figures of rsync --stats, and with --itemize-changes
// what differs.
type runStats struct {
	files, created, deleted int64
	sent, matched           int64
	// replaced counts the target's files the run changes or deletes.
	replaced int64
	differs  itemList
}

// itemRE is a line of --itemize-changes: "*deleting" or the change
// flags (">f.st......", "cd+++++++++"), then the path.
var itemRE = regexp.MustCompile(`^(\*deleting|[<>ch.][fdLDS][.+?a-zA-Z]{9}) +(.+)$`)

// maxListed is the most paths a drift report names; the rest are counted.
const maxListed = 5

// itemList is a bounded list of paths: the first few, and how many.
type itemList struct {
	n     int
	first []string
}

func (l *itemList) add(p string) {
	l.n++
	if len(l.first) < maxListed {
		l.first = append(l.first, p)
	}
}

func (l *itemList) merge(o itemList) {
	l.n += o.n
	l.first = append(l.first, o.first[:min(len(o.first), maxListed-len(l.first))]...)
}

func (l itemList) list() []string {
	if l.n == 0 {
		return nil
	}
	out := append([]string{}, l.first...)
	if more := l.n - len(l.first); more > 0 {
		out = append(out, fmt.Sprintf("and %d more", more))
	}
	return out
}

func parseStats(out string) runStats {
	var st runStats
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		if m := itemRE.FindStringSubmatch(sc.Text()); m != nil {
			flags := m[1]
			// A directory's times alone (".d..t......") differ after
			// any change inside it; the change itself is listed.
			if !strings.HasPrefix(flags, ".d") {
				st.differs.add(m[2])
			}
			if flags == "*deleting" || (flags[0] == '>' && flags[1] == 'f' && !strings.Contains(flags, "+")) {
				st.replaced++
			}
			continue
		}
		key, val, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		n := firstNumber(val)
		switch strings.TrimSpace(key) {
		case "Number of files":
			st.files = n
		case "Number of created files":
			st.created = n
		case "Number of deleted files":
			st.deleted = n
		case "Total bytes sent":
			st.sent = n
		case "Matched data":
			st.matched = n
		}
	}
	return st
}

// firstNumber reads "1,234 (reg: …)" as 1234 (rsync groups digits).
func firstNumber(s string) int64 {
	var n int64
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9':
			n = n*10 + int64(r-'0')
		case r == ',' || r == '.':
		default:
			return n
		}
	}
	return n
}

// minGuardedDeletes is the fewest deletions the guard stops: deleting a
// file or two from a small tree is an edit, not an accident.
const minGuardedDeletes = 10

// deleteGuard says why a run must not go ahead, or "": st is a dry run of
// the whole tree (what the source now lacks, still on the target), recent
// the deletions runs made within the guard's window, so that a wipe spread
// over many small runs is caught as one.
func deleteGuard(st runStats, recent int64, maxPercent int) string {
	deleted := st.deleted + recent
	if maxPercent <= 0 || st.deleted == 0 || deleted < minGuardedDeletes {
		return ""
	}
	onTarget := st.files - st.created + deleted
	if onTarget <= 0 {
		return ""
	}
	share := deleted * 100 / onTarget
	if share <= int64(maxPercent) {
		return ""
	}
	what := fmt.Sprintf("the run would delete %d of the target's %d files", st.deleted, onTarget)
	if recent > 0 {
		what = fmt.Sprintf("the run would delete %d files, %d of the target's %d with the runs of the last %s", st.deleted, deleted, onTarget, guardWindow)
	}
	return fmt.Sprintf("%s (%d%%, more than max_delete = %d%%): nothing was deleted; if the source is right, confirm with `hactl sync confirm NAME`", what, share, maxPercent)
}

// guardWindow is how long deletions count towards the guard.
const guardWindow = 10 * time.Minute

// knownHostsLine is a target's host key as the module's known_hosts lists
// it, under the address the source dials.
func knownHostsLine(t spec.SyncTarget, key string) string {
	host := t.Address
	if t.Port != 0 && t.Port != 22 {
		host = "[" + host + "]:" + strconv.Itoa(t.Port)
	} else if ip := net.ParseIP(host); ip != nil && strings.Contains(host, ":") {
		host = ip.String()
	}
	return host + " " + key
}
