package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/layout"
)

// A sensitive OCF parameter reaches the resource agent on the node, and
// nothing else: not the spec, apply's record, the plan or status, which
// only root can read (issue 15, defect 5). Dummy's state parameter stands
// for a password: the agent creates the file it names, which shows that
// the value came through.
func TestSensitiveOCFParamReachesTheAgentOnly(t *testing.T) {
	const value = "/run/resource-agents/dummy-S3cret.state"
	c := webCluster(t, func(s string) string {
		return strings.Replace(s, "    type             = \"Dummy\"\n",
			"    type             = \"Dummy\"\n    params           = { state = sensitive(\""+value+"\") }\n", 1)
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(c.onNode("h2g", "test -e "+value+" && echo started || true"), "started") {
		if time.Now().After(deadline) {
			t.Fatalf("Dummy never created its state file %s: the parameter did not reach it", value)
		}
		time.Sleep(100 * time.Millisecond)
	}
	secret := layout.SecretsDir + "/ocf-web-apache-state"
	if got := c.onNode("h2g", "cat "+secret); got != value {
		t.Errorf("%s holds %q, want the value", secret, got)
	}
	if got := c.onNode("h2g", "stat -c %a "+secret+" "+layout.StatusPath); got != "600\n600\n" {
		t.Errorf("modes of the secret and status.json: %q, want 600 and 600", got)
	}
	sum := sha256.Sum256([]byte(value))
	for _, what := range []string{"S3cret", hex.EncodeToString(sum[:])} {
		if got := c.onNode("h2g", "grep -l "+what+" "+layout.SpecPath+" "+layout.AppliedPath+" "+layout.StatusPath+" || true"); got != "" {
			t.Errorf("%q (the value or its plain SHA-256) is in %s", what, got)
		}
	}
	for _, args := range [][]string{{"plan", "--detailed-exitcode"}, {"plan", "--json"}, {"status"}} {
		out := c.mustHactl(0, args...)
		if strings.Contains(out, "S3cret") {
			t.Errorf("hactl %s shows the value:\n%s", strings.Join(args, " "), out)
		}
	}
	if out := c.mustHactl(0, "status"); !strings.Contains(out, "h2g") {
		t.Errorf("status does not read the nodes' status:\n%s", out)
	}
}
