// Package config loads a cluster configuration — one .hcl file or a
// directory of them — into the typed topology: it parses the files, gives
// variables their values (defaults, HACTL_VAR_ environment, --var-file,
// --var), evaluates locals, decodes every block through its provider,
// resolves references and runs every provider's checks. Problems come back
// as HCL diagnostics with file:line:col, all of them at once.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
)

// Options are the inputs from outside the files.
type Options struct {
	// Vars are --var name=value assignments, in the order given.
	Vars []string
	// VarFiles are --var-file paths, in the order given.
	VarFiles []string
	// Environ is the environment for HACTL_VAR_ variables and env();
	// nil means the process's.
	Environ []string
}

// Result is a loaded configuration.
type Result struct {
	Topology *topology.Topology
	// Files are the parsed sources, for printing diagnostics with snippets;
	// secrets written in them literally are masked.
	Files map[string]*hcl.File
	// Paths are the configuration files loaded, in load order.
	Paths []string
}

// VarEnvPrefix is the prefix of environment variables that set variables.
const VarEnvPrefix = "HACTL_VAR_"

// Load loads the configuration at path (a file or a directory of .hcl
// files). The result is never nil, so that diagnostics can be printed with
// the files; the topology is only complete when diags has no errors.
func Load(path string, opts Options) (*Result, hcl.Diagnostics) {
	parser := hclparse.NewParser()
	res := &Result{Files: parser.Files()}
	if opts.Environ == nil {
		opts.Environ = os.Environ()
	}
	paths, diags := configFiles(path)
	if diags.HasErrors() {
		return res, diags
	}
	res.Paths = paths
	var files []*hcl.File
	for _, p := range paths {
		f, d := parseFile(parser, p)
		diags = append(diags, d...)
		if f != nil {
			files = append(files, f)
		}
	}
	if diags.HasErrors() {
		return res, diags
	}

	schema := topSchema()
	var blocks hcl.Blocks
	// Unknown top-level blocks and attributes are reported, but do not stop
	// the loading: the rest of the files is still checked.
	var structure hcl.Diagnostics
	for _, f := range files {
		content, d := f.Body.Content(schema)
		structure = append(structure, d...)
		if content != nil {
			blocks = append(blocks, content.Blocks...)
		}
		for name, attr := range content.Attributes {
			structure = append(structure, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unexpected attribute",
				Detail: fmt.Sprintf("%q is set outside of any block. Settings belong in a block: cluster, node, group… or in locals { }.", name), Subject: attr.NameRange.Ptr()})
		}
	}

	baseDir := path
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		baseDir = filepath.Dir(path)
	}
	ctx := &hcl.EvalContext{Functions: functions(baseDir, opts.Environ), Variables: map[string]cty.Value{}}
	vars, d := evalVariables(parser, blocks.OfType("variable"), opts)
	diags = append(diags, d...)
	ctx.Variables["var"] = cty.ObjectVal(vars)
	locals, d := evalLocals(ctx, blocks.OfType("locals"))
	diags = append(diags, d...)
	ctx.Variables["local"] = cty.ObjectVal(locals)
	declared := map[string][]string{"var": {}, "local": sortedKeys(locals)}
	for _, b := range blocks.OfType("variable") {
		declared["var"] = append(declared["var"], b.Labels[0])
	}
	sort.Strings(declared["var"])
	if diags.HasErrors() {
		explainUndeclared(diags, declared)
		return res, sortDiags(append(diags, structure...))
	}

	dec := providers.NewDecoder(ctx)
	dec.BaseDir = baseDir
	counts := map[string][]*hcl.Block{}
	for _, b := range blocks {
		p := providers.ForType(b.Type)
		if p == nil {
			continue // variable and locals, handled above
		}
		counts[b.Type] = append(counts[b.Type], b)
		if spec := p.Schema(); spec.Single && len(counts[b.Type]) > 1 {
			first := counts[b.Type][0]
			dec.Error(b.DefRange, fmt.Sprintf("Duplicate %s block", b.Type),
				fmt.Sprintf("Only one %s block is allowed; the first is at %s. Merge them.", b.Type, first.DefRange))
			continue
		}
		p.Decode(dec, dec.Content(b, p.Schema()))
		warnNotRun(dec, b, p.Schema())
	}
	for _, p := range providers.All() {
		if spec := p.Schema(); spec.Required && len(counts[spec.Type]) == 0 {
			// No line is at fault: the diagnostic names the files instead.
			dec.Diags = append(dec.Diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Missing %s block", spec.Type),
				Detail: fmt.Sprintf("A configuration needs a %s block, and %s has none. Start with:\n\n%s", spec.Type, strings.Join(paths, ", "), spec.Example)})
		}
	}
	dec.Finish()
	for _, p := range providers.All() {
		if v, ok := p.(providers.Validator); ok {
			v.Validate(dec)
		}
	}
	res.Topology = dec.Topology
	maskSecrets(res.Files, dec.Secrets)
	diags = append(diags, structure...)
	diags = append(diags, dec.Diags...)
	explainUndeclared(diags, declared)
	return res, sortDiags(diags)
}

