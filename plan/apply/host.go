// Package apply executes a plan on the hosts: per host an ordered list of
// titled, idempotent steps (install or upgrade the agent with a link swap,
// upload secrets and the spec atomically, start or restart the service,
// wait until the agent reports the new spec healthy), and destroy. It only
// executes what a plan.Plan says; deciding what to do is package plan's job.
// One exception: a takeover from the daemon a cluster replaces
// (takeover.go) decides its order from what the hosts run at that moment,
// asked just before it changes anything.
package apply

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/remote"
)

// Host is what apply needs of a connection to a host. remote.Client
// provides it over SSH.
type Host interface {
	// Run runs a shell command as root and returns its standard output; a
	// non-zero exit is an error carrying the standard error.
	Run(ctx context.Context, cmd string) ([]byte, error)
	// Upload writes data to dest atomically (temporary file in the same
	// directory, digest checked, renamed) with the mode.
	Upload(ctx context.Context, data []byte, dest string, mode fs.FileMode) error
}

// agentVersionDir is where one agent binary version lives; versions stay
// side by side so that a rollback is a link swap.
func agentVersionDir(sha string) string { return path.Join(layout.AgentDir, sha) }

// swapLinkCmd points the current link at a version atomically (rename of
// a new symlink over the old one) and keeps the three newest versions.
func swapLinkCmd(sha string) string {
	link := layout.AgentLink
	return fmt.Sprintf(`set -e
ln -sfn %[1]s %[2]s.new
mv -T %[2]s.new %[2]s
ln -sfn %[2]s/%[3]s %[4]s
cd %[5]s && ls -1t | grep -v -e '^current' -e '^%[1]s$' | tail -n +3 | xargs -r rm -rf --`,
		remote.Quote(sha), remote.Quote(link), layout.AgentName, remote.Quote(layout.AgentBin), remote.Quote(layout.AgentDir))
}

// unit is the systemd service of the agent. systemd's default start
// limit (5 starts in 10s) would give up for good on an agent that crashes
// in a loop — a cluster member that never comes back by itself — so the
// limit is off, and restarts back off from 100ms to 10s instead
// (RestartSteps and RestartMaxDelaySec need systemd 254; older ones log
// that they do not know them and restart every 100ms). CPUWeight is ten
// times the default, the weight the agent gives its own scheduling group
// where there is no systemd (agentbin's favourGroup, which says why).
const unit = `[Unit]
Description=hactl agent
Documentation=https://github.com/hactl/hactl
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=0

[Service]
ExecStart=` + layout.AgentBin + ` run
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=100ms
RestartSteps=10
RestartMaxDelaySec=10s
CPUWeight=1000

[Install]
WantedBy=multi-user.target
`

// initScript is the agent's SysV init script, for hosts without systemd.
var initScript = initScriptFor(layout.InitPath, layout.AgentBin, layout.PidFile, layout.LogPath, layout.RunDir+" "+layout.StateDir)

// initScriptFor is the init script with its paths: the script's own (its
// supervise command runs under that name, so that the supervisor is
// hactl-agent in ps and pgrep like the agent), the agent's program, the
// supervisor's pid file, the log, and the directories start makes.
//
// Its supervise command is the agent's supervisor, what systemd's
// Restart=always is where systemd runs: it starts the agent, and starts
// it again whenever it exits, after 100ms doubling to 10s, back to 100ms
// after a run of 30s, logging each exit; on TERM or INT it stops the
// agent with TERM, kills it if it still runs 10s later, and exits. It is
// this shell rather than a command of the agent's own binary: that was a
// second Go runtime, 4.5 to 5.4 MiB of PSS on a lab node to wait for a
// child, where this shell takes 0.2.
// wait is the one thing the shell blocks in, and a trapped signal ends a
// wait at once, so the agent is stopped as soon as asked; the shell forks
// only when the agent exits. It starts the agent through the current
// link, so that an agent that dies after an upgrade comes back as the
// new version.
func initScriptFor(script, agent, pidFile, logFile, dirs string) string {
	return strings.NewReplacer("@SCRIPT@", script, "@AGENT@", agent, "@PIDFILE@", pidFile, "@LOG@", logFile, "@DIRS@", dirs,
		"@NAME@", layout.AgentName).Replace(`#!/bin/sh
### BEGIN INIT INFO
# Provides:          @NAME@
# Required-Start:    $network $remote_fs
# Required-Stop:     $network $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: hactl agent
### END INIT INFO
pidfile=@PIDFILE@
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
case "$1" in
start)
  running && exit 0
  mkdir -p @DIRS@
  rm -f "$pidfile"
  setsid @SCRIPT@ supervise >>@LOG@ 2>&1 </dev/null &
  for i in $(seq 50); do [ -s "$pidfile" ] && exit 0; sleep 0.1; done
  echo "the agent's supervisor did not start; see @LOG@" >&2
  exit 1 ;;
supervise)
  echo $$ >"$pidfile"
  trap 'rm -f "$pidfile"' EXIT
  agent= stopping=
  trap 'stopping=1; [ -z "$agent" ] || kill -TERM "$agent" 2>/dev/null' TERM INT
  delay=100
  while [ -z "$stopping" ]; do
    read up _ </proc/uptime
    started=${up%.*}
    @AGENT@ run &
    agent=$!
    [ -z "$stopping" ] || kill -TERM "$agent"
    wait "$agent"
    rc=$?
    if [ -n "$stopping" ]; then
      (sleep 10; kill -KILL "$agent" 2>/dev/null) &
      killer=$!
      wait "$agent"
      kill "$killer" 2>/dev/null
      break
    fi
    agent=
    read up _ </proc/uptime
    [ $((${up%.*} - started)) -le 30 ] || delay=100
    how="exit status $rc"
    [ "$rc" -le 128 ] || how="killed by signal $((rc - 128))"
    echo "@NAME@: $(date -u '+%Y/%m/%d %H:%M:%S') agent exited ($how); restarting in ${delay}ms"
    sleep "$((delay / 1000)).$((delay % 1000 / 100))" &
    wait $!
    kill $! 2>/dev/null
    delay=$((delay * 2))
    [ "$delay" -le 10000 ] || delay=10000
  done ;;
stop)
  running || exit 0
  kill "$(cat "$pidfile")"
  for i in $(seq 100); do running || exit 0; sleep 0.1; done
  echo "the agent did not stop" >&2
  exit 1 ;;
restart)
  "$0" stop && "$0" start ;;
status)
  if running; then echo running; exit 0; fi
  echo stopped; exit 3 ;;
*)
  echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
`)
}

