package providers

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// checkSecrets checks the secret attributes of a block (Attr.Secret).
//
// A secret may be given inline or in a file (password, password_file);
// either way it reaches the node only as a file of mode 0600 and the spec
// only as a digest (CompileContext.SecretFrom), as Heartbeat's authkeys
// did. Giving both is ambiguous and an empty one would be silently
// dropped: both are errors. A secret written literally in the file is
// accepted with a warning, since the file goes to version control; one
// taken from a variable (HACTL_VAR_…, --var) or a function such as file()
// is not. The literal's place is recorded so that the source snippets of
// diagnostics do not show it.
func (d *Decoder) checkSecrets(c *Content) {
	for _, a := range c.spec.Attrs {
		attr, ok := c.attrs[a.Name]
		if !ok || !a.Secret {
			continue
		}
		if other, both := c.attrs[a.SecretFile]; both {
			d.Error(attr.Expr.Range(), fmt.Sprintf("Both %s and %s", a.Name, a.SecretFile),
				fmt.Sprintf("Give the secret once: %q inline, or %q naming a file that holds it (also set at %s).", a.Name, a.SecretFile, other.Expr.Range()))
			continue
		}
		v, diags := attr.Expr.Value(d.Ctx)
		v, _ = v.UnmarkDeep()
		if !diags.HasErrors() && v.IsKnown() && !v.IsNull() && v.Type() == cty.String && v.AsString() == "" {
			d.Error(attr.Expr.Range(), fmt.Sprintf("Empty %s", a.Name),
				fmt.Sprintf("%q is empty. Give the secret, or set %q to a file that holds it.", a.Name, a.SecretFile))
			continue
		}
		if literal(attr.Expr) {
			d.Secrets = append(d.Secrets, attr.Expr.Range())
			d.Warn(attr.Expr.Range(), "Secret written inline",
				fmt.Sprintf("The value of %q goes wherever this file goes (version control, backups). Take it from a variable (HACTL_VAR_name, --var), or set %q to a file readable only by you.", a.Name, a.SecretFile))
		}
	}
}

// literal says whether an expression is a constant written in the file,
// as opposed to one taken from a variable or a function.
func literal(e hcl.Expression) bool {
	switch e := e.(type) {
	case *hclsyntax.LiteralValueExpr:
		return true
	case *hclsyntax.TemplateExpr:
		return e.IsStringLiteral()
	case *hclsyntax.FunctionCallExpr:
		// sensitive("…") hides the value from the plan, not from the
		// file.
		return e.Name == "sensitive" && len(e.Args) == 1 && literal(e.Args[0])
	case hclsyntax.Expression:
		return false
	}
	// JSON syntax: a value without variable references is taken as
	// written in the file.
	return len(e.Variables()) == 0
}
