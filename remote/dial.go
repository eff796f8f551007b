package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/sync/semaphore"
)

// Options are the operator's settings that apply to every target.
type Options struct {
	// KnownHostsFile overrides the target's known_hosts file and the
	// default (~/.ssh/known_hosts, then /etc/ssh/ssh_known_hosts).
	KnownHostsFile string
	// AcceptNewHostKeys records the key of a host known_hosts does not
	// know (OpenSSH's StrictHostKeyChecking=accept-new). Changed keys are
	// refused all the same.
	AcceptNewHostKeys bool
	// HashNewHostKeys writes recorded host names hashed, as does
	// HashKnownHosts yes in SSHConfig.
	HashNewHostKeys bool
	// SSHConfig, when set, is consulted for what a target leaves unset
	// (see SSHConfig); nil reads none.
	SSHConfig *SSHConfig
	// ConnectTimeout bounds each hop's TCP connect and handshake when the
	// target sets none; 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// KeepAliveInterval is how often an idle connection is probed; a
	// connection that misses three probes is closed. 0 means
	// DefaultKeepAliveInterval, negative disables keepalives.
	KeepAliveInterval time.Duration
	// Uploads, when set, caps concurrent uploads across every client that
	// shares it, separately from the command parallelism.
	Uploads *semaphore.Weighted
	// Warn receives what is worth telling but does not stop a connection,
	// such as a known_hosts line that had to be skipped; nil writes to
	// stderr.
	Warn func(msg string)
}

// warn passes msg to Warn, or to stderr.
func (o Options) warn(msg string) {
	if o.Warn != nil {
		o.Warn(msg)
		return
	}
	fmt.Fprintln(os.Stderr, "warning:", msg)
}

// Client is an open SSH connection to one target.
type Client struct {
	target  Target
	user    string
	ssh     *ssh.Client
	hops    []*ssh.Client // jump hosts, outermost first, then the target
	uploads *semaphore.Weighted

	sftpMu sync.Mutex
	sftp   *sftp.Client

	closeOnce sync.Once
	done      chan struct{}
}

// Target is the target this client is connected to.
func (c *Client) Target() Target { return c.target }

