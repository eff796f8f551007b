package remote

import (
	"cmp"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Defaults used when neither the target nor the options say otherwise.
const (
	DefaultPort              = 22
	DefaultConnectTimeout    = 10 * time.Second
	DefaultKeepAliveInterval = 15 * time.Second
	DefaultParallelism       = 10
)

// Target is one host to reach: its name (used in every message), its SSH
// address and how to log in.
type Target struct {
	Name    string
	Address string
	SSH     SSH
}

// SSH is how to log in to a target. Zero values mean what the options'
// ssh_config says for the target's address, and then OpenSSH's defaults:
// port 22, the local user, the ssh-agent and ~/.ssh keys, ~/.ssh/known_hosts
// and the options' connect timeout.
type SSH struct {
	User string
	// DefaultUser is the login when neither User nor ssh_config names
	// one; "" means the local user, as for ssh.
	DefaultUser    string
	Port           int
	IdentityFile   string
	KnownHostsFile string
	JumpHosts      []string // [user@]host[:port], outermost first
	// Become runs commands as root through BecomeMethod ("sudo", the
	// default, or "doas") when User is not root.
	Become         bool
	BecomeMethod   string
	ConnectTimeout time.Duration
}

// hop is one SSH connection on the way to a target: a jump host or the
// target itself.
type hop struct {
	label string // "jump host bastion:22" or "" for the target itself
	user  string
	addr  string // host:port
}

func (h hop) String() string { return h.user + "@" + h.addr }

// route returns the hops to take, outermost jump host first and the target
// last. Names (the target's address and the jump hosts') are resolved
// through cfg, as ssh does: the target's own settings come first, then
// ssh_config's for its address, then the defaults.
func (t Target) route(cfg *SSHConfig) ([]hop, error) {
	if t.Address == "" {
		return nil, fmt.Errorf("%s: no address", t.Name)
	}
	l, err := cfg.login(t.Address)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name, err)
	}
	login := cmp.Or(t.SSH.User, l.user, t.SSH.DefaultUser, localUser())
	port := cmp.Or(t.SSH.Port, l.port, DefaultPort)
	jumps := t.SSH.JumpHosts
	if len(jumps) == 0 {
		jumps = cfg.proxyJump(t.Address)
	}
	var hops []hop
	for _, j := range jumps {
		h, err := parseJumpHost(j, login, cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name, err)
		}
		hops = append(hops, h)
	}
	return append(hops, hop{user: login, addr: net.JoinHostPort(l.hostname, strconv.Itoa(port))}), nil
}

// parseJumpHost reads "[user@]host[:port]" (IPv6 hosts in brackets), with
// host resolved through cfg; the user defaults to ssh_config's for host,
// then to defaultUser.
func parseJumpHost(s, defaultUser string, cfg *SSHConfig) (hop, error) {
	h := hop{label: "jump host " + s}
	rest, user := s, ""
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		user, rest = rest[:i], rest[i+1:]
		if user == "" {
			return hop{}, fmt.Errorf("jump host %q: want user@host:port", s)
		}
	}
	host, port := rest, ""
	switch {
	case strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]"):
		host = rest[1 : len(rest)-1]
	case strings.HasPrefix(rest, "[") || strings.Count(rest, ":") == 1:
		var err error
		if host, port, err = net.SplitHostPort(rest); err != nil {
			return hop{}, fmt.Errorf("jump host %q: %w", s, err)
		}
	}
	if host == "" {
		return hop{}, fmt.Errorf("jump host %q: want user@host:port", s)
	}
	l, err := cfg.login(host)
	if err != nil {
		return hop{}, fmt.Errorf("jump host %q: %w", s, err)
	}
	n := cmp.Or(l.port, DefaultPort)
	if port != "" {
		if n, err = strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return hop{}, fmt.Errorf("jump host %q: bad port %q", s, port)
		}
	}
	h.user = cmp.Or(user, l.user, defaultUser)
	h.addr = net.JoinHostPort(l.hostname, strconv.Itoa(n))
	return h, nil
}

// localUser is the login OpenSSH would use when none is configured.
func localUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "root"
}

// expandHome turns a leading "~/" into the user's home directory.
func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}
