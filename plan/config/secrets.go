package config

import (
	"bytes"

	"github.com/hashicorp/hcl/v2"
)

// maskSecrets replaces, in the sources kept for printing diagnostics, the
// secrets written literally at ranges with asterisks, so that a diagnostic
// on that line (the inline-secret warning first of all) shows where the
// secret is but not what it is. Byte offsets stay the same, so every other
// diagnostic still points at the right place.
func maskSecrets(files map[string]*hcl.File, ranges []hcl.Range) {
	for _, r := range ranges {
		f := files[r.Filename]
		if f == nil || r.Start.Byte < 0 || r.End.Byte > len(f.Bytes) || r.Start.Byte >= r.End.Byte {
			continue
		}
		masked := bytes.Clone(f.Bytes)
		start, end := r.Start.Byte, r.End.Byte
		if masked[start] == '"' && end-start >= 2 && masked[end-1] == '"' {
			start, end = start+1, end-1 // keep the quotes: it still reads as a string
		}
		for i := start; i < end; i++ {
			if masked[i] != '\n' {
				masked[i] = '*'
			}
		}
		files[r.Filename] = &hcl.File{Body: f.Body, Bytes: masked, Nav: f.Nav}
	}
}
