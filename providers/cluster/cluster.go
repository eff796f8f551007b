// Package cluster is the provider of the cluster block: the cluster's name,
// the key that authenticates heartbeats, and the SSH defaults every node
// inherits.
package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/hactl/hactl/agentbin/heartbeat/wire"
	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
)

// Provider decodes the cluster block.
type Provider struct{}

var _ providers.Provider = Provider{}

// SSHBlock is the ssh block, shared by cluster (defaults) and node
// (overrides).
func SSHBlock(defaults bool) *providers.Block {
	def := func(v string) string {
		if defaults {
			return v
		}
		return ""
	}
	doc := "How hactl reaches the nodes over SSH. Every node inherits these settings; a node's own ssh block overrides them one by one. " +
		"What neither block writes is taken, for the node's address, from ~/.ssh/config and /etc/ssh/ssh_config (Host aliases, HostName, User, Port, IdentityFile, ProxyJump, UserKnownHostsFile, HashKnownHosts) before the defaults below, as ssh and Ansible do."
	if !defaults {
		doc = "This node's SSH settings; each attribute set here overrides the cluster's ssh block."
	}
	return &providers.Block{
		Type:   "ssh",
		Single: true,
		Doc:    doc,
		Attrs: []*providers.Attr{
			{Name: "user", Type: providers.String, Default: def(`"root"`), Doc: "Login user."},
			{Name: "port", Type: providers.Port, Default: def(`22`), Doc: "SSH port."},
			{Name: "identity_file", Type: providers.String, Doc: "Private key file. Without it, hactl uses ssh-agent and then ~/.ssh/id_ed25519, id_ecdsa, id_rsa.", Example: `"~/.ssh/id_ed25519"`},
			{Name: "known_hosts_file", Type: providers.String, Default: def(`"~/.ssh/known_hosts"`), Doc: "OpenSSH known_hosts file that host keys are checked against. Unknown or changed keys are refused."},
			{Name: "jump_hosts", Type: providers.StringList, Doc: "Bastions to go through, outermost first, as user@host:port (like ssh -J).", Example: `["admin@bastion.example.net:22"]`},
			{Name: "become", Type: providers.Bool, Default: def(`false`), Doc: "Run commands as root through become_method when user is not root."},
			{Name: "become_method", Type: providers.String, Default: def(`"sudo"`), Enum: []string{"sudo", "doas"}, Doc: "How to become root."},
			{Name: "connect_timeout", Type: providers.Duration, Default: def(`"10s"`), Doc: "How long to wait for a connection and the SSH handshake."},
		},
	}
}

// Schema implements providers.Provider.
func (Provider) Schema() *providers.Block {
	return &providers.Block{
		Type:     "cluster",
		Labels:   []string{"name"},
		Single:   true,
		Required: true,
		Doc:      "Cluster-wide settings. Exactly one per configuration. The label is the cluster's name.",
		Attrs: []*providers.Attr{
			{Name: "key_file", Type: providers.String, Required: true, Doc: "File holding the cluster key that authenticates heartbeats (HMAC-SHA-256), like Heartbeat's authkeys. hactl uploads it to every node with mode 0600 and never prints it. Make one with `head -c 32 /dev/urandom | base64 > cluster.key`.", Example: `"cluster.key"`},
			{Name: "previous_key_file", Type: providers.String, Doc: "During a key rotation, the old key: heartbeats made with either key are accepted until it is removed.", Example: `"cluster.key.old"`},
			{Name: "takes_over", Type: providers.String, Enum: TakeoverServices, Doc: "The HA daemon the nodes run today, which hactl replaces (`hactl import` writes it). While that daemon still runs on some node, `hactl apply` takes over from it node by node instead of all at once: it stops and disables the daemon on the nodes that hold none of the cluster's VIPs, then starts the agent on the node that holds them, which adopts the addresses that are there, waits until the agent runs the groups, and only then kills the daemon (a clean stop would remove the VIPs) and disables it; the other nodes' agents start last. It refuses, before changing anything, when the daemon's state is not that of a healthy active/passive pair (two nodes holding a VIP, none, a holder where neither the daemon nor the agent runs). Once the daemon runs nowhere, the attribute changes nothing. See docs/import.md for the procedure and the rollback.", Example: `"keepalived"`},
		},
		Blocks: []*providers.Block{SSHBlock(true)},
		Example: `cluster "web" {
  key_file = "cluster.key"
  ssh {
    user             = "root"
    known_hosts_file = "known_hosts"
  }
}`,
	}
}

