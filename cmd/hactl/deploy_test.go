package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The hint printed after plan --out repeats the flags apply needs to make
// the same plan (-f, --var…), quoted for the shell, and none of plan's own.
func TestSavedPlanHintRepeatsTheFlagsGiven(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--out", "plan.out"}, "hactl apply plan.out"},
		{[]string{"-f", "dir", "--var", "x=y", "--out", "plan.out"}, "hactl apply -f dir --var x=y plan.out"},
		{[]string{"--var", "msg=hello world", "--var", "q=it's", "--file", "my dir", "--out", "my plan"},
			`hactl apply -f 'my dir' --var 'msg=hello world' --var 'q=it'\''s' 'my plan'`},
		{[]string{"--json", "--detailed-exitcode", "--accept-new-host-keys", "--out=p", "--var-file", "prod.vars"},
			"hactl apply --accept-new-host-keys --var-file prod.vars p"},
		{[]string{"--accept-new-host-keys=false", "--identity", "~/.ssh/id_ed25519", "--out", "p"},
			"hactl apply --accept-new-host-keys=false --identity '~/.ssh/id_ed25519' p"},
	}
	for _, tt := range tests {
		cmd := newPlanCommand()
		if err := cmd.ParseFlags(tt.args); err != nil {
			t.Fatal(err)
		}
		out, _ := cmd.Flags().GetString("out")
		got := shellCommand(slices.Concat([]string{"hactl", "apply"}, givenFlags(cmd.Flags(), "out", "json", "detailed-exitcode"), []string{out})...)
		if got != tt.want {
			t.Errorf("%q:\ngot  %s\nwant %s", tt.args, got, tt.want)
		}
	}
}

// loopbackCluster writes a two-node configuration whose nodes are on a
// loopback port nothing listens on, so that every host fails to be
// observed at once, without any traffic leaving the machine.
func loopbackCluster(t *testing.T, withKey bool) (dir string, args []string) {
	t.Helper()
	dir = t.TempDir()
	src, err := os.ReadFile(goodFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.ReplaceAll(string(src), "  fence \"lab\" {}\n}", "  fence \"lab\" {}\n  address = \"127.0.0.1\"\n}")
	cfg = strings.Replace(cfg, `key_file = "cluster.key"`, "key_file = \"cluster.key\"\n  ssh {\n    port = 1\n  }", 1)
	writeFile(t, dir, "cluster.hcl", []byte(cfg))
	if withKey {
		writeFile(t, dir, "cluster.key", []byte(testKey))
	}
	agent := fakeAgent(t)
	knownHosts := writeFile(t, dir, "known_hosts", nil)
	return dir, []string{"-f", dir, "--agent-binary", agent, "--known-hosts", knownHosts,
		"--identity", filepath.Join(dir, "no-such-key"), "--connect-timeout", "2s"}
}

// A missing secret file is one diagnostic, quoting the line that names it,
// however many nodes need the file: the cluster key (checked as the
// configuration loads) as much as the files read as the nodes' specs are
// compiled (an SNMP community, which every node needs).
func TestPlanReportsAMissingSecretFileOnce(t *testing.T) {
	monitor := "\nmonitor {\n  snmp_device \"sw\" {\n    address        = \"192.168.0.1\"\n    community_file = \"community\"\n  }\n}\n"
	tests := []struct {
		name, add       string
		withKey         bool
		summary, quoted string
	}{
		{"cluster key", "", false, "Error: Cluster key file not found", `3:   key_file = "cluster.key"`},
		{"SNMP community", monitor, true, "Error: Cannot read secret file", `snmp_device "sw" {`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, args := loopbackCluster(t, tt.withKey)
			f, err := os.OpenFile(filepath.Join(dir, "cluster.hcl"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString(tt.add); err != nil {
				t.Fatal(err)
			}
			f.Close()
			code, stdout, stderr := hactl(t, append([]string{"plan"}, args...)...)
			if code != exitError {
				t.Errorf("exit %d; want %d", code, exitError)
			}
			if n := strings.Count(stderr, tt.summary); n != 1 {
				t.Errorf("the missing file is reported %d times; want once:\n%s", n, stderr)
			}
			if strings.Contains(stderr, "source code not available") || !strings.Contains(stderr, tt.quoted) {
				t.Errorf("the diagnostic does not quote the configuration:\n%s", stderr)
			}
			if stdout != "" {
				t.Errorf("plan printed a plan despite the error:\n%s", stdout)
			}
		})
	}
}

// plan --out ends with the apply command that takes the saved plan, with
// the flags the plan was made with; an unreachable host is named once per
// line.
func TestPlanOutHintAndUnreachableHosts(t *testing.T) {
	dir, args := loopbackCluster(t, true)
	out := filepath.Join(dir, "saved plan")
	code, stdout, stderr := hactl(t, append([]string{"plan", "--out", out, "--var-file", "/dev/null"}, args...)...)
	if code != exitError {
		t.Errorf("exit %d; want %d (hosts unreachable)\n%s", code, exitError, stderr)
	}
	for _, node := range []string{"h2g", "c2g"} {
		if !strings.Contains(stdout, node+": cannot be observed: ") || strings.Contains(stdout, node+": cannot be observed: "+node+":") {
			t.Errorf("%s's error does not name it exactly once:\n%s", node, stdout)
		}
	}
	want := shellCommand(slices.Concat([]string{"hactl", "apply"}, args, []string{"--var-file", "/dev/null", out})...)
	if !strings.Contains(stdout, "apply it with:\n  ") {
		t.Fatalf("no apply hint:\n%s", stdout)
	}
	hint := strings.TrimSpace(stdout[strings.Index(stdout, "apply it with:\n  ")+len("apply it with:\n  "):])
	for _, part := range []string{"-f " + dir, "--agent-binary ", "--var-file /dev/null", "--connect-timeout 2s", "'" + out + "'"} {
		if !strings.Contains(hint, part) {
			t.Errorf("hint %q lacks %q (want the flags of %q)", hint, part, want)
		}
	}
}
