package apply

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/status"
	"github.com/hactl/hactl/remote"
)

// A takeover replaces the HA daemon a pair runs today (the cluster's
// takes_over) with hactl's agents without a second holder of a VIP and
// without a gap longer than one failover. The daemon is stopped cleanly
// where it holds nothing, so that it cannot take a VIP later; the node
// that holds the VIPs gets its agent first, which adopts the addresses
// already there (adding an address a host has changes nothing), and the
// daemon there is killed, not stopped, once the agent runs the groups: a
// clean stop of keepalived or of Heartbeat's IPaddr resources removes the
// VIPs. The other nodes' agents start last and find the groups running.

// daemon is how a takeover finds and ends one kind of old daemon.
type daemon struct {
	// service is its systemd unit and SysV init script.
	service string
	// process is the name (comm) of every one of its processes: its
	// children (keepalived's VRRP and checker processes, Heartbeat's
	// readers and writers) carry it too.
	process string
	// helpers are the names of the processes it starts that would act
	// on the cluster without it (Heartbeat's CRM and its ipfail): killed
	// with it.
	helpers []string
	// watchdogConf, when set, is its configuration, whose watchdog
	// directive makes the kernel reboot the host when the daemon dies.
	watchdogConf string
}

var daemons = map[string]daemon{
	"keepalived": {service: "keepalived", process: "keepalived"},
	"heartbeat": {service: "heartbeat", process: "heartbeat", watchdogConf: "/etc/ha.d/ha.cf",
		helpers: []string{"ipfail", "ccm", "cib", "crmd", "lrmd", "pengine", "stonithd", "attrd", "mgmtd"}},
}

func daemonOf(name string) (daemon, error) {
	d, ok := daemons[name]
	if !ok {
		return daemon{}, fmt.Errorf("hactl cannot take over from %q (it knows %s)", name, strings.Join(slices.Sorted(maps.Keys(daemons)), ", "))
	}
	return d, nil
}

// HostState is what a takeover found on one host before changing anything.
type HostState struct {
	// Runs says whether the old daemon runs.
	Runs bool
	// Addrs are the host's addresses.
	Addrs []netip.Addr
	// Watchdog says whether the daemon's configuration asks for the
	// kernel watchdog.
	Watchdog bool
	// AgentRuns says whether hactl's agent runs (from the plan: no
	// start of the agent is planned).
	AgentRuns bool
}

// InspectCmd asks a host whether the daemon runs and which addresses it
// has; ParseInspect reads the answer.
func InspectCmd(name string) (string, error) {
	d, err := daemonOf(name)
	if err != nil {
		return "", err
	}
	cmd := fmt.Sprintf("pgrep -x %s >/dev/null && echo runs=1\nip -o addr show | while read -r _ _ _ addr _; do echo \"addr=$addr\"; done\n", remote.Quote(d.process))
	if d.watchdogConf != "" {
		cmd += fmt.Sprintf("grep -Eq '^[[:space:]]*watchdog[[:space:]]' %s 2>/dev/null && echo watchdog=1\n", remote.Quote(d.watchdogConf))
	}
	return cmd + "exit 0", nil
}

// ParseInspect reads InspectCmd's output.
func ParseInspect(out []byte) (HostState, error) {
	var st HostState
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), "=")
		switch key {
		case "runs":
			st.Runs = true
		case "watchdog":
			st.Watchdog = true
		case "addr":
			p, err := netip.ParsePrefix(val)
			if err != nil {
				return st, fmt.Errorf("reading the host's addresses: %w", err)
			}
			st.Addrs = append(st.Addrs, p.Addr())
		}
	}
	return st, sc.Err()
}

// Takeover is the order of a takeover.
type Takeover struct {
	// Holder holds every VIP of the cluster: its agent starts first,
	// then its old daemon is killed.
	Holder string
	// Stop are the other nodes where the old daemon runs: it is stopped
	// there before anything else.
	Stop []string
	// Groups are the groups whose VIPs Holder holds: its agent must run
	// them before the old daemon there is killed.
	Groups []string
}

