package rsync

import (
	"testing"

	"github.com/hactl/hactl/importer/internal/fuzzimport"
)

// FuzzRsync asserts that no input makes the rsync import panic or hang,
// and that every diagnostic it gives has a place.
func FuzzRsync(f *testing.F) {
	fuzzimport.Seeds(f, "../testdata/guide/rsync-docroot/*")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzimport.Run(t, data, Import) })
}
