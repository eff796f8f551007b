package spec

import (
	"fmt"
	"path"
	"strings"

	"github.com/hactl/hactl/agentbin/layout"
)

// SecretPath is where the secret file called name lives on a node: a file
// directly in layout.SecretsDir. Names come from block labels; a name that
// is not one plain path element ("../x", "a/b", "..", one with a NUL or a
// newline) would put a secret, written as root, somewhere else, so it is
// refused rather than cleaned up.
func SecretPath(name string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.HasPrefix(name, "-") ||
		strings.ContainsAny(name, "/\\\x00\n\r") || path.Base(name) != name {
		return "", fmt.Errorf("secret name %q is not a plain file name", name)
	}
	return path.Join(layout.SecretsDir, name), nil
}

// InSecretsDir says whether p is a file directly in layout.SecretsDir, as
// SecretPath makes them.
func InSecretsDir(p string) bool {
	dir, name := path.Split(p)
	want, err := SecretPath(name)
	return err == nil && dir == layout.SecretsDir+"/" && want == p
}
