package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hactl/hactl/agentbin/layout"
)

// Nodes whose address is only an alias in the operator's ssh_config, as
// with ssh and Ansible: hactl reaches them through it (HostName), and the
// rest of the lab's ssh_config (its key and known_hosts, by Include) comes
// along. No DNS or hosts file knows these names.
func TestNodesAreReachedByTheirSSHConfigAliases(t *testing.T) {
	c := startCluster(t, "rsync-docroot")
	aliases := map[string]string{"f400": "store-a", "dgx": "store-b"}
	conf := filepath.Join(c.dir, "ssh_config")
	content := "Host store-a\n  HostName 192.168.0.3\nHost store-b\n  HostName 192.168.0.27\nInclude " + c.lab.SSHConfigFile() + "\n"
	if err := os.WriteFile(conf, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	hclPath := filepath.Join(c.dir, "cluster.hcl")
	hcl := mustRead(t, hclPath)
	for node, alias := range aliases {
		block := "node \"" + node + "\" {\n"
		if !strings.Contains(hcl, block) {
			t.Fatalf("cluster.hcl has no %q", block)
		}
		hcl = strings.Replace(hcl, block, block+"  address = \""+alias+"\"\n", 1)
	}
	if err := os.WriteFile(hclPath, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	out := c.mustHactl(0, "apply", "--auto-approve", "--ssh-config", conf)
	for node := range aliases {
		if !strings.Contains(out, node) {
			t.Errorf("apply does not mention %s:\n%s", node, out)
		}
		if got := c.onNode(node, "test -x "+layout.AgentLink+"/"+layout.AgentName+" && echo installed"); strings.TrimSpace(got) != "installed" {
			t.Errorf("%s: no agent after apply through its alias: %q", node, got)
		}
	}
	if out := c.mustHactl(0, "plan", "--ssh-config", conf); !strings.Contains(out, "No changes") {
		t.Errorf("plan after apply through aliases:\n%s", out)
	}
}