// PlanTakeover decides how to take over from the daemon name, from what
// every node runs (states) and the VIPs of each group that each node's
// spec may run (vips: node → group → addresses). It returns nil when the
// daemon runs on no node (there is nothing to take over: the attribute
// changes nothing), and an error, before anything is changed, when the
// hosts are not a healthy active/passive pair of that daemon.
func PlanTakeover(name string, nodes []string, states map[string]HostState, vips map[string]map[string][]netip.Prefix) (*Takeover, error) {
	d, err := daemonOf(name)
	if err != nil {
		return nil, err
	}
	var running []string
	for _, n := range nodes {
		if states[n].Runs {
			running = append(running, n)
		}
	}
	if len(running) == 0 {
		return nil, nil
	}
	all := map[netip.Addr]bool{}
	for _, groups := range vips {
		for _, addrs := range groups {
			for _, a := range addrs {
				all[a.Addr()] = true
			}
		}
	}
	var problems []string
	if len(all) == 0 {
		problems = append(problems, "the configuration has no VIP, and a takeover hands VIPs over")
	}
	holders := map[string][]netip.Addr{}
	for _, a := range slices.SortedFunc(maps.Keys(all), netip.Addr.Compare) {
		var on []string
		for _, n := range nodes {
			if slices.Contains(states[n].Addrs, a) {
				on = append(on, n)
			}
		}
		switch len(on) {
		case 0:
			problems = append(problems, fmt.Sprintf("no node holds the VIP %s: the old pair does not serve it", a))
		case 1:
			holders[on[0]] = append(holders[on[0]], a)
		default:
			problems = append(problems, fmt.Sprintf("the VIP %s is on %s at once", a, strings.Join(on, " and ")))
		}
	}
	if len(holders) > 1 {
		var parts []string
		for _, n := range nodes {
			if hv := holders[n]; len(hv) > 0 {
				parts = append(parts, fmt.Sprintf("%s holds %s", n, joinAddrs(hv)))
			}
		}
		problems = append(problems, fmt.Sprintf("the VIPs are spread over several nodes (%s): a takeover needs one node holding them all, as an active/passive pair has them; move them to one node with %s first", strings.Join(parts, ", "), name))
	}
	t := &Takeover{}
	for n := range holders {
		t.Holder = n
	}
	if len(problems) == 0 && t.Holder != "" {
		h, st := t.Holder, states[t.Holder]
		if !st.Runs && !st.AgentRuns {
			problems = append(problems, fmt.Sprintf("%s holds the VIPs, but neither %s nor hactl's agent runs there: something else put them there", h, name))
		}
		if st.Runs && st.Watchdog {
			problems = append(problems, fmt.Sprintf("%s on %s uses the kernel watchdog (%s): killing it would reboot %s; remove the watchdog directive and restart %s on the standby, then fail over to it and back, before migrating", name, h, d.watchdogConf, h, name))
		}
		for _, a := range holders[h] {
			g := groupOf(vips[h], a)
			if g == "" {
				problems = append(problems, fmt.Sprintf("%s holds the VIP %s, but the configuration runs no group with it on %s", h, a, h))
				continue
			}
			if !slices.Contains(t.Groups, g) {
				t.Groups = append(t.Groups, g)
			}
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("cannot take over from %s (takes_over), nothing was changed: %s. Bring the old pair back to one node holding every VIP with %s running on the nodes, or, if it no longer runs anywhere that matters, stop it everywhere and apply again", name, strings.Join(problems, "; "), name)
	}
	for _, n := range running {
		if n != t.Holder {
			t.Stop = append(t.Stop, n)
		}
	}
	return t, nil
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// groupOf names the group whose VIPs include a, or "".
func groupOf(groups map[string][]netip.Prefix, a netip.Addr) string {
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		for _, p := range groups[g] {
			if p.Addr() == a {
				return g
			}
		}
	}
	return ""
}

// StopCmd stops the daemon cleanly and disables it, on a node that holds
// no VIP: through systemd where it runs the daemon's unit, else its init
// script; then whatever is left of it (a daemon started by hand) gets
// SIGTERM at its main process, and the command waits until it is gone.
func StopCmd(name string) (string, error) {
	d, err := daemonOf(name)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`set -u
svc=%[1]s proc=%[2]s
if [ -d /run/systemd/system ] && systemctl cat "$svc" >/dev/null 2>&1; then
  systemctl disable -q --now "$svc"
elif [ -x /etc/init.d/$svc ]; then
  /etc/init.d/$svc stop >/dev/null 2>&1
  if command -v update-rc.d >/dev/null 2>&1; then update-rc.d "$svc" disable >/dev/null 2>&1; fi
fi
pgrep -x "$proc" >/dev/null && pkill -TERM -o -x "$proc"
for i in $(seq 600); do pgrep -x "$proc" >/dev/null || exit 0; sleep 0.1; done
echo "$proc still runs 60s after it was asked to stop (pids $(pgrep -d' ' -x "$proc"))" >&2
exit 1`, remote.Quote(d.service), remote.Quote(d.process)), nil
}

