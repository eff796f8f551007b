package all

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/hactl/hactl/importer"
	"github.com/hactl/hactl/plan/config"
	"github.com/hactl/hactl/plan/golden"
	"github.com/hactl/hactl/plan/topology"
	_ "github.com/hactl/hactl/providers/all"
)

// guideCase is testdata/guide/NAME/case.json.
type guideCase struct {
	Inputs  []Input  `json:"inputs"`
	Nodes   []string `json:"nodes"`
	Example string   `json:"example"`
	// Substitutions are deliberate differences between the guide's files
	// and the example, old → new in the projection, each with its reason.
	Substitutions map[string]string `json:"substitutions"`
	Reasons       []string          `json:"reasons"`
	// Only restricts the comparison to the projection's lines starting
	// with one of these, for inputs that describe part of a cluster.
	Only []string `json:"only"`
}

// TestGuideImportsMatchExamples imports each of the guide's
// configurations, checks the output is canonical HCL that loads without
// errors, compares it with cluster.hcl.golden, and compares the loaded
// topology with the example's: same nodes and addresses, groups with the
// same scores, VIPs and resources, same virtual services.
func TestGuideImportsMatchExamples(t *testing.T) {
	cases, _ := filepath.Glob("../testdata/guide/*/case.json")
	if len(cases) < 3 {
		t.Fatalf("want the guide's cases, found %v", cases)
	}
	for _, path := range cases {
		dir := filepath.Dir(path)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var c guideCase
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &c); err != nil {
				t.Fatal(err)
			}
			for i := range c.Inputs {
				for j, f := range c.Inputs[i].Files {
					c.Inputs[i].Files[j] = filepath.Join(dir, f)
				}
			}
			m, err := Import(c.Inputs, importer.Options{Nodes: c.Nodes})
			if err != nil {
				t.Fatal(err)
			}
			if m.Diags.HasErrors() {
				t.Fatalf("import errors: %v", m.Diags.Errs())
			}
			out := m.HCL()
			if !bytes.Equal(hclwrite.Format(out), out) {
				t.Error("the output is not canonical: hactl fmt would change it")
			}
			golden.Check(t, filepath.Join(dir, "cluster.hcl.golden"), string(out))
			got := loadWritten(t, m)
			want := loadExample(t, c.Example)
			gp, wp := project(got), project(want)
			if len(c.Only) > 0 {
				keep := func(l string) bool {
					return !slices.ContainsFunc(c.Only, func(p string) bool { return strings.HasPrefix(l, p) })
				}
				gp, wp = slices.DeleteFunc(gp, keep), slices.DeleteFunc(wp, keep)
			}
			for i, line := range gp {
				for old, repl := range c.Substitutions {
					line = strings.ReplaceAll(line, old, repl)
				}
				gp[i] = line
			}
			if !slices.Equal(gp, wp) {
				t.Errorf("the import differs from examples/%s:\n--- import\n%s\n--- example\n%s", c.Example, strings.Join(gp, "\n"), strings.Join(wp, "\n"))
			}
		})
	}
}

// loadWritten writes the model's HCL and secrets into a fresh directory
// and loads them as hactl validate would.
func loadWritten(t *testing.T, m *importer.Model) *topology.Topology {
	t.Helper()
	dir := t.TempDir()
	for name, data := range m.Secrets {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "cluster.hcl")
	if err := os.WriteFile(path, m.HCL(), 0o644); err != nil {
		t.Fatal(err)
	}
	return load(t, path)
}

func load(t *testing.T, path string) *topology.Topology {
	t.Helper()
	res, diags := config.Load(path, config.Options{Environ: []string{}})
	if diags.HasErrors() {
		t.Fatalf("%s does not load: %v", path, diags.Errs())
	}
	return res.Topology
}

// loadExample loads examples/NAME with the stand-in secrets of the
// examples' golden tests.
func loadExample(t *testing.T, name string) *topology.Topology {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../cmd/hactl/testdata/example-secrets")); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("../../examples", name, "cluster.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cluster.hcl")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	return load(t, path)
}

