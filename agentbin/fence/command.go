package fence

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// commandMethod runs the operator's fence program.
type commandMethod struct{ path string }

func (c *commandMethod) fence(ctx context.Context, a *attempt) error {
	env := append(os.Environ(), "HACTL_FENCE_ACTION="+a.fc.action)
	if _, err := runProgram(ctx, env, c.path, a.node); err != nil {
		return a.fail("running it", err, "that the program exists, is executable, and exits 0 only once the node is off")
	}
	return nil
}

// program prepares a child that runs in its own process group, so that
// the whole group (a script and what it started) is killed when ctx ends.
func program(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	return cmd
}

// runProgram runs a program to its end, bounded by ctx. It returns the
// end of its output (stdout and stderr together); a failure includes it.
func runProgram(ctx context.Context, env []string, name string, args ...string) (string, error) {
	cmd := program(ctx, env, name, args...)
	out := &tail{}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	text := out.String()
	switch {
	case err == nil:
		return text, nil
	case ctx.Err() != nil:
		err = fmt.Errorf("killed: %w", ctx.Err())
	}
	if text != "" {
		err = fmt.Errorf("%w: %s", err, text)
	}
	return text, err
}

// exitCode is a program's exit status, or -1 when it did not exit
// normally (killed, or not started).
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// tailSize is how much of a program's output is kept for errors.
const tailSize = 2048

// tail keeps the last tailSize bytes written to it; it is safe for the
// concurrent writes of a child's stdout and stderr.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

// String is the kept output on one line.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.ReplaceAll(strings.TrimSpace(string(t.buf)), "\n", "; ")
}
