// Package observe finds out what a host runs: one POSIX shell probe per
// host, over SSH, whose key=value output becomes a plan.Observed. The probe
// needs nothing of hactl on the host, so it works before the first apply
// and after a destroy.
package observe

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
	"github.com/hactl/hactl/plan"
	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/remote"
)

const probeMarker = "hactl-probe=1"

// Script is the probe. Its output is one key=value per line; values that
// may hold anything are base64.
var Script = `set -u
echo ` + probeMarker + `
echo "hostname=$(hostname)"
echo "kernel=$(uname -r)"
echo "arch=$(uname -m)"
a=` + layout.AgentLink + `/` + layout.AgentName + `
if [ -x "$a" ]; then
  echo "agent_sha256=$(sha256sum "$a" | cut -d' ' -f1)"
  echo "agent_version=$("$a" version 2>/dev/null | cut -d' ' -f2)"
fi
if [ -f ` + layout.SpecPath + ` ]; then
  echo "spec_sha256=$(sha256sum ` + layout.SpecPath + ` | cut -d' ' -f1)"
  echo "spec_b64=$(base64 -w0 ` + layout.SpecPath + `)"
fi
for f in ` + layout.SecretsDir + `/*; do
  [ -f "$f" ] && echo "secret=$f $(sha256sum "$f" | cut -d' ' -f1)"
done
running=0
if [ -d /run/systemd/system ] && [ -f ` + layout.UnitPath + ` ]; then
  systemctl is-active -q ` + layout.AgentName + ` && running=1
elif [ -f ` + layout.StatusPath + ` ]; then
  pid=$(sed -n 's/^ *"pid": *\([0-9][0-9]*\).*/\1/p' ` + layout.StatusPath + `)
  [ -n "$pid" ] && [ "$(cat /proc/$pid/comm 2>/dev/null)" = ` + layout.AgentName + ` ] && running=1
fi
echo "agent_running=$running"
[ -f ` + layout.StatusPath + ` ] && echo "status_b64=$(base64 -w0 ` + layout.StatusPath + `)"
[ -f ` + layout.AppliedPath + ` ] && echo "applied_b64=$(base64 -w0 ` + layout.AppliedPath + `)"
{ [ -e /proc/net/ip_vs ] || modprobe -n -q ip_vs 2>/dev/null; } && echo ipvs=1
command -v nft >/dev/null 2>&1 && echo nftables=1
{ [ -d /sys/module/nf_flow_table_inet ] || modprobe -n -q nf_flow_table_inet 2>/dev/null || grep -qs '/nf_flow_table_inet.ko' "/lib/modules/$(uname -r)/modules.builtin"; } && echo flowtable=1
[ -d /run/systemd/system ] && echo systemd=1
command -v rsync >/dev/null 2>&1 && echo rsync=1
{ command -v snmpd >/dev/null 2>&1 || [ -x /usr/sbin/snmpd ]; } && echo snmpd=1
ip -o addr show 2>/dev/null | while read -r _ dev fam addr rest; do
  case " $rest " in
  *" secondary "*) echo "addr=$dev $addr secondary" ;;
  *) echo "addr=$dev $addr" ;;
  esac
done
exit 0
`

// ScriptFor is the probe for a node of t: Script, preceded by a check of
// each notify command's program (plan warns about one that is missing,
// which the agent would otherwise find only when an event comes), and
// with sync blocks, of rsync and rrsync (plan.Rsync, plan.Rrsync), which a
// sync's source and targets run.
func ScriptFor(t *topology.Topology) string {
	var progs, quoted []string
	add := func(p string) {
		if p != "" && !slices.Contains(progs, p) {
			progs, quoted = append(progs, p), append(quoted, remote.Quote(p))
		}
	}
	for _, n := range t.Notifies {
		add(plan.NotifyProgram(n.Command))
	}
	if len(t.SyncModules) > 0 {
		add(plan.Rsync)
		add(plan.Rrsync)
	}
	if len(progs) == 0 {
		return Script
	}
	// An absolute path must be an executable file; a bare name is looked
	// up in PATH, as the agent's exec does.
	return `for p in ` + strings.Join(quoted, " ") + `; do
  case "$p" in
  /*) { [ -f "$p" ] && [ -x "$p" ]; } && echo "program=1 $p" || echo "program=0 $p" ;;
  *) command -v "$p" >/dev/null 2>&1 && echo "program=1 $p" || echo "program=0 $p" ;;
  esac
done
` + Script
}

// Parse turns the probe's output into an observation of node.
func Parse(node string, out []byte) (*plan.Observed, error) {
	o := &plan.Observed{Node: node, SecretHashes: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	seenMarker := false
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch key {
		case "hactl-probe":
			seenMarker = true
		case "hostname":
			o.Facts.Hostname = val
		case "kernel":
			o.Facts.Kernel = val
		case "arch":
			o.Facts.Arch = val
		case "agent_sha256":
			o.AgentInstalled, o.AgentSHA256 = true, val
		case "agent_version":
			o.AgentVersion = val
		case "agent_running":
			o.AgentRunning = val == "1"
		case "spec_sha256":
			o.SpecHash = val
		case "spec_b64":
			// A spec the planner cannot read is still replaced; the plan
			// then says only that it changes, not how.
			if data, err := base64.StdEncoding.DecodeString(val); err == nil {
				if s, err := spec.Parse(data); err == nil {
					o.Spec = s
				}
			}
		case "secret":
			path, sum, _ := strings.Cut(val, " ")
			o.SecretHashes[path] = sum
		case "status_b64":
			var st status.Status
			if decodeJSON(val, &st) {
				o.Status = &st
			}
		case "applied_b64":
			var a plan.Applied
			if decodeJSON(val, &a) {
				o.Applied = &a
			}
		case "ipvs":
			o.Facts.IPVS = true
		case "nftables":
			o.Facts.NFTables = true
		case "flowtable":
			o.Facts.Flowtable = true
		case "systemd":
			o.Facts.Systemd = true
		case "rsync":
			o.Facts.Rsync = true
		case "snmpd":
			o.Facts.SNMPD = true
		case "addr":
			o.Facts.Addrs = append(o.Facts.Addrs, val)
		case "program":
			found, prog, _ := strings.Cut(val, " ")
			if o.Facts.Programs == nil {
				o.Facts.Programs = map[string]bool{}
			}
			o.Facts.Programs[prog] = found == "1"
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading probe output of %s: %w", node, err)
	}
	if !seenMarker {
		return nil, fmt.Errorf("host %s answered the probe with something else (is the login shell POSIX?): %.200q", node, out)
	}
	return o, nil
}

// decodeJSON decodes base64-wrapped JSON into v. A damaged file reads as
// absent: the plan then replaces it.
func decodeJSON(b64 string, v any) bool {
	data, err := base64.StdEncoding.DecodeString(b64)
	return err == nil && json.Unmarshal(data, v) == nil
}
