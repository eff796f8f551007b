package all_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/plan"
	"github.com/hactl/hactl/plan/config"
	"github.com/hactl/hactl/providers"
)

// sensitiveHCL gives an OCF agent's passwords each way the language
// allows: a sensitive variable, sensitive(file()), sensitive("literal"),
// a local computed from a sensitive variable; and one left plain.
const sensitiveHCL = `
variable "repl_passwd" {
  type      = string
  sensitive = true
}
locals {
  dsn = "postgres://rep:${var.repl_passwd}@db"
}
cluster "c" { key_file = "cluster.key" }
network "lan" { cidr = "192.168.0.0/24" }
node "h2g" {
  interface "eth0" {
    network = network.lan
    address = "192.168.0.18"
  }
}
group "db" {
  nodes = [node.h2g]
  ocf "pgsql" {
    type = "pgsql"
    params = {
      rep_mode           = "sync"
      replication_passwd = var.repl_passwd
      monitor_password   = sensitive(trimspace(file("monitor.pw")))
      api_token          = sensitive("Inline-T0ken")
      dsn                = local.dsn
      admin_passwd       = "plain-Adm1n"
    }
  }
}
`

// sensitiveValues are the values that must never be in the spec, the plan
// or its JSON, by parameter.
var sensitiveValues = map[string]string{
	"replication_passwd": "Repl-Pa55-1",
	"monitor_password":   "M0nitor-Pa55",
	"api_token":          "Inline-T0ken",
	"dsn":                "postgres://rep:Repl-Pa55-1@db",
}

