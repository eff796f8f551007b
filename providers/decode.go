package providers

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"net/netip"
	"regexp/syntax"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/hactl/hactl/plan/topology"
)

// Decoder turns HCL blocks into the topology. It collects diagnostics rather
// than stopping at the first one, so that the operator sees every problem of
// a file at once.
type Decoder struct {
	Topology *topology.Topology
	Ctx      *hcl.EvalContext
	Diags    hcl.Diagnostics
	// BaseDir is the configuration's directory, which relative paths of
	// local files (key_file) are taken from.
	BaseDir string
	// Secrets are where secrets are written literally in the files: a
	// printed source snippet must mask them.
	Secrets []hcl.Range

	declared map[string]map[string]hcl.Range
	later    []func()
}

// NewDecoder returns a decoder that evaluates expressions in ctx.
func NewDecoder(ctx *hcl.EvalContext) *Decoder {
	return &Decoder{
		Topology: &topology.Topology{},
		Ctx:      ctx,
		declared: map[string]map[string]hcl.Range{},
	}
}

// Error records an error diagnostic.
func (d *Decoder) Error(rng hcl.Range, summary, detail string) {
	d.Diags = append(d.Diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: rng.Ptr()})
}

// Warn records a warning diagnostic.
func (d *Decoder) Warn(rng hcl.Range, summary, detail string) {
	d.Diags = append(d.Diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary, Detail: detail, Subject: rng.Ptr()})
}

// Declare registers a block of a kind ("node", "virtual_service") whose name
// must be unique in the whole configuration, and reports a duplicate. It
// returns false when the name was already taken.
func (d *Decoder) Declare(kind, name string, rng hcl.Range) bool {
	return d.DeclareIn("", kind, name, rng)
}

// DeclareIn is Declare for a block whose name need only be unique inside
// its parent, given as the operator writes it: `virtual_service "https"`.
func (d *Decoder) DeclareIn(parent, kind, name string, rng hcl.Range) bool {
	key := kind
	if parent != "" {
		key = parent + " " + kind
	}
	names := d.declared[key]
	if names == nil {
		names = map[string]hcl.Range{}
		d.declared[key] = names
	}
	first, ok := names[name]
	if !ok {
		names[name] = rng
		return true
	}
	// The messages name the kind once and never pluralise it: kinds are
	// block types like real_server, and "Names of real_servers" is not
	// English.
	in := ""
	if parent != "" {
		in = " in " + parent
	}
	d.Error(rng, fmt.Sprintf("Duplicate %s %q%s", kind, name, in),
		fmt.Sprintf("Another %s named %q is declared%s at %s. Rename one of them.", kind, name, in, first))
	return false
}

// Later runs fn once every block has been decoded: references are resolved
// there, so a block may refer to one declared after it or in another file.
func (d *Decoder) Later(fn func()) { d.later = append(d.later, fn) }

// Finish runs the deferred work queued with Later.
func (d *Decoder) Finish() {
	for i := 0; i < len(d.later); i++ {
		d.later[i]()
	}
	d.later = nil
}

// Content is a decoded block body: typed getters over its attributes that
// record a diagnostic and return the zero value when a value is wrong.
type Content struct {
	d        *Decoder
	spec     *Block
	Labels   []string
	DefRange hcl.Range
	attrs    hcl.Attributes
	blocks   hcl.Blocks
	// sensitive are the paths of the sensitive values of each attribute.
	sensitive map[string][]cty.Path
}

// BodySchema is the HCL schema of a block spec.
func BodySchema(spec *Block) *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, a := range spec.Attrs {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: a.Name, Required: a.Required})
	}
	for _, b := range spec.Blocks {
		s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: b.Type, LabelNames: b.Labels})
	}
	return s
}

