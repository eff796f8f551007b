package sync

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/hactl/hactl/agentbin/spec"
)

// keyMarker ends every authorized_keys line the role owns: lines with it
// are rewritten from the spec, every other line is the operator's and
// left as it is.
const keyMarker = " hactl-sync:"

// rrsyncPaths are where Debian's rsync package puts rrsync (bookworm and
// later), then where other distributions do.
var rrsyncPaths = []string{"/usr/bin/rrsync", "/usr/local/bin/rrsync"}

func findRrsync() (string, error) {
	for _, p := range rrsyncPaths {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath("rrsync"); err == nil {
		return p, nil
	}
	return "", errors.New("rrsync is not installed on this target (Debian: apt-get install rsync, bookworm or later); the sync key is only accepted restricted by it")
}

// authorizedLines are the lines for receives: each key may only run
// rrsync writing into its target path, with no pty, forwarding or agent.
func authorizedLines(rrsync string, receives []spec.SyncReceive) []string {
	var lines []string
	for _, r := range receives {
		dir := strings.TrimRight(r.Path, "/")
		if dir == "" {
			dir = "/"
		}
		for _, k := range r.PublicKeys {
			lines = append(lines, fmt.Sprintf(`restrict,command="%s -wo %s" %s%s%s`, rrsync, dir, k, keyMarker, r.Name))
		}
	}
	return lines
}

// rewriteAuthorized replaces the role's lines of content with lines.
func rewriteAuthorized(content []byte, lines []string) []byte {
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		if strings.Contains(sc.Text(), keyMarker) {
			continue
		}
		out.WriteString(sc.Text() + "\n")
	}
	for _, l := range lines {
		out.WriteString(l + "\n")
	}
	return out.Bytes()
}

// installAuthorized writes the role's lines into file, atomically, and
// leaves it alone when nothing changes.
func installAuthorized(file string, lines []string) error {
	old, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading %s: %w", file, err)
	}
	next := rewriteAuthorized(old, lines)
	if bytes.Equal(old, next) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(file), err)
	}
	tmp := file + ".hactl-tmp"
	if err := os.WriteFile(tmp, next, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replacing %s: %w", file, err)
	}
	return nil
}