// topSchema accepts variable, locals and every provider's block.
func topSchema() *hcl.BodySchema {
	s := &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
	}}
	for _, p := range providers.All() {
		spec := p.Schema()
		s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: spec.Type, LabelNames: spec.Labels})
	}
	return s
}

// configFiles lists the files to load: the file itself, or the directory's
// *.hcl files in name order.
func configFiles(path string) ([]string, hcl.Diagnostics) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read configuration",
			Detail: fmt.Sprintf("%s. Give the path of a .hcl file or of a directory holding them.", fileProblem(path, err))}}
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	matches, err := filepath.Glob(filepath.Join(path, "*.hcl"))
	if err != nil {
		// Glob fails only on a malformed pattern: the directory's name
		// holds pattern characters.
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot list configuration files",
			Detail: fmt.Sprintf("The name of %s holds a character that reads as a pattern ([ or \\). Rename the directory, or give the path of a .hcl file in it.", path)}}
	}
	var files []string
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && !st.IsDir() {
			files = append(files, m)
		}
	}
	if len(files) == 0 {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No configuration files",
			Detail: fmt.Sprintf("Directory %s holds no .hcl file. Give the path of a .hcl file, or add cluster.hcl to the directory.", path)}}
	}
	sort.Strings(files)
	return files, nil
}

// fileProblem says "PATH: what went wrong" for a failed file operation,
// without the name of the system call ("open", "stat") Go puts first.
func fileProblem(path string, err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Path + ": " + pe.Err.Error()
	}
	return path + ": " + err.Error()
}

// parseFile parses one file, refusing binary input before the parser sees
// it so that the operator gets one clear message instead of hundreds.
func parseFile(parser *hclparse.Parser, path string) (*hcl.File, hcl.Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read configuration file",
			Detail: fmt.Sprintf("%s. Check that the file exists and that you may read it.", fileProblem(path, err))}}
	}
	if bytes.IndexByte(src, 0) >= 0 || !utf8.Valid(src) {
		rng := hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos}
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Not a text file",
			Detail: fmt.Sprintf("%s holds binary data or is not UTF-8, so it cannot be an HCL configuration.", path), Subject: &rng}}
	}
	if strings.HasSuffix(path, ".json") {
		return parser.ParseJSON(src, path)
	}
	return parser.ParseHCL(src, path)
}

var variableSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "type"}, {Name: "default"}, {Name: "description"}, {Name: "sensitive"},
}}

type variable struct {
	typ       cty.Type
	defRange  hcl.Range
	value     cty.Value
	sensitive bool // sensitive = true: its value carries providers.Sensitive
	// badDefault is set when the default was reported as wrong, so that
	// the variable is not also reported as having none.
	badDefault bool
}