// KillCmd disables the daemon and kills every one of its processes at
// once with SIGKILL, on the node whose agent now holds the VIPs: it gets
// no chance to release them. Only its own processes are killed, not its
// unit's whole cgroup, where a service it started may run. A daemon that
// comes back (a unit with Restart=) is an error.
func KillCmd(name string) (string, error) {
	d, err := daemonOf(name)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`set -u
svc=%[1]s proc=%[2]s
systemd=0
if [ -d /run/systemd/system ] && systemctl cat "$svc" >/dev/null 2>&1; then
  systemd=1
  systemctl disable -q "$svc"
elif [ -x /etc/init.d/$svc ] && command -v update-rc.d >/dev/null 2>&1; then
  update-rc.d "$svc" disable >/dev/null 2>&1
fi
pkill -KILL -x "$proc"
for p in %[3]s; do pkill -KILL -x "$p"; done
for i in $(seq 50); do pgrep -x "$proc" >/dev/null || break; sleep 0.1; done
sleep 1
if pgrep -x "$proc" >/dev/null; then
  echo "$proc runs again after it was killed (pids $(pgrep -d' ' -x "$proc")): its service restarts it; stop that, then apply again" >&2
  exit 1
fi
if [ $systemd = 1 ]; then systemctl reset-failed "$svc" 2>/dev/null; fi
exit 0`, remote.Quote(d.service), remote.Quote(d.process), strings.Join(d.helpers, " ")), nil
}

// WaitRunning polls the agent of node until it reports every one of
// groups running there.
func WaitRunning(ctx context.Context, h Host, node string, groups []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "no status yet"
	for {
		out, err := h.Run(ctx, "cat "+remote.Quote(layout.StatusPath)+" 2>/dev/null || true")
		if err == nil {
			var st status.Status
			if json.Unmarshal(out, &st) == nil {
				why := notRunning(&st, node, groups)
				if why == "" {
					return nil
				}
				last = why
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the agent on %s did not run %s within %s (%s)", node, strings.Join(groups, ", "), timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// notRunning says which of groups the status does not show running on
// node, or "".
func notRunning(st *status.Status, node string, groups []string) string {
	if st.Heartbeat == nil {
		return "the agent reports no groups yet"
	}
	var why []string
	for _, name := range groups {
		i := slices.IndexFunc(st.Heartbeat.Groups, func(g status.Group) bool { return g.Name == name })
		switch {
		case i < 0:
			why = append(why, name+" is not in its status")
		case st.Heartbeat.Groups[i].State != "running" || !slices.Equal(st.Heartbeat.Groups[i].RunningOn, []string{node}):
			g := st.Heartbeat.Groups[i]
			w := fmt.Sprintf("%s is %s", name, g.State)
			if g.Waiting != "" {
				w += ": " + g.Waiting
			}
			why = append(why, w)
		}
	}
	return strings.Join(why, "; ")
}
