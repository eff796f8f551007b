package remote

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	warn      func(string)
}

// defaultKnownHosts is the user's own known_hosts file, which accept-new
// may create as OpenSSH does.
const defaultKnownHosts = "~/.ssh/known_hosts"

// newHostKeys picks the known_hosts files for t: the one given (opts', or
// the target's own), else UserKnownHostsFile from ssh_config, else
// OpenSSH's defaults. A file given by name must exist, unless it is the
// default one: read as empty, a mistyped path would make every host look
// unknown, and accept-new would then create the mistyped file. New names
// are hashed when the options or ssh_config's HashKnownHosts say so.
func newHostKeys(t Target, opts Options) (*hostKeys, error) {
	h := &hostKeys{
		acceptNew: opts.AcceptNewHostKeys,
		hash:      opts.HashNewHostKeys || opts.SSHConfig.hashKnownHosts(t.Address),
		warn:      opts.warn,
	}
	given := cmp.Or(opts.KnownHostsFile, t.SSH.KnownHostsFile)
	if given != "" {
		f := expandHome(given)
		if f != expandHome(defaultKnownHosts) {
			if _, err := os.Stat(f); err != nil {
				return nil, &KnownHostsError{File: f, Err: err}
			}
		}
		h.files, h.write = []string{f}, f
		return h, nil
	}
	user := opts.SSHConfig.knownHostsFiles(t.Address)
	if len(user) == 0 {
		user = []string{expandHome(defaultKnownHosts)}
	}
	h.files, h.write = append(user, "/etc/ssh/ssh_known_hosts"), user[0]
	return h, nil
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

// check verifies key for address (host:port, as dialled). The files are
// read afresh on every call so that keys another dial just accepted are
// seen.
func (h *hostKeys) check(address string, _ net.Addr, key ssh.PublicKey) error {
	known, err := h.known()
	if err != nil {
		return err
	}
	err = verify(known, address, key)
	var unknown *UnknownHostError
	if !errors.As(err, &unknown) {
		return err
	}
	if !h.acceptNew {
		unknown.File = h.write
		return unknown
	}
	return h.add(address, key)
}

// known reads the known_hosts files that exist, warning (once per line and
// process) about lines it has to skip.
func (h *hostKeys) known() ([]knownHost, error) {
	var all []knownHost
	for _, f := range h.files {
		data, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read known hosts: %w", err)
		}
		hosts, bad := parseKnownHosts(data, f)
		for _, b := range bad {
			if _, seen := warnedLines.LoadOrStore(b.String(), true); !seen {
				h.warn(b.String())
			}
		}
		all = append(all, hosts...)
	}
	return all, nil
}

// warnedLines are the skipped known_hosts lines already warned about.
var warnedLines sync.Map