// Content decodes the body of blk according to spec.
func (d *Decoder) Content(blk *hcl.Block, spec *Block) *Content {
	content, diags := blk.Body.Content(BodySchema(spec))
	d.Diags = append(d.Diags, diags...)
	d.checkLabels(blk, spec)
	c := &Content{d: d, spec: spec, Labels: blk.Labels, DefRange: blk.DefRange}
	if content != nil {
		c.attrs = content.Attributes
		c.blocks = content.Blocks
	}
	d.checkSecrets(c)
	for _, nb := range spec.Blocks {
		found := c.blocks.OfType(nb.Type)
		if nb.Single && len(found) > 1 {
			d.Error(found[1].DefRange, fmt.Sprintf("Duplicate %s block", nb.Type),
				fmt.Sprintf("A %s block may appear only once here; the first one is at %s. Merge them.", nb.Type, found[0].DefRange))
		}
		if nb.Required && len(found) == 0 {
			d.Error(blk.DefRange, fmt.Sprintf("Missing %s block", nb.Type),
				fmt.Sprintf("A %s block needs at least one %s block inside it.", spec.Type, nb.Type))
		}
	}
	return c
}

// Label returns the block's i-th label.
func (c *Content) Label(i int) string {
	if i < len(c.Labels) {
		return c.Labels[i]
	}
	return ""
}

// Blocks returns the nested blocks of the type, decoded, in source order.
func (c *Content) Blocks(typ string) []*Content {
	spec := c.spec.Block(typ)
	if spec == nil {
		panic(fmt.Sprintf("providers: block %s has no nested block %s in its schema", c.spec.Type, typ))
	}
	var out []*Content
	for _, b := range c.blocks.OfType(typ) {
		out = append(out, c.d.Content(b, spec))
	}
	return out
}

// Block returns the first nested block of the type, or nil when absent.
func (c *Content) Block(typ string) *Content {
	if bs := c.Blocks(typ); len(bs) > 0 {
		return bs[0]
	}
	return nil
}

// RawBlocks returns every nested block in source order, for bodies whose
// nested blocks form one ordered list of several kinds.
func (c *Content) RawBlocks() hcl.Blocks { return c.blocks }

// Decode decodes a nested block found through RawBlocks.
func (c *Content) Decode(b *hcl.Block) *Content {
	return c.d.Content(b, c.spec.Block(b.Type))
}

// BlockOrEmpty is Block, but an absent block decodes as an empty one so that
// its attributes take their defaults.
func (c *Content) BlockOrEmpty(typ string) *Content {
	if b := c.Block(typ); b != nil {
		return b
	}
	return c.d.Content(&hcl.Block{Type: typ, Body: hcl.EmptyBody(), DefRange: c.DefRange}, c.spec.Block(typ))
}

// HasDefault says whether the attribute has a default value.
func (c *Content) HasDefault(name string) bool { return c.attrSpec(name).Default != "" }

// Has says whether the attribute was written.
func (c *Content) Has(name string) bool {
	c.attrSpec(name)
	_, ok := c.attrs[name]
	return ok
}

// Range is where the attribute's value is, or the block header when absent.
func (c *Content) Range(name string) hcl.Range {
	if attr, ok := c.attrs[name]; ok {
		return attr.Expr.Range()
	}
	return c.DefRange
}

// TopoRange is Range converted for the model.
func (c *Content) TopoRange(name string) topology.Range { return ToTopo(c.Range(name)) }

// BlockRange is the block header's range, converted for the model.
func (c *Content) BlockRange() topology.Range { return ToTopo(c.DefRange) }

func (c *Content) attrSpec(name string) *Attr {
	a := c.spec.Attr(name)
	if a == nil {
		panic(fmt.Sprintf("providers: block %s has no attribute %s in its schema", c.spec.Type, name))
	}
	return a
}

