package fence

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// redfishMethod drives a BMC through the Redfish HTTP API, with basic
// auth over HTTPS only (the password travels in every request).
type redfishMethod struct {
	base         *url.URL // https://HOST[:PORT]
	user         string
	passwordPath string
	client       *http.Client
}

func newRedfish(f spec.Fence, opts Options) (*redfishMethod, error) {
	raw := f.Address
	if ip, err := netip.ParseAddr(raw); err == nil && ip.Is6() {
		raw = "[" + raw + "]"
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "":
		return nil, fmt.Errorf("fence redfish: address %q is neither a host nor an https URL", f.Address)
	case u.Scheme != "https":
		return nil, fmt.Errorf("fence redfish: address %q: only https is allowed, since the password travels in every request", f.Address)
	case u.User != nil:
		return nil, fmt.Errorf("fence redfish: address %q must not carry credentials: use user and password_file", u.Redacted())
	}
	return &redfishMethod{
		base:         &url.URL{Scheme: "https", Host: u.Host},
		user:         f.User,
		passwordPath: f.PasswordPath,
		client:       httpClient(opts),
	}, nil
}

// httpClient is opts.HTTPClient, or a client that verifies TLS unless
// opts.InsecureTLS, and ignores proxy variables (a BMC or the lab's switch
// is on a local network).
func httpClient(opts Options) *http.Client {
	if opts.HTTPClient != nil {
		return opts.HTTPClient
	}
	return &http.Client{Transport: &http.Transport{
		// A BMC's self-signed certificate needs InsecureTLS, which the
		// operator turns on knowingly.
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: opts.InsecureTLS}, //nolint:gosec
		TLSHandshakeTimeout: 10 * time.Second,
	}}
}

// redfishSystem is the part of a ComputerSystem fencing reads.
type redfishSystem struct {
	ID         string `json:"Id"`
	Name       string `json:"Name"`
	HostName   string `json:"HostName"`
	PowerState string `json:"PowerState"`
	Actions    struct {
		Reset struct {
			Target string `json:"target"`
		} `json:"#ComputerSystem.Reset"`
	} `json:"Actions"`
	path string // its @odata.id
}

func (m *redfishMethod) fence(ctx context.Context, a *attempt) error {
	password, err := readPassword(m.passwordPath)
	if err != nil {
		return a.fail("reading the BMC password", err, "that the password file exists on this node (hactl apply uploads it)")
	}
	a.secret(m.user, password)
	c := &redfishCall{m: m, password: password}

	sys, err := c.system(ctx, a.node)
	if err != nil {
		return a.fail("finding the node's system under /redfish/v1/Systems", err, redfishCheck(err))
	}
	if sys.PowerState == "Off" {
		return nil
	}
	target := sys.Actions.Reset.Target
	if target == "" {
		target = sys.path + "/Actions/ComputerSystem.Reset"
	}
	reset := "ForceOff"
	if a.fc.action == "reboot" {
		reset = "ForceRestart"
	}
	if err := c.do(ctx, http.MethodPost, target, map[string]string{"ResetType": reset}, nil); err != nil {
		return a.fail("posting ResetType "+reset+" to "+target, err, redfishCheck(err))
	}
	if a.fc.action == "reboot" {
		return nil
	}
	err = a.poll(ctx, func(ctx context.Context) error {
		var s redfishSystem
		if err := c.do(ctx, http.MethodGet, sys.path, nil, &s); err != nil {
			return err
		}
		if s.PowerState != "Off" {
			return fmt.Errorf("PowerState is %q", s.PowerState)
		}
		return nil
	})
	if err != nil {
		return a.fail("waiting for PowerState Off", err, redfishCheck(err))
	}
	return nil
}

// redfishCheck says what to look at after err.
func redfishCheck(err error) string {
	var se *statusError
	if errors.As(err, &se) && (se.code == http.StatusUnauthorized || se.code == http.StatusForbidden) {
		return "the BMC user and password file: the BMC refused them"
	}
	return "the BMC address, that this node reaches it over HTTPS, and its certificate (a self-signed one needs the agent's insecure TLS option)"
}

// redfishCall is the requests of one Fence call.
type redfishCall struct {
	m        *redfishMethod
	password string
}

// system finds the node's ComputerSystem: the only one, or the one whose
// Id, Name or HostName is the node's name.
func (c *redfishCall) system(ctx context.Context, node string) (*redfishSystem, error) {
	var systems struct {
		Members []struct {
			ID string `json:"@odata.id"`
		} `json:"Members"`
	}
	if err := c.do(ctx, http.MethodGet, "/redfish/v1/Systems", nil, &systems); err != nil {
		return nil, err
	}
	if len(systems.Members) == 0 {
		return nil, errors.New("the BMC lists no system")
	}
	var names []string
	for _, member := range systems.Members {
		s := &redfishSystem{path: member.ID}
		if err := c.do(ctx, http.MethodGet, member.ID, nil, s); err != nil {
			return nil, err
		}
		host, _, _ := strings.Cut(s.HostName, ".")
		if len(systems.Members) == 1 || strings.EqualFold(s.ID, node) || strings.EqualFold(s.Name, node) || strings.EqualFold(host, node) {
			return s, nil
		}
		names = append(names, s.ID)
	}
	return nil, fmt.Errorf("the BMC has %d systems (%s) and none has the Id, Name or HostName %q", len(names), strings.Join(names, ", "), node)
}

// do sends one request with basic auth and decodes a JSON answer into out
// (when out is not nil).
func (c *redfishCall) do(ctx context.Context, method, path string, body, out any) error {
	u, err := c.m.base.Parse(path)
	if err != nil {
		return fmt.Errorf("bad path %q from the BMC: %w", path, err)
	}
	u.Scheme, u.Host = c.m.base.Scheme, c.m.base.Host // never send the password elsewhere
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.m.user, c.password)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-Version", "4.0")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.m.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, u.Path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &statusError{what: method + " " + u.Path, code: resp.StatusCode, body: data}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: the answer is not the expected JSON: %w", method, u.Path, err)
		}
	}
	return nil
}

// statusError is an HTTP answer outside 2xx.
type statusError struct {
	what string
	code int
	body []byte
}

func (e *statusError) Error() string {
	s := fmt.Sprintf("%s: HTTP %d %s", e.what, e.code, http.StatusText(e.code))
	if b := strings.TrimSpace(string(e.body)); b != "" {
		s += ": " + strings.ReplaceAll(b, "\n", " ")
	}
	return s
}
