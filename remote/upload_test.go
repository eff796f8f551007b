package remote

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sync/semaphore"
)

// checkNoLeftovers fails the test if an upload left temporary files in dir.
func checkNoLeftovers(t *testing.T, dir string) {
	t.Helper()
	if m, _ := filepath.Glob(filepath.Join(dir, ".*.hactl-*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

// rootClient is a root login to a fresh sshd.
func rootClient(t *testing.T) (*Client, context.Context) {
	t.Helper()
	s := startSSHD(t)
	return dial(t, s.target(t, "h1"), Options{}), testContext(t)
}

func TestUploadReplacesTheFileAtomically(t *testing.T) {
	s := startSSHD(t)
	c := dial(t, s.target(t, "h1"), Options{Uploads: semaphore.NewWeighted(1)})
	ctx := testContext(t)
	dir := t.TempDir()
	dest := filepath.Join(dir, "agent")
	if err := os.WriteFile(dest, []byte("old agent"), 0o644); err != nil {
		t.Fatal(err)
	}
	// sshd runs on this machine: hold the old file open across the upload.
	old, err := os.Open(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	before, _ := old.Stat()

	payload := bytes.Repeat([]byte("new agent\n"), 100_000) // ~1 MB, several SFTP packets
	if err := c.Upload(ctx, bytes.NewReader(payload), dest, 0o755); err != nil {
		t.Fatal(err)
	}

	got, err := os.ReadFile(dest)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("destination holds %d bytes (%v), want the %d sent", len(got), err, len(payload))
	}
	after, _ := os.Stat(dest)
	if after.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want 0755", after.Mode().Perm())
	}
	if os.SameFile(before, after) {
		t.Error("the destination was rewritten in place, not replaced by a rename")
	}
	if held, _ := io.ReadAll(old); string(held) != "old agent" {
		t.Errorf("a reader of the old file saw %q", held)
	}
	checkNoLeftovers(t, dir)
}

func TestWriteFileCreatesParentsAndReadFileReadsBack(t *testing.T) {
	c, ctx := rootClient(t)
	dest := filepath.Join(t.TempDir(), "etc", "hactl", "spec.json")
	spec := []byte(`{"version":1}`)
	if err := c.WriteFile(ctx, dest, spec, 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dest); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stat %s: %v, %v; want mode 0600", dest, fi, err)
	}
	got, err := c.ReadFile(ctx, dest)
	if err != nil || !bytes.Equal(got, spec) {
		t.Fatalf("ReadFile = %q, %v; want %q", got, err, spec)
	}
	_, err = c.ReadFile(ctx, dest+".missing")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "h1") {
		t.Fatalf("ReadFile of a missing file: %v, want fs.ErrNotExist naming h1", err)
	}
}

func TestUploadRefusesBadDestinations(t *testing.T) {
	c, ctx := rootClient(t)
	dir := t.TempDir()
	for _, dest := range []string{"relative/path", dir + "/../x", "/", dir} {
		if err := c.WriteFile(ctx, dest, []byte("x"), 0o644); err == nil {
			t.Errorf("WriteFile(%q) succeeded", dest)
		}
	}
	checkNoLeftovers(t, dir)
}

func TestUploadDetectsChecksumMismatch(t *testing.T) {
	c, ctx := rootClient(t)
	dir := t.TempDir()
	dest := filepath.Join(dir, "agent")
	os.WriteFile(dest, []byte("old agent"), 0o755)
	st, err := c.stage(ctx, strings.NewReader("new agent"), dest)
	if err != nil {
		t.Fatal(err)
	}
	// Corrupt the staged bytes on the host, as a faulty disk or link would.
	if err := os.WriteFile(st.tmp, []byte("new agenT"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = c.install(ctx, st, dest, 0o755)
	var sumErr *ChecksumError
	if !errors.As(err, &sumErr) || sumErr.Want != st.sum || sumErr.Got == st.sum || len(sumErr.Got) != 64 {
		t.Fatalf("install of corrupted bytes: %v, want a *ChecksumError with both sums", err)
	}
	if got, _ := os.ReadFile(dest); string(got) != "old agent" {
		t.Errorf("destination changed to %q", got)
	}
	checkNoLeftovers(t, dir)
}

func TestBecomeRunsAsRootThroughSudo(t *testing.T) {
	s := startSSHD(t)
	sudoers := ensureBecomeUser(t)
	tg := s.target(t, "h1")
	tg.SSH.User, tg.SSH.Become, tg.SSH.BecomeMethod = becomeUser, true, "sudo"
	c := dial(t, tg, Options{})
	ctx := testContext(t)

	out, err := c.Output(ctx, "id -u; echo \"$0\" | tr a-z A-Z", strings.NewReader(""))
	if err != nil || string(out) != "0\nSH\n" {
		t.Fatalf("as root through sudo: %q, %v", out, err)
	}

	// Upload into a directory only root may write; the file ends up root's.
	dir, err := os.MkdirTemp("", "hactl-become-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	dest := filepath.Join(dir, "spec.json")
	if err := c.WriteFile(ctx, dest, []byte("secret-free spec"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dest)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatalf("uploaded file: %v, %v; want root's, mode 0600", fi, err)
	}
	if got, err := c.ReadFile(ctx, dest); err != nil || string(got) != "secret-free spec" {
		t.Fatalf("ReadFile as root: %q, %v", got, err)
	}
	if staged, _ := filepath.Glob("/tmp/hactl-upload.*"); len(staged) != 0 {
		t.Errorf("staging directories left: %v", staged)
	}

	t.Run("sudo wants a password", func(t *testing.T) {
		writeSudoers(t, sudoers, becomeUser+" ALL=(ALL) ALL\n")
		_, err := c.Run(ctx, "true", nil)
		var becomeErr *BecomeError
		if !errors.As(err, &becomeErr) || !strings.Contains(err.Error(), "NOPASSWD") || !strings.HasPrefix(err.Error(), "h1: ") {
			t.Fatalf("Run when sudo wants a password: %v, want a *BecomeError naming h1 and the fix", err)
		}
	})
}

// becomeTarget is a login to s as the test's sudo user, with become.
func becomeTarget(t *testing.T, s *sshd) Target {
	t.Helper()
	ensureBecomeUser(t)
	tg := s.target(t, "h1")
	tg.SSH.User, tg.SSH.Become, tg.SSH.BecomeMethod = becomeUser, true, "sudo"
	return tg
}

// loginTargets are the two ways an upload runs: as root over SFTP and
// through sudo.
func loginTargets(t *testing.T, s *sshd) []struct {
	name string
	tg   func() Target
} {
	return []struct {
		name string
		tg   func() Target
	}{
		{"root", func() Target { return s.target(t, "h1") }},
		{"become", func() Target { return becomeTarget(t, s) }},
	}
}

// A destination that is a symbolic link to a directory would receive the
// file inside it (mv's rule), and the upload used to report success.
func TestUploadRefusesASymlinkToADirectory(t *testing.T) {
	s := startSSHD(t)
	for _, login := range loginTargets(t, s) {
		t.Run(login.name, func(t *testing.T) {
			c := dial(t, login.tg(), Options{})
			dir, err := os.MkdirTemp("", "hactl-symlink-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			inside := filepath.Join(dir, "etc")
			if err := os.Mkdir(inside, 0o755); err != nil {
				t.Fatal(err)
			}
			dest := filepath.Join(dir, "spec.json")
			if err := os.Symlink(inside, dest); err != nil {
				t.Fatal(err)
			}
			err = c.WriteFile(testContext(t), dest, []byte("{}"), 0o600)
			if err == nil || !strings.Contains(err.Error(), dest+" is a symbolic link to a directory") || !strings.HasPrefix(err.Error(), "h1: ") {
				t.Fatalf("upload over a symlink to a directory: %v, want an error naming h1 and the link", err)
			}
			if entries, _ := os.ReadDir(inside); len(entries) != 0 {
				t.Errorf("the file landed inside the linked directory: %v", entries)
			}
			if target, err := os.Readlink(dest); err != nil || target != inside {
				t.Errorf("the link changed: %q, %v", target, err)
			}
			checkNoLeftovers(t, dir)
		})
	}
}

// requireStrace skips the test when strace cannot be had.
func requireStrace(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("strace"); err != nil {
		if err := aptInstall("strace"); err != nil {
			t.Skipf("strace missing and cannot be installed: %v", err)
		}
	}
}

// traceSSHD records the fsync and rename calls of s and of every process
// it starts from now on, until the returned function is called; that
// function returns them, one call a line, file descriptors shown with
// their paths.
func traceSSHD(t *testing.T, s *sshd) func() []string {
	t.Helper()
	requireStrace(t)
	out := filepath.Join(t.TempDir(), "strace")
	cmd := exec.Command("strace", "-f", "-y", "-e", "trace=fsync,fdatasync,rename,renameat,renameat2", "-o", out, "-p", strconv.Itoa(s.pid))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// strace says so once it is attached.
	line, err := bufio.NewReader(stderr).ReadString('\n')
	if err != nil || !strings.Contains(line, "attached") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Skipf("strace cannot attach to sshd: %q, %v", line, err)
	}
	go io.Copy(io.Discard, stderr)
	stopped := false
	stop := func() []string {
		if !stopped {
			stopped = true
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(string(b), "\n")
	}
	t.Cleanup(func() { stop() })
	return stop
}

// An upload must reach the disk before it replaces the old file: the
// installed file is fsynced, then renamed over the destination, then the
// directory fsynced. With become, the root-installed copy used to be
// renamed unsynced and the directory never synced: a node fenced right
// after an apply could come back with an empty spec.
func TestUploadSyncsTheFileBeforeTheRenameAndTheDirectoryAfter(t *testing.T) {
	s := startSSHD(t)
	for _, login := range loginTargets(t, s) {
		t.Run(login.name, func(t *testing.T) {
			tg := login.tg()
			dir, err := os.MkdirTemp("", "hactl-durable-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			dest := filepath.Join(dir, "spec.json")
			stop := traceSSHD(t, s)
			c := dial(t, tg, Options{})
			if err := c.WriteFile(testContext(t), dest, []byte(`{"version":2}`), 0o600); err != nil {
				t.Fatal(err)
			}
			calls := stop()
			// The temporary file's name, from the rename onto dest.
			rename := regexp.MustCompile(`rename\w*\(.*"(` + regexp.QuoteMeta(dir) + `/\.spec\.json\.hactl-\w+)", .*"` + regexp.QuoteMeta(dest) + `"(, \w+)?\) = 0`)
			renamed, tmp := -1, ""
			for i, l := range calls {
				if m := rename.FindStringSubmatch(l); m != nil {
					renamed, tmp = i, m[1]
				}
			}
			if renamed < 0 {
				t.Fatalf("no rename onto %s seen:\n%s", dest, strings.Join(calls, "\n"))
			}
			fsynced := func(name string, from, to int) bool {
				for _, l := range calls[from:to] {
					if strings.Contains(l, "sync(") && strings.Contains(l, "<"+name+">) = 0") {
						return true
					}
				}
				return false
			}
			if !fsynced(tmp, 0, renamed) {
				t.Errorf("%s was not fsynced before it was renamed over %s:\n%s", tmp, dest, strings.Join(calls, "\n"))
			}
			if !fsynced(dir, renamed+1, len(calls)) {
				t.Errorf("%s was not fsynced after the rename:\n%s", dir, strings.Join(calls, "\n"))
			}
		})
	}
}
