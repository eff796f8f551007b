package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/plan/topology"
)

// writeFiles writes files (name → content) into a new directory and
// returns it.
// testKey is a key file's content that the agent accepts.
const testKey = "dGhpcyBpcyBhIHRlc3Qga2V5IG9mIHRoaXJ0eS10d28gYnl0ZXM=\n"

// writeFiles writes files into a temporary directory, and a cluster.key
// next to every .hcl file, as key_file = "cluster.key" needs.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".hcl") {
			if err := os.WriteFile(filepath.Join(filepath.Dir(p), "cluster.key"), []byte(testKey), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// mustLoad loads path and fails the test on any diagnostic.
func mustLoad(t *testing.T, path string, opts Options) *topology.Topology {
	t.Helper()
	if opts.Environ == nil {
		opts.Environ = []string{}
	}
	res, diags := Load(path, opts)
	for _, d := range diags {
		// Blocks no agent role runs yet are warned about; every other
		// diagnostic is a failure here.
		if d.Severity != hcl.DiagWarning || !strings.HasSuffix(d.Summary, "blocks are not run by this version") {
			t.Fatalf("Load(%s): %s", path, diags.Error())
		}
	}
	return res.Topology
}

// loadErr loads path and returns its error diagnostics, failing when there
// are none.
func loadErr(t *testing.T, path string, opts Options) hcl.Diagnostics {
	t.Helper()
	if opts.Environ == nil {
		opts.Environ = []string{}
	}
	_, diags := Load(path, opts)
	if !diags.HasErrors() {
		t.Fatalf("Load(%s) succeeded; want an error", path)
	}
	var errs hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs = append(errs, d)
		}
	}
	return errs
}