// TakeoverServices are the daemons takes_over may name.
var TakeoverServices = []string{"keepalived", "heartbeat"}

// Decode implements providers.Provider.
func (p Provider) Decode(d *providers.Decoder, c *providers.Content) {
	cl := &d.Topology.Cluster
	cl.Name = c.Label(0)
	cl.KeyFile = c.String("key_file")
	cl.PreviousKeyFile = c.String("previous_key_file")
	cl.TakesOver = c.String("takes_over")
	cl.Range = c.BlockRange()
	cl.SSH = DecodeSSH(c.BlockOrEmpty("ssh"), topology.SSH{})
	checkKey(d, c, "key_file", cl.KeyFile)
	checkKey(d, c, "previous_key_file", cl.PreviousKeyFile)
}

// checkKey reads the key file that attr names and refuses it unless the
// agent would take it (wire.ParseKey): otherwise the mistake shows only
// once the agents start, as heartbeats that no node accepts. The file's
// mode is not checked here: hactl uploads the content with mode 0600.
func checkKey(d *providers.Decoder, c *providers.Content, attr, name string) {
	if name == "" {
		return // not set, or not a string: reported already
	}
	howTo := fmt.Sprintf("Make one with:\n\n  head -c 32 /dev/urandom | base64 > %s\n\n(relative paths are taken from the configuration's directory).", name)
	raw, err := os.ReadFile(providers.LocalPath(d.BaseDir, name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.Error(c.Range(attr), "Cluster key file not found",
			fmt.Sprintf("%s does not exist. hactl uploads it to every node to authenticate the heartbeats. %s", name, howTo))
		return
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		d.Error(c.Range(attr), "Cannot read the cluster key file",
			fmt.Sprintf("%s: %v. Check that it is a file you may read.", name, err))
		return
	}
	if _, err := wire.ParseKey(raw); err != nil {
		d.Error(c.Range(attr), "Not a usable cluster key",
			fmt.Sprintf("%s: %v; the agents would refuse it. %s", name, err, howTo))
	}
}

// DecodeSSH returns base with every attribute the ssh block sets (or
// defaults, for the cluster's block) applied over it.
func DecodeSSH(c *providers.Content, base topology.SSH) topology.SSH {
	if c == nil {
		return base
	}
	set := func(name string, apply func()) {
		if c.Has(name) || c.HasDefault(name) {
			apply()
		}
	}
	// defaulted notes whether the value came from the schema's default,
	// which the operator's ~/.ssh/config overrides (remote.SSHConfig).
	defaulted := func(name string, mark *bool) {
		if c.Has(name) || c.HasDefault(name) {
			*mark = !c.Has(name)
		}
	}
	set("user", func() { base.User = c.String("user") })
	set("port", func() { base.Port = c.Port("port") })
	set("identity_file", func() { base.IdentityFile = c.String("identity_file") })
	set("known_hosts_file", func() { base.KnownHostsFile = c.String("known_hosts_file") })
	defaulted("user", &base.Defaulted.User)
	defaulted("port", &base.Defaulted.Port)
	defaulted("known_hosts_file", &base.Defaulted.KnownHostsFile)
	set("jump_hosts", func() { base.JumpHosts = c.Strings("jump_hosts") })
	set("become", func() { base.Become = c.Bool("become") })
	set("become_method", func() { base.BecomeMethod = c.String("become_method") })
	set("connect_timeout", func() { base.ConnectTimeout = c.Duration("connect_timeout") })
	return base
}
