package ldirectord

import (
	"testing"

	"github.com/hactl/hactl/importer/internal/fuzzimport"
)

// FuzzLdirectord asserts that no input makes the ldirectord import panic or hang,
// and that every diagnostic it gives has a place.
func FuzzLdirectord(f *testing.F) {
	fuzzimport.Seeds(f, "../testdata/ldirectord/ldirectord.cf")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzimport.Run(t, data, Import) })
}
