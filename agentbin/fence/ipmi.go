package fence

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// ipmiMethod drives a BMC with ipmitool over IPMI v2 (lanplus). The
// password stays in its file: ipmitool reads it there (-f).
type ipmiMethod struct {
	address      string
	user         string
	passwordPath string
}

func (m *ipmiMethod) args(command ...string) []string {
	a := []string{"-I", "lanplus"}
	if host, port, err := net.SplitHostPort(m.address); err == nil {
		a = append(a, "-H", host, "-p", port)
	} else {
		a = append(a, "-H", m.address)
	}
	a = append(a, "-U", m.user, "-f", m.passwordPath)
	return append(a, command...)
}

func (m *ipmiMethod) fence(ctx context.Context, a *attempt) error {
	// Read only to scrub it from what ipmitool prints, and to fail early
	// with a clear message when the file is missing.
	password, err := readPassword(m.passwordPath)
	if err != nil {
		return a.fail("reading the BMC password", err, "that the password file exists on this node (hactl apply uploads it)")
	}
	a.secret(m.user, password)
	check := "the BMC address, user and password file, and that this node reaches " + m.address + " over IPMI lanplus (UDP 623 by default)"
	if a.fc.action == "reboot" {
		if _, err := m.run(ctx, "chassis", "power", "cycle"); err != nil {
			// A chassis that is off refuses a cycle, and is fenced.
			if off, serr := m.off(ctx); serr == nil && off {
				return nil
			}
			return a.fail("power-cycling", err, check)
		}
		return nil
	}
	if _, err := m.run(ctx, "chassis", "power", "off"); err != nil {
		return a.fail("powering off", err, check)
	}
	err = a.poll(ctx, func(ctx context.Context) error {
		off, err := m.off(ctx)
		if err == nil && !off {
			err = errors.New("the chassis power is still on")
		}
		return err
	})
	if err != nil {
		return a.fail("waiting for the chassis to be off", err, check)
	}
	return nil
}

func (m *ipmiMethod) run(ctx context.Context, command ...string) (string, error) {
	out, err := runProgram(ctx, os.Environ(), "ipmitool", m.args(command...)...)
	if err != nil {
		err = fmt.Errorf("ipmitool %s: %w", strings.Join(command, " "), err)
	}
	return out, err
}

// off asks the chassis power status.
func (m *ipmiMethod) off(ctx context.Context) (bool, error) {
	out, err := m.run(ctx, "chassis", "power", "status")
	if err != nil {
		return false, err
	}
	return powerIsOff(out)
}

// powerIsOff reads ipmitool's answer to chassis power status: a line
// "Chassis Power is off" or "Chassis Power is on". Anything else, or both,
// is an error: fencing must never take an answer it does not understand
// for "off".
func powerIsOff(out string) (bool, error) {
	var off, on bool
	for line := range strings.Lines(out) {
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "chassis power is off":
			off = true
		case "chassis power is on":
			on = true
		}
	}
	if off == on {
		return false, fmt.Errorf("ipmitool chassis power status: unexpected answer: %q", strings.TrimSpace(out))
	}
	return off, nil
}

// readPassword reads a password file; a trailing newline is not part of
// the password.
func readPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return p, nil
}
