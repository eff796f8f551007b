package resource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// DefaultTimeout bounds an action (start, stop, monitor, validate-all)
// whose resource has no monitor_timeout_ms.
const DefaultTimeout = 20 * time.Second

// maxOutput is how much of an action's output (its end) goes into an
// error message.
const maxOutput = 2048

// result is how an external command ended.
type result struct {
	code   int    // exit status; -1 when killed by a signal or the timeout
	stdout string // trimmed
	output string // stdout and stderr together, trimmed, its last maxOutput bytes
}

// command is one run of an external program.
type command struct {
	path string
	args []string
	env  []string // added to the agent's environment
	// secretEnv are variables whose values are in files (an OCF agent's
	// secret parameters): name → path, read at each run so that the
	// values are in no spec and no long-lived memory of the agent. The
	// values are masked in the output the caller gets, which ends up in
	// errors, logs and status.json.
	secretEnv map[string]string
	timeout   time.Duration
}

// minMasked is the shortest secret value masked in an action's output:
// masking one or two characters would garble every message and tell which
// characters the value has.
const minMasked = 4

// secretValues reads c.secretEnv's files into NAME=value entries, and
// returns the values to mask.
func (c command) secretValues() (env, values []string, err error) {
	names := make([]string, 0, len(c.secretEnv))
	for name := range c.secretEnv {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		data, err := os.ReadFile(c.secretEnv[name])
		if err != nil {
			return nil, nil, fmt.Errorf("reading the value of %s: %w; run hactl apply to upload the secrets again", name, err)
		}
		env = append(env, name+"="+string(data))
		if len(data) >= minMasked {
			values = append(values, string(data))
		}
	}
	return env, values, nil
}

// mask replaces every secret value in s.
func mask(s string, values []string) string {
	for _, v := range values {
		s = strings.ReplaceAll(s, v, "(sensitive)")
	}
	return s
}

// run runs c and reports how it ended. A non-zero exit is not an error:
// the caller maps exit codes. err is set when the program could not be run
// or did not finish within c.timeout (or ctx).
//
// The program runs in its own process group, killed whole on timeout.
// Its output goes to unlinked temporary files rather than pipes, so that a
// daemon started by an init script, which keeps its inherited stdout, does
// not keep run waiting.
func run(ctx context.Context, c command) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	stdout, err := scratchFile()
	if err != nil {
		return result{}, err
	}
	defer stdout.Close()
	stderr, err := scratchFile()
	if err != nil {
		return result{}, err
	}
	defer stderr.Close()

	secretEnv, secrets, err := c.secretValues()
	if err != nil {
		return result{}, err
	}
	cmd := exec.CommandContext(ctx, c.path, c.args...)
	cmd.Env = append(append(os.Environ(), c.env...), secretEnv...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	runErr := cmd.Run()

	out, errOut := mask(readScratch(stdout), secrets), mask(readScratch(stderr), secrets)
	res := result{code: -1, stdout: out, output: tail(strings.TrimSpace(out + "\n" + errOut))}
	if cmd.ProcessState != nil && cmd.ProcessState.Exited() {
		res.code = cmd.ProcessState.ExitCode()
	}
	line := c.path + " " + strings.Join(c.args, " ")
	switch {
	case res.code == -1 && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return res, fmt.Errorf("%s did not finish within %v (%w): killed", line, c.timeout.Round(time.Millisecond), context.DeadlineExceeded)
	case res.code == -1 && ctx.Err() != nil:
		return res, fmt.Errorf("%s: %w: killed", line, ctx.Err())
	case res.code == -1:
		if runErr == nil {
			runErr = errors.New("killed by a signal")
		}
		return res, fmt.Errorf("running %s: %w", line, runErr)
	}
	return res, nil
}

// scratchFile is an unlinked temporary file: it vanishes when closed.
func scratchFile() (*os.File, error) {
	f, err := os.CreateTemp("", "hactl-resource-*")
	if err != nil {
		return nil, fmt.Errorf("creating a file for an action's output: %w", err)
	}
	os.Remove(f.Name())
	return f, nil
}

// readScratch returns what was written to f, trimmed, or what went wrong
// reading it.
func readScratch(f *os.File) string {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "(output lost: " + err.Error() + ")"
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return "(output lost: " + err.Error() + ")"
	}
	return strings.TrimSpace(string(b))
}

// tail keeps the end of s, where scripts say what went wrong.
func tail(s string) string {
	if len(s) <= maxOutput {
		return s
	}
	return "…" + s[len(s)-maxOutput:]
}

// timeoutOf is a resource's action timeout.
func timeoutOf(ms int) time.Duration {
	if ms <= 0 {
		return DefaultTimeout
	}
	return time.Duration(ms) * time.Millisecond
}

// withOutput appends a command's output to a message, when there is some.
func withOutput(msg string, r result) string {
	if r.output == "" {
		return msg
	}
	return msg + ": " + r.output
}
