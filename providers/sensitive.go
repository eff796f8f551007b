package providers

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Sensitive values, as Terraform has them: a variable declared with
// sensitive = true, or any value passed through sensitive(), carries this
// cty mark, and every value computed from one keeps it. Decoding takes the
// mark off (a marked value cannot be read) and remembers where it was, so
// that a provider can carry a sensitive value as a secret file
// (CompileContext.SecretFrom) and never in the spec or the plan. Where an
// attribute cannot keep a value secret, its use is warned about.
type sensitiveMark string

// Sensitive is the mark of a sensitive value.
const Sensitive = sensitiveMark("sensitive")

// unmark takes the marks off v and records the paths inside it that were
// sensitive, under the attribute's name.
func (c *Content) unmark(name string, v cty.Value) cty.Value {
	v, pvms := v.UnmarkDeepWithPaths()
	var paths []cty.Path
	for _, pvm := range pvms {
		if _, ok := pvm.Marks[Sensitive]; ok {
			paths = append(paths, pvm.Path)
		}
	}
	if len(paths) == 0 {
		return v
	}
	if c.sensitive == nil {
		c.sensitive = map[string][]cty.Path{}
	}
	c.sensitive[name] = paths
	if a := c.attrSpec(name); !a.Secret && !a.SensitiveMap {
		c.d.Warn(c.Range(name), fmt.Sprintf("Sensitive value in %s", name),
			fmt.Sprintf("%q does not keep a value secret: this one goes into the node's spec and the plan as it is. Sensitive values belong in secret attributes (password, community…) and OCF params.", name))
	}
	return v
}

// SensitiveKeys are the keys of a map attribute whose values are
// sensitive (all of them when the whole map is).
func (c *Content) SensitiveKeys(name string, m map[string]string) map[string]bool {
	out := map[string]bool{}
	for _, p := range c.sensitive[name] {
		if len(p) == 0 {
			for k := range m {
				out[k] = true
			}
			continue
		}
		switch step := p[0].(type) {
		case cty.GetAttrStep:
			out[step.Name] = true
		case cty.IndexStep:
			if step.Key.Type() == cty.String {
				out[step.Key.AsString()] = true
			}
		}
	}
	return out
}

// sensitiveLooking is a parameter name that usually holds a secret.
var sensitiveLooking = regexp.MustCompile(`(?i)(passw|passphrase|pwd|secret|token|credential|community|api_?key|private_?key|auth_?key)`)

// SensitiveLooking says whether a parameter's name suggests a secret
// (replication_passwd, api_token…). OCF meta-data has no flag for
// secret parameters, so the name is all there is to go by.
func SensitiveLooking(name string) bool { return sensitiveLooking.MatchString(name) }

// CheckSensitiveMap warns about the entries of a SensitiveMap attribute
// whose name looks secret but whose value is not sensitive, and about
// sensitive values written literally in the file, whose places it records
// so that printed snippets mask them.
func (c *Content) CheckSensitiveMap(name string, m map[string]string) {
	attr, ok := c.attrs[name]
	if !ok {
		return
	}
	secret := c.SensitiveKeys(name, m)
	items, diags := hcl.ExprMap(attr.Expr)
	ranges := map[string]hcl.Range{}
	literals := map[string]bool{}
	if !diags.HasErrors() {
		for _, it := range items {
			k, d := it.Key.Value(nil)
			if d.HasErrors() || k.Type() != cty.String || !k.IsKnown() || k.IsNull() {
				continue
			}
			ranges[k.AsString()] = it.Value.Range()
			literals[k.AsString()] = literal(it.Value)
		}
	}
	for _, k := range sortedKeys(m) {
		rng, ok := ranges[k]
		if !ok {
			rng = attr.Expr.Range()
		}
		switch {
		case secret[k] && literals[k]:
			c.d.Secrets = append(c.d.Secrets, rng)
			c.d.Warn(rng, "Secret written inline",
				fmt.Sprintf("The value of %s.%s goes wherever this file goes (version control, backups). Take it from a sensitive variable (HACTL_VAR_name, --var), or from a file readable only by you: sensitive(trimspace(file(\"%s.txt\"))).", name, k, k))
		case !secret[k] && SensitiveLooking(k):
			c.d.Warn(rng, fmt.Sprintf("%s.%s looks like a secret", name, k),
				fmt.Sprintf("Its value goes into the node's spec, the plan and saved plans as written. If it is a secret, mark it sensitive: %s = sensitive(var.%s) or a variable declared with sensitive = true; it then reaches the node only as a file of mode 0600 and the agent in its environment.", k, k))
		}
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
