package providers

import "strings"

// Type is the type of an attribute as the operator writes it. It drives
// decoding, the checks every attribute gets for free, and the language
// reference in docs/language.md.
type Type int

// Attribute types.
const (
	String     Type = iota
	Number          // a whole number
	Bool            // true or false
	Duration        // "500ms", "2s", "1m", "7d"
	StringList      // ["a", "b"]
	NumberList      // [200, 301]
	StringMap       // { key = "value" }
	CIDR            // "192.168.0.0/24" or an address with a prefix length
	IPAddress       // "192.168.0.3" or "fe80::1"
	Port            // 1-65535
	Size            // "10M", "512K", "1G" or a number of bytes
	Ref             // a reference to another block: node.h2g
	RefList         // a list of references: [node.h2g, node.c2g]
	Real            // a number, not necessarily whole: 0.8, 90, 1e6
)

// Name is how the type is written in the language reference.
func (t Type) Name() string {
	switch t {
	case String:
		return "string"
	case Number:
		return "number"
	case Bool:
		return "bool"
	case Duration:
		return "duration"
	case StringList:
		return "list(string)"
	case NumberList:
		return "list(number)"
	case StringMap:
		return "map(string)"
	case CIDR:
		return "cidr"
	case IPAddress:
		return "ip address"
	case Port:
		return "port"
	case Size:
		return "size"
	case Ref:
		return "reference"
	case RefList:
		return "list(reference)"
	case Real:
		return "number"
	}
	return "unknown"
}

// Expect says, for a message, what a value of the type looks like as the
// operator writes it.
func (t Type) Expect() string {
	switch t {
	case String:
		return `a string in quotes, like "eth0"`
	case Number:
		return "a whole number, like 3"
	case Bool:
		return "true or false"
	case Duration:
		return `a duration in quotes, like "500ms", "2s" or "1m"`
	case StringList:
		return `a list of strings, like ["a", "b"]`
	case NumberList:
		return "a list of numbers, like [200, 301]"
	case StringMap:
		return `a map of strings, like { key = "value" }`
	case CIDR:
		return `an address with a prefix length in quotes, like "192.168.0.0/24"`
	case IPAddress:
		return `an IP address in quotes, like "192.168.0.3"`
	case Port:
		return "a port number from 1 to 65535, like 80"
	case Size:
		return `a size in quotes, like "10M", "512K" or "1G"`
	case Ref:
		return "a reference to a block, like node.h2g"
	case RefList:
		return "a list of references, like [node.h2g, node.c2g]"
	case Real:
		return "a number, like 0.8 or 1e6"
	}
	return "a value"
}

// Attr describes one attribute of a block.
type Attr struct {
	Name     string
	Type     Type
	Required bool
	// Default is the value used when the attribute is absent, written as the
	// operator would write it; it is parsed with the attribute's type, so the
	// documented default and the real one cannot disagree.
	Default string
	Doc     string
	// Enum lists the accepted values of a String attribute.
	Enum []string
	// RefKind is the block kind a Ref or RefList points at: "node", "vip"…
	RefKind string
	// Secret marks a value that may also be given in a file, the attribute
	// named by SecretFile; either way it reaches the node only as a secret
	// file. Written literally in the configuration it gets a warning.
	Secret     bool
	SecretFile string
	// SensitiveMap marks a map attribute whose values may each be
	// sensitive (Sensitive): the provider carries those as secrets.
	SensitiveMap bool
	Example      string
}

// Block describes a block: its labels, attributes and nested blocks.
type Block struct {
	Type   string
	Labels []string
	Doc    string
	Attrs  []*Attr
	Blocks []*Block
	// Single means the block may appear at most once in its parent.
	Single bool
	// Required means the block must appear at least once in its parent.
	Required bool
	// Role is the agent role that runs a top-level block (its section in
	// spec.Sections). While this version's agent has no such role, the
	// loader warns at every block of the kind that nothing will run it.
	Role    string
	Example string
}

// Attr returns the attribute with the name, or nil.
func (b *Block) Attr(name string) *Attr {
	for _, a := range b.Attrs {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// Block returns the nested block with the type, or nil.
func (b *Block) Block(typ string) *Block {
	for _, nb := range b.Blocks {
		if nb.Type == typ {
			return nb
		}
	}
	return nil
}

// Walk calls fn for b and every block nested in it, with the path of block
// types that leads there ("group", "group.vip"…).
func (b *Block) Walk(fn func(path string, blk *Block)) {
	b.walk("", fn)
}

func (b *Block) walk(prefix string, fn func(string, *Block)) {
	path := b.Type
	if prefix != "" {
		path = prefix + "." + b.Type
	}
	fn(path, b)
	for _, nb := range b.Blocks {
		nb.walk(path, fn)
	}
}

// EnumDoc renders an enum list for documentation and messages.
func EnumDoc(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = `"` + v + `"`
	}
	return strings.Join(quoted, ", ")
}
