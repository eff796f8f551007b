package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// FailureKind says why a connection failed.
type FailureKind int

// Failure kinds, from the network up.
const (
	FailureOther           FailureKind = iota // anything not below
	FailureRefused                            // nothing listens on the port
	FailureTimeout                            // no answer within the connect timeout
	FailureAuth                               // the server refused every key offered
	FailureHostKeyMismatch                    // the host key differs from known_hosts
	FailureUnknownHost                        // the host is not in known_hosts
	FailureKnownHosts                         // the known_hosts file named cannot be read
	FailureHostCertificate                    // a host known through its CA offered no valid certificate
)

func (k FailureKind) String() string {
	switch k {
	case FailureRefused:
		return "connection refused"
	case FailureTimeout:
		return "timed out"
	case FailureAuth:
		return "authentication failed"
	case FailureHostKeyMismatch:
		return "host key mismatch"
	case FailureUnknownHost:
		return "unknown host key"
	case FailureKnownHosts:
		return "cannot read known_hosts"
	case FailureHostCertificate:
		return "host certificate refused"
	default:
		return "connection failed"
	}
}

// DialError is a failed connection to a target, naming the target, the hop
// that failed (the target itself or one of its jump hosts) and the cause.
type DialError struct {
	Host string // the target's name
	Hop  string // user@host:port of the failing connection
	Via  string // "jump host …" when a jump host failed, "" for the target
	Kind FailureKind
	Err  error
}

func (e *DialError) Error() string {
	via := ""
	if e.Via != "" {
		via = " (" + e.Via + ")"
	}
	return fmt.Sprintf("%s: ssh %s%s: %s: %v", e.Host, e.Hop, via, e.Kind, e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }

// classify names the kind of a connection error.
func classify(err error) FailureKind {
	var mismatch *HostKeyMismatchError
	var unknown *UnknownHostError
	var certErr *HostCertificateError
	var netErr net.Error
	switch {
	case errors.As(err, &mismatch):
		return FailureHostKeyMismatch
	case errors.As(err, &certErr):
		return FailureHostCertificate
	case errors.As(err, &unknown):
		return FailureUnknownHost
	case errors.Is(err, syscall.ECONNREFUSED):
		return FailureRefused
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return FailureTimeout
	case errors.Is(err, errNoIdentity), strings.Contains(err.Error(), "unable to authenticate"):
		return FailureAuth
	}
	return FailureOther
}

// HostKeyMismatchError is a host whose key is not the one known_hosts holds
// for it: maybe a reinstalled host, maybe someone in the middle.
type HostKeyMismatchError struct {
	Host     string   // known_hosts name, e.g. "[10.0.0.1]:2222"
	Offered  string   // SHA256 fingerprint the server offered
	Expected []string // SHA256 fingerprints known_hosts holds, "file:line: fp"
}

func (e *HostKeyMismatchError) Error() string {
	return fmt.Sprintf("host key for %s has changed: the host offered %s, known_hosts expects %s; "+
		"if the change is legitimate, remove the old entry (ssh-keygen -R '%s') and connect again",
		e.Host, e.Offered, strings.Join(e.Expected, ", "), e.Host)
}

// HostCertificateError is a host that known_hosts trusts a certificate
// authority for (@cert-authority) and that offered no certificate that
// authority signed and no key known for it otherwise. The CA line is not
// stale, so the message never advises removing it.
type HostCertificateError struct {
	Host        string   // known_hosts name
	Offered     string   // SHA256 fingerprint of the host's (plain) key
	Authorities []string // the trusted CAs, "fingerprint (file:line)"
	Reason      string
}

func (e *HostCertificateError) Error() string {
	return fmt.Sprintf("host %s (key %s) is not vouched for by the certificate authority known_hosts trusts for it, %s: %s; "+
		"check the host's certificate (HostCertificate in its sshd_config; ssh-keygen -L -f shows one) and that it is signed by that CA for this name",
		e.Host, e.Offered, strings.Join(e.Authorities, ", "), e.Reason)
}

// UnknownHostError is a host that has no entry in known_hosts.
type UnknownHostError struct {
	Host        string // known_hosts name
	Fingerprint string // SHA256 fingerprint the server offered
	File        string // the known_hosts file consulted for writing

	key ssh.PublicKey // the key to record with accept-new
}

func (e *UnknownHostError) Error() string {
	host, port := e.Host, "22"
	if h, p, err := net.SplitHostPort(e.Host); err == nil {
		host, port = h, p
	}
	return fmt.Sprintf("host %s is not in %s (it offered key %s): check that fingerprint out of band, then add it "+
		"(ssh-keyscan -p %s %s >> %s) or rerun accepting new host keys",
		e.Host, e.File, e.Fingerprint, port, host, e.File)
}

// BecomeError is a command that could not gain root through sudo or doas.
type BecomeError struct {
	Host, User, Method string
	Stderr             string
}

func (e *BecomeError) Error() string {
	return fmt.Sprintf("%s: %s as %s needs a password or is not allowed (%s); hactl never types passwords: "+
		"allow it without one (e.g. \"%s ALL=(ALL) NOPASSWD: ALL\" in /etc/sudoers.d/hactl) or log in as root",
		e.Host, e.Method, e.User, strings.TrimSpace(e.Stderr), e.User)
}

// ExitError is a command that ran and exited non-zero.
type ExitError struct {
	Host   string
	Cmd    string
	Code   int
	Stderr string
}

func (e *ExitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = "no output on stderr"
	}
	return fmt.Sprintf("%s: %s: exit %d: %s", e.Host, firstLine(e.Cmd), e.Code, msg)
}

// ChecksumError is an upload whose bytes on the host are not the bytes sent.
// The temporary file is removed and the destination left as it was.
type ChecksumError struct {
	Host, Path string
	Want, Got  string // hex sha256
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("%s: upload %s: sha256 on the host is %s, sent %s; destination left unchanged",
		e.Host, e.Path, e.Got, e.Want)
}

// LockedError is a host whose apply lock another run holds.
type LockedError struct {
	Host, Path string
	Holder     LockInfo // zero when the holder left no owner file
	Waited     time.Duration
}

func (e *LockedError) Error() string {
	holder := "an unknown holder (no owner file; a run may have died while taking it)"
	if e.Holder.ID != "" {
		holder = e.Holder.String()
	}
	waited := ""
	if e.Waited > 0 {
		waited = fmt.Sprintf(" (waited %s)", e.Waited.Round(time.Second))
	}
	return fmt.Sprintf("%s: locked by %s%s; if that run is gone, force-unlock %s", e.Host, holder, waited, e.Path)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