// Close closes the connection and every jump-host connection under it.
func (c *Client) Close() error {
	var errs []error
	c.closeOnce.Do(func() {
		close(c.done)
		c.sftpMu.Lock()
		if c.sftp != nil {
			errs = append(errs, c.sftp.Close())
		}
		c.sftpMu.Unlock()
		for i := len(c.hops) - 1; i >= 0; i-- {
			if err := c.hops[i].Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: close: %w", c.target.Name, err)
	}
	return nil
}

// Dial connects to t, through its jump hosts if it has any, verifying every
// hop's host key. The whole dial is bounded by ctx, and each hop by the
// connect timeout. A failure is a *DialError.
func Dial(ctx context.Context, t Target, opts Options) (*Client, error) {
	hops, err := t.route(opts.SSHConfig)
	if err != nil {
		return nil, err
	}
	timeout := t.SSH.ConnectTimeout
	if timeout <= 0 {
		timeout = opts.ConnectTimeout
	}
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	keys, err := newHostKeys(t, opts)
	if err != nil {
		return nil, &DialError{Host: t.Name, Hop: hops[0].String(), Kind: FailureKnownHosts, Err: err}
	}
	auth, err := newAuth(t, hops[len(hops)-1], opts.SSHConfig)
	if err != nil {
		last := hops[len(hops)-1]
		return nil, &DialError{Host: t.Name, Hop: last.String(), Kind: FailureAuth, Err: err}
	}
	defer auth.close()

	var clients []*ssh.Client
	fail := func(h hop, err error) (*Client, error) {
		for i := len(clients) - 1; i >= 0; i-- {
			clients[i].Close()
		}
		kind := classify(err)
		if kind == FailureAuth {
			err = auth.explain(h.user, err)
		}
		return nil, &DialError{Host: t.Name, Hop: h.String(), Via: h.label, Kind: kind, Err: err}
	}
	for i, h := range hops {
		cfg := &ssh.ClientConfig{
			User:              h.user,
			Auth:              []ssh.AuthMethod{ssh.PublicKeysCallback(auth.signers)},
			HostKeyCallback:   keys.check,
			HostKeyAlgorithms: keys.algorithms(h.addr),
		}
		hctx, cancel := context.WithTimeout(ctx, timeout)
		var conn net.Conn
		if i == 0 {
			conn, err = new(net.Dialer).DialContext(hctx, "tcp", h.addr)
		} else {
			conn, err = clients[i-1].DialContext(hctx, "tcp", h.addr)
		}
		var c *ssh.Client
		if err == nil {
			c, err = handshake(hctx, conn, h.addr, cfg)
		}
		cancel()
		if err != nil {
			return fail(h, err)
		}
		clients = append(clients, c)
	}
	c := &Client{
		target:  t,
		user:    hops[len(hops)-1].user,
		ssh:     clients[len(clients)-1],
		hops:    clients,
		uploads: opts.Uploads,
		done:    make(chan struct{}),
	}
	interval := opts.KeepAliveInterval
	if interval == 0 {
		interval = DefaultKeepAliveInterval
	}
	if interval > 0 {
		go c.keepAlive(interval)
	}
	return c, nil
}

// handshake runs the SSH handshake on conn, abandoning it when ctx ends.
func handshake(ctx context.Context, conn net.Conn, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if !stop() {
		if err == nil {
			sc.Close()
		}
		return nil, context.Cause(ctx)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return ssh.NewClient(sc, chans, reqs), nil
}

// keepAlive probes the connection and closes it when the peer stops
// answering, so that commands on a dead host fail instead of hanging.
func (c *Client) keepAlive(interval time.Duration) {
	const maxMissed = 3
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-tick.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case <-c.done:
			return
		case err := <-reply:
			if err != nil {
				c.Close()
				return
			}
		case <-time.After(maxMissed * interval):
			c.Close()
			return
		}
	}
}

// errNoIdentity is returned when there is no key to offer at all.
var errNoIdentity = errors.New("no SSH identity to offer")

// auth collects the keys to offer: the identity files first (the target's,
// or OpenSSH's default ones), then the agent's.
type auth struct {
	files     []ssh.Signer
	agent     agent.ExtendedAgent
	agentConn io.Closer
	tried     []string // where keys came from, for error messages
	encrypted []string // identity files skipped for want of a passphrase
}

// newAuth collects the keys to offer to t, reached as last: the target's
// identity file (which must exist), or else ssh_config's for its address
// (skipped when missing, as ssh does), or else OpenSSH's default ones.
func newAuth(t Target, last hop, cfg *SSHConfig) (*auth, error) {
	a := &auth{}
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		if conn, err := net.Dial("unix", sock); err == nil {
			a.agent, a.agentConn = agent.NewClient(conn), conn
			a.tried = append(a.tried, "ssh-agent")
		}
	}
	explicit := t.SSH.IdentityFile != ""
	files := []string{expandHome(t.SSH.IdentityFile)}
	if !explicit {
		host, port, _ := net.SplitHostPort(last.addr)
		n, _ := strconv.Atoi(port)
		files = cfg.identityFiles(t.Address, host, last.user, n)
	}
	if len(files) == 0 {
		files = []string{expandHome("~/.ssh/id_ed25519"), expandHome("~/.ssh/id_ecdsa"), expandHome("~/.ssh/id_rsa")}
	}
	for _, f := range files {
		pem, err := os.ReadFile(f)
		if err != nil {
			if explicit {
				a.close()
				return nil, fmt.Errorf("identity file: %w", err)
			}
			continue
		}
		signer, err := ssh.ParsePrivateKey(pem)
		var missing *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &missing):
			a.encrypted = append(a.encrypted, f)
		case err != nil:
			a.close()
			return nil, fmt.Errorf("identity file %s: %w", f, err)
		default:
			a.files = append(a.files, signer)
			a.tried = append(a.tried, f)
		}
	}
	if len(a.files) == 0 && a.agent == nil {
		if len(a.encrypted) > 0 {
			return nil, fmt.Errorf("%w: %s is protected by a passphrase and no ssh-agent is running (SSH_AUTH_SOCK): "+
				"start one and load the key with ssh-add %s", errNoIdentity, a.encrypted[0], a.encrypted[0])
		}
		return nil, fmt.Errorf("%w: none of %s exists and no ssh-agent is running (SSH_AUTH_SOCK); "+
			"set ssh.identity_file (or IdentityFile in ~/.ssh/config) or start ssh-agent", errNoIdentity, strings.Join(files, ", "))
	}
	return a, nil
}

func (a *auth) signers() ([]ssh.Signer, error) {
	signers := a.files
	if a.agent != nil {
		fromAgent, err := a.agent.Signers()
		if err != nil {
			return nil, fmt.Errorf("ssh-agent: %w", err)
		}
		signers = append(signers[:len(signers):len(signers)], fromAgent...)
	}
	return signers, nil
}

// explain adds to an authentication failure what was offered.
func (a *auth) explain(user string, err error) error {
	msg := fmt.Sprintf("as user %s, offered keys from %s", user, strings.Join(a.tried, ", "))
	if len(a.encrypted) > 0 {
		msg += fmt.Sprintf(" (skipped %s: passphrase-protected and not in the agent)", strings.Join(a.encrypted, ", "))
	}
	return fmt.Errorf("%s: %w", msg, err)
}

func (a *auth) close() {
	if a.agentConn != nil {
		a.agentConn.Close()
	}
}
