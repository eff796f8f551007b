package lab

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestDownUndoesAnInterruptedUp builds part of a lab, as an Up killed
// half-way leaves it (state saved, some namespaces, no nodes), and checks
// that Down removes it from the state alone.
func TestDownUndoesAnInterruptedUp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating namespaces needs root; CI runs this as root")
	}
	ctx := t.Context()
	const name = "labcrash"
	if err := Down(ctx, name); err != nil {
		t.Fatal(err)
	}
	st, err := newState(testTopology(), name, "c0de")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dirOf(name), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := saveState(st); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Down(context.Background(), name) })
	for _, ns := range []string{st.Switch, st.Nodes[0].Netns} {
		if err := createNetns(ns); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Open(name); err != nil {
		t.Fatalf("open an interrupted lab: %v", err)
	}
	if err := Down(ctx, name); err != nil {
		t.Fatalf("down: %v", err)
	}
	for _, ns := range st.namespaces() {
		if _, err := os.Stat(netnsPath(ns)); err == nil {
			t.Errorf("namespace %s is left", ns)
		}
	}
	if _, err := os.Stat(dirOf(name)); err == nil {
		t.Errorf("%s is left", dirOf(name))
	}
}

// TestLoginUserPortAndHostName brings up a lab whose nodes use a host
// name as SSH address, another login user and another port, and logs in
// with the lab's ssh_config as the operator would.
func TestLoginUserPortAndHostName(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("building a lab needs root; CI runs this as root")
	}
	ctx := t.Context()
	l, err := Up(ctx, testTopology(), Options{Name: "labusers", Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Down(context.Background()) })
	for _, tt := range []struct{ host, want string }{
		{"lb", "root lb"}, {"lb.example.com", "root lb"}, {"db", "admin db"},
	} {
		out, err := l.Exec(ctx, Ctl, "ssh", "-F", l.SSHConfigFile(), tt.host, "echo $(id -un) $(hostname)")
		if got := strings.TrimSpace(string(out)); err != nil || got != tt.want {
			console, _ := os.ReadFile(l.ConsoleLog(tt.host))
			t.Errorf("ssh %s: %q, %v; want %q\nconsole:\n%s", tt.host, got, err, tt.want, console)
		}
	}
	if out, err := l.Exec(ctx, Ctl, "ssh", "-F", l.SSHConfigFile(), "db", "sudo -n id -un"); err != nil || strings.TrimSpace(string(out)) != "root" {
		t.Errorf("sudo as admin on db: %q, %v", out, err)
	}
}
