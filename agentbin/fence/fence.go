package fence

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/spec"
)

// Fencer fences one node.
type Fencer interface {
	// Fence returns nil only when the node is known to be off (or reset).
	Fence(ctx context.Context, node string) error
}

// DefaultTimeout bounds a Fence call when the device sets no timeout.
const DefaultTimeout = 30 * time.Second

// pollInterval is how often a power state is asked while waiting for off.
const pollInterval = 200 * time.Millisecond

// maxErrorText caps what a device's answer adds to an error.
const maxErrorText = 1000

// Options are what fencers need from the agent. The zero value works.
type Options struct {
	// Logger receives one line when fencing starts and one when it ends;
	// nil discards them.
	Logger *log.Logger
	// SSHIdentity is the private key ssh fencing logs in with (ssh -i);
	// empty leaves it to ssh's defaults for the agent's user.
	SSHIdentity string
	// SSHKnownHosts is the known_hosts file that ssh fencing checks host
	// keys against; empty leaves it to ssh's defaults.
	SSHKnownHosts string
	// HTTPClient is used by redfish and lab fencing; nil means a client
	// built here (TLS verified unless InsecureTLS). Tests pass their own.
	HTTPClient *http.Client
	// InsecureTLS accepts any certificate from a Redfish BMC, as a BMC
	// with a self-signed certificate needs. Off by default: without it a
	// BMC must present a certificate the host trusts. It applies to the
	// client built here, not to HTTPClient.
	InsecureTLS bool
	// LabPDUFile is the lab power switch's file; empty means layout.LabPDUPath.
	LabPDUFile string
}

// method is one way of fencing; the fencer around it bounds and logs it.
type method interface {
	fence(ctx context.Context, a *attempt) error
}

// fencer is a Fencer made of a device and its method.
type fencer struct {
	device  string // e.g. "ipmi BMC 10.0.9.31", for errors and logs
	action  string // "off" or "reboot"
	timeout time.Duration
	logger  *log.Logger
	m       method
}

// New returns the Fencer for one fence device of the spec, or an error
// when the device is incomplete.
func New(f spec.Fence, opts Options) (Fencer, error) {
	fc := &fencer{action: f.Action, timeout: DefaultTimeout, logger: opts.Logger}
	if fc.action == "" {
		fc.action = "off"
	}
	if fc.action != "off" && fc.action != "reboot" {
		return nil, fmt.Errorf("fence %s: action %q: must be off or reboot", f.Type, f.Action)
	}
	if f.TimeoutMS < 0 {
		return nil, fmt.Errorf("fence %s: negative timeout %dms", f.Type, f.TimeoutMS)
	}
	if f.TimeoutMS > 0 {
		fc.timeout = time.Duration(f.TimeoutMS) * time.Millisecond
	}
	if fc.logger == nil {
		fc.logger = log.New(io.Discard, "", 0)
	}
	need := func(field, value string) error {
		if value == "" {
			return fmt.Errorf("fence %s: %s is missing", f.Type, field)
		}
		return nil
	}
	var err error
	switch f.Type {
	case "command":
		err = need("command", f.Command)
		fc.device, fc.m = "command "+f.Command, &commandMethod{path: f.Command}
	case "ssh":
		err = need("address", f.Address)
		fc.device, fc.m = "ssh "+f.Address, newSSH(f, opts)
	case "ipmi":
		err = errors.Join(need("address", f.Address), need("user", f.User), need("password_path", f.PasswordPath))
		fc.device, fc.m = "ipmi BMC "+f.Address, &ipmiMethod{address: f.Address, user: f.User, passwordPath: f.PasswordPath}
	case "redfish":
		err = errors.Join(need("address", f.Address), need("user", f.User), need("password_path", f.PasswordPath))
		if err == nil {
			var m *redfishMethod
			m, err = newRedfish(f, opts)
			fc.device, fc.m = "redfish BMC "+f.Address, m
		}
	case "lab":
		pdu := opts.LabPDUFile
		if pdu == "" {
			pdu = layout.LabPDUPath
		}
		fc.device, fc.m = "lab PDU", &labMethod{file: pdu, client: httpClient(opts)}
	default:
		return nil, fmt.Errorf("unknown fence type %q: must be ssh, command, ipmi, redfish or lab", f.Type)
	}
	if err != nil {
		return nil, err
	}
	return fc, nil
}

// Fence implements Fencer.
func (fc *fencer) Fence(ctx context.Context, node string) error {
	ctx, cancel := context.WithTimeout(ctx, fc.timeout)
	defer cancel()
	a := &attempt{fc: fc, node: node}
	start := time.Now()
	fc.logger.Printf("fence %s: %s with %s (timeout %s)", node, verb(fc.action), fc.device, fc.timeout)
	if err := fc.m.fence(ctx, a); err != nil {
		fc.logger.Printf("fence %s: failed: %v", node, err)
		return err
	}
	fc.logger.Printf("fence %s: fenced (%s) with %s in %s", node, fc.action, fc.device, time.Since(start).Round(time.Millisecond))
	return nil
}

func verb(action string) string {
	if action == "reboot" {
		return "resetting"
	}
	return "powering off"
}

// attempt is one Fence call: the node, and the secrets read for it, which
// are scrubbed from every error it returns.
type attempt struct {
	fc      *fencer
	node    string
	secrets []string
}

// secret records a secret (and the forms it travels in) to be scrubbed.
func (a *attempt) secret(user, password string) {
	if password == "" {
		return
	}
	a.secrets = append(a.secrets, password, base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
}

// fail builds the error for a failed step.
func (a *attempt) fail(step string, err error, check string) *Error {
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no result within the fence timeout of %s: %w", a.fc.timeout, err)
	}
	// Scrub first, then shorten, so that no piece of a secret survives.
	msg := err.Error()
	clean := scrub(msg, a.secrets)
	if len(clean) > maxErrorText {
		clean = strings.ToValidUTF8(clean[:maxErrorText], "") + "…"
	}
	if clean != msg {
		err = errors.New(clean)
	}
	return &Error{Device: a.fc.device, Node: a.node, Step: step, Err: err, Check: check}
}

// poll asks check every pollInterval until it returns nil (the node is
// off) or ctx ends; then it returns check's last complaint.
func (a *attempt) poll(ctx context.Context, check func(context.Context) error) error {
	var last error
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still not off when the fence timeout of %s ran out: %w", a.fc.timeout, last)
		case <-time.After(pollInterval):
		}
	}
}

func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// Error is a failed fence: which device, which node, what failed and what
// to check. It never contains a password.
type Error struct {
	Device string // e.g. "ipmi BMC 10.0.9.31"
	Node   string
	Step   string // what failed, e.g. "powering off"
	Err    error
	Check  string // what the operator should look at
}

func (e *Error) Error() string {
	s := fmt.Sprintf("fencing %s with %s: %s: %v", e.Node, e.Device, e.Step, e.Err)
	if e.Check != "" {
		s += " (check " + e.Check + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }
