package observe

import "flag"

// The -update flag regenerates golden files (go test ./... -update); every
// test binary must accept it, even one without golden files.
var _ = flag.Bool("update", false, "rewrite golden files")
