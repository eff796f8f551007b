package apply

import (
	"os/exec"
	"slices"
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

// The defect: systemd gave up for good on an agent that crashed five
// times in ten seconds (its default start limit), leaving the node out of
// the cluster until someone noticed.
func TestTheSystemdUnitNeverGivesUpOnACrashLoopingAgent(t *testing.T) {
	sections := map[string][]string{}
	section := ""
	for _, line := range strings.Split(unit, "\n") {
		switch {
		case strings.HasPrefix(line, "["):
			section = line
		case line != "":
			sections[section] = append(sections[section], line)
		}
	}
	// StartLimitIntervalSec belongs to [Unit]: in [Service] systemd ignores it.
	for section, want := range map[string][]string{
		"[Unit]":    {"StartLimitIntervalSec=0"},
		"[Service]": {"Restart=always", "RestartSec=100ms", "RestartMaxDelaySec=10s", "CPUWeight=1000"},
	} {
		for _, w := range want {
			if !slices.Contains(sections[section], w) {
				t.Errorf("the unit's %s section lacks %s:\n%s", section, w, unit)
			}
		}
	}
}

// Destroy releases what the agent started once the agent is stopped (so
// that it cannot start it again) and before its program and record go.
func TestRemoveReleasesBetweenStoppingTheAgentAndDeletingItsFiles(t *testing.T) {
	s := removeCmd()
	stop, release, remove := strings.Index(s, "pkill -x "+layout.AgentName), strings.Index(s, layout.AgentBin+" release"), strings.Index(s, "rm -rf ")
	if stop < 0 || release < 0 || remove < 0 || !(stop < release && release < remove) {
		t.Errorf("remove command does not stop, release, then delete (at %d, %d, %d):\n%s", stop, release, remove, s)
	}
}
