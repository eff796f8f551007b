package providers

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"
)

// FunctionDoc describes one function of the expression language, for the
// reference. The loader that defines the functions supplies them, since
// this package does not know them.
type FunctionDoc struct {
	Name      string
	Signature string // like "cidrhost(prefix, hostnum)"
	Doc       string
}

// WriteReference renders the language reference (docs/language.md): an
// introduction to files, references, variables, locals, functions and
// value syntax, then every block of every provider with its attributes and
// nested blocks. It is generated from the schema, so the document cannot
// miss a block or disagree with a default.
func WriteReference(w io.Writer, ps []Provider, fns []FunctionDoc) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(referenceIntro)
	bw.WriteString("\n## Functions\n\n")
	bw.WriteString("Expressions may call these functions. Paths given to `file` and `fileexists` are relative to the directory of the configuration.\n\n")
	bw.WriteString("| Function | Description |\n|---|---|\n")
	for _, f := range fns {
		fmt.Fprintf(bw, "| `%s` | %s |\n", f.Signature, cell(f.Doc))
	}
	bw.WriteString("\n## Blocks\n\n")
	for _, p := range ps {
		s := p.Schema()
		fmt.Fprintf(bw, "- [`%s`](#%s)\n", s.Type, anchor(s.Type))
	}
	for _, p := range ps {
		p.Schema().Walk(func(path string, b *Block) { writeBlock(bw, path, b) })
	}
	return bw.Flush()
}

// SectionHeading is the heading under which the reference documents the
// block at path ("group.vip"); tests look blocks up by it.
func SectionHeading(path string) string {
	level := "##"
	if n := strings.Count(path, "."); n > 0 {
		level = "###"
	}
	return fmt.Sprintf("%s `%s`", level, path)
}

func writeBlock(w *bufio.Writer, path string, b *Block) {
	fmt.Fprintf(w, "\n%s\n\n", SectionHeading(path))
	fmt.Fprintf(w, "```hcl\n%s\n```\n\n", header(b))
	w.WriteString(b.Doc + "\n")
	var notes []string
	if len(b.Labels) > 0 {
		notes = append(notes, "Labels: "+quoteAll(b.Labels)+".")
	}
	parent := "the file"
	if i := strings.LastIndex(path, "."); i >= 0 {
		parent = "`" + path[:i] + "`"
	}
	switch {
	case b.Required && b.Single:
		notes = append(notes, "Exactly one in "+parent+".")
	case b.Required:
		notes = append(notes, "At least one in "+parent+".")
	case b.Single:
		notes = append(notes, "At most one in "+parent+".")
	default:
		notes = append(notes, "Any number in "+parent+".")
	}
	if len(b.Blocks) > 0 {
		var nested []string
		for _, nb := range b.Blocks {
			p := path + "." + nb.Type
			nested = append(nested, fmt.Sprintf("[`%s`](#%s)", nb.Type, anchor(p)))
		}
		notes = append(notes, "Nested blocks: "+strings.Join(nested, ", ")+".")
	}
	fmt.Fprintf(w, "\n%s\n", strings.Join(notes, " "))
	if len(b.Attrs) > 0 {
		w.WriteString("\n| Attribute | Type | Required / default | Description |\n|---|---|---|---|\n")
		for _, a := range b.Attrs {
			fmt.Fprintf(w, "| `%s` | %s | %s | %s |\n", a.Name, typeName(a), requirement(a), cell(attrDoc(a)))
		}
	}
	fmt.Fprintf(w, "\nExample:\n\n```hcl\n%s\n```\n", example(b))
}

func header(b *Block) string {
	s := b.Type
	for _, l := range b.Labels {
		s += ` "` + strings.ToUpper(l) + `"`
	}
	return s + " { ... }"
}

func typeName(a *Attr) string {
	if a.RefKind != "" {
		if a.Type == RefList {
			return "list(" + a.RefKind + ")"
		}
		return a.RefKind
	}
	return a.Type.Name()
}

func requirement(a *Attr) string {
	switch {
	case a.Required:
		return "required"
	case a.Default != "":
		return "`" + a.Default + "`"
	}
	return "optional"
}

func attrDoc(a *Attr) string {
	doc := a.Doc
	if len(a.Enum) > 0 {
		doc += " One of " + EnumDoc(a.Enum) + "."
	}
	if a.Secret {
		doc += fmt.Sprintf(" Written literally in the file, it gives a warning: take it from a variable, or use `%s`.", a.SecretFile)
	}
	if a.Example != "" {
		doc += " Example: `" + a.Example + "`."
	}
	return doc
}

// example is the block's own example, or one made of the examples of its
// required attributes and of those that have one.
func example(b *Block) string {
	if b.Example != "" {
		return strings.TrimSpace(string(hclwrite.Format([]byte(b.Example))))
	}
	var sb strings.Builder
	sb.WriteString(b.Type)
	for _, l := range b.Labels {
		sb.WriteString(` "` + l + `"`)
	}
	sb.WriteString(" {\n")
	for _, a := range b.Attrs {
		v := a.Example
		if v == "" && a.Required {
			v = a.Default
		}
		if v != "" {
			fmt.Fprintf(&sb, "%s = %s\n", a.Name, v)
		}
	}
	sb.WriteString("}\n")
	return strings.TrimSpace(string(hclwrite.Format([]byte(sb.String()))))
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// anchor is the GitHub anchor of a heading `path`.
func anchor(path string) string {
	return strings.ReplaceAll(path, ".", "")
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = "`" + s + "`"
	}
	return strings.Join(q, ", ")
}
