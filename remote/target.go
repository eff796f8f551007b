package remote

import (
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

// SSH is how to log in to a target. Zero values mean OpenSSH's defaults:
// port 22, the local user, the ssh-agent and ~/.ssh keys, ~/.ssh/known_hosts
// and the options' connect timeout.
type SSH struct {
	User           string
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
// last.
func (t Target) route() ([]hop, error) {
	if t.Address == "" {
		return nil, fmt.Errorf("%s: no address", t.Name)
	}
	login := t.SSH.User
	if login == "" {
		login = localUser()
	}
	port := t.SSH.Port
	if port == 0 {
		port = DefaultPort
	}
	var hops []hop
	for _, j := range t.SSH.JumpHosts {
		h, err := parseJumpHost(j, login)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name, err)
		}
		hops = append(hops, h)
	}
	return append(hops, hop{user: login, addr: net.JoinHostPort(t.Address, strconv.Itoa(port))}), nil
}

// parseJumpHost reads "[user@]host[:port]" (IPv6 hosts in brackets).
func parseJumpHost(s, defaultUser string) (hop, error) {
	h := hop{user: defaultUser, label: "jump host " + s}
	rest := s
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		h.user, rest = rest[:i], rest[i+1:]
	}
	host, port := rest, strconv.Itoa(DefaultPort)
	switch {
	case strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]"):
		host = rest[1 : len(rest)-1]
	case strings.HasPrefix(rest, "[") || strings.Count(rest, ":") == 1:
		var err error
		if host, port, err = net.SplitHostPort(rest); err != nil {
			return hop{}, fmt.Errorf("jump host %q: %w", s, err)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return hop{}, fmt.Errorf("jump host %q: bad port %q", s, port)
	}
	if host == "" || h.user == "" {
		return hop{}, fmt.Errorf("jump host %q: want user@host:port", s)
	}
	h.addr = net.JoinHostPort(host, port)
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
