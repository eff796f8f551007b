package providers

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/plan/topology"
)

// Compiler is implemented by providers whose blocks put something in a
// node's agent spec.
type Compiler interface {
	Compile(c *CompileContext)
}

// CompileContext is one node's spec being built from the topology.
type CompileContext struct {
	Topology *topology.Topology
	Node     *topology.Node
	Spec     *spec.Spec
	// BaseDir is where relative file paths of the configuration start.
	BaseDir string
	// Files are the secret files to upload with the spec: node path →
	// content. Their content never goes into the spec, only a digest.
	Files map[string][]byte
	// DigestKey keys the digests of secrets in the spec (spec.DigestKey).
	DigestKey []byte
	Diags     hcl.Diagnostics
}

// Secret reads a local file named by the configuration, registers it for
// upload to the node under layout.SecretsDir and returns its path there. A
// file that cannot be read is an error at rng.
func (c *CompileContext) Secret(name, localPath string, rng topology.Range) string {
	return c.SecretFrom(name, "", localPath, rng)
}

// SecretFrom is Secret for a value the configuration may give inline
// instead of in a file (password and password_file): the inline value,
// when there is one, is carried exactly as a file's content would be, so
// that it too reaches the node only as a file of mode 0600 and the spec
// only as a digest.
func (c *CompileContext) SecretFrom(name, inline, localPath string, rng topology.Range) string {
	data := []byte(inline)
	if inline == "" {
		if localPath == "" {
			return ""
		}
		var ok bool
		if data, ok = c.readSecretFile(name, localPath, rng); !ok {
			return ""
		}
	}
	remote, err := spec.SecretPath(name)
	if err != nil {
		c.Diags = append(c.Diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid secret name",
			Detail:  fmt.Sprintf("%v: it would be written outside %s on the node. Rename the block it comes from.", err, layout.SecretsDir),
			Subject: FromTopo(rng).Ptr()})
		return ""
	}
	c.Files[remote] = data
	for _, s := range c.Spec.Secrets {
		if s.Path == remote {
			return remote
		}
	}
	c.Spec.Secrets = append(c.Spec.Secrets, spec.Secret{Name: name, Path: remote, Digest: spec.SecretDigest(c.DigestKey, spec.HashBytes(data))})
	return remote
}

func (c *CompileContext) readSecretFile(name, localPath string, rng topology.Range) ([]byte, bool) {
	data, err := os.ReadFile(LocalPath(c.BaseDir, localPath))
	if err != nil {
		c.Diags = append(c.Diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read secret file",
			Detail:  fmt.Sprintf("%s: %s. The file is uploaded to the nodes, so it must exist where hactl runs.", name, strings.TrimPrefix(err.Error(), "open ")),
			Subject: FromTopo(rng).Ptr()})
		return nil, false
	}
	return data, true
}

// LocalPath resolves a path of the configuration naming a file where hactl
// runs: ~/ is the user's home, and a relative path is taken from baseDir,
// the configuration's directory.
func LocalPath(baseDir, p string) string {
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[2:])
		}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(baseDir, p)
	}
	return p
}

// MS converts a duration to whole milliseconds for the spec.
func MS(d time.Duration) int { return int(d / time.Millisecond) }

// DigestKey is the key of the configuration's secret digests, derived from
// its cluster key (spec.DigestKey).
func DigestKey(t *topology.Topology, baseDir string) ([]byte, error) {
	if t.Cluster.KeyFile == "" {
		return nil, errors.New("the configuration has no cluster key_file")
	}
	data, err := os.ReadFile(LocalPath(baseDir, t.Cluster.KeyFile))
	if err != nil {
		return nil, err
	}
	return spec.DigestKey(data), nil
}

// CompileNode builds the spec of one node from every compiling provider.
func CompileNode(t *topology.Topology, n *topology.Node, baseDir string) (*spec.Spec, map[string][]byte, hcl.Diagnostics) {
	c := &CompileContext{
		Topology: t,
		Node:     n,
		Spec:     &spec.Spec{FormatVersion: spec.FormatVersion, Cluster: t.Cluster.Name, Node: n.Name},
		BaseDir:  baseDir,
		Files:    map[string][]byte{},
	}
	key, err := DigestKey(t, baseDir)
	if err != nil {
		return c.Spec, c.Files, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read the cluster key",
			Detail:  fmt.Sprintf("%s. Secrets are digested with a key derived from it, so it must exist where hactl runs.", strings.TrimPrefix(err.Error(), "open ")),
			Subject: FromTopo(t.Cluster.Range).Ptr()}}
	}
	c.DigestKey = key
	for _, p := range All() {
		if comp, ok := p.(Compiler); ok {
			comp.Compile(c)
		}
	}
	// The agent checks its spec before taking it; a value the language let
	// through and the agent would refuse is caught here, before any host is
	// touched, rather than in the middle of an apply.
	if !c.Diags.HasErrors() {
		if err := c.Spec.Validate(); err != nil {
			c.Diags = append(c.Diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("The agent would refuse the spec of node %s", n.Name),
				Detail: fmt.Sprintf("%v\nChange the configuration so that these values are within their bounds.", err), Subject: FromTopo(n.Range).Ptr()})
		}
	}
	return c.Spec, c.Files, c.Diags
}