// value evaluates the attribute, or its default, converted to want.
// ok is false when the attribute is absent without a default, or wrong.
func (c *Content) value(name string, want cty.Type) (cty.Value, bool) {
	a := c.attrSpec(name)
	var expr hcl.Expression
	if attr, ok := c.attrs[name]; ok {
		expr = attr.Expr
	} else if a.Default != "" {
		e, diags := hclsyntax.ParseExpression([]byte(a.Default), "<default of "+name+">", hcl.InitialPos)
		if diags.HasErrors() {
			panic(fmt.Sprintf("providers: bad default %q for %s.%s: %s", a.Default, c.spec.Type, name, diags))
		}
		expr = e
	} else {
		return cty.NilVal, false
	}
	v, diags := expr.Value(c.d.Ctx)
	c.d.Diags = append(c.d.Diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, false
	}
	v = c.unmark(name, v)
	if v.IsNull() {
		return cty.NilVal, false
	}
	if !v.IsWhollyKnown() {
		c.d.Error(expr.Range(), "Value not known", fmt.Sprintf("The value of %q must be known when the file is loaded.", name))
		return cty.NilVal, false
	}
	cv, err := convert.Convert(v, want)
	if err != nil {
		// go-cty's own words ("a bool is required") name neither the
		// attribute nor what to write.
		c.d.Error(expr.Range(), "Incorrect attribute value type",
			fmt.Sprintf("%q must be %s, not %s.", name, a.Type.Expect(), Describe(v, want)))
		return cty.NilVal, false
	}
	return cv, true
}

func (c *Content) errorf(name, summary, format string, args ...any) {
	c.d.Error(c.Range(name), summary, fmt.Sprintf(format, args...))
}

// String returns a string attribute; an Enum attribute must hold one of its
// values.
func (c *Content) String(name string) string {
	v, ok := c.value(name, cty.String)
	if !ok {
		return ""
	}
	s := v.AsString()
	if a := c.attrSpec(name); len(a.Enum) > 0 && !slices.Contains(a.Enum, s) {
		detail := fmt.Sprintf("%q must be one of %s.", name, EnumDoc(a.Enum))
		if sug := Suggest(s, a.Enum); sug != "" {
			detail += fmt.Sprintf(" Did you mean %q?", sug)
		}
		c.errorf(name, fmt.Sprintf("Unknown value for %s", name), "%s", detail)
		return ""
	}
	return s
}

// Int returns a whole-number attribute.
func (c *Content) Int(name string) int {
	v, ok := c.value(name, cty.Number)
	if !ok {
		return 0
	}
	bf := v.AsBigFloat()
	if !bf.IsInt() || bf.Cmp(big.NewFloat(1<<31)) >= 0 || bf.Cmp(big.NewFloat(-(1<<31))) < 0 {
		c.errorf(name, "Invalid number", "%q must be a whole number, not %s.", name, bf.Text('g', 10))
		return 0
	}
	i, _ := bf.Int64()
	return int(i)
}

// Float returns a Real attribute, nil when absent.
func (c *Content) Float(name string) *float64 {
	v, ok := c.value(name, cty.Number)
	if !ok {
		return nil
	}
	f, _ := v.AsBigFloat().Float64()
	return &f
}

// Bool returns a boolean attribute.
func (c *Content) Bool(name string) bool {
	v, ok := c.value(name, cty.Bool)
	return ok && v.True()
}

// Duration returns a duration attribute ("500ms", "2s", "1m30s", "7d").
func (c *Content) Duration(name string) time.Duration {
	v, ok := c.value(name, cty.String)
	if !ok {
		return 0
	}
	d, err := ParseDuration(v.AsString())
	if err != nil {
		c.errorf(name, "Invalid duration", "%q: %s. Write a number with a unit, like \"500ms\", \"2s\", \"1m\" or \"7d\".", name, err)
		return 0
	}
	return d
}

// Strings returns a list-of-strings attribute.
func (c *Content) Strings(name string) []string {
	v, ok := c.value(name, cty.List(cty.String))
	if !ok {
		return nil
	}
	var out []string
	for _, e := range v.AsValueSlice() {
		if e.IsNull() {
			c.errorf(name, "Invalid list element", "%q must not contain null.", name)
			continue
		}
		out = append(out, e.AsString())
	}
	return out
}

// Ints returns a list-of-numbers attribute.
func (c *Content) Ints(name string) []int {
	v, ok := c.value(name, cty.List(cty.Number))
	if !ok {
		return nil
	}
	var out []int
	for _, e := range v.AsValueSlice() {
		if e.IsNull() {
			c.errorf(name, "Invalid list element", "%q must not contain null.", name)
			continue
		}
		bf := e.AsBigFloat()
		i, acc := bf.Int64()
		if !bf.IsInt() || acc != big.Exact {
			c.errorf(name, "Invalid number", "%q must contain whole numbers.", name)
			continue
		}
		out = append(out, int(i))
	}
	return out
}