// verify checks key, offered by the server at address (host:port), against
// the known_hosts entries, as OpenSSH does: a revoked key is refused; a
// host certificate signed by a certificate authority trusted for the host
// is checked (principals, validity, signature); any other key, or the
// plain key inside a certificate no trusted authority signed, must be one
// known for the host. A host with no entry at all is an
// *UnknownHostError.
func verify(known []knownHost, address string, key ssh.PublicKey) error {
	name := knownhosts.Normalize(address)
	plain := key
	cert, isCert := key.(*ssh.Certificate)
	if isCert {
		plain = cert.Key
	}
	var authorities, expected []knownHost
	for _, k := range known {
		switch {
		case k.marker == markerRevoked:
			if keyEqual(k.key, plain) || isCert && keyEqual(k.key, cert.SignatureKey) {
				return fmt.Errorf("%s: key %s is marked @revoked (%s)", name, ssh.FingerprintSHA256(k.key), k.where())
			}
		case !k.matches(name):
		case k.marker == markerCA:
			authorities = append(authorities, k)
		default:
			expected = append(expected, k)
		}
	}
	// A certificate that a trusted CA signed but that does not pass (a
	// wrong principal, expired) is refused unless its plain key is known,
	// as OpenSSH retries with the plain key.
	var certErr error
	if isCert && cert.CertType == ssh.HostCert {
		for _, ca := range authorities {
			if !keyEqual(ca.key, cert.SignatureKey) {
				continue
			}
			checker := ssh.CertChecker{
				IsHostAuthority: func(auth ssh.PublicKey, _ string) bool { return keyEqual(auth, ca.key) },
			}
			if certErr = checker.CheckHostKey(address, nil, cert); certErr == nil {
				return nil
			}
			break
		}
	}
	for _, k := range expected {
		if keyEqual(k.key, plain) {
			return nil
		}
	}
	if certErr != nil {
		return &HostCertificateError{Host: name, Offered: ssh.FingerprintSHA256(plain), Authorities: wheres(authorities), Reason: certErr.Error()}
	}
	if len(authorities) > 0 {
		reason := "it offered a plain key, not a certificate"
		if isCert {
			reason = "its certificate is signed by " + ssh.FingerprintSHA256(cert.SignatureKey) + ", which known_hosts does not trust for it"
		}
		return &HostCertificateError{Host: name, Offered: ssh.FingerprintSHA256(plain), Authorities: wheres(authorities), Reason: reason}
	}
	if len(expected) > 0 {
		e := &HostKeyMismatchError{Host: name, Offered: ssh.FingerprintSHA256(plain)}
		for _, k := range expected {
			e.Expected = append(e.Expected, fmt.Sprintf("%s (%s)", ssh.FingerprintSHA256(k.key), k.where()))
		}
		return e
	}
	return &UnknownHostError{Host: name, Fingerprint: ssh.FingerprintSHA256(plain), key: plain}
}

func keyEqual(a, b ssh.PublicKey) bool { return bytes.Equal(a.Marshal(), b.Marshal()) }

// wheres names the certificate authorities' lines for messages.
func wheres(authorities []knownHost) []string {
	var out []string
	for _, k := range authorities {
		out = append(out, fmt.Sprintf("%s (%s)", ssh.FingerprintSHA256(k.key), k.where()))
	}
	return out
}

// add appends the key for address to the writable known_hosts file, the way
// OpenSSH's accept-new does, unless a concurrent dial already recorded one.
func (h *hostKeys) add(address string, key ssh.PublicKey) error {
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
	known, err := h.known()
	if err != nil {
		return err
	}
	err = verify(known, address, key)
	var unknown *UnknownHostError
	if !errors.As(err, &unknown) {
		return err
	}
	name := recordedName(knownhosts.Normalize(address), h.hash)
	if _, err := f.WriteString(knownhosts.Line([]string{name}, unknown.key) + "\n"); err != nil {
		return fmt.Errorf("record host key in %s: %w", h.write, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("record host key in %s: %w", h.write, err)
	}
	return nil
}

// recordedName is how accept-new writes host (as known_hosts names it):
// hashed or not, and in lower case as OpenSSH does, since names are looked
// up in lower case; a hashed mixed-case name would never be found again.
func recordedName(host string, hash bool) string {
	host = strings.ToLower(host)
	if hash {
		return knownhosts.HashHostname(host)
	}
	return host
}

// algorithms orders the host key algorithms as OpenSSH does: host
// certificates first when known_hosts trusts a certificate authority for
// address, then the types it holds keys of; otherwise a host with an
// ed25519 and an RSA key, known only by its RSA key, would be reported as
// changed, and a host known through its CA would offer a plain key.
func (h *hostKeys) algorithms(address string) []string {
	known, err := h.known()
	if err != nil {
		return nil
	}
	name := knownhosts.Normalize(address)
	var algos []string
	add := func(names ...string) {
		for _, a := range names {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	supported := ssh.SupportedAlgorithms().HostKeys
	for _, k := range known {
		if k.marker == markerCA && k.matches(name) {
			for _, a := range supported {
				if strings.Contains(a, "-cert-") {
					add(a)
				}
			}
		}
	}
	for _, k := range known {
		if k.marker != markerNone || !k.matches(name) {
			continue
		}
		if k.key.Type() == ssh.KeyAlgoRSA {
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256)
		}
		add(k.key.Type())
	}
	if len(algos) == 0 {
		return nil
	}
	add(supported...)
	return algos
}
