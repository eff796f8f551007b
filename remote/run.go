package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// stopWait bounds how long a command that outlived its context is waited
// for once it has been killed.
const stopWait = 10 * time.Second

// pidTag starts the line the remote shell prints on stderr before running
// the command, so that a command whose context ends can be killed.
const pidTag = "hactl-pid:"

// Result is what a finished command left.
type Result struct {
	Stdout, Stderr []byte
	ExitCode       int
}

// Run runs cmd with sh -c on the host, as root when the target asks for
// become, feeding it stdin (nil for none). A non-zero exit is not an error:
// it is in the Result. The error reports what kept the command from
// finishing: a lost connection, become refused (*BecomeError), or ctx
// ending — then the command's whole process group is sent SIGTERM and, if
// it lingers, SIGKILL. (sshd does not deliver SSH signal requests to root
// sessions, so hactl kills through a second session instead.)
func (c *Client) Run(ctx context.Context, cmd string, stdin io.Reader) (Result, error) {
	res, err := c.run(ctx, cmd, stdin, c.becoming())
	if err != nil {
		return res, fmt.Errorf("%s: %s: %w", c.target.Name, firstLine(cmd), err)
	}
	if becomeErr := c.becomeFailure(res); becomeErr != nil {
		return res, becomeErr
	}
	return res, nil
}

// Output runs cmd like Run and returns its stdout; a non-zero exit is an
// *ExitError carrying stderr.
func (c *Client) Output(ctx context.Context, cmd string, stdin io.Reader) ([]byte, error) {
	res, err := c.Run(ctx, cmd, stdin)
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return nil, &ExitError{Host: c.target.Name, Cmd: cmd, Code: res.ExitCode, Stderr: string(res.Stderr)}
	}
	return res.Stdout, nil
}

// run runs cmd, as root when asRoot.
func (c *Client) run(ctx context.Context, cmd string, stdin io.Reader, asRoot bool) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{ExitCode: -1}, err
	}
	sess, err := c.ssh.NewSession()
	if err != nil {
		return Result{ExitCode: -1}, fmt.Errorf("open session: %w", err)
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	pid := &pidWriter{w: &stderr}
	sess.Stdout, sess.Stderr = &stdout, pid
	var in io.WriteCloser
	if stdin != nil {
		// Fed by our own goroutine: Session.Wait would otherwise wait for
		// a stdin that never ends.
		if in, err = sess.StdinPipe(); err != nil {
			return Result{ExitCode: -1}, fmt.Errorf("stdin: %w", err)
		}
	}
	// The login shell (a session leader: sshd calls setsid) reports its
	// pid, which is the process group of everything cmd starts.
	line := fmt.Sprintf("printf '%s%%s\\n' \"$$\" >&2; exec %s", pidTag, c.wrap(cmd, asRoot))
	if err := sess.Start(line); err != nil {
		return Result{ExitCode: -1}, fmt.Errorf("start: %w", err)
	}
	if in != nil {
		go func() {
			_, _ = io.Copy(in, stdin)
			in.Close()
		}()
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	var waitErr error
	select {
	case waitErr = <-done:
	case <-ctx.Done():
		if err := c.kill(pid.get(), asRoot); err != nil {
			return Result{ExitCode: -1}, fmt.Errorf("%w; stopping the command failed: %w", context.Cause(ctx), err)
		}
		sess.Close()
		select {
		case <-done:
		case <-time.After(stopWait):
		}
		return Result{ExitCode: -1}, context.Cause(ctx)
	}
	res := Result{Stdout: stdout.Bytes(), Stderr: pid.rest(), ExitCode: -1}
	var exitErr *ssh.ExitError
	switch {
	case waitErr == nil:
		res.ExitCode = 0
	case errors.As(waitErr, &exitErr) && exitErr.Signal() == "":
		res.ExitCode = exitErr.ExitStatus()
	default:
		return res, waitErr
	}
	return res, nil
}

// kill stops the process group pgid through a new session: TERM, then
// KILL if it is still there after a grace period.
func (c *Client) kill(pgid int, asRoot bool) error {
	if pgid <= 1 {
		return errors.New("the remote shell did not report its pid")
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopWait)
	defer cancel()
	script := fmt.Sprintf(`kill -TERM -%[1]d 2>/dev/null || exit 0
for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.2; kill -0 -%[1]d 2>/dev/null || exit 0; done
kill -KILL -%[1]d 2>/dev/null || true`, pgid)
	_, err := c.run(ctx, script, nil, asRoot)
	return err
}

// pidWriter passes stderr through, less the first line when it carries the
// shell's pid.
type pidWriter struct {
	mu   sync.Mutex
	w    *bytes.Buffer
	head []byte // stderr until the first newline
	seen bool   // head is complete
	pid  int
}

func (p *pidWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen {
		return p.w.Write(b)
	}
	p.head = append(p.head, b...)
	i := bytes.IndexByte(p.head, '\n')
	if i < 0 {
		return len(b), nil
	}
	p.seen = true
	first, rest := p.head[:i], p.head[i+1:]
	if n, err := strconv.Atoi(strings.TrimPrefix(string(first), pidTag)); err == nil && bytes.HasPrefix(first, []byte(pidTag)) {
		p.pid = n
	} else {
		rest = p.head
	}
	p.w.Write(rest)
	p.head = nil
	return len(b), nil
}

func (p *pidWriter) get() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// rest is stderr without the pid line.
func (p *pidWriter) rest() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append(p.w.Bytes(), p.head...)
}

// becoming says whether commands are wrapped to run as root.
func (c *Client) becoming() bool {
	return c.target.SSH.Become && c.user != "root"
}

func (c *Client) becomeMethod() string {
	if c.target.SSH.BecomeMethod == "doas" {
		return "doas"
	}
	return "sudo"
}

// wrap makes cmd one program invocation, run as root (never prompting)
// when asRoot.
func (c *Client) wrap(cmd string, asRoot bool) string {
	switch {
	case !asRoot:
		return "sh -c " + Quote(cmd)
	case c.becomeMethod() == "doas":
		return "doas -n sh -c " + Quote(cmd)
	default:
		return "sudo -n -- sh -c " + Quote(cmd)
	}
}

// becomeFailure recognises sudo's and doas's refusals to run without a
// password.
func (c *Client) becomeFailure(res Result) error {
	if !c.becoming() || res.ExitCode != 1 {
		return nil
	}
	stderr := string(res.Stderr)
	method := c.becomeMethod()
	if !strings.HasPrefix(stderr, method+":") {
		return nil
	}
	for _, s := range []string{"password is required", "not in the sudoers", "not allowed to", "Authorization required", "Authentication required", "Operation not permitted"} {
		if strings.Contains(stderr, s) {
			return &BecomeError{Host: c.target.Name, User: c.user, Method: method, Stderr: stderr}
		}
	}
	return nil
}

// Quote makes s one word for a POSIX shell: commands sent to hosts quote
// every path and argument with it.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
