package pound

import (
	"testing"

	"github.com/hactl/hactl/importer/internal/fuzzimport"
)

// FuzzPound asserts that no input makes the pound import panic or hang,
// and that every diagnostic it gives has a place.
func FuzzPound(f *testing.F) {
	fuzzimport.Seeds(f, "../testdata/guide/pound-proxy/pound.cfg")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzimport.Run(t, data, Import) })
}
