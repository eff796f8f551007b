package ipvsadm

import (
	"testing"

	"github.com/hactl/hactl/importer/internal/fuzzimport"
)

// FuzzIpvsadm asserts that no input makes the ipvsadm import panic or hang,
// and that every diagnostic it gives has a place.
func FuzzIpvsadm(f *testing.F) {
	fuzzimport.Seeds(f, "../testdata/guide/lvs-nat/ipvsadm.sh")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzimport.Run(t, data, Import) })
}
