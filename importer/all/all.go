// Package all lists every input kind of hactl import and runs an import
// of several kinds into one model.
package all

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hactl/hactl/importer"
	"github.com/hactl/hactl/importer/heartbeat"
	"github.com/hactl/hactl/importer/ipvsadm"
	"github.com/hactl/hactl/importer/keepalived"
	"github.com/hactl/hactl/importer/ldirectord"
	"github.com/hactl/hactl/importer/mrtg"
	"github.com/hactl/hactl/importer/pound"
	"github.com/hactl/hactl/importer/rsync"
)

// Kinds are the input kinds, by the word that introduces their files on
// the command line.
var Kinds = map[string]func(*importer.Model, []*importer.Source){
	"heartbeat":  heartbeat.Import,
	"ipvsadm":    ipvsadm.Import,
	"keepalived": keepalived.Import,
	"ldirectord": ldirectord.Import,
	"mrtg":       mrtg.Import,
	"pound":      pound.Import,
	"rsync":      rsync.Import,
}

// KindNames lists the kinds, sorted.
func KindNames() []string { return slices.Sorted(maps.Keys(Kinds)) }

// Input is one kind and its files.
type Input struct {
	Kind  string
	Files []string
}

// ParseArgs splits KIND FILE... [KIND FILE...]... into inputs.
func ParseArgs(args []string) ([]Input, error) {
	var out []Input
	for _, a := range args {
		if _, ok := Kinds[a]; ok {
			out = append(out, Input{Kind: a})
			continue
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%q is not a kind; start with one of %s", a, strings.Join(KindNames(), ", "))
		}
		out[len(out)-1].Files = append(out[len(out)-1].Files, a)
	}
	for _, in := range out {
		if len(in.Files) == 0 {
			return nil, fmt.Errorf("no files after %s", in.Kind)
		}
	}
	return out, nil
}

// Import reads the inputs into one finished model. An error means a file
// could not be read at all; problems inside files are m.Diags.
func Import(inputs []Input, opts importer.Options) (*importer.Model, error) {
	m := importer.NewModel(opts)
	for _, in := range inputs {
		var srcs []*importer.Source
		for _, f := range in.Files {
			s, err := importer.ReadSource(f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", in.Kind, err)
			}
			srcs = append(srcs, s)
		}
		Kinds[in.Kind](m, srcs)
	}
	m.Finish()
	return m, nil
}
