package heartbeat

import (
	"testing"

	"github.com/hactl/hactl/importer/internal/fuzzimport"
)

// FuzzHeartbeat asserts that no input makes the heartbeat import panic or hang,
// and that every diagnostic it gives has a place.
func FuzzHeartbeat(f *testing.F) {
	fuzzimport.Seeds(f, "../testdata/guide/*/ha.cf", "../testdata/guide/*/haresources", "../testdata/guide/*/authkeys", "../testdata/guide/*/*.xml")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzimport.Run(t, data, Import) })
}
