package observe

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/plan"
)

// render writes o back as the probe would print it.
func render(t *testing.T, o *plan.Observed) []byte {
	t.Helper()
	lines := []string{probeMarker, "hostname=" + o.Facts.Hostname, "kernel=" + o.Facts.Kernel, "arch=" + o.Facts.Arch}
	add := func(cond bool, line string) {
		if cond {
			lines = append(lines, line)
		}
	}
	b64 := func(v any) string {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("marshal %T: %v", v, err)
		}
		return base64.StdEncoding.EncodeToString(data)
	}
	add(o.AgentInstalled, "agent_sha256="+o.AgentSHA256)
	add(o.AgentVersion != "", "agent_version="+o.AgentVersion)
	add(o.AgentRunning, "agent_running=1")
	add(o.SpecHash != "", "spec_sha256="+o.SpecHash)
	add(o.Spec != nil, "spec_b64="+b64(o.Spec))
	for _, p := range slices.Sorted(maps.Keys(o.SecretHashes)) {
		lines = append(lines, "secret="+p+" "+o.SecretHashes[p])
	}
	add(o.Status != nil, "status_b64="+b64(o.Status))
	add(o.Applied != nil, "applied_b64="+b64(o.Applied))
	add(o.Facts.IPVS, "ipvs=1")
	add(o.Facts.NFTables, "nftables=1")
	add(o.Facts.Flowtable, "flowtable=1")
	add(o.Facts.Systemd, "systemd=1")
	add(o.Facts.Rsync, "rsync=1")
	add(o.Facts.SNMPD, "snmpd=1")
	for _, a := range o.Facts.Addrs {
		lines = append(lines, "addr="+a)
	}
	for _, p := range slices.Sorted(maps.Keys(o.Facts.Programs)) {
		found := "0"
		if o.Facts.Programs[p] {
			found = "1"
		}
		lines = append(lines, "program="+found+" "+p)
	}
	return []byte(strings.Join(lines, "\n") + "\n")
}

// FuzzParse feeds Parse what a host can print: a broken or hostile host
// shapes all of it, including the base64 JSON of its spec, status and
// applied record. The property beyond not panicking: what Parse reads,
// written back as the probe prints it, reads back the same.
func FuzzParse(f *testing.F) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	spec := `{"format_version":1,"cluster":"web","node":"h2g","heartbeat":{"interval_ms":200,"warntime_ms":1000,"deadtime_ms":2000,"initdead_ms":4000,"port":694,"key_path":"/etc/hactl/secrets/cluster-key","links":[{"name":"lan","interface":"eth1","local":"192.168.1.31","mode":"unicast","peers":{"c2g":"192.168.1.32"}}],"members":["h2g","c2g"]}}`
	status := `{"agent_version":"v0.4.0","pid":812,"healthy":true,"spec_hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","updated":"2026-11-30T10:00:00Z","roles":[{"name":"heartbeat","state":"running"}]}`
	applied := `{"spec_hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","agent_sha256":"ff","secrets":{"` + layout.SecretsDir + `/cluster-key":"0123"}}`
	for _, seed := range []string{
		strings.Join([]string{
			"program=1 /usr/local/bin/notify-ops", "program=0 mail",
			probeMarker, "hostname=h2g", "kernel=6.1.0-28-amd64", "arch=x86_64",
			"agent_sha256=ff", "agent_version=v0.4.0", "spec_sha256=9f86", "spec_b64=" + enc(spec),
			"secret=" + layout.SecretsDir + "/cluster-key 0123", "agent_running=1",
			"status_b64=" + enc(status), "applied_b64=" + enc(applied),
			"nftables=1", "systemd=1", "rsync=1",
			"addr=eth0 192.168.0.31/24", "addr=eth0 192.168.0.33/24 secondary", "addr=eth1 fe80::1/64",
		}, "\n"),
		"Welcome to h2g!\r\n" + probeMarker + "\r\nhostname=h2g\r\nagent_running=0\r\n",
		probeMarker + "\nspec_b64=not base64\nstatus_b64=" + enc("[1,2]") + "\napplied_b64=" + enc("null") + "\n",
		probeMarker + "\nspec_b64=" + enc(`{"format_version":1,"cluster":"c","node":"n","bogus":1}`) + "\nsecret=/x\nprogram=1\n",
		"This account is currently not available.\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		o, err := Parse("n1", out)
		if err != nil {
			marked := slices.ContainsFunc(strings.Split(string(out), "\n"), func(l string) bool { return strings.HasPrefix(l, "hactl-probe=") })
			if marked && len(out) < 1<<20 {
				t.Fatalf("output with the marker refused: %v", err)
			}
			return
		}
		if o.Node != "n1" {
			t.Fatalf("node %q", o.Node)
		}
		again, err := Parse("n1", render(t, o))
		if err != nil {
			t.Fatalf("the rendered observation does not parse: %v", err)
		}
		if !reflect.DeepEqual(o, again) {
			t.Fatalf("parse → render → parse changed the observation:\n%#v\n%#v", o, again)
		}
	})
}
