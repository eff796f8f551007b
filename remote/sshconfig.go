package remote

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/kevinburke/ssh_config"
)

// SSHConfig is the operator's OpenSSH client configuration (ssh_config(5)):
// what ssh and Ansible would use to reach a host, which hactl honours
// where the target leaves a setting unset. It understands Host and Match
// host blocks, Include, HostName, User, Port, IdentityFile, ProxyJump,
// UserKnownHostsFile and HashKnownHosts; ProxyCommand is refused for the
// hosts it applies to rather than ignored.
type SSHConfig struct {
	configs []*ssh_config.Config // in the order read: the first value wins
}

// DefaultSSHConfigFiles are the files ssh reads when not given -F: the
// user's, then the system's.
func DefaultSSHConfigFiles() []string {
	return []string{expandHome("~/.ssh/config"), "/etc/ssh/ssh_config"}
}

// LoadSSHConfig reads ssh_config files in order of precedence. A missing
// file is skipped. A file that cannot be read or parsed (the parser lacks
// Match exec, for one) is left out and named in the error, which comes
// with the configuration of the other files: the caller warns and goes on
// rather than refusing every host.
func LoadSSHConfig(files ...string) (*SSHConfig, error) {
	c := &SSHConfig{}
	var errs []error
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			var cfg *ssh_config.Config
			if cfg, err = ssh_config.Decode(bytes.NewReader(data)); err == nil {
				c.configs = append(c.configs, cfg)
				continue
			}
		}
		errs = append(errs, fmt.Errorf("ssh config %s: %w; hactl reads it not at all", f, err))
	}
	return c, errors.Join(errs...)
}

// get is the first value set for key for host, "" when none is (or c is
// nil).
func (c *SSHConfig) get(host, key string) string {
	if c == nil {
		return ""
	}
	for _, cfg := range c.configs {
		if v, err := cfg.Get(host, key); err == nil && v != "" {
			return v
		}
	}
	return ""
}

// getAll is every value set for key for host, for keys that accumulate
// (IdentityFile).
func (c *SSHConfig) getAll(host, key string) []string {
	if c == nil {
		return nil
	}
	var out []string
	for _, cfg := range c.configs {
		v, _ := cfg.GetAll(host, key)
		out = append(out, v...)
	}
	return out
}

// hostLogin is how ssh_config says to reach alias: the host to connect
// to, and the user and port when it names them (0 and "" when not).
type hostLogin struct {
	hostname string
	user     string
	port     int
}

// login resolves alias (a name as written in the configuration or on a
// ProxyJump line).
func (c *SSHConfig) login(alias string) (hostLogin, error) {
	l := hostLogin{hostname: alias, user: c.get(alias, "User")}
	if h := c.get(alias, "HostName"); h != "" {
		l.hostname = strings.ReplaceAll(strings.ReplaceAll(h, "%h", alias), "%%", "%")
	}
	if p := c.get(alias, "Port"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return l, fmt.Errorf("ssh config: Port %q for %s is not a port", p, alias)
		}
		l.port = n
	}
	if pc := c.get(alias, "ProxyCommand"); pc != "" && !strings.EqualFold(pc, "none") {
		return l, fmt.Errorf("ssh config: ProxyCommand for %s: hactl does not run proxy commands; use ProxyJump or the node's ssh.jump_hosts", alias)
	}
	return l, nil
}

// proxyJump is the ProxyJump hops for alias, outermost first; nil for none.
func (c *SSHConfig) proxyJump(alias string) []string {
	v := c.get(alias, "ProxyJump")
	if v == "" || strings.EqualFold(v, "none") {
		return nil
	}
	return strings.Split(v, ",")
}

// identityFiles is the IdentityFile entries for alias, with ~ and the
// %d, %u, %h, %r, %p and %% tokens expanded.
func (c *SSHConfig) identityFiles(alias, hostname, user string, port int) []string {
	var out []string
	for _, f := range c.getAll(alias, "IdentityFile") {
		out = append(out, expandTokens(f, alias, hostname, user, port))
	}
	return out
}

// knownHostsFiles is UserKnownHostsFile for alias (several may be given;
// the first is written to), nil when unset.
func (c *SSHConfig) knownHostsFiles(alias string) []string {
	v := c.get(alias, "UserKnownHostsFile")
	if v == "" {
		return nil
	}
	var out []string
	for f := range strings.FieldsSeq(v) {
		out = append(out, expandHome(f))
	}
	return out
}

// hashKnownHosts says whether ssh would hash the names it records for
// alias. Debian's /etc/ssh/ssh_config says yes.
func (c *SSHConfig) hashKnownHosts(alias string) bool {
	return strings.EqualFold(c.get(alias, "HashKnownHosts"), "yes")
}

// expandTokens expands what ssh_config(5) allows in IdentityFile.
func expandTokens(s, alias, hostname, user string, port int) string {
	home, _ := os.UserHomeDir()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'd':
			b.WriteString(home)
		case 'u':
			b.WriteString(localUser())
		case 'h':
			b.WriteString(hostname)
		case 'n':
			b.WriteString(alias)
		case 'r':
			b.WriteString(user)
		case 'p':
			b.WriteString(strconv.Itoa(port))
		default:
			b.WriteByte('%')
			if s[i] != '%' {
				b.WriteByte(s[i])
			}
		}
	}
	return expandHome(b.String())
}
