package mrtg

import (
	"testing"

	"github.com/hactl/hactl/importer/internal/fuzzimport"
)

// FuzzMrtg asserts that no input makes the mrtg import panic or hang,
// and that every diagnostic it gives has a place.
func FuzzMrtg(f *testing.F) {
	fuzzimport.Seeds(f, "../testdata/guide/monitoring/mrtg.cfg", "../testdata/more/mrtg-v3/mrtg.cfg")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzimport.Run(t, data, Import) })
}