// OCF parameters that are passwords were in spec.json, the plan's text
// and JSON, saved plans and the diff of two specs (issue 15, defect 5;
// fails on main, where sensitive values were not set apart and
// sensitive() did not exist). Sensitive ones are carried as secret files,
// the agent gets their paths, and the plan shows "(sensitive)".
func TestSensitiveOCFParamsAreCarriedAsSecrets(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"cluster.hcl": sensitiveHCL, "cluster.key": "0123456789abcdef0123456789abcdef0123456789ab", "monitor.pw": "M0nitor-Pa55\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	load := func(pw string) (*config.Result, hcl.Diagnostics) {
		res, diags := config.Load(filepath.Join(dir, "cluster.hcl"), config.Options{Environ: []string{"HACTL_VAR_repl_passwd=" + pw}})
		if diags.HasErrors() {
			t.Fatalf("loading: %s", diags.Error())
		}
		return res, diags
	}
	res, diags := load("Repl-Pa55-1")

	// Warnings: the plain password-looking parameter, the literal secret
	// (masked in the printed snippet), and nothing about the others.
	warned := map[string]bool{}
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning {
			warned[d.Summary] = true
		}
	}
	for _, w := range []string{"params.admin_passwd looks like a secret", "Secret written inline"} {
		if !warned[w] {
			t.Errorf("no warning %q; got %v", w, warned)
		}
	}
	for _, w := range []string{"params.rep_mode looks like a secret", "params.replication_passwd looks like a secret", "Sensitive value in params"} {
		if warned[w] {
			t.Errorf("unexpected warning %q", w)
		}
	}
	var diagText bytes.Buffer
	if err := config.WriteDiagnostics(&diagText, res.Files, diags, 100, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(diagText.String(), "Inline-T0ken") {
		t.Errorf("the warnings show a literal secret:\n%s", diagText.String())
	}

	compile := func(res *config.Result) *plan.Desired {
		n := res.Topology.Nodes[0]
		sp, files, d := providers.CompileNode(res.Topology, n, dir)
		if d.HasErrors() {
			t.Fatalf("compiling: %s", d.Error())
		}
		data, err := sp.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return &plan.Desired{Node: n.Name, Spec: sp, SpecJSON: data, SpecHash: spec.HashBytes(data), Secrets: files}
	}
	d := compile(res)
	r := d.Spec.Groups[0].Resources[0]
	if r.Params["rep_mode"] != "sync" || r.Params["admin_passwd"] != "plain-Adm1n" || len(r.Params) != 2 {
		t.Errorf("plain params %v", r.Params)
	}
	for k, want := range sensitiveValues {
		path := r.SecretParams[k]
		if path != layout.SecretsDir+"/ocf-db-pgsql-"+k {
			t.Errorf("secret param %s at %q", k, path)
		}
		if got := string(d.Secrets[path]); got != want {
			t.Errorf("secret param %s uploads %q, want %q", k, got, want)
		}
	}

	// The same configuration with another replication password: the spec
	// changes (the digest), and neither value is shown.
	res2, _ := load("Repl-Pa55-2")
	d2 := compile(res2)
	if d2.SpecHash == d.SpecHash {
		t.Error("a new password does not change the spec")
	}
	observed := &plan.Observed{Node: d.Node, AgentInstalled: true, AgentRunning: true, SpecHash: d.SpecHash, Spec: d.Spec, SecretHashes: map[string]string{}}
	for p, data := range d.Secrets {
		observed.SecretHashes[p] = spec.HashBytes(data)
	}
	observed.KeySecretHashes(spec.DigestKey([]byte("0123456789abcdef0123456789abcdef0123456789ab")))
	outputs := map[string]string{"spec": string(d.SpecJSON), "new spec": string(d2.SpecJSON)}
	for name, p := range map[string]*plan.Plan{
		"first plan":  plan.Compute([]*plan.Desired{d}, map[string]*plan.Observed{d.Node: {Node: d.Node}}),
		"change plan": plan.Compute([]*plan.Desired{d2}, map[string]*plan.Observed{d.Node: observed}),
	} {
		var text, js bytes.Buffer
		p.WriteText(&text, plan.Styles{})
		if err := plan.WriteJSON(&js, p.Save([]*plan.Desired{d2})); err != nil {
			t.Fatal(err)
		}
		outputs[name] = text.String()
		outputs[name+" JSON"] = js.String()
	}
	outputs["diff"] = strings.Join(plan.DiffSpecs(d.Spec, d2.Spec), "\n")
	before, err := spec.Parse(d.SpecJSON)
	if err != nil {
		t.Fatal(err)
	}
	before.Groups[0].Resources[0].SecretParams = nil
	outputs["diff from plain"] = strings.Join(plan.DiffSpecs(before, d2.Spec), "\n")
	for what, out := range outputs {
		for k, v := range sensitiveValues {
			for _, secret := range []string{v, "Repl-Pa55-2"} {
				if strings.Contains(out, secret) {
					t.Errorf("the %s shows the value of %s:\n%s", what, k, out)
				}
			}
		}
	}
	if !strings.Contains(outputs["diff from plain"], "replication_passwd=(sensitive)") {
		t.Errorf("the diff does not show the secret parameter as (sensitive):\n%s", outputs["diff from plain"])
	}
	if !strings.Contains(outputs["change plan"], "ocf-db-pgsql-replication_passwd") || strings.Contains(outputs["change plan"], "ocf-db-pgsql-monitor_password") {
		t.Errorf("the plan does not say which secret changed, or names one that did not:\n%s", outputs["change plan"])
	}
}

// A sensitive value where nothing keeps it secret is warned about.
func TestSensitiveValueInAPlainAttributeIsWarnedAbout(t *testing.T) {
	dir := t.TempDir()
	src := `
variable "addr" {
  default   = "192.168.0.18"
  sensitive = true
}
cluster "c" { key_file = "cluster.key" }
network "lan" { cidr = "192.168.0.0/24" }
node "h2g" {
  interface "eth0" {
    network = network.lan
    address = var.addr
  }
}
`
	for name, data := range map[string]string{"cluster.hcl": src, "cluster.key": "0123456789abcdef0123456789abcdef0123456789ab"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	res, diags := config.Load(filepath.Join(dir, "cluster.hcl"), config.Options{Environ: []string{}})
	if diags.HasErrors() {
		t.Fatalf("loading: %s", diags.Error())
	}
	if got := res.Topology.Nodes[0].Interfaces[0].Address.Addr().String(); got != "192.168.0.18" {
		t.Errorf("address %s", got)
	}
	for _, d := range diags {
		if d.Summary == "Sensitive value in address" && d.Subject != nil && d.Subject.Start.Line == 1+strings.Count(src[:strings.Index(src, "address = var.addr")], "\n") {
			return
		}
	}
	t.Errorf("no warning at the address; got %v", diags)
}