// StringMap returns a map-of-strings attribute.
func (c *Content) StringMap(name string) map[string]string {
	v, ok := c.value(name, cty.Map(cty.String))
	if !ok {
		return nil
	}
	out := map[string]string{}
	for k, e := range v.AsValueMap() {
		if e.IsNull() {
			c.errorf(name, "Invalid map value", "%q must not contain null.", name)
			continue
		}
		out[k] = e.AsString()
	}
	return out
}

// Prefix returns a CIDR attribute: an address with a prefix length.
func (c *Content) Prefix(name string) netip.Prefix {
	v, ok := c.value(name, cty.String)
	if !ok {
		return netip.Prefix{}
	}
	p, err := netip.ParsePrefix(v.AsString())
	if err != nil {
		c.errorf(name, "Invalid CIDR", "%q: %s. Write an address with a prefix length, like \"192.168.0.0/24\" or \"2001:db8::/64\".", name, prefixProblem(v.AsString()))
		return netip.Prefix{}
	}
	return p
}

// Addr returns an IP address attribute.
func (c *Content) Addr(name string) netip.Addr {
	v, ok := c.value(name, cty.String)
	if !ok {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(v.AsString())
	if err != nil {
		c.errorf(name, "Invalid IP address", "%q: %s. Write an IPv4 or IPv6 address, like \"192.168.0.3\" or \"2001:db8::3\".", name, addrProblem(v.AsString()))
		return netip.Addr{}
	}
	return a
}

// Addrs returns a list-of-IP-addresses attribute.
func (c *Content) Addrs(name string) []netip.Addr {
	var out []netip.Addr
	for _, s := range c.Strings(name) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			c.errorf(name, "Invalid IP address", "%q: %s. Write IPv4 or IPv6 addresses, like [\"192.168.0.1\"].", name, addrProblem(s))
			continue
		}
		out = append(out, a)
	}
	return out
}

// Port returns a TCP/UDP port attribute.
func (c *Content) Port(name string) int {
	if _, ok := c.value(name, cty.Number); !ok {
		return 0
	}
	p := c.Int(name)
	if p < 1 || p > 65535 {
		c.errorf(name, "Invalid port", "%q must be between 1 and 65535, not %d.", name, p)
		return 0
	}
	return p
}

// Size returns a byte-count attribute: a number of bytes, or a number with
// a K, M or G suffix (powers of 1024).
func (c *Content) Size(name string) int64 {
	v, ok := c.value(name, cty.String)
	if !ok {
		return 0
	}
	n, err := ParseSize(v.AsString())
	if err != nil {
		c.errorf(name, "Invalid size", "%q: %s. Write a number of bytes or a number with K, M or G, like \"10M\".", name, err)
		return 0
	}
	return n
}

// Ref returns the name a reference attribute points at, like "h2g" for
// node.h2g, and the reference's range. The caller resolves it with Later.
func (c *Content) Ref(name string) (string, hcl.Range) {
	a := c.attrSpec(name)
	attr, ok := c.attrs[name]
	if !ok {
		return "", c.DefRange
	}
	return c.parseRef(a, attr.Expr), attr.Expr.Range()
}

// RefItem is one element of a reference list.
type RefItem struct {
	Name  string
	Range hcl.Range
}

// Refs returns the names a reference-list attribute points at.
func (c *Content) Refs(name string) []RefItem {
	a := c.attrSpec(name)
	attr, ok := c.attrs[name]
	if !ok {
		return nil
	}
	exprs, diags := hcl.ExprList(attr.Expr)
	if diags.HasErrors() {
		c.d.Error(attr.Expr.Range(), "Invalid reference list",
			fmt.Sprintf("%q must be a list of references, like [%s.a, %s.b].", name, a.RefKind, a.RefKind))
		return nil
	}
	var out []RefItem
	for _, e := range exprs {
		if n := c.parseRef(a, e); n != "" {
			out = append(out, RefItem{Name: n, Range: e.Range()})
		}
	}
	return out
}

