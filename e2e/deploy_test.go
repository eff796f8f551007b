package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/e2e/lab"
	"github.com/hactl/hactl/plan/config"
	_ "github.com/hactl/hactl/providers/all"
)

// cluster is an example copied to a temporary directory (so that tests may
// edit it) with a fresh cluster key, running in a lab.
type cluster struct {
	t   *testing.T
	dir string
	lab *lab.Lab
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the lab needs root (network namespaces); run the suite as root, as CI does")
	}
}

// secretFileAttr matches the attributes that name secret files.
var secretFileAttr = regexp.MustCompile(`(?m)^\s*(key|cert|password|community|auth_password|priv_password)_file\s*=\s*"([^"]+)"`)

// startCluster copies examples/NAME and brings its lab up.
func startCluster(t *testing.T, example string) *cluster {
	t.Helper()
	needRoot(t)
	c := labCluster(t, example, copyExample(t, example), lab.Options{Name: "e2e", Replace: true})
	for node, script := range exampleHosts[example] {
		c.onNode(node, script)
	}
	return c
}

// exampleHosts is, per example, what its hosts hold before hactl comes,
// as the guide's do and the lab's fresh nodes do not: the trees its syncs
// copy (a missing source is a sync failing, which drift reports).
var exampleHosts = map[string]map[string]string{
	"rsync-docroot": {
		"f400": "mkdir -p /var/www/html /var/ftp/pub",
		"dgx":  "mkdir -p /var/www/html /var/ftp/pub",
	},
}

