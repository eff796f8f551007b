package sync

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"

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
}

// sshCommand is rsync's -e: the module's key only, the target's host key
// checked against the module's known_hosts only, never a prompt.
func sshCommand(s *spec.Sync, t spec.SyncTarget, knownHosts string) string {
	port := t.Port
	if port == 0 {
		port = 22
	}
	return strings.Join([]string{"ssh",
		"-i", s.KeyPath, "-o", "IdentitiesOnly=yes",
		"-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "ConnectTimeout=5",
		"-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2",
		"-p", strconv.Itoa(port)}, " ")
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

// rsyncArgs is rsync's command line for tr; dryRun only counts what the
// run would do (the delete guard).
func rsyncArgs(s *spec.Sync, t spec.SyncTarget, knownHosts string, tr transfer, dryRun bool) [][]string {
	base := []string{"-a", "--stats", "--numeric-ids", "-e", sshCommand(s, t, knownHosts)}
	if dryRun {
		base = append(base, "--dry-run", "--itemize-changes")
	}
	if s.Delete {
		base = append(base, "--delete")
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
	root := strings.TrimRight(s.Path, "/") + "/"
	dest := destination(t)
	if tr.full {
		return [][]string{append(append(base, "--"), root, dest)}
	}
	// -R keeps each directory's place under the root ("/./" marks where
	// the relative part starts).
	var runs [][]string
	if len(tr.shallow) > 0 {
		args := append(append([]string{}, base...), "-d", "-R", "--")
		for _, d := range tr.shallow {
			args = append(args, relArg(root, d))
		}
		runs = append(runs, append(args, dest))
	}
	if len(tr.deep) > 0 {
		args := append(append([]string{}, base...), "-r", "-R", "--")
		for _, d := range tr.deep {
			args = append(args, relArg(root, d))
		}
		runs = append(runs, append(args, dest))
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
	case 5, 12:
		return false, fmt.Sprintf("the target's rsync refused or broke off (rsync exit %d): check its rrsync and the path", code)
	case 30, 35:
		return false, fmt.Sprintf("timeout talking to the target (rsync exit %d)", code)
	default:
		return false, fmt.Sprintf("rsync exit %d", code)
	}
}

// runStats are the figures of rsync --stats.
type runStats struct {
	files, created, deleted int64
	sent, matched           int64
}

func parseStats(out string) runStats {
	var st runStats
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
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

// deleteGuard says why a run whose dry run gave st must not go ahead
// with at most maxPercent of the target's files deleted, or "".
func deleteGuard(st runStats, maxPercent int) string {
	if maxPercent <= 0 || st.deleted < minGuardedDeletes {
		return ""
	}
	onTarget := st.files - st.created + st.deleted
	if onTarget <= 0 {
		return ""
	}
	share := st.deleted * 100 / onTarget
	if share <= int64(maxPercent) {
		return ""
	}
	return fmt.Sprintf("the run would delete %d of the target's %d files (%d%%, more than max_delete = %d%%): nothing was deleted; if the source is right, confirm with `hactl sync confirm NAME`", st.deleted, onTarget, share, maxPercent)
}

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
