package apply

import (
	"os/exec"
	"strings"
	"testing"
)

// The host-side commands are shell scripts sent over SSH: each must at
// least parse, and the service installation must carry both service
// managers' files. Running them for real is the lab's job (no systemd
// there: the systemd branch is only checked here).
func TestHostCommandsAreValidShell(t *testing.T) {
	cmds := map[string]string{
		"start":    startCmd(false),
		"restart":  startCmd(true),
		"reload":   reloadCmd(),
		"remove":   removeCmd(),
		"swapLink": swapLinkCmd("abc123"),
		"init":     initScript,
	}
	for name, script := range cmds {
		out, err := exec.Command("sh", "-n", "-c", script).CombinedOutput()
		if err != nil {
			t.Errorf("%s: not valid sh: %v\n%s\n%s", name, err, out, script)
		}
	}
}

func TestStartInstallsTheServiceForEitherManager(t *testing.T) {
	s := startCmd(false)
	for _, want := range []string{
		"ExecStart=/usr/local/bin/hactl-agent run", "Restart=always", "systemctl enable -q hactl-agent",
		"/etc/init.d/hactl-agent start", "update-rc.d hactl-agent defaults", "/etc/hactl-lab/boot.d",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("start command lacks %q", want)
		}
	}
	if !strings.Contains(startCmd(true), "systemctl restart hactl-agent") || !strings.Contains(startCmd(true), "/etc/init.d/hactl-agent restart") {
		t.Error("restart command does not restart under both managers")
	}
}