// copyExample copies the .hcl files of examples/NAME (or testdata/NAME)
// to a temporary directory, with throwaway secret files for those it
// names, and returns the directory.
func copyExample(t *testing.T, example string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("..", "examples", example)
	if _, err := os.Stat(src); err != nil {
		src = filepath.Join("testdata", example)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".hcl") {
			data, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	throwawaySecrets(t, dir)
	return dir
}

// throwawaySecrets writes the secret files the configuration in dir names
// and that are not committed (the cluster key, SNMP passphrases, TLS
// keys), with random contents.
func throwawaySecrets(t *testing.T, dir string) {
	t.Helper()
	hcl, err := os.ReadFile(filepath.Join(dir, "cluster.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range secretFileAttr.FindAllStringSubmatch(string(hcl), -1) {
		path := filepath.Join(dir, m[2])
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(secret)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A proxy loads its certificates: tls/NAME.pem with tls/NAME.key must
	// be a real pair.
	for _, m := range tlsCertAttr.FindAllStringSubmatch(string(hcl), -1) {
		writeCert(t, dir, m[1], m[1]+".example.com")
	}
}

// tlsCertAttr matches the certificates the examples name, tls/NAME.pem.
var tlsCertAttr = regexp.MustCompile(`(?m)^\s*cert_file\s*=\s*"tls/([A-Za-z0-9_-]+)\.pem"`)

// labCluster starts a lab for the configuration in dir (its secrets
// written), named what in errors.
func labCluster(t *testing.T, what, dir string, opts lab.Options) *cluster {
	t.Helper()
	res, diags := config.Load(dir, config.Options{})
	if diags.HasErrors() {
		t.Fatalf("loading %s: %s", what, diags.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, err := lab.Up(ctx, res.Topology, opts)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logAgents(t, l)
		}
		if err := l.Down(context.Background()); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	return &cluster{t: t, dir: dir, lab: l}
}

// logAgents logs the end of each node's agent log, for a test that
// failed: what the agents saw is most of what explains it.
func logAgents(t *testing.T, l *lab.Lab) {
	for _, n := range l.Nodes() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, _ := l.Exec(ctx, n, "tail", "-n", "60", layout.LogPath)
		cancel()
		t.Logf("%s's %s, its end:\n%s", n, layout.LogPath, out)
	}
}

// hactl runs hactl in ctl with the configuration directory and returns its
// output and exit code.
func (c *cluster) hactl(args ...string) (string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	full := append([]string{hactlBin}, args...)
	full = append(full, "-f", c.dir)
	cmd, err := c.lab.Command(ctx, lab.Ctl, full...)
	if err != nil {
		c.t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("hactl %s: %v", strings.Join(args, " "), err)
	}
	return string(out), code
}

// mustHactl runs hactl and fails the test unless it exits with want.
func (c *cluster) mustHactl(want int, args ...string) string {
	c.t.Helper()
	out, code := c.hactl(args...)
	if code != want {
		c.t.Fatalf("hactl %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out)
	}
	return out
}

// onNode runs a shell command on a node.
func (c *cluster) onNode(node, script string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := c.lab.Exec(ctx, node, "sh", "-c", script)
	if err != nil {
		c.t.Fatalf("%s: %v\n%s", node, err, out)
	}
	return string(out)
}

// The core loop on the rsync example: its nodes run no heartbeat role, so
// stopping an agent by hand is a drift to report, not a death that the
// other node answers by fencing (TestLabFencing… covers that).
func TestApplyPlanDriftDestroy(t *testing.T) {
	c := startCluster(t, "rsync-docroot")

	out := c.mustHactl(2, "plan", "--detailed-exitcode")
	for _, want := range []string{"f400:", "dgx:", "+ install agent", "+ sync docroot", "Plan: 2 to install, 0 to change, 0 to remove (of 2 hosts)."} {
		if !strings.Contains(out, want) {
			t.Errorf("first plan lacks %q:\n%s", want, out)
		}
	}
	out = c.mustHactl(0, "apply", "--auto-approve")
	t.Logf("first apply:\n%s", out)
	for _, n := range []string{"f400", "dgx"} {
		st := c.onNode(n, "cat "+layout.StatusPath+"; stat -c %a "+layout.SpecPath)
		if !strings.Contains(st, `"healthy": true`) || !strings.Contains(st, "\n600\n") {
			t.Errorf("%s after apply: want a healthy agent and a 0600 spec:\n%s", n, st)
		}
	}

	out = c.mustHactl(0, "plan", "--detailed-exitcode")
	if !strings.Contains(out, "No changes") {
		t.Errorf("plan after apply:\n%s", out)
	}
	out = c.mustHactl(0, "apply", "--auto-approve")
	if !strings.Contains(out, "No changes") || strings.Contains(out, "upload") {
		t.Errorf("second apply changed something:\n%s", out)
	}

	// One attribute changes: the plan names exactly that change.
	editFile(t, filepath.Join(c.dir, "cluster.hcl"), `delete   = true`, `delete   = false`)
	out = c.mustHactl(2, "plan", "--detailed-exitcode")
	if !strings.Contains(out, "~ sync docroot: delete true → false") || strings.Count(out, "update spec") != 1 {
		t.Errorf("plan after editing delete:\n%s", out)
	}
	if strings.Contains(out, "install agent") || strings.Contains(out, "secret") {
		t.Errorf("plan after editing failback plans more than the spec:\n%s", out)
	}
	c.mustHactl(0, "apply", "--auto-approve")
	c.mustHactl(0, "plan", "--detailed-exitcode")

	// Hand changes: drift sees them, apply repairs them.
	c.onNode("dgx", "rm "+layout.SpecPath)
	c.onNode("f400", "kill $(cat "+layout.PidFile+"); sleep 1")
	out = c.mustHactl(2, "drift")
	t.Logf("drift after hand changes:\n%s", out)
	if !strings.Contains(out, "dgx: [drift] spec file deleted") || !strings.Contains(out, "f400: [drift] agent not running") {
		t.Errorf("drift:\n%s", out)
	}
	md := c.mustHactl(2, "drift", "--format", "markdown")
	if !strings.Contains(md, "| dgx | drift | spec file deleted |") {
		t.Errorf("markdown drift:\n%s", md)
	}
	c.mustHactl(0, "apply", "--auto-approve")
	c.mustHactl(0, "drift")
	// f400 pushes the sync modules and dgx receives them: both run the
	// sync role, healthy once repaired.
	out = c.mustHactl(0, "status")
	if !regexp.MustCompile(`f400 +yes +dev +yes +yes +sync +yes +-`).MatchString(out) ||
		!regexp.MustCompile(`dgx +yes +dev +yes +yes +sync +yes +-`).MatchString(out) {
		t.Errorf("status after repair:\n%s", out)
	}

	// Destroy leaves nothing of hactl on the nodes, and is idempotent.
	out = c.mustHactl(0, "destroy", "--auto-approve")
	if !strings.Contains(out, "- remove hactl") || !strings.Contains(out, "Destroy complete: hactl removed from 2 hosts (dgx, f400).") {
		t.Errorf("destroy:\n%s", out)
	}
	for _, n := range []string{"f400", "dgx"} {
		left := c.onNode(n, "ls -d "+strings.Join(layout.Owned(), " ")+" 2>/dev/null; pgrep -x "+layout.AgentName+" || true")
		if strings.TrimSpace(left) != "" {
			t.Errorf("%s after destroy still has:\n%s", n, left)
		}
	}
	out = c.mustHactl(0, "destroy", "--auto-approve")
	if !strings.Contains(out, "Nothing to destroy") {
		t.Errorf("second destroy:\n%s", out)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// inlineCommunity is a secret the monitoring example is given inline.
const inlineCommunity = "e2e-inline-c0mmunity"

func TestEveryExampleAppliesAndThenHasNoChanges(t *testing.T) {
	needRoot(t)
	examples, err := filepath.Glob("../examples/*/cluster.hcl")
	if err != nil || len(examples) < 5 {
		t.Fatalf("want the five examples, found %v (%v)", examples, err)
	}
	for _, path := range examples {
		name := filepath.Base(filepath.Dir(path))
		t.Run(name, func(t *testing.T) {
			c := startCluster(t, name)
			if name == "monitoring" {
				// The switch's community inline rather than in a file: it
				// must land on the poller (h2g) just as a file's would.
				editFile(t, filepath.Join(c.dir, "cluster.hcl"), `community_file = "secrets/snmp-community"`, `community      = "`+inlineCommunity+`"`)
			}
			out := c.mustHactl(0, "apply", "--auto-approve")
			if strings.Contains(out, inlineCommunity) {
				t.Errorf("apply printed the inline community:\n%s", out)
			}
			for _, n := range c.lab.Nodes() {
				if st := c.onNode(n, "cat "+layout.StatusPath); !strings.Contains(st, `"healthy": true`) {
					t.Errorf("%s: agent not healthy after apply:\n%s", n, st)
				}
				// Every secret, the cluster key included, is the owner's alone.
				for _, line := range strings.Split(strings.TrimSpace(c.onNode(n, "stat -c '%a %n' "+layout.SecretsDir+"/* 2>/dev/null || true")), "\n") {
					if line != "" && !strings.HasPrefix(line, "600 ") {
						t.Errorf("%s: secret file %s, want mode 600", n, line)
					}
				}
			}
			if name == "monitoring" {
				got := c.onNode("h2g", "stat -c %a "+layout.SecretsDir+"/snmp-switch-community && cat "+layout.SecretsDir+"/snmp-switch-community")
				if got != "600\n"+inlineCommunity {
					t.Errorf("h2g's inline community file (mode, then content): %q, want mode 600 and the community", got)
				}
			}
			out = c.mustHactl(0, "plan", "--detailed-exitcode")
			if !strings.Contains(out, "No changes") {
				t.Errorf("plan after apply:\n%s", out)
			}
			if name == "monitoring" {
				// The notify command's program is on no node of the lab:
				// plan says so for each, rather than the agents' logs when
				// an event comes.
				for _, n := range c.lab.Nodes() {
					if want := `Warning: notify "admin": /usr/local/bin/mail-admin is not an executable program on ` + n; !strings.Contains(out, want) {
						t.Errorf("plan does not warn %q:\n%s", want, out)
					}
				}
			}
		})
	}
}

func TestTamperedHostKeyIsRefusedAndNothingApplied(t *testing.T) {
	c := startCluster(t, "two-node-web")
	kh := c.lab.KnownHostsFile()
	data := mustRead(t, kh)
	lines := strings.Split(data, "\n")
	// Give the first host another host's key: the host now offers a key
	// that does not match.
	var other string
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) == 3 && f[1] == strings.Fields(lines[0])[1] {
			other = f[2]
		}
	}
	if other == "" {
		t.Fatalf("known_hosts has no second key of the same type:\n%s", data)
	}
	first := strings.Fields(lines[0])
	lines[0] = first[0] + " " + first[1] + " " + other
	if err := os.WriteFile(kh, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := c.mustHactl(1, "apply", "--auto-approve")
	if !strings.Contains(out, "host key for") || !strings.Contains(out, "SHA256:") || !strings.Contains(out, "nothing was applied") {
		t.Errorf("apply with a tampered host key:\n%s", out)
	}
	for _, n := range c.lab.Nodes() {
		if left := c.onNode(n, "ls "+layout.ConfigDir+" "+layout.LibDir+" 2>/dev/null || true"); strings.TrimSpace(left) != "" {
			t.Errorf("%s was changed despite the refused host key:\n%s", n, left)
		}
	}
}

func TestLockHeldByAnotherRunIsNamedAndForceUnlockable(t *testing.T) {
	c := startCluster(t, "two-node-web")
	owner := `{"id":"x1","user":"alice","host":"laptop-of-alice","pid":4242,"time":"2026-11-25T10:00:00Z","operation":"apply"}`
	c.onNode("h2g", "mkdir -p "+layout.LockPath+" && echo '"+owner+"' > "+layout.LockPath+"/owner.json")
	out := c.mustHactl(1, "apply", "--auto-approve", "--lock-timeout", "1s")
	if !strings.Contains(out, "alice") || !strings.Contains(out, "laptop-of-alice") {
		t.Errorf("apply against a held lock does not name the holder:\n%s", out)
	}
	// The standby c2g goes first and was applied; h2g, the preferred node,
	// was not.
	if !strings.Contains(out, "c2g: agent healthy") || strings.Contains(out, "h2g: agent healthy") {
		t.Errorf("rolling apply with h2g locked:\n%s", out)
	}
	out = c.mustHactl(0, "force-unlock", "h2g")
	if !strings.Contains(out, "alice") {
		t.Errorf("force-unlock does not say whose lock it removed:\n%s", out)
	}
	c.mustHactl(0, "apply", "--auto-approve")
	c.mustHactl(0, "plan", "--detailed-exitcode")
}

func TestConcurrentAppliesNeverBothChangeAHost(t *testing.T) {
	c := startCluster(t, "two-node-web")
	type result struct {
		out  string
		code int
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			out, code := c.hactl("apply", "--auto-approve", "--lock-timeout", "0s")
			results <- result{out, code}
		}()
	}
	a, b := <-results, <-results
	for _, r := range []result{a, b} {
		if r.code != 0 && !strings.Contains(r.out, "locked by") && !strings.Contains(r.out, "held by") {
			t.Errorf("an apply failed for another reason than the other's lock:\n%s", r.out)
		}
	}
	c.mustHactl(0, "apply", "--auto-approve")
	c.mustHactl(0, "plan", "--detailed-exitcode")
}

func TestApplyKilledMidwayConvergesWhenRunAgain(t *testing.T) {
	c := startCluster(t, "lvs-nat")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd, err := c.lab.Command(ctx, lab.Ctl, hactlBin, "apply", "--auto-approve", "-f", c.dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Dir = ".."
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill hactl as soon as the first host has its agent uploaded: the
	// others are mid-way or untouched, and locks are left behind.
	buf := make([]byte, 64*1024)
	seen := ""
	for !strings.Contains(seen, "upload agent") {
		n, err := stdout.Read(buf)
		if err != nil {
			t.Fatalf("apply ended before uploading an agent:\n%s", seen)
		}
		seen += string(buf[:n])
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	out := c.mustHactl(0, "apply", "--auto-approve")
	t.Logf("apply after the killed one:\n%s", out)
	if out := c.mustHactl(0, "plan", "--detailed-exitcode"); !strings.Contains(out, "No changes") {
		t.Errorf("plan after re-running the killed apply:\n%s", out)
	}
}

func TestSavedPlanIsAppliedOrRefusedWhenStale(t *testing.T) {
	c := startCluster(t, "rsync-docroot")
	planFile := filepath.Join(c.dir, "first.plan")
	out := c.mustHactl(2, "plan", "--detailed-exitcode", "--out", planFile)
	if hint := "hactl apply -f " + c.dir + " " + planFile; !strings.Contains(out, hint) {
		t.Errorf("the saved-plan hint is not %q:\n%s", hint, out)
	}
	out = c.mustHactl(0, "apply", planFile)
	if !strings.Contains(out, "Apply complete") {
		t.Fatalf("applying the saved plan:\n%s", out)
	}
	// A plan made, then a host changed behind it: the plan is refused and
	// nothing is applied.
	editFile(t, filepath.Join(c.dir, "cluster.hcl"), `delete   = true`, `delete   = false`)
	stale := filepath.Join(c.dir, "stale.plan")
	c.mustHactl(2, "plan", "--detailed-exitcode", "--out", stale)
	c.onNode("dgx", "rm "+layout.SpecPath)
	out = c.mustHactl(1, "apply", stale)
	if !strings.Contains(out, "is stale") || !strings.Contains(out, "dgx changed") {
		t.Errorf("a stale plan was not refused as such:\n%s", out)
	}
	if got := c.onNode("f400", "grep -c '\"delete\": true' "+layout.SpecPath+" || true"); strings.TrimSpace(got) != "1" {
		t.Errorf("f400's spec changed although the plan was refused: %s", got)
	}
	// The configuration changed since the plan: refused too.
	fresh := filepath.Join(c.dir, "fresh.plan")
	c.mustHactl(2, "plan", "--detailed-exitcode", "--out", fresh)
	editFile(t, filepath.Join(c.dir, "cluster.hcl"), `checksum = true`, `checksum = false`)
	out = c.mustHactl(1, "apply", fresh)
	if !strings.Contains(out, "configuration of") {
		t.Errorf("a plan of an older configuration was not refused:\n%s", out)
	}
}
