package mon

import (
	"testing"

	"github.com/hactl/hactl/importer/internal/fuzzimport"
)

// FuzzMon asserts that no input makes the mon.cf import panic or hang,
// and that every diagnostic it gives has a place.
func FuzzMon(f *testing.F) {
	fuzzimport.Seeds(f, "../testdata/more/mon/mon.cf")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzimport.Run(t, data, Import) })
}