// project describes what must be equal between an import and its
// example, leaving out names the inputs do not have (networks, groups,
// VIPs are compared by their addresses) and tunings they do not set.
func project(tp *topology.Topology) []string {
	var out []string
	for _, n := range tp.Nodes {
		var ifs []string
		for _, i := range n.Interfaces {
			ifs = append(ifs, fmt.Sprintf("%s=%s", i.Name, i.Address))
		}
		out = append(out, fmt.Sprintf("node %s %s", n.Name, strings.Join(ifs, " ")))
	}
	for _, g := range tp.Groups {
		var locs, res []string
		for _, l := range g.Locations {
			locs = append(locs, fmt.Sprintf("%s=%d", l.Node.Name, l.Score))
		}
		for _, r := range g.Resources {
			if r.Kind == topology.ResourceVIP {
				res = append(res, fmt.Sprintf("vip %s@%s", r.VIP.Address, r.VIP.Interface))
			} else {
				res = append(res, fmt.Sprintf("%s:%s", r.Kind, r.Name))
			}
		}
		out = append(out, fmt.Sprintf("group %s failback=%t: %s", strings.Join(locs, ","), g.Failback, strings.Join(res, ", ")))
	}
	for _, vs := range tp.VirtualServices {
		var reals []string
		for _, r := range vs.RealServers {
			reals = append(reals, fmt.Sprintf("%s:%d w%d", r.Address, r.Port, r.Weight))
		}
		slices.Sort(reals)
		out = append(out, fmt.Sprintf("virtual_service %s %s:%d %s %s -> %s", vs.Protocol, vs.VIP.Address.Addr(), vs.Port, vs.Scheduler, vs.Forwarding, strings.Join(reals, ", ")))
	}
	for _, p := range tp.Proxies {
		var ls []string
		for _, l := range p.Listeners {
			ls = append(ls, fmt.Sprintf("%s:%s:%d cert=%s key=%s", l.Protocol, l.Address, l.Port, l.CertFile, l.KeyFile))
			if len(l.Methods) > 0 {
				ls = append(ls, fmt.Sprintf("methods=%v", l.Methods))
			}
			for _, c := range l.Certificates {
				ls = append(ls, fmt.Sprintf("sni=%s/%s", c.CertFile, c.KeyFile))
			}
			if l.ClientCAFile != "" || l.TLSMinVersion != "1.2" {
				ls = append(ls, fmt.Sprintf("ca=%s tls=%s", l.ClientCAFile, l.TLSMinVersion))
			}
		}
		line := fmt.Sprintf("proxy vip=%s methods=%v body=%d client=%s backend=%s listeners %s", p.VIP.Address, p.AllowedMethods, p.MaxRequestBody, p.ClientTimeout, p.BackendTimeout, strings.Join(ls, " "))
		if !p.AccessLog {
			line += " access_log=false"
		}
		if !p.RewriteLocation {
			line += " rewrite_location=false"
		}
		out = append(out, line)
		for i, s := range p.Services {
			line := fmt.Sprintf("proxy service %d host=%s path=%s headers=%v", i, s.Host, s.Path, s.Headers)
			if s.Session != nil {
				line += fmt.Sprintf(" session=%s/%s/%s", s.Session.Type, s.Session.Name, s.Session.TTL)
			}
			for _, b := range s.Backends {
				target := b.Address
				if b.Node != nil {
					target = b.Node.Name
				}
				line += fmt.Sprintf(" | %s %s:%d w%d %s", b.Kind, target, b.Port, b.Weight, b.RedirectURL)
			}
			out = append(out, line)
		}
	}
	for _, s := range tp.SyncModules {
		var ts []string
		for _, t := range s.Targets {
			ts = append(ts, t.Node.Name+":"+t.Path)
		}
		out = append(out, fmt.Sprintf("sync %s:%s -> %s delete=%t excludes=%v trigger=%s interval=%s bwlimit=%dK checksum=%t",
			s.Source.Node.Name, s.Source.Path, strings.Join(ts, ","), s.Delete, s.Excludes, s.Trigger, s.Interval, s.BWLimitKBs, s.Checksum))
	}
	if tp.Monitor != nil {
		for _, d := range tp.Monitor.Devices {
			out = append(out, fmt.Sprintf("snmp_device %s:%d v%s community_file=%t interfaces=%v oids=%v", d.Address, d.Port, d.Version, d.CommunityFile != "", d.Interfaces, d.OIDs))
		}
	}
	slices.Sort(out)
	return out
}
