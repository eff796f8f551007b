package spec

import (
	"fmt"
	"math"
	"net"
	"strconv"

	"github.com/hactl/hactl/agentbin/monitor/metric"
)

// validate checks what the monitor role relies on: an address it can
// listen on, secrets of the spec for the password and the TLS key, and
// thresholds it can evaluate.
func (m *Monitor) validate(secrets []Secret) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("monitor: "+format, args...)) }
	if _, port, err := net.SplitHostPort(m.Listen); err != nil {
		bad("listen %q is not host:port: %v", m.Listen, err)
	} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		bad("listen %q: port must be from 1 to 65535", m.Listen)
	}
	secret := func(what, path string) {
		if !InSecretsDir(path) || !secretListed(secrets, path) {
			bad("%s must name a secret file of the spec", what)
		}
	}
	if a := m.BasicAuth; a != nil {
		if a.User == "" || len(a.User) > 256 {
			bad("basic_auth: user must have 1 to 256 characters")
		}
		secret("basic_auth: password_path", a.PasswordPath)
	}
	if t := m.TLS; t != nil {
		secret("tls: cert_path", t.CertPath)
		secret("tls: key_path", t.KeyPath)
	}
	names := map[string]bool{}
	for _, t := range m.Thresholds {
		if t.Name == "" || names[t.Name] {
			bad("threshold %q: names must be set and unique", t.Name)
		}
		names[t.Name] = true
		if _, err := metric.ParseSelector(t.Metric); err != nil {
			bad("threshold %q: %v", t.Name, err)
		}
		if t.Above == nil && t.Below == nil {
			bad("threshold %q: needs above or below", t.Name)
		}
		for _, v := range []*float64{t.Above, t.Below} {
			if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
				bad("threshold %q: limits must be finite numbers", t.Name)
			}
		}
	}
	return errs
}
