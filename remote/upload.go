package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/pkg/sftp"
)

// Exit codes of the shell snippets below, chosen clear of the usual ones.
const (
	exitChecksum = 86
	exitIsDir    = 87
	exitNotExist = 88
)

// staged is an upload's bytes sitting in a temporary file on the host.
type staged struct {
	tmp      string // the temporary file
	stageDir string // with become: the private directory holding tmp
	sum      string // hex sha256 of the bytes sent
}

// Upload writes r's bytes to dest on the host atomically: into a temporary
// file beside dest (with become, into a private staging directory of the
// login user first, then installed as root), checks their sha256 on the
// host, sets mode and renames the file over dest. Readers of dest see the
// old file or the new one, never a part; on any failure dest is left as it
// was and the temporary file removed. Missing parent directories are
// created (0755). Uploads wait for a slot of Options.Uploads.
func (c *Client) Upload(ctx context.Context, r io.Reader, dest string, mode fs.FileMode) error {
	if err := c.upload(ctx, r, dest, mode); err != nil {
		var sumErr *ChecksumError
		if errors.As(err, &sumErr) {
			return err
		}
		return fmt.Errorf("%s: upload %s: %w", c.target.Name, dest, err)
	}
	return nil
}

// WriteFile is Upload of a byte slice, for small files such as the agent's
// spec (give mode 0600 for anything that may name secrets).
func (c *Client) WriteFile(ctx context.Context, dest string, data []byte, mode fs.FileMode) error {
	return c.Upload(ctx, bytes.NewReader(data), dest, mode)
}

// ReadFile returns the contents of a file on the host (read as root with
// become). A missing file is an error matching fs.ErrNotExist.
func (c *Client) ReadFile(ctx context.Context, name string) ([]byte, error) {
	cmd := fmt.Sprintf("[ -e %[1]s ] || exit %d; exec cat -- %[1]s", Quote(name), exitNotExist)
	res, err := c.Run(ctx, cmd, nil)
	switch {
	case err != nil:
		return nil, err
	case res.ExitCode == exitNotExist:
		return nil, fmt.Errorf("%s: read %s: %w", c.target.Name, name, fs.ErrNotExist)
	case res.ExitCode != 0:
		return nil, &ExitError{Host: c.target.Name, Cmd: "cat " + name, Code: res.ExitCode, Stderr: string(res.Stderr)}
	}
	return res.Stdout, nil
}

func (c *Client) upload(ctx context.Context, r io.Reader, dest string, mode fs.FileMode) error {
	if !path.IsAbs(dest) || strings.ContainsAny(dest, "\n\x00") || path.Clean(dest) != dest || dest == "/" {
		return errors.New("destination must be a clean absolute file path")
	}
	if c.uploads != nil {
		if err := c.uploads.Acquire(ctx, 1); err != nil {
			return err
		}
		defer c.uploads.Release(1)
	}
	s, err := c.stage(ctx, r, dest)
	if err != nil {
		return err
	}
	return c.install(ctx, s, dest, mode)
}

// stage sends the bytes to a temporary file on the host.
func (c *Client) stage(ctx context.Context, r io.Reader, dest string) (s staged, err error) {
	client, err := c.sftpClient()
	if err != nil {
		return s, err
	}
	if c.becoming() {
		out, err := c.run(ctx, "mktemp -d /tmp/hactl-upload.XXXXXXXX", nil, false)
		if err != nil {
			return s, fmt.Errorf("make staging directory: %w", err)
		}
		if out.ExitCode != 0 {
			return s, fmt.Errorf("make staging directory: exit %d: %s", out.ExitCode, bytes.TrimSpace(out.Stderr))
		}
		s.stageDir = strings.TrimSpace(string(out.Stdout))
		s.tmp = s.stageDir + "/data"
	} else {
		if err := client.MkdirAll(path.Dir(dest)); err != nil {
			return s, fmt.Errorf("create %s: %w", path.Dir(dest), err)
		}
		s.tmp = tempName(dest)
	}
	defer func() {
		if err != nil {
			c.discard(s)
		}
	}()
	f, err := client.OpenFile(s.tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return s, fmt.Errorf("create %s: %w", s.tmp, err)
	}
	defer f.Close()
	// Private before the first byte: the file may hold secrets.
	if err := f.Chmod(0o600); err != nil {
		return s, fmt.Errorf("chmod %s: %w", s.tmp, err)
	}
	h := sha256.New()
	if _, err := io.Copy(f, io.TeeReader(ctxReader{ctx, r}, h)); err != nil {
		return s, fmt.Errorf("write %s: %w", s.tmp, err)
	}
	if err := f.Close(); err != nil {
		return s, fmt.Errorf("close %s: %w", s.tmp, err)
	}
	s.sum = hex.EncodeToString(h.Sum(nil))
	return s, nil
}