func (c *Content) parseRef(a *Attr, expr hcl.Expression) string {
	example := a.RefKind + ".NAME"
	trav, diags := hcl.AbsTraversalForExpr(expr)
	if diags.HasErrors() || len(trav) != 2 {
		detail := fmt.Sprintf("%q must be a reference to a %s, like %s.", a.Name, a.RefKind, example)
		if v, vd := expr.Value(nil); !vd.HasErrors() && v.Type() == cty.String && !v.IsNull() {
			detail = fmt.Sprintf("%q must be a reference, not a string: write %s.%s without quotes.", a.Name, a.RefKind, v.AsString())
		}
		c.d.Error(expr.Range(), "Invalid reference", detail)
		return ""
	}
	attrStep, ok := trav[1].(hcl.TraverseAttr)
	if trav.RootName() != a.RefKind || !ok {
		c.d.Error(expr.Range(), "Invalid reference",
			fmt.Sprintf("%q must be a reference to a %s, like %s; %s is not one.", a.Name, a.RefKind, example, trav.RootName()))
		return ""
	}
	return attrStep.Name
}

// Lookup resolves a reference once every block is decoded: it returns the
// declared object of the kind, or records "undeclared" with a suggestion.
func Lookup[T any](d *Decoder, kind, name string, rng hcl.Range, objects map[string]T) (T, bool) {
	obj, ok := objects[name]
	if !ok && name != "" {
		names := make([]string, 0, len(objects))
		for n := range objects {
			names = append(names, n)
		}
		sort.Strings(names)
		detail := fmt.Sprintf("There is no %s named %q.", kind, name)
		if sug := Suggest(name, names); sug != "" {
			detail += fmt.Sprintf(" Did you mean %s.%s?", kind, sug)
		} else if len(names) > 0 {
			detail += fmt.Sprintf(" Declared %ss: %s.", kind, strings.Join(names, ", "))
		} else {
			detail += fmt.Sprintf(" Declare it with a %s block.", kind)
		}
		d.Error(rng, fmt.Sprintf("Reference to undeclared %s", kind), detail)
	}
	return obj, ok
}

// RegexpProblem says what is wrong with a regular expression that does not
// compile, without Go's "error parsing regexp:" prefix.
func RegexpProblem(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("%s in %q", se.Code, se.Expr)
	}
	return err.Error()
}

// HostPortProblem says what is wrong with s as host:port, or "" when
// nothing is.
func HostPortProblem(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "[") {
			return fmt.Sprintf("%q is not host:port: an IPv6 address goes in brackets", s)
		}
		return fmt.Sprintf("%q is not host:port", s)
	}
	if host == "" {
		return fmt.Sprintf("%q has no host before the colon", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Sprintf("the port %q of %q is not a number from 1 to 65535", port, s)
	}
	return ""
}

// prefixProblem says in words what is wrong with s as a CIDR; netip's
// errors quote its own function call.
func prefixProblem(s string) string {
	addr, bits, ok := strings.Cut(s, "/")
	if !ok {
		return fmt.Sprintf("%q has no prefix length (the /24 part)", s)
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addrProblem(addr)
	}
	n, err := strconv.Atoi(bits)
	switch {
	case err != nil || bits == "" || bits[0] == '+' || bits[0] == '-':
		return fmt.Sprintf("the prefix length %q of %q is not a number", bits, s)
	case n > a.BitLen():
		return fmt.Sprintf("the prefix length /%d of %q is too long: an %s address has %d bits", n, s, ipVersion(a), a.BitLen())
	}
	return fmt.Sprintf("%q is not an address with a prefix length", s)
}

// addrProblem says in words what is wrong with s as an IP address.
func addrProblem(s string) string {
	switch {
	case s == "":
		return "the address is empty"
	case strings.Contains(s, "/"):
		return fmt.Sprintf("%q has a prefix length, which does not belong here", s)
	case strings.Count(s, ".") > 0 && strings.Count(s, ".") != 3 && !strings.Contains(s, ":"):
		return fmt.Sprintf("%q does not have the four numbers of an IPv4 address", s)
	}
	return fmt.Sprintf("%q is not an IP address", s)
}

