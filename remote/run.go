package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// killGrace is how long a command that outlived its context gets between
// SIGTERM (which sudo relays to it) and SIGKILL.
const killGrace = 2 * time.Second

// Result is what a finished command left.
type Result struct {
	Stdout, Stderr []byte
	ExitCode       int
}

// Run runs cmd through the login user's shell on the host, as root when the
// target asks for become, feeding it stdin (nil for none). A non-zero exit
// is not an error: it is in the Result. The error reports what kept the
// command from finishing: a lost connection, become refused (*BecomeError),
// or ctx ending — then the command is signalled (TERM, then KILL) and the
// session closed.
func (c *Client) Run(ctx context.Context, cmd string, stdin io.Reader) (Result, error) {
	res, err := c.run(ctx, c.become(cmd), stdin)
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

// run runs the command line as given, without become.
func (c *Client) run(ctx context.Context, line string, stdin io.Reader) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{ExitCode: -1}, err
	}
	sess, err := c.ssh.NewSession()
	if err != nil {
		return Result{ExitCode: -1}, fmt.Errorf("open session: %w", err)
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	var in io.WriteCloser
	if stdin != nil {
		// Fed by our own goroutine: Session.Wait would otherwise wait for
		// a stdin that never ends.
		if in, err = sess.StdinPipe(); err != nil {
			return Result{ExitCode: -1}, fmt.Errorf("stdin: %w", err)
		}
	}
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
		_ = sess.Signal(ssh.SIGTERM)
		select {
		case <-done:
		case <-time.After(killGrace):
			_ = sess.Signal(ssh.SIGKILL)
			sess.Close()
			<-done
		}
		return Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: -1}, context.Cause(ctx)
	}
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var exitErr *ssh.ExitError
	switch {
	case waitErr == nil:
	case errors.As(waitErr, &exitErr) && exitErr.Signal() == "":
		res.ExitCode = exitErr.ExitStatus()
	default:
		res.ExitCode = -1
		return res, waitErr
	}
	return res, nil
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

// become wraps cmd to run as root, never prompting.
func (c *Client) become(cmd string) string {
	if !c.becoming() {
		return cmd
	}
	if c.becomeMethod() == "doas" {
		return "doas -n sh -c " + quote(cmd)
	}
	return "sudo -n -- sh -c " + quote(cmd)
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

// quote makes s one word for a POSIX shell.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