// evalVariables gives every declared variable its value: default, then
// HACTL_VAR_name, then --var-file files in order, then --var in order.
func evalVariables(parser *hclparse.Parser, blocks hcl.Blocks, opts Options) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	vars := map[string]*variable{}
	for _, b := range blocks {
		name := b.Labels[0]
		if prev, dup := vars[name]; dup {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Duplicate variable %q", name),
				Detail: fmt.Sprintf("Variable %q was already declared at %s.", name, prev.defRange), Subject: b.DefRange.Ptr()})
			continue
		}
		if !hclsyntax.ValidIdentifier(name) {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid variable name",
				Detail: "A variable name must start with a letter or underscore and contain only letters, digits, underscores and dashes.", Subject: b.DefRange.Ptr()})
			continue
		}
		v := &variable{typ: cty.DynamicPseudoType, defRange: b.DefRange, value: cty.NilVal}
		vars[name] = v
		content, d := b.Body.Content(variableSchema)
		diags = append(diags, d...)
		if content == nil {
			continue
		}
		if attr, ok := content.Attributes["type"]; ok {
			t, d := typeexpr.TypeConstraint(attr.Expr)
			diags = append(diags, d...)
			if !d.HasErrors() {
				v.typ = t
			}
		}
		if attr, ok := content.Attributes["sensitive"]; ok {
			val, d := attr.Expr.Value(nil)
			diags = append(diags, d...)
			if !d.HasErrors() {
				if val, err := convert.Convert(val, cty.Bool); err != nil || val.IsNull() {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid sensitive",
						Detail: fmt.Sprintf("sensitive of variable %q must be true or false.", name), Subject: attr.Expr.Range().Ptr()})
				} else {
					v.sensitive = val.True()
				}
			}
		}
		if attr, ok := content.Attributes["default"]; ok {
			val, d := attr.Expr.Value(nil)
			diags = append(diags, d...)
			if !d.HasErrors() {
				v.value, d = convertVar(name, val, v.typ, attr.Expr.Range())
				diags = append(diags, d...)
			}
			v.badDefault = d.HasErrors()
		}
	}

	for _, kv := range opts.Environ {
		rest, ok := strings.CutPrefix(kv, VarEnvPrefix)
		if !ok {
			continue
		}
		name, raw, _ := strings.Cut(rest, "=")
		if v, ok := vars[name]; ok {
			val, d := parseRawVar(name, raw, v.typ, "environment variable "+VarEnvPrefix+name)
			diags = append(diags, d...)
			if !d.HasErrors() {
				v.value = val
			}
		}
	}
	for _, path := range opts.VarFiles {
		diags = append(diags, applyVarFile(parser, path, vars)...)
	}
	for _, assign := range opts.Vars {
		name, raw, ok := strings.Cut(assign, "=")
		if !ok || name == "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid --var",
				Detail: fmt.Sprintf("--var %q must be name=value, like --var vip=192.168.0.33.", assign)})
			continue
		}
		v, ok := vars[name]
		if !ok {
			diags = append(diags, undeclaredVar(name, "--var", nil, vars))
			continue
		}
		val, d := parseRawVar(name, raw, v.typ, "--var "+name)
		diags = append(diags, d...)
		if !d.HasErrors() {
			v.value = val
		}
	}

	out := map[string]cty.Value{}
	for name, v := range vars {
		if v.value == cty.NilVal && v.badDefault {
			continue
		}
		if v.value == cty.NilVal {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("No value for variable %q", name),
				Detail:  fmt.Sprintf("Variable %q has no default. Set it with --var %s=..., in a --var-file, or with %s%s in the environment.", name, name, VarEnvPrefix, name),
				Subject: v.defRange.Ptr()})
			continue
		}
		if v.sensitive {
			out[name] = v.value.Mark(providers.Sensitive)
			continue
		}
		out[name] = v.value
	}
	return out, diags
}

func undeclaredVar(name, where string, rng *hcl.Range, vars map[string]*variable) *hcl.Diagnostic {
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	detail := fmt.Sprintf("%s sets %q, but no variable block declares it.", where, name)
	if s := providers.Suggest(name, names); s != "" {
		detail += fmt.Sprintf(" Did you mean %q?", s)
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Undeclared variable %q", name), Detail: detail, Subject: rng}
}

// parseRawVar reads a value given on the command line or in the
// environment: strings as they are, other types as HCL expressions.
func parseRawVar(name, raw string, typ cty.Type, where string) (cty.Value, hcl.Diagnostics) {
	if typ == cty.String || typ == cty.DynamicPseudoType {
		return cty.StringVal(raw), nil
	}
	// The value has no place in a file: diagnostics name where it came from
	// instead of a source range.
	invalid := func(why string) (cty.Value, hcl.Diagnostics) {
		return cty.NilVal, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: fmt.Sprintf("Invalid value for variable %q", name),
			Detail: fmt.Sprintf("%s: %q is not a valid %s%s. Strings need no quotes; other types are written as in HCL, like 80, true or [\"a\", \"b\"].", where, raw, typ.FriendlyName(), why)}}
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw), where, hcl.InitialPos)
	if diags.HasErrors() {
		return invalid("")
	}
	val, diags := expr.Value(nil)
	if diags.HasErrors() {
		return invalid("")
	}
	cv, err := convert.Convert(val, typ)
	if err != nil {
		return invalid(" (it reads as " + providers.Describe(val, typ) + ")")
	}
	return cv, nil
}

func convertVar(name string, val cty.Value, typ cty.Type, rng hcl.Range) (cty.Value, hcl.Diagnostics) {
	cv, err := convert.Convert(val, typ)
	if err != nil {
		return cty.NilVal, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: fmt.Sprintf("Invalid value for variable %q", name),
			Detail: fmt.Sprintf("The value must be a %s, not %s.", typ.FriendlyName(), providers.Describe(val, typ)), Subject: rng.Ptr()}}
	}
	return cv, nil
}