// install checks the staged bytes on the host and renames them over dest,
// in one shell run (as root with become). The file is fsynced (its bytes
// and its mode) before the rename and the directory after it, so that a
// node that loses power right after an apply comes back with the old file
// or the new one, never an empty one. (sync with file arguments fsyncs
// them: GNU coreutils since 8.24, BusyBox since 1.25.) A destination that is
// a directory, or a symbolic link to one, is refused: mv would put the file
// inside it; mv -T renames over the name itself even if one appears in
// between.
func (c *Client) install(ctx context.Context, s staged, dest string, mode fs.FileMode) error {
	var b strings.Builder
	fmt.Fprintf(&b, "set -e\ndest=%s\ndir=%s\n", Quote(dest), Quote(path.Dir(dest)))
	if s.stageDir != "" {
		work := tempName(dest)
		fmt.Fprintf(&b, "trap 'rm -rf -- %s' EXIT\nwork=%s\nmkdir -p -- \"$dir\"\ninstall -m %04o -- %s \"$work\"\n",
			Quote(s.stageDir), Quote(work), mode.Perm(), Quote(s.tmp))
	} else {
		fmt.Fprintf(&b, "work=%s\nchmod %04o -- \"$work\"\n", Quote(s.tmp), mode.Perm())
	}
	fmt.Fprintf(&b, `sum=$(sha256sum < "$work"); sum=${sum%%%% *}
if [ "$sum" != %s ]; then rm -f -- "$work"; echo "$sum"; exit %d; fi
if [ -L "$dest" ] && [ -d "$dest" ]; then rm -f -- "$work"; echo "$dest is a symbolic link to a directory" >&2; exit %d; fi
if [ -d "$dest" ]; then rm -f -- "$work"; echo "$dest is a directory" >&2; exit %d; fi
sync -- "$work" || { rm -f -- "$work"; exit 1; }
mv -f -T -- "$work" "$dest"
sync -- "$dir"
`, s.sum, exitChecksum, exitIsDir, exitIsDir)
	res, err := c.Run(ctx, b.String(), nil)
	switch {
	case err != nil:
		c.discard(s)
		return err
	case res.ExitCode == exitChecksum:
		return &ChecksumError{Host: c.target.Name, Path: dest, Want: s.sum, Got: strings.TrimSpace(string(res.Stdout))}
	case res.ExitCode == exitIsDir:
		c.discard(s)
		return fmt.Errorf("%s: hactl writes files, never into directories: remove it or choose another path", bytes.TrimSpace(res.Stderr))
	case res.ExitCode != 0:
		c.discard(s)
		return fmt.Errorf("install: exit %d: %s", res.ExitCode, bytes.TrimSpace(res.Stderr))
	}
	return nil
}

// discard removes what a failed upload left, as far as it can.
func (c *Client) discard(s staged) {
	client, err := c.sftpClient()
	if err != nil {
		return
	}
	if s.stageDir != "" {
		_ = client.RemoveAll(s.stageDir)
		return
	}
	_ = client.Remove(s.tmp)
}

// sftpClient opens the connection's SFTP session on first use.
func (c *Client) sftpClient() (*sftp.Client, error) {
	c.sftpMu.Lock()
	defer c.sftpMu.Unlock()
	if c.sftp == nil {
		client, err := sftp.NewClient(c.ssh)
		if err != nil {
			return nil, fmt.Errorf("start sftp: %w", err)
		}
		c.sftp = client
	}
	return c.sftp, nil
}

// tempName is a fresh hidden name beside dest.
func tempName(dest string) string {
	return path.Join(path.Dir(dest), "."+path.Base(dest)+".hactl-"+rand.Text()[:12])
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
