package apply

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/hactl/hactl/agentbin/layout"
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
		"ExecStart=" + layout.AgentBin + " run", "Restart=always", "systemctl enable -q " + layout.AgentName,
		layout.InitPath + " start", "update-rc.d " + layout.AgentName + " defaults", "ln -sfn " + layout.InitPath + " " + layout.LabBootLink,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("start command lacks %q", want)
		}
	}
	if !strings.Contains(startCmd(true), "systemctl restart "+layout.AgentName) || !strings.Contains(startCmd(true), layout.InitPath+" restart") {
		t.Error("restart command does not restart under both managers")
	}
}