func applyVarFile(parser *hclparse.Parser, path string, vars map[string]*variable) hcl.Diagnostics {
	f, diags := parseFile(parser, path)
	if f == nil || diags.HasErrors() {
		return diags
	}
	attrs, d := f.Body.JustAttributes()
	diags = append(diags, d...)
	for name, attr := range attrs {
		v, ok := vars[name]
		if !ok {
			diags = append(diags, undeclaredVar(name, "Variable file "+path, attr.NameRange.Ptr(), vars))
			continue
		}
		val, d := attr.Expr.Value(nil)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		val, d = convertVar(name, val, v.typ, attr.Expr.Range())
		diags = append(diags, d...)
		if !d.HasErrors() {
			v.value = val
		}
	}
	return diags
}

// evalLocals evaluates locals in dependency order, so that one may use
// another declared anywhere; a cycle is an error naming its members.
func evalLocals(ctx *hcl.EvalContext, blocks hcl.Blocks) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	pending := map[string]*hcl.Attribute{}
	for _, b := range blocks {
		attrs, d := b.Body.JustAttributes()
		diags = append(diags, d...)
		for name, attr := range attrs {
			if prev, dup := pending[name]; dup {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("Duplicate local %q", name),
					Detail: fmt.Sprintf("Local %q was already defined at %s.", name, prev.NameRange), Subject: attr.NameRange.Ptr()})
				continue
			}
			pending[name] = attr
		}
	}
	done := map[string]cty.Value{}
	for len(pending) > 0 {
		progress := false
		for _, name := range sortedKeys(pending) {
			attr := pending[name]
			ready := true
			for _, trav := range attr.Expr.Variables() {
				if step, ok := localStep(trav); ok {
					if _, isPending := pending[step]; isPending {
						ready = false
					}
				}
			}
			if !ready {
				continue
			}
			local := &hcl.EvalContext{Variables: map[string]cty.Value{"var": ctx.Variables["var"], "local": cty.ObjectVal(done)}, Functions: ctx.Functions}
			val, d := attr.Expr.Value(local)
			diags = append(diags, d...)
			if d.HasErrors() {
				val = cty.DynamicVal
			}
			done[name] = val
			delete(pending, name)
			progress = true
		}
		if !progress {
			names := cycleMembers(pending)
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cycle between locals",
				Detail:  fmt.Sprintf("These locals depend on each other in a circle: %s. Break the circle.", strings.Join(names, ", ")),
				Subject: pending[names[0]].NameRange.Ptr()})
			break
		}
	}
	return done, diags
}

// cycleMembers returns, sorted, the pending locals that are in a cycle:
// those left once the ones no other pending local depends on (which only
// depend on a cycle) are pruned, again and again.
func cycleMembers(pending map[string]*hcl.Attribute) []string {
	deps := map[string][]string{}
	for name, attr := range pending {
		for _, trav := range attr.Expr.Variables() {
			if step, ok := localStep(trav); ok {
				if _, isPending := pending[step]; isPending {
					deps[name] = append(deps[name], step)
				}
			}
		}
	}
	left := map[string]bool{}
	for name := range pending {
		left[name] = true
	}
	for pruned := true; pruned; {
		pruned = false
		needed := map[string]bool{}
		for name := range left {
			for _, dep := range deps[name] {
				needed[dep] = true
			}
		}
		for name := range left {
			if !needed[name] {
				delete(left, name)
				pruned = true
			}
		}
	}
	if len(left) == 0 { // cannot happen when no local could be evaluated
		return sortedKeys(pending)
	}
	return sortedKeys(left)
}

// localStep returns NAME for a traversal local.NAME….
func localStep(trav hcl.Traversal) (string, bool) {
	if trav.RootName() != "local" || len(trav) < 2 {
		return "", false
	}
	step, ok := trav[1].(hcl.TraverseAttr)
	return step.Name, ok
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sortDiags orders diagnostics by file and position, errors and warnings
// mixed, so the output reads top to bottom like the files.
func sortDiags(diags hcl.Diagnostics) hcl.Diagnostics {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		default:
			return a.Start.Byte < b.Start.Byte
		}
	})
	return diags
}

// warnNotRun says plainly, at the block, when no role of this version's
// agent runs a block: it is checked and compiled into the specs, and
// nothing on the hosts acts on it. The warning goes when the role lands
// (spec.Sections marks it run).
func warnNotRun(dec *providers.Decoder, b *hcl.Block, schema *providers.Block) {
	sec := spec.SectionOf(schema.Role)
	if sec == nil || sec.Runs {
		return
	}
	what := b.Type
	if len(b.Labels) > 0 {
		what = fmt.Sprintf("%s %q", b.Type, b.Labels[0])
	}
	dec.Warn(b.DefRange, fmt.Sprintf("%s blocks are not run by this version", b.Type),
		fmt.Sprintf("This version of hactl checks %s and compiles it into the nodes' specs, but its agent has no %s role yet: nothing on the hosts will act on it, and hactl status shows the %s part of those nodes as not run.",
			what, sec.Role, sec.Role))
}