// startCmd starts (or, with restart, restarts) the agent's service: the
// systemd unit where systemd runs; otherwise the SysV init script, enabled
// with update-rc.d where it exists and linked into the lab's boot scripts
// in a hactl lab node, so that the agent starts again at boot.
func startCmd(restart bool) string {
	verb := "start"
	if restart {
		verb = "restart"
	}
	return fmt.Sprintf(`set -e
mkdir -p %[1]s %[2]s
if [ -d /run/systemd/system ]; then
  cat > %[8]s.new <<'HACTL_UNIT_EOF'
%[9]sHACTL_UNIT_EOF
  mv -f %[8]s.new %[8]s
  systemctl daemon-reload
  systemctl enable -q %[3]s
  systemctl %[4]s %[3]s
  exit 0
fi
cat > %[5]s.new <<'HACTL_INIT_EOF'
%[6]sHACTL_INIT_EOF
chmod 755 %[5]s.new
mv -f %[5]s.new %[5]s
if command -v update-rc.d >/dev/null 2>&1; then update-rc.d %[3]s defaults >/dev/null 2>&1 || true; fi
if [ -d %[7]s ]; then mkdir -p %[10]s && ln -sfn %[5]s %[11]s; fi
%[5]s %[4]s`, layout.RunDir, layout.StateDir, layout.AgentName, verb, layout.InitPath, initScript, layout.LabDir, layout.UnitPath, unit, layout.LabBootDir, layout.LabBootLink)
}

// reloadCmd asks a running agent to read its spec now.
func reloadCmd() string {
	return fmt.Sprintf(`if [ -d /run/systemd/system ] && [ -f %[1]s ]; then systemctl reload %[2]s; exit 0; fi
pid=$(sed -n 's/^ *"pid": *\([0-9][0-9]*\).*/\1/p' %[3]s 2>/dev/null)
[ -n "$pid" ] && kill -HUP "$pid" 2>/dev/null
exit 0`, layout.UnitPath, layout.AgentName, layout.StatusPath)
}

// removeCmd stops the agent, releases what it started (its VIPs, the
// groups' services: an agent that stops leaves them running, so that a
// restart is not a failover) and removes everything hactl put on the host
// (layout.Owned). When the release fails it stops there, with the agent's
// program and record still in place, so that destroy can be run again. An
// agent from before the record kept none, and has nothing to release.
func removeCmd() string {
	owned := layout.Owned()
	for i, p := range owned {
		owned[i] = remote.Quote(p)
	}
	return fmt.Sprintf(`set -u
if [ -d /run/systemd/system ] && [ -f %[1]s ]; then
  systemctl disable --now -q %[2]s || true
  rm -f %[1]s
  systemctl daemon-reload
fi
if [ -f %[4]s ]; then
  %[4]s stop || true
  if command -v update-rc.d >/dev/null 2>&1; then update-rc.d -f %[2]s remove >/dev/null 2>&1 || true; fi
fi
if [ -f %[3]s ]; then
  pid=$(cat %[3]s)
  kill "$pid" 2>/dev/null
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
pkill -x %[2]s 2>/dev/null
for i in $(seq 100); do pgrep -x %[2]s >/dev/null 2>&1 || break; sleep 0.1; done
if [ -f %[7]s ] && [ -x %[6]s ] && ! %[6]s release; then
  echo "the resources the agent started were not all released (see above); the agent is stopped, its program and record are kept: stop what is left by hand or fix the cause, then run hactl destroy again" >&2
  exit 1
fi
rm -rf %[5]s
exit 0`, layout.UnitPath, layout.AgentName, layout.PidFile, layout.InitPath, strings.Join(owned, " "), layout.AgentBin, layout.StartedPath)
}
