package fence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hactl/hactl/agentbin/spec"
)

// fakeIPMItool stands for ipmitool talking to a BMC, which does not exist
// here. It records each call in $FAKE_IPMI_DIR/calls and keeps the chassis
// power in $FAKE_IPMI_DIR/state: "off" takes one status query to show
// (off-pending), unless $FAKE_IPMI_MODE is "stuck", where it never does.
// A wrong password fails like a BMC refusing the session, and, like a
// careless tool, echoes the password it was given.
const fakeIPMItool = `#!/bin/sh
echo "$*" >> "$FAKE_IPMI_DIR/calls"
while [ $# -gt 0 ]; do
	case $1 in
	-f) pwfile=$2; shift 2 ;;
	-I|-H|-U|-p) shift 2 ;;
	*) break ;;
	esac
done
if [ "$(cat "$pwfile")" != "$FAKE_IPMI_PASSWORD" ]; then
	echo "Error: Unable to establish IPMI v2 / RMCP+ session (password $(cat "$pwfile"))" >&2
	exit 1
fi
state=$(cat "$FAKE_IPMI_DIR/state")
case "$*" in
"chassis power off")
	echo 'Chassis Power Control: Down/Off'
	[ "$FAKE_IPMI_MODE" = stuck ] || echo off-pending > "$FAKE_IPMI_DIR/state"
	;;
"chassis power cycle")
	if [ "$state" = off ]; then
		echo 'Set Chassis Power Control to Cycle failed: Command not supported in present state' >&2
		exit 1
	fi
	echo 'Chassis Power Control: Cycle'
	;;
"chassis power status")
	case $state in
	off-pending) echo off > "$FAKE_IPMI_DIR/state"; echo 'Chassis Power is on' ;;
	off) echo 'Chassis Power is off' ;;
	*) echo 'Chassis Power is on' ;;
	esac
	;;
*)
	echo "unknown command: $*" >&2
	exit 1
	;;
esac
`

func TestIPMI(t *testing.T) {
	onPath(t, "ipmitool", fakeIPMItool)
	const password = "bmc-pa55"
	for _, tc := range []struct {
		name, action, state, mode, password string
		calls                               []string // after the common -I … -f FILE
		want                                []string // in the error; none means fenced
	}{
		{name: "off waits for the power to read off", action: "off", state: "on", password: password,
			calls: []string{"chassis power off", "chassis power status", "chassis power status"}},
		{name: "reboot is a power cycle", action: "reboot", state: "on", password: password,
			calls: []string{"chassis power cycle"}},
		{name: "reboot of a chassis already off", action: "reboot", state: "off", password: password,
			calls: []string{"chassis power cycle", "chassis power status"}},
		{name: "wrong password", action: "off", state: "on", password: "something else",
			calls: []string{"chassis power off"},
			want:  []string{"powering off", "ipmitool chassis power off: exit status 1", "Unable to establish IPMI v2", "check the BMC address, user and password file"}},
		{name: "a chassis that never powers off", action: "off", state: "on", mode: "stuck", password: password,
			want: []string{"waiting for the chassis to be off", "still not off when the fence timeout of 1.5s ran out", "the chassis power is still on"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "state"), []byte(tc.state+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Setenv("FAKE_IPMI_DIR", dir)
			t.Setenv("FAKE_IPMI_MODE", tc.mode)
			t.Setenv("FAKE_IPMI_PASSWORD", password)
			pwfile := writeFile(t, "bmc-password", tc.password+"\n", 0o600)
			f := spec.Fence{Type: "ipmi", Address: "10.0.9.31:6623", User: "admin", PasswordPath: pwfile, Action: tc.action, TimeoutMS: 5000}
			if tc.mode == "stuck" {
				f.TimeoutMS = 1500
			}
			logs, err := fenceWith(t, f, Options{}, "h2g")
			mustNotLeak(t, tc.password, err, logs)
			wantOutcome(t, err, tc.want)
			b, _ := os.ReadFile(filepath.Join(dir, "calls"))
			calls := strings.Split(strings.TrimSpace(string(b)), "\n")
			prefix := "-I lanplus -H 10.0.9.31 -p 6623 -U admin -f " + pwfile + " "
			for i, c := range calls {
				if !strings.HasPrefix(c, prefix) {
					t.Fatalf("call %d: ipmitool %s\nwant the prefix %s", i, c, prefix)
				}
				calls[i] = strings.TrimPrefix(c, prefix)
			}
			if tc.calls != nil && strings.Join(calls, "|") != strings.Join(tc.calls, "|") {
				t.Errorf("calls %q, want %q", calls, tc.calls)
			}
		})
	}
}

func TestIPMIMissingPasswordFile(t *testing.T) {
	f := spec.Fence{Type: "ipmi", Address: "10.0.9.31", User: "admin", PasswordPath: "/nonexistent/bmc-password"}
	_, err := fenceWith(t, f, Options{}, "h2g")
	if err == nil || !strings.Contains(err.Error(), "reading the BMC password: open /nonexistent/bmc-password") {
		t.Fatalf("got %v", err)
	}
}
