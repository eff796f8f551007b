package remote

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// knownHostsMu serialises accept-new writes within this process; flock does
// the same across processes.
var knownHostsMu sync.Mutex

// hostKeys verifies host keys against known_hosts files and, when allowed,
// records new ones.
type hostKeys struct {
	files     []string // read, in order; missing files are skipped
	write     string   // where accept-new appends
	acceptNew bool
	hash      bool
}

// defaultKnownHosts is the user's own known_hosts file, which accept-new
// may create as OpenSSH does.
const defaultKnownHosts = "~/.ssh/known_hosts"

// newHostKeys picks the known_hosts files for t. A file given by name
// (opts, or the target's own) must exist, unless it is the default one:
// read as empty, a mistyped path would make every host look unknown, and
// accept-new would then create the mistyped file.
func newHostKeys(t Target, opts Options) (*hostKeys, error) {
	given := opts.KnownHostsFile
	if given == "" {
		given = t.SSH.KnownHostsFile
	}
	if given != "" {
		f := expandHome(given)
		if f != expandHome(defaultKnownHosts) {
			if _, err := os.Stat(f); err != nil {
				return nil, &KnownHostsError{File: f, Err: err}
			}
		}
		return &hostKeys{files: []string{f}, write: f, acceptNew: opts.AcceptNewHostKeys, hash: opts.HashNewHostKeys}, nil
	}
	f := expandHome(defaultKnownHosts)
	return &hostKeys{
		files:     []string{f, "/etc/ssh/ssh_known_hosts"},
		write:     f,
		acceptNew: opts.AcceptNewHostKeys,
		hash:      opts.HashNewHostKeys,
	}, nil
}

// KnownHostsError is a known_hosts file, named in the configuration or on
// the command line, that cannot be read.
type KnownHostsError struct {
	File string
	Err  error
}

func (e *KnownHostsError) Error() string {
	if errors.Is(e.Err, fs.ErrNotExist) {
		return fmt.Sprintf("%s does not exist: check the path, or create the file (touch %s) to record new host keys in it", e.File, e.File)
	}
	return fmt.Sprintf("%s: %v", e.File, errors.Unwrap(e.Err))
}

func (e *KnownHostsError) Unwrap() error { return e.Err }

// check verifies key for address (host:port, as dialled). It is read afresh
// on every call so that keys another dial just accepted are seen.
func (h *hostKeys) check(address string, remote net.Addr, key ssh.PublicKey) error {
	err := h.lookup(address, remote, key)
	var keyErr *knownhosts.KeyError
	if !errors.As(err, &keyErr) || len(keyErr.Want) > 0 {
		return h.explain(address, key, err)
	}
	if !h.acceptNew {
		return &UnknownHostError{Host: knownhosts.Normalize(address), Fingerprint: ssh.FingerprintSHA256(key), File: h.write}
	}
	return h.add(address, remote, key)
}

func (h *hostKeys) lookup(address string, remote net.Addr, key ssh.PublicKey) error {
	var files []string
	for _, f := range h.files {
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return &knownhosts.KeyError{}
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return fmt.Errorf("read known hosts: %w", err)
	}
	return cb(address, remote, key)
}

// explain turns knownhosts' errors into hactl's.
func (h *hostKeys) explain(address string, key ssh.PublicKey, err error) error {
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case errors.As(err, &keyErr) && len(keyErr.Want) > 0:
		e := &HostKeyMismatchError{Host: knownhosts.Normalize(address), Offered: ssh.FingerprintSHA256(key)}
		for _, w := range keyErr.Want {
			e.Expected = append(e.Expected, fmt.Sprintf("%s (%s:%d)", ssh.FingerprintSHA256(w.Key), w.Filename, w.Line))
		}
		return e
	case errors.As(err, &revoked):
		return fmt.Errorf("host key %s of %s is revoked (%s:%d)",
			ssh.FingerprintSHA256(key), knownhosts.Normalize(address), revoked.Revoked.Filename, revoked.Revoked.Line)
	}
	return err
}

// add appends the key for address to the writable known_hosts file, the way
// OpenSSH's accept-new does, unless a concurrent dial already recorded one.
func (h *hostKeys) add(address string, remote net.Addr, key ssh.PublicKey) error {
	knownHostsMu.Lock()
	defer knownHostsMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(h.write), 0o700); err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	f, err := os.OpenFile(h.write, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("record host key: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("record host key: lock %s: %w", h.write, err)
	}
	// Another dial (or process) may have added this host while we waited.
	err = h.lookup(address, remote, key)
	var keyErr *knownhosts.KeyError
	if !errors.As(err, &keyErr) || len(keyErr.Want) > 0 {
		return h.explain(address, key, err)
	}
	name := knownhosts.Normalize(address)
	if h.hash {
		name = knownhosts.HashHostname(name)
	}
	if _, err := f.WriteString(knownhosts.Line([]string{name}, key) + "\n"); err != nil {
		return fmt.Errorf("record host key in %s: %w", h.write, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("record host key in %s: %w", h.write, err)
	}
	return nil
}

// probeKey matches no real host; checking it returns every key known for a
// host.
var probeKey, _ = ssh.NewPublicKey(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public())

// algorithms orders the host key algorithms so that the types known_hosts
// holds for address come first, as OpenSSH does; otherwise a host with an
// ed25519 and an RSA key, known only by its RSA key, would be reported as
// changed.
func (h *hostKeys) algorithms(address string) []string {
	var keyErr *knownhosts.KeyError
	if !errors.As(h.lookup(address, &net.TCPAddr{}, probeKey), &keyErr) || len(keyErr.Want) == 0 {
		return nil
	}
	var algos []string
	add := func(names ...string) {
		for _, a := range names {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	for _, w := range keyErr.Want {
		if w.Key.Type() == ssh.KeyAlgoRSA {
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256)
		}
		add(w.Key.Type())
	}
	add(ssh.SupportedAlgorithms().HostKeys...)
	return algos
}
