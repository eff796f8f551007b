package lab

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

// keyPair is an ed25519 key in OpenSSH formats.
type keyPair struct {
	private []byte // PEM, "OPENSSH PRIVATE KEY"
	public  string // authorized_keys line, without newline
}

// newKeyPair generates an ed25519 key pair.
func newKeyPair(comment string) (*keyPair, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating an ed25519 key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, fmt.Errorf("encoding the private key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding the public key: %w", err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " " + comment
	return &keyPair{private: pem.EncodeToMemory(block), public: line}, nil
}

// Files of the lab's ssh directory, for the operator in ctl.
const (
	keyFile        = "ssh/id_ed25519"
	knownHostsFile = "ssh/known_hosts"
	sshConfigFile  = "ssh/config"
	envFile        = "env"
	bashrcFile     = "ctl.bashrc"
)

// writeOperatorFiles writes the operator key, known_hosts (the nodes' host
// keys under their SSH addresses and names), an ssh_config, and the
// environment of the ctl shell.
func writeOperatorFiles(dir string, st *state, op *keyPair, hostKeys map[string]*keyPair) error {
	if err := os.MkdirAll(filepath.Join(dir, "ssh"), 0o700); err != nil {
		return fmt.Errorf("creating the lab's ssh directory: %w", err)
	}
	var known, config strings.Builder
	for _, n := range st.Nodes {
		hostKey := strings.Join(strings.Fields(hostKeys[n.Name].public)[:2], " ")
		names := []string{knownHostsName(n.SSHAddr.String(), n.SSHPort), knownHostsName(n.Name, n.SSHPort)}
		if n.SSHHost != n.SSHAddr.String() && n.SSHHost != "" {
			names = append(names, knownHostsName(n.SSHHost, n.SSHPort))
		}
		fmt.Fprintf(&known, "%s %s\n", strings.Join(names, ","), hostKey)
		hosts := n.Name
		if n.SSHHost != n.SSHAddr.String() && n.SSHHost != "" {
			hosts += " " + n.SSHHost
		}
		fmt.Fprintf(&config, "Host %s\n  HostName %s\n  Port %d\n  User %s\n\n", hosts, n.SSHAddr, n.SSHPort, n.SSHUser)
	}
	fmt.Fprintf(&config, "Host *\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n  BatchMode yes\n",
		filepath.Join(dir, keyFile), filepath.Join(dir, knownHostsFile))

	var env strings.Builder
	for _, kv := range ctlEnv(dir, st.Name) {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&env, "export %s=%s\n", k, shellQuote(v))
	}
	bashrc := fmt.Sprintf(`[ -f /etc/bash.bashrc ] && . /etc/bash.bashrc
[ -f ~/.bashrc ] && . ~/.bashrc
. %s
alias ssh='ssh -F %s'
alias scp='scp -F %s'
PS1='[lab %s ctl] \w\$ '
echo "lab %s: you are in the ctl namespace; ssh NODE reaches a node; exit to leave."
`, shellQuote(filepath.Join(dir, envFile)), shellQuote(filepath.Join(dir, sshConfigFile)), shellQuote(filepath.Join(dir, sshConfigFile)), st.Name, st.Name)

	files := []struct {
		path string
		data string
		mode os.FileMode
	}{
		{keyFile, string(op.private), 0o600},
		{keyFile + ".pub", op.public + "\n", 0o644},
		{knownHostsFile, known.String(), 0o644},
		{sshConfigFile, config.String(), 0o644},
		{envFile, env.String(), 0o644},
		{bashrcFile, bashrc, 0o644},
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.path), []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	return nil
}

// knownHostsName is a host as known_hosts writes it.
func knownHostsName(host string, port int) string {
	if port == 22 {
		return host
	}
	return "[" + host + "]:" + strconv.Itoa(port)
}

// ctlEnv is the environment that makes hactl and ssh in ctl use the lab's
// key and known_hosts.
func ctlEnv(dir, name string) []string {
	return []string{
		"HACTL_LAB=" + name,
		"HACTL_LAB_DIR=" + dir,
		"HACTL_SSH_IDENTITY=" + filepath.Join(dir, keyFile),
		"HACTL_KNOWN_HOSTS=" + filepath.Join(dir, knownHostsFile),
		"HACTL_SSH_CONFIG=" + filepath.Join(dir, sshConfigFile),
	}
}

// shellQuote quotes a string for POSIX shells.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// hostsFile is the /etc/hosts every node gets: every node by name.
func hostsFile(st *state) string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	for _, n := range st.Nodes {
		fmt.Fprintf(&b, "%s\t%s\n", n.SSHAddr, n.Name)
		for _, ifc := range n.Ifaces {
			if ifc.Address.Addr() != n.SSHAddr {
				fmt.Fprintf(&b, "%s\t%s-%s\n", ifc.Address.Addr(), n.Name, ifc.Name)
			}
		}
	}
	return b.String()
}

// sshdConfig is a node's sshd configuration.
func sshdConfig(port int) string {
	return "# Written by hactl lab.\n" +
		"Port " + strconv.Itoa(port) + "\n" +
		`HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
PidFile /run/sshd.pid
Subsystem sftp internal-sftp
AcceptEnv LANG LC_*
PrintMotd no
UseDNS no
MaxStartups 100:30:200
MaxSessions 100
`
}

// dialAddr is host:port for net.Dial.
func dialAddr(n *nodeState) string {
	return net.JoinHostPort(n.SSHAddr.String(), strconv.Itoa(n.SSHPort))
}
