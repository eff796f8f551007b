package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// maxBody is how much of a response body BodyRegex is matched against: a
// backend answering a huge page must not make the checker read it all.
const maxBody = 64 << 10

// maxOutput is how much of a check command's output is kept for the reason
// of its failure.
const maxOutput = 256

// prober probes one target, bounded by ctx. nil means healthy.
type prober interface {
	probe(ctx context.Context, t Target) error
}

func newProber(hc *spec.HealthCheck, opts Options) (prober, error) {
	switch hc.Type {
	case "tcp":
		return &tcpProbe{}, nil
	case "http", "https":
		return newHTTPProbe(hc, opts)
	case "command":
		f := strings.Fields(hc.Command)
		if len(f) == 0 {
			return nil, errors.New(`type "command" needs a command to run`)
		}
		return &commandProbe{name: f[0], args: f[1:]}, nil
	}
	return nil, fmt.Errorf("type %q is unknown: want tcp, http, https or command", hc.Type)
}

// tcpProbe passes when a TCP connection is established.
type tcpProbe struct{ dialer net.Dialer }

func (p *tcpProbe) probe(ctx context.Context, t Target) error {
	conn, err := p.dialer.DialContext(ctx, "tcp", t.hostPort())
	if err != nil {
		return err
	}
	// The connection was made: that is the check. Its close cannot undo it.
	_ = conn.Close()
	return nil
}

// httpProbe sends a GET and checks the status and, optionally, the body.
type httpProbe struct {
	scheme string
	path   string
	host   string // Host header; empty: address:port
	want   []int  // empty: 200-399
	body   *regexp.Regexp
	client *http.Client
}

func newHTTPProbe(hc *spec.HealthCheck, opts Options) (*httpProbe, error) {
	p := &httpProbe{scheme: hc.Type, path: hc.Path, host: hc.Host, want: hc.ExpectStatus}
	if !strings.HasPrefix(p.path, "/") {
		return nil, fmt.Errorf("path %q must start with /", p.path)
	}
	if _, err := url.Parse("http://backend" + p.path); err != nil {
		return nil, fmt.Errorf("path %q is not a valid URL path: %w", p.path, err)
	}
	for _, s := range p.want {
		if s < 100 || s > 599 {
			return nil, fmt.Errorf("expect_status %d is not an HTTP status code (100-599)", s)
		}
	}
	if hc.BodyRegex != "" {
		re, err := regexp.Compile(hc.BodyRegex)
		if err != nil {
			return nil, fmt.Errorf("body_regex: %w", err)
		}
		p.body = re
	}
	tc := &tls.Config{InsecureSkipVerify: !opts.VerifyTLS, RootCAs: opts.RootCAs}
	if p.host != "" {
		// Name the virtual host in SNI too, and verify the certificate
		// against it rather than against the backend's address.
		tc.ServerName = hostOnly(p.host)
	}
	p.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil, // never the environment's HTTP_PROXY: backends are checked directly
			DialContext:            (&net.Dialer{}).DialContext,
			TLSClientConfig:        tc,
			DisableKeepAlives:      true, // every probe proves that a new connection is accepted
			MaxResponseHeaderBytes: maxBody,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p, nil
}

func (p *httpProbe) probe(ctx context.Context, t Target) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.scheme+"://"+t.hostPort()+p.path, nil)
	if err != nil {
		return err
	}
	if p.host != "" {
		req.Host = p.host
	}
	req.Header.Set("User-Agent", "hactl-health-check")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if !p.statusOK(resp.StatusCode) {
		return fmt.Errorf("status %d, want %s", resp.StatusCode, p.wantText())
	}
	if p.body == nil {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("reading the body: %w", err)
	}
	if !p.body.Match(b) {
		return fmt.Errorf("body (first %d bytes) does not match %q", maxBody, p.body.String())
	}
	return nil
}

func (p *httpProbe) statusOK(code int) bool {
	if len(p.want) == 0 {
		return code >= 200 && code < 400
	}
	return slices.Contains(p.want, code)
}

func (p *httpProbe) wantText() string {
	switch len(p.want) {
	case 0:
		return "200-399"
	case 1:
		return strconv.Itoa(p.want[0])
	}
	s := make([]string, len(p.want))
	for i, c := range p.want {
		s[i] = strconv.Itoa(c)
	}
	return "one of " + strings.Join(s, ", ")
}

// hostOnly strips a port from a Host header value.
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

// commandProbe runs the operator's program; exit status 0 passes.
type commandProbe struct {
	name string
	args []string
}

func (p *commandProbe) probe(ctx context.Context, t Target) error {
	port := strconv.Itoa(t.Port)
	cmd := exec.CommandContext(ctx, p.name, append(slices.Clone(p.args), t.Address, port)...)
	cmd.Env = append(os.Environ(),
		"HACTL_CHECK_NAME="+t.Name, "HACTL_CHECK_ADDRESS="+t.Address, "HACTL_CHECK_PORT="+port)
	// Its own process group, so that a timeout kills what a script started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A child that keeps the output pipe open must not hold the probe.
	cmd.WaitDelay = 100 * time.Millisecond
	out := &headWriter{}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	if err == nil || ctx.Err() != nil {
		return err
	}
	if text := strings.TrimSpace(string(out.b)); text != "" {
		return fmt.Errorf("%w: %s", err, text)
	}
	return err
}

// headWriter keeps the first maxOutput bytes written to it and discards
// the rest; a check's first words usually say what went wrong.
type headWriter struct{ b []byte }

func (w *headWriter) Write(p []byte) (int, error) {
	if room := maxOutput - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// reason is a probe's failure in the fewest words that say it: "timeout
// after 1s", "connect: connection refused", "status 500, want 200".
func reason(err error, timedOut bool, timeout time.Duration) string {
	if timedOut {
		return "timeout after " + timeout.String()
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
