package remote

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