func ipVersion(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// Describe names a value the way the operator wrote it, for messages that
// say what was expected instead: the string "sometimes", the number 1.5, a
// list. For a list or map that should hold want's elements, it names the
// first element that does not fit.
func Describe(v cty.Value, want cty.Type) string {
	t := v.Type()
	switch {
	case v.IsNull():
		return "null"
	case !v.IsKnown():
		return "an unknown value"
	case t == cty.String:
		s := v.AsString()
		if len(s) > 40 {
			s = s[:37] + "..."
		}
		return fmt.Sprintf("the string %q", s)
	case t == cty.Number:
		return "the number " + v.AsBigFloat().Text('g', 10)
	case t == cty.Bool:
		return fmt.Sprint(v.True())
	case (t.IsListType() || t.IsTupleType() || t.IsSetType()) && (want.IsListType() || want.IsSetType()):
		i := 0
		for it := v.ElementIterator(); it.Next(); i++ {
			_, e := it.Element()
			if _, err := convert.Convert(e, want.ElementType()); err != nil {
				return fmt.Sprintf("a list whose element %d is %s", i+1, Describe(e, want.ElementType()))
			}
		}
		return "a list"
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		return "a list"
	case (t.IsMapType() || t.IsObjectType()) && want.IsMapType():
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			if _, err := convert.Convert(e, want.ElementType()); err != nil {
				return fmt.Sprintf("a map whose %q is %s", k.AsString(), Describe(e, want.ElementType()))
			}
		}
		return "a map"
	case t.IsMapType() || t.IsObjectType():
		return "a map { … }"
	}
	return "a " + t.FriendlyName()
}

// Suggest returns the candidate closest to s, if any is close enough to be
// a likely typo.
func Suggest(s string, candidates []string) string {
	best, bestDist := "", 3
	for _, cand := range candidates {
		if d := levenshtein.Distance(s, cand, nil); d < bestDist {
			best, bestDist = cand, d
		}
	}
	return best
}

// ParseDuration parses Go durations and adds the d (day) and w (week) units
// that retention periods need.
func ParseDuration(s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix, name string
		unit         time.Duration
	}{{"d", "days", 24 * time.Hour}, {"w", "weeks", 7 * 24 * time.Hour}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseUint(num, 10, 32)
			if err != nil {
				return 0, fmt.Errorf("%q is not a whole number of %s", num, u.name)
			}
			if n > uint64(math.MaxInt64/u.unit) {
				return 0, fmt.Errorf("%q is too long", s)
			}
			return time.Duration(n) * u.unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("cannot read %q as a duration", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

// ParseSize parses a byte count with an optional K, M or G suffix.
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	num := strings.TrimSpace(s)
	for suffix, m := range map[string]int64{"K": 1 << 10, "M": 1 << 20, "G": 1 << 30} {
		if rest, ok := strings.CutSuffix(strings.ToUpper(num), suffix); ok {
			num, mult = rest, m
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("cannot read %q as a size", s)
	}
	return n * mult, nil
}

// ToTopo converts an HCL range into the model's.
func ToTopo(r hcl.Range) topology.Range {
	return topology.Range{
		Filename: r.Filename,
		Start:    topology.Pos{Line: r.Start.Line, Column: r.Start.Column, Byte: r.Start.Byte},
		End:      topology.Pos{Line: r.End.Line, Column: r.End.Column, Byte: r.End.Byte},
	}
}

// FromTopo converts a model range back for diagnostics.
func FromTopo(r topology.Range) hcl.Range {
	return hcl.Range{
		Filename: r.Filename,
		Start:    hcl.Pos{Line: r.Start.Line, Column: r.Start.Column, Byte: r.Start.Byte},
		End:      hcl.Pos{Line: r.End.Line, Column: r.End.Column, Byte: r.End.Byte},
	}
}
