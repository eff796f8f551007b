// Package providers holds what every block kind of the language shares: the
// schema description (which drives decoding, built-in checks and the
// language reference), the Decoder with its typed getters, and the registry.
// Each block kind lives in its own sub-package (node, heartbeat, group, lvs,
// proxy, sync, monitor…) that knows its schema, how it decodes into the
// topology, and how to check it; adding a kind is adding a package and one
// line in providers/all.
package providers

import "fmt"

// Provider is one top-level block kind of the language.
type Provider interface {
	// Schema describes the block, its attributes and nested blocks.
	Schema() *Block
	// Decode adds the block's content to d.Topology. References to other
	// blocks are resolved in functions queued with d.Later.
	Decode(d *Decoder, c *Content)
}

// Validator is implemented by providers that check the whole decoded
// topology: cross-references, and rules that span several blocks.
type Validator interface {
	Validate(d *Decoder)
}

var registry []Provider

// Register adds providers to the language, in the order the reference
// documents them. It panics on a duplicate block type: that is a bug.
func Register(ps ...Provider) {
	for _, p := range ps {
		if ForType(p.Schema().Type) != nil {
			panic(fmt.Sprintf("providers: block type %q registered twice", p.Schema().Type))
		}
		registry = append(registry, p)
	}
}

// All returns the registered providers.
func All() []Provider { return registry }

// ForType returns the provider of a top-level block type, or nil.
func ForType(typ string) Provider {
	for _, p := range registry {
		if p.Schema().Type == typ {
			return p
		}
	}
	return nil
}
