package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/hactl/hactl/plan/internal/hostile"
)

// TestHostileLabelsAreRefusedAtTheLabel feeds every hostile name as the
// label of every kind of block that has one, and wants an error at the
// label itself that says the allowed syntax. On main (before the check)
// every one of these loaded.
func TestHostileLabelsAreRefusedAtTheLabel(t *testing.T) {
	kinds := []struct {
		kind, tmpl string // tmpl has one %s: the quoted label
	}{
		{"node", `node %s {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.9"
  }
}`},
		{"interface", `node "n9" {
  interface %s {
    network = network.lan
    address = "192.168.0.9"
  }
}`},
		{"network", `network %s {
  cidr = "10.9.0.0/24"
}`},
		{"group", `group %s {
  nodes = [node.h2g]
}`},
		{"vip", `group "g9" {
  nodes = [node.h2g]
  vip %s {
    address = "192.168.0.99"
  }
}`},
		{"ocf", `group "g9" {
  nodes = [node.h2g]
  ocf %s {
    type = "Dummy"
  }
}`},
		{"snmp_device", `monitor {
  snmp_device %s {
    address   = "192.168.0.250"
    community = var.community
  }
}
variable "community" {
  default = "public"
}`},
	}
	for _, k := range kinds {
		for _, name := range hostile.Names {
			t.Run(fmt.Sprintf("%s/%q", k.kind, name), func(t *testing.T) {
				label := string(hclwrite.TokensForValue(cty.StringVal(name)).Bytes())
				dir := writeFiles(t, map[string]string{
					"base.hcl":  labelBase,
					"extra.hcl": fmt.Sprintf(k.tmpl, label),
				})
				errs := loadErr(t, dir, Options{})
				for _, d := range errs {
					if strings.HasPrefix(d.Summary, "Invalid "+k.kind+" ") {
						if !strings.Contains(d.Detail, `^[A-Za-z_][A-Za-z0-9_.-]{0,62}$`) {
							t.Errorf("the message does not give the syntax: %s", d.Detail)
						}
						if d.Subject == nil || d.Subject.Filename != filepath.Join(dir, "extra.hcl") || d.Subject.Start.Line != strings.Count(strings.Split(k.tmpl, "%s")[0], "\n")+1 {
							t.Errorf("the error is at %v, not at the label", d.Subject)
						}
						return
					}
				}
				t.Errorf("no Invalid %s error; got %v", k.kind, errs)
			})
		}
	}
}

// TestPlainNamesAreAccepted guards the syntax against refusing what
// operators already write: host names, VLAN devices, underscores.
func TestPlainNamesAreAccepted(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"base.hcl": labelBase,
		"extra.hcl": `node "web-1.example" {
  interface "eth0.100" {
    network = network.lan
    address = "192.168.0.9"
  }
}
group "_g" {
  nodes = [node.h2g]
  vip "www_2" {
    address = "192.168.0.99"
  }
}`,
	})
	mustLoad(t, dir, Options{})
}

const labelBase = `cluster "c" {
  key_file = "cluster.key"
}
network "lan" {
  cidr = "192.168.0.0/24"
}
node "h2g" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.18"
  }
}
`
