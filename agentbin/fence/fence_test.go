package fence

import (
	"bytes"
	"context"
	"errors"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/spec"
)

func TestNewRefusesIncompleteDevices(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    spec.Fence
		want string // in the error; "" means New succeeds
	}{
		{"command", spec.Fence{Type: "command", Command: "/bin/true"}, ""},
		{"command without program", spec.Fence{Type: "command"}, "command is missing"},
		{"ssh", spec.Fence{Type: "ssh", Address: "10.0.0.2"}, ""},
		{"ssh without address", spec.Fence{Type: "ssh"}, "address is missing"},
		{"ipmi", spec.Fence{Type: "ipmi", Address: "10.0.9.31", User: "admin", PasswordPath: "/p"}, ""},
		{"ipmi without user and password", spec.Fence{Type: "ipmi", Address: "10.0.9.31"}, "user is missing\nfence ipmi: password_path is missing"},
		{"redfish", spec.Fence{Type: "redfish", Address: "bmc:8443", User: "admin", PasswordPath: "/p"}, ""},
		{"redfish at a bare IPv6 address", spec.Fence{Type: "redfish", Address: "fd00::9", User: "admin", PasswordPath: "/p"}, ""},
		{"redfish over plain http", spec.Fence{Type: "redfish", Address: "http://bmc", User: "admin", PasswordPath: "/p"}, "only https"},
		{"redfish with credentials in the URL", spec.Fence{Type: "redfish", Address: "https://admin:hunter2@bmc", User: "admin", PasswordPath: "/p"}, "must not carry credentials"},
		{"lab", spec.Fence{Type: "lab"}, ""},
		{"unknown type", spec.Fence{Type: "pdu"}, `unknown fence type "pdu"`},
		{"unknown action", spec.Fence{Type: "lab", Action: "halt"}, `action "halt"`},
		{"negative timeout", spec.Fence{Type: "lab", TimeoutMS: -1}, "negative timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.f, Options{})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("New: error %v, want one containing %q", err, tc.want)
			case strings.Contains(tc.f.Address, "hunter2") && strings.Contains(err.Error(), "hunter2"):
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	f, err := New(spec.Fence{Type: "lab"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fc := f.(*fencer)
	if fc.action != "off" || fc.timeout != DefaultTimeout || fc.m.(*labMethod).file != layout.LabPDUPath {
		t.Fatalf("defaults: action %q timeout %s file %q", fc.action, fc.timeout, fc.m.(*labMethod).file)
	}
}

func TestErrorNamesDeviceNodeStepAndCheck(t *testing.T) {
	err := error(&Error{Device: "ipmi BMC 10.0.9.31", Node: "h2g", Step: "powering off", Err: context.DeadlineExceeded, Check: "the BMC address"})
	want := "fencing h2g with ipmi BMC 10.0.9.31: powering off: context deadline exceeded (check the BMC address)"
	if err.Error() != want {
		t.Fatalf("got  %s\nwant %s", err, want)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("the cause is not unwrapped")
	}
}

func TestFailScrubsSecretsBeforeShortening(t *testing.T) {
	a := &attempt{fc: &fencer{device: "d"}, node: "n"}
	a.secret("admin", "s3cret")
	long := strings.Repeat("x", maxErrorText-3) + "s3cret and YWRtaW46czNjcmV0"
	err := a.fail("step", errors.New(long), "")
	if msg := err.Error(); strings.Contains(msg, "s3c") || strings.Contains(msg, "YWRtaW46czNjcmV0") {
		t.Fatalf("a secret survived: %s", msg)
	}
}

// writeFile writes a file in a test directory and returns its path.
func writeFile(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// onPath puts an executable script named name first on PATH: the fake of
// an external program (ssh to a host that can power off, ipmitool to a
// BMC) that cannot exist in a test.
func onPath(t *testing.T, name, script string) {
	t.Helper()
	p := writeFile(t, name, script, 0o755)
	t.Setenv("PATH", filepath.Dir(p)+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// fenceWith builds a fencer for f and fences node, returning what it logged and
// its error.
func fenceWith(t *testing.T, f spec.Fence, opts Options, node string) (logs string, err error) {
	t.Helper()
	var buf bytes.Buffer
	opts.Logger = log.New(&buf, "", 0)
	fc, err := New(f, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	err = fc.Fence(context.Background(), node)
	return buf.String(), err
}

// mustNotLeak fails when a secret appears in an error or the log.
func mustNotLeak(t *testing.T, secret string, err error, logs string) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), secret) {
		t.Errorf("the error shows the secret: %v", err)
	}
	if strings.Contains(logs, secret) {
		t.Errorf("the log shows the secret:\n%s", logs)
	}
}

// wantOutcome checks a Fence's error: none when want is empty, else one
// that contains every string of want.
func wantOutcome(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	if err == nil {
		t.Fatal("fenced, want an error")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}
