// Package layout is where hactl's files live on a host: the agent's
// program, its spec, secrets, state, run-time files and service
// definitions, and the paths a hactl lab node adds. It is the one
// definition that the agent, the probe (plan/observe), apply and destroy
// (plan/apply), the lab (e2e/lab) and the tests use, including in the shell
// scripts they generate; a path written out anywhere else is a bug.
//
// Every path is absolute and free of characters a POSIX shell would
// interpret, so generated scripts may use them unquoted. It depends on the
// standard library only, so that the agent can import it.
package layout

// AgentName is the agent's program, service and process name.
const AgentName = "hactl-agent"

// The agent's configuration, written by apply.
const (
	ConfigDir  = "/etc/hactl"
	SpecPath   = ConfigDir + "/spec.json"
	SecretsDir = ConfigDir + "/secrets" // one file per secret, mode 0600
)

// What must survive a restart of the agent or of the host.
const (
	StateDir = "/var/lib/hactl"
	// AppliedPath is apply's record of what it applied (plan.Applied).
	AppliedPath = StateDir + "/applied.json"
	// StartedPath is the agent's record of the resources it started and
	// has not stopped since (resource.Record), so that it can release
	// what leaves the spec even across restarts.
	StartedPath = StateDir + "/started.json"
)

// Run-time files, gone at reboot.
const (
	RunDir     = "/run/hactl"
	StatusPath = RunDir + "/status.json"
	// ControlPath is the agent's control socket.
	ControlPath = RunDir + "/agent.sock"
	// MonitorSocket is the monitor role's API (agentbin/monitor/api),
	// root's alone, which hactl dashboard reaches over SSH.
	MonitorSocket = RunDir + "/monitor.sock"
	// PidFile is the supervisor's, on hosts without systemd.
	PidFile = RunDir + "/supervisor.pid"
	// LockPath is the per-host apply lock (a directory created
	// atomically). It lives outside RunDir so that destroy can remove
	// RunDir while holding it.
	LockPath = "/run/hactl.lock"
)

// The agent's program and service.
const (
	LibDir = "/usr/local/lib/hactl"
	// AgentDir holds one sub-directory per agent digest, so that a
	// rollback is a link swap.
	AgentDir = LibDir + "/agent"
	// AgentLink is a symlink to the running version's directory.
	AgentLink = AgentDir + "/current"
	// AgentBin is the command operators and scripts run; a symlink into
	// AgentLink.
	AgentBin = "/usr/local/bin/" + AgentName
	// UnitPath is the systemd service, on hosts with systemd.
	UnitPath = "/etc/systemd/system/" + AgentName + ".service"
	// InitPath is the SysV init script, on hosts without systemd.
	InitPath = "/etc/init.d/" + AgentName
	// LogPath is the supervisor's log, on hosts without systemd.
	LogPath = "/var/log/" + AgentName + ".log"
)

// A hactl lab node (e2e/lab) has LabDir; real hosts do not.
const (
	LabDir = "/etc/hactl-lab"
	// LabBootDir holds the scripts a lab node runs when it boots: the
	// lab's stand-in for an init system.
	LabBootDir = LabDir + "/boot.d"
	// LabBootLink starts the agent when a lab node boots.
	LabBootLink = LabBootDir + "/" + AgentName
	// LabPDUPath names the lab's power switch (address and token), for
	// fencing of type "lab"; mode 0600.
	LabPDUPath = LabDir + "/pdu"
)

// Owned lists everything hactl installs on a host: destroy removes all of
// it (and then LockPath, which it holds meanwhile), and tests check that
// nothing is left.
func Owned() []string {
	return []string{LibDir, AgentBin, ConfigDir, StateDir, RunDir, UnitPath, InitPath, LogPath, LabBootLink}
}
