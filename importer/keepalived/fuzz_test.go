package keepalived

import (
	"testing"

	"github.com/hactl/hactl/importer/internal/fuzzimport"
)

// FuzzKeepalived asserts that no input makes the keepalived import panic or hang,
// and that every diagnostic it gives has a place.
func FuzzKeepalived(f *testing.F) {
	fuzzimport.Seeds(f, "../testdata/keepalived/samples/*", "../testdata/keepalived/pair/*/conf.d/*.conf")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzimport.Run(t, data, Import) })
}