func TestVariablePrecedence(t *testing.T) {
	const cfg = `
variable "key" {
  type    = string
  default = "from-default"
}
cluster "c" {
  key_file = "cluster.key"
  ssh {
    user = var.key
  }
}
`
	dir := writeFiles(t, map[string]string{
		"cluster.hcl": cfg,
		"a.vars":      `key = "from-file-a"`,
		"b.vars":      `key = "from-file-b"`,
		"other.vars":  `# sets nothing`,
	})
	a, b, other := filepath.Join(dir, "a.vars"), filepath.Join(dir, "b.vars"), filepath.Join(dir, "other.vars")
	env := []string{"HACTL_VAR_key=from-env"}
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"default", Options{}, "from-default"},
		{"environment over default", Options{Environ: env}, "from-env"},
		{"var file over environment", Options{Environ: env, VarFiles: []string{a}}, "from-file-a"},
		{"later var file wins", Options{VarFiles: []string{a, b}}, "from-file-b"},
		{"var file that does not set it", Options{Environ: env, VarFiles: []string{other}}, "from-env"},
		{"--var over var file", Options{Environ: env, VarFiles: []string{a}, Vars: []string{"key=from-flag"}}, "from-flag"},
		{"last --var wins", Options{Vars: []string{"key=one", "key=two"}}, "two"},
		{"--var value with =", Options{Vars: []string{"key=a=b"}}, "a=b"},
		{"last env entry wins", Options{Environ: []string{"HACTL_VAR_key=first", "HACTL_VAR_key=second"}}, "second"},
		{"other env ignored", Options{Environ: []string{"HACTL_VAR_KEY=case", "VAR_key=x"}}, "from-default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo := mustLoad(t, filepath.Join(dir, "cluster.hcl"), tt.opts)
			if got := topo.Cluster.SSH.User; got != tt.want {
				t.Errorf("user = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestVariableTypes(t *testing.T) {
	const cfg = `
variable "port" {
  type    = number
  default = 22
}
variable "jump" {
  type    = list(string)
  default = []
}
variable "become" {
  type    = bool
  default = false
}
variable "user" {}
cluster "c" {
  key_file = "cluster.key"
  ssh {
    user       = var.user
    port       = var.port
    jump_hosts = var.jump
    become     = var.become
  }
}
`
	dir := writeFiles(t, map[string]string{"cluster.hcl": cfg, "v.vars": "port = \"2201\"\njump = [\"a@b:22\"]\n"})
	path := filepath.Join(dir, "cluster.hcl")
	t.Run("converted", func(t *testing.T) {
		tests := []struct {
			name string
			opts Options
			want topology.SSH
		}{
			{"flags", Options{Vars: []string{"user=admin", "port=2222", `jump=["x@y:22", "z"]`, "become=true"}},
				topology.SSH{User: "admin", Port: 2222, JumpHosts: []string{"x@y:22", "z"}, Become: true}},
			{"environment", Options{Environ: []string{"HACTL_VAR_user=42", "HACTL_VAR_port=2200", "HACTL_VAR_become=true"}},
				topology.SSH{User: "42", Port: 2200, Become: true}}, // an untyped variable keeps the string
			{"var file string to number", Options{Vars: []string{"user=u"}, VarFiles: []string{filepath.Join(dir, "v.vars")}},
				topology.SSH{User: "u", Port: 2201, JumpHosts: []string{"a@b:22"}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got := mustLoad(t, path, tt.opts).Cluster.SSH
				if got.User != tt.want.User || got.Port != tt.want.Port || got.Become != tt.want.Become || !slices.Equal(got.JumpHosts, tt.want.JumpHosts) {
					t.Errorf("ssh = %+v; want %+v", got, tt.want)
				}
			})
		}
	})
	t.Run("refused", func(t *testing.T) {
		tests := []struct {
			name string
			opts Options
			want string
		}{
			{"missing value", Options{}, `No value for variable "user"`},
			{"number from word", Options{Vars: []string{"user=u", "port=http"}}, `"http" is not a valid number.`},
			{"bool from word", Options{Vars: []string{"user=u", "become=yes"}}, `"yes" is not a valid bool.`},
			{"list from string", Options{Vars: []string{"user=u", "jump=a@b"}}, "is not a valid list of string."},
			{"env of wrong type", Options{Vars: []string{"user=u"}, Environ: []string{"HACTL_VAR_port=x"}}, "environment variable HACTL_VAR_port"},
			{"undeclared --var", Options{Vars: []string{"user=u", "prot=1"}}, `Did you mean "port"?`},
			{"--var without =", Options{Vars: []string{"user"}}, "must be name=value"},
			{"missing var file", Options{Vars: []string{"user=u"}, VarFiles: []string{filepath.Join(dir, "nope.vars")}}, "Cannot read"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				errs := loadErr(t, path, tt.opts)
				if !strings.Contains(errs.Error(), tt.want) {
					t.Errorf("errors %q do not contain %q", errs.Error(), tt.want)
				}
			})
		}
	})
}

func TestLocalsOrder(t *testing.T) {
	// Locals use each other in reverse order of declaration and across
	// blocks and files.
	dir := writeFiles(t, map[string]string{
		"a.hcl": `
locals {
  key = "${local.base}/${local.name}.key"
}
cluster "c" {
  key_file = "cluster.key"
  ssh {
    identity_file = local.key
  }
}
`,
		"b.hcl": `
locals {
  name = upper(var.site)
}
locals {
  base = "/etc/${local.dir}"
  dir  = "hactl"
}
variable "site" {
  default = "tokyo"
}
`,
	})
	if got := mustLoad(t, dir, Options{}).Cluster.SSH.IdentityFile; got != "/etc/hactl/TOKYO.key" {
		t.Errorf("identity_file = %q", got)
	}
}

func TestLocalsErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"cycle names only its members", `
locals {
  a = local.b
  b = local.a
  c = local.a
  d = "free"
}`, "in a circle: a, b."},
		{"self reference", `
locals {
  a = "${local.a}x"
}`, "in a circle: a."},
		{"duplicate", `
locals {
  a = 1
}
locals {
  a = 2
}`, `Duplicate local "a"`},
		{"unknown local", `
locals {
  a = local.nope
}`, `There is no local value named "nope" (there are a)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"cluster.hcl": tt.src + "\ncluster \"c\" {\n  key_file = \"cluster.key\"\n}\n"})
			errs := loadErr(t, dir, Options{})
			if !strings.Contains(errs.Error(), tt.want) {
				t.Errorf("errors %q do not contain %q", errs.Error(), tt.want)
			}
		})
	}
}

func TestFunctions(t *testing.T) {
	tests := []struct {
		expr string
		want string
	}{
		{`cidrhost("192.168.0.0/24", 33)`, "192.168.0.33"},
		{`cidrhost("192.168.0.0/24", -2)`, "192.168.0.254"},
		{`cidrsubnet("10.0.0.0/16", 8, 2)`, "10.0.2.0/24"},
		{`cidrnetmask("10.0.0.0/8")`, "255.0.0.0"},
		{`format("%s-%03d", "web", 7)`, "web-007"},
		{`join(",", ["a", "b"], ["c"])`, "a,b,c"},
		{`lookup({ h2g = "r1" }, "h2g", "none")`, "r1"},
		{`lookup({ h2g = "r1" }, "c2g", "none")`, "none"},
		{`env("HACTL_TEST_VALUE")`, "from-environ"},
		{`env("HACTL_TEST_UNSET")`, ""},
		{`env("HACTL_TEST_UNSET", "fallback")`, "fallback"},
		{`file("secrets/key.txt")`, "s3cret\n"},
		{`tostring(fileexists("secrets/key.txt"))`, "true"},
		{`trimspace(file("${local.path_rel}/key.txt"))`, "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			// The configuration lives in conf/; file() reads relative to
			// it, whatever the working directory.
			src := "locals {\n  path_rel = \"secrets\"\n}\ncluster \"c\" {\n  key_file = \"cluster.key\"\n  ssh {\n    user = " + tt.expr + "\n  }\n}\n"
			dir := writeFiles(t, map[string]string{"conf/cluster.hcl": src, "conf/secrets/key.txt": "s3cret\n"})
			topo := mustLoad(t, filepath.Join(dir, "conf", "cluster.hcl"),
				Options{Environ: []string{"HACTL_TEST_VALUE=old", "HACTL_TEST_VALUE=from-environ"}})
			if got := topo.Cluster.SSH.User; got != tt.want {
				t.Errorf("%s = %q; want %q", tt.expr, got, tt.want)
			}
		})
	}
	t.Run("file relative to a config directory", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{"conf/cluster.hcl": "cluster \"c\" {\n  key_file = \"cluster.key\"\n  ssh {\n    user = file(\"u\")\n  }\n}\n", "conf/u": "admin"})
		if got := mustLoad(t, filepath.Join(dir, "conf"), Options{}).Cluster.SSH.User; got != "admin" {
			t.Errorf("user = %q", got)
		}
	})
}

func TestFunctionDocsCoverFunctions(t *testing.T) {
	docs := FunctionDocs()
	names := map[string]bool{}
	for _, d := range docs {
		names[d.Name] = true
		if d.Doc == "" {
			t.Errorf("function %s has no description", d.Name)
		}
		if !strings.HasPrefix(d.Signature, d.Name+"(") {
			t.Errorf("signature %q does not start with %s(", d.Signature, d.Name)
		}
	}
	for name := range functions(".", nil) {
		if !names[name] {
			t.Errorf("function %s is not documented", name)
		}
	}
	for _, need := range []string{"file", "cidrhost", "cidrsubnet", "format", "join", "lookup", "env"} {
		if !names[need] {
			t.Errorf("the issue's function %s is missing", need)
		}
	}
}

func TestDecodedModel(t *testing.T) {
	topo := mustLoad(t, "testdata/model/cluster.hcl", Options{})

	if topo.Cluster.Name != "lvs" || topo.Cluster.KeyFile != "cluster.key" {
		t.Errorf("cluster = %+v", topo.Cluster)
	}
	wantNets := map[string]string{"outside": "192.168.3.0/24", "inside": "192.168.0.0/24", "v6": "2001:db8::/64"}
	for _, n := range topo.Networks {
		if n.Prefix.String() != wantNets[n.Name] {
			t.Errorf("network %s prefix = %s; want %s", n.Name, n.Prefix, wantNets[n.Name])
		}
	}

	nodes := map[string]*topology.Node{}
	for _, n := range topo.Nodes {
		nodes[n.Name] = n
	}
	h2g, c2g, f400 := nodes["h2g"], nodes["c2g"], nodes["f400"]
	if h2g == nil || c2g == nil || f400 == nil {
		t.Fatalf("nodes = %v", nodes)
	}
	// SSH: cluster defaults, node overrides attribute by attribute, built-in
	// defaults where neither says anything.
	wantH2G := topology.SSH{User: "admin", Port: 2222, KnownHostsFile: "known_hosts", Become: true, BecomeMethod: "sudo", ConnectTimeout: 10 * time.Second}
	if !sshEqual(h2g.SSH, wantH2G) {
		t.Errorf("h2g ssh = %+v; want %+v", h2g.SSH, wantH2G)
	}
	wantC2G := wantH2G
	wantC2G.User, wantC2G.Port = "root", 22
	if !sshEqual(c2g.SSH, wantC2G) {
		t.Errorf("c2g ssh = %+v; want %+v", c2g.SSH, wantC2G)
	}
	// Address: the first interface's unless given.
	if h2g.Address != "192.168.0.18" || c2g.Address != "c2g.example.net" {
		t.Errorf("addresses = %q, %q", h2g.Address, c2g.Address)
	}
	// Interface addresses take the network's prefix length.
	if got := h2g.Interfaces[1].Address; got != netip.MustParsePrefix("192.168.3.18/24") || h2g.Interfaces[1].Network.Name != "outside" {
		t.Errorf("h2g eth1 = %s on %v", got, h2g.Interfaces[1].Network)
	}

	hb := topo.Heartbeat
	if hb.Interval != 200*time.Millisecond || hb.Deadtime != time.Second || hb.Warntime != 60*time.Millisecond || hb.Initdead != 5*time.Second || hb.Port != 694 {
		t.Errorf("heartbeat = %+v", hb)
	}
	if len(hb.Links) != 2 || hb.Links[0].Mode != topology.LinkUnicast || hb.Links[0].TTL != 1 ||
		hb.Links[1].Mode != topology.LinkMulticast || hb.Links[1].Group != netip.MustParseAddr("239.0.0.94") || hb.Links[1].Network.Name != "outside" {
		t.Errorf("links = %+v, %+v", hb.Links[0], hb.Links[1])
	}

	if len(topo.Groups) != 2 {
		t.Fatalf("groups = %d", len(topo.Groups))
	}
	dir, web := topo.Groups[0], topo.Groups[1]
	// Locations sorted by score, highest first; nodes = [...] scores by position.
	if got := locations(dir); got != "h2g:200 c2g:100" {
		t.Errorf("directors locations = %s", got)
	}
	if got := locations(web); got != "h2g:200 c2g:100" {
		t.Errorf("web locations = %s", got)
	}
	if !dir.Failback || dir.FailbackDelay != 0 {
		t.Errorf("failback defaults = %v, %v", dir.Failback, dir.FailbackDelay)
	}
	res := map[string]*topology.Resource{}
	for _, r := range dir.Resources {
		res[r.Name] = r
	}
	if got := []string{dir.Resources[0].Name, dir.Resources[len(dir.Resources)-1].Name}; got[0] != "outside" || got[1] != "ip" {
		t.Errorf("resources are not in source order: %v", got)
	}
	// VIP prefix length taken from the network that contains it.
	if v := res["outside"].VIP; v == nil || v.Address != netip.MustParsePrefix("192.168.3.181/24") || v.GARPCount != 5 || v.GARPRefresh != 10*time.Second || v.Group != dir {
		t.Errorf("vip outside = %+v", res["outside"].VIP)
	}
	if v := res["v6"].VIP; v == nil || v.Address != netip.MustParsePrefix("2001:db8::181/64") {
		t.Errorf("vip v6 = %+v", res["v6"].VIP)
	}
	if r := res["apache2"]; r.Kind != topology.ResourceSystemd || r.Unit != "apache2.service" || r.MonitorInterval != 10*time.Second || r.MonitorTimeout != 20*time.Second || r.OnFail != topology.OnFailRestart || r.MaxRestarts != 3 {
		t.Errorf("service apache2 = %+v", r)
	}
	if r := res["mon"]; r.Kind != topology.ResourceLSB || r.Script != "/etc/init.d/mon" {
		t.Errorf("lsb mon = %+v", r)
	}
	if r := res["ip"]; r.Kind != topology.ResourceOCF || r.OCF.Provider != "heartbeat" || r.OCF.Type != "IPaddr2" || r.OCF.Params["ip"] != "192.168.0.181" {
		t.Errorf("ocf ip = %+v %+v", r, r.OCF)
	}
	if u := web.Resources[0].Unit; u != "nginx-custom.service" {
		t.Errorf("web unit = %q", u)
	}

	vs := topo.VirtualServices[0]
	if vs.VIP != res["outside"].VIP || vs.Protocol != "tcp" || vs.Scheduler != "wlc" || vs.Forwarding != "nat" || vs.Datapath != "auto" || vs.Quiescent || vs.HealthCheck != nil {
		t.Errorf("virtual service defaults = %+v", vs)
	}
	// A real server that is a node gets the address it shares with the
	// VIP's holders; its port defaults to the service's.
	rs := vs.RealServers[0]
	if rs.Node != f400 || rs.Address != netip.MustParseAddr("192.168.0.3") || rs.Port != 80 || rs.Weight != 1 {
		t.Errorf("real server f400 = %+v", rs)
	}
	if rs := vs.RealServers[1]; rs.Node != nil || rs.Address != netip.MustParseAddr("192.168.0.99") || rs.Port != 8080 || rs.Weight != 3 {
		t.Errorf("real server outside = %+v", rs)
	}
}

func sshEqual(a, b topology.SSH) bool {
	return a.User == b.User && a.Port == b.Port && a.IdentityFile == b.IdentityFile && a.KnownHostsFile == b.KnownHostsFile &&
		slices.Equal(a.JumpHosts, b.JumpHosts) && a.Become == b.Become && a.BecomeMethod == b.BecomeMethod && a.ConnectTimeout == b.ConnectTimeout
}

func locations(g *topology.Group) string {
	var s []string
	for _, l := range g.Locations {
		s = append(s, l.Node.Name+":"+strconv.Itoa(l.Score))
	}
	return strings.Join(s, " ")
}

func TestBlocksNoAgentRoleRunsAreWarnedAboutUntilTheRoleLands(t *testing.T) {
	notRun := func() []string {
		res, diags := Load("testdata/model/cluster.hcl", Options{Environ: []string{}})
		if diags.HasErrors() || res.Topology == nil {
			t.Fatalf("Load: %s", diags.Error())
		}
		var out []string
		for _, d := range diags {
			if d.Severity == hcl.DiagWarning && strings.HasSuffix(d.Summary, "blocks are not run by this version") {
				out = append(out, fmt.Sprintf("%s:%d %s", filepath.Base(d.Subject.Filename), d.Subject.Start.Line, d.Summary))
			}
		}
		return out
	}
	// The lvs role runs now; the model's other blocks all have their
	// roles too: take it away to see the warning.
	lvs := spec.SectionOf("lvs")
	defer func(runs bool) { lvs.Runs = runs }(lvs.Runs)
	lvs.Runs = false
	got := notRun()
	if len(got) == 0 || !slices.Contains(got, "cluster.hcl:117 virtual_service blocks are not run by this version") {
		t.Errorf("warnings for blocks not run: %q; want one at the virtual_service block, line 117", got)
	}
	for _, sec := range spec.Sections {
		if !sec.Runs {
			defer func(sec *spec.Section) { sec.Runs = false }(spec.SectionOf(sec.Role))
			spec.SectionOf(sec.Role).Runs = true
		}
	}
	if got := notRun(); len(got) != 0 {
		t.Errorf("with every role present: %q; want no warnings", got)
	}
}

// Diagnostics that repeat one another — a shared file's problem found once
// per node — are printed and counted once.
func TestDiagnosticsAreDeduplicated(t *testing.T) {
	rng := hcl.Range{Filename: "c.hcl", Start: hcl.Pos{Line: 2, Column: 3, Byte: 10}, End: hcl.Pos{Line: 2, Column: 9, Byte: 16}}
	other := rng
	other.Start.Line, other.End.Line = 5, 5
	d := func(sev hcl.DiagnosticSeverity, summary string, r hcl.Range) *hcl.Diagnostic {
		return &hcl.Diagnostic{Severity: sev, Summary: summary, Detail: "detail", Subject: r.Ptr()}
	}
	diags := hcl.Diagnostics{
		d(hcl.DiagError, "Cannot read secret file", rng),
		d(hcl.DiagError, "Cannot read secret file", rng),
		d(hcl.DiagWarning, "Cannot read secret file", rng),
		d(hcl.DiagError, "Cannot read secret file", other),
		d(hcl.DiagError, "Cannot read secret file", rng),
	}
	if got := Dedupe(diags); len(got) != 3 || got[0] != diags[0] || got[1] != diags[2] || got[2] != diags[3] {
		t.Errorf("Dedupe kept %v", got)
	}
	var text bytes.Buffer
	if err := WriteDiagnostics(&text, nil, diags, 100, false); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(text.String(), "Error: Cannot read secret file"); n != 2 {
		t.Errorf("%d errors printed; want 2:\n%s", n, text.String())
	}
	var js bytes.Buffer
	if err := WriteJSONDiagnostics(&js, nil, diags); err != nil {
		t.Fatal(err)
	}
	var doc JSONDiagnostics
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ErrorCount != 2 || doc.WarningCount != 1 || len(doc.Diagnostics) != 3 {
		t.Errorf("JSON counts %d errors, %d warnings, %d diagnostics; want 2, 1, 3", doc.ErrorCount, doc.WarningCount, len(doc.Diagnostics))
	}
}

// The SSH settings no ssh block writes are marked, so that the operator's
// ~/.ssh/config comes before the built-in defaults.
func TestSSHDefaultsAreMarked(t *testing.T) {
	tests := []struct {
		ssh  string
		want topology.SSHDefaulted
	}{
		{"", topology.SSHDefaulted{User: true, Port: true, KnownHostsFile: true}},
		{"ssh {\n    user = \"admin\"\n  }", topology.SSHDefaulted{Port: true, KnownHostsFile: true}},
		{"ssh {\n    port = 22\n    known_hosts_file = \"kh\"\n  }", topology.SSHDefaulted{User: true}},
	}
	for _, tt := range tests {
		t.Run(tt.ssh, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"cluster.hcl": "cluster \"c\" {\n  key_file = \"cluster.key\"\n  " + tt.ssh + "\n}\n"})
			if got := mustLoad(t, filepath.Join(dir, "cluster.hcl"), Options{}).Cluster.SSH.Defaulted; got != tt.want {
				t.Errorf("defaulted %+v, want %+v", got, tt.want)
			}
		})
	}
}
