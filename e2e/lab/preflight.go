package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// programs are what the lab found on the machine.
type programs struct {
	nginx string // empty: the built-in web server is used
}

// required are the programs a lab needs, with the Debian package of each.
var required = []struct{ program, pkg string }{
	{"nsenter", "util-linux"},
	{"/usr/sbin/sshd", "openssh-server"},
	{"ssh", "openssh-client"},
	{"nft", "nftables"},
}

// preflight checks that the lab can be built here.
func preflight() (*programs, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the lab needs root: it creates namespaces, bridges and mounts (run it with sudo)")
	}
	var missing []string
	for _, r := range required {
		if _, err := exec.LookPath(r.program); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", r.program, r.pkg))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the lab needs programs that are missing: %s", strings.Join(missing, ", "))
	}
	fs, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return nil, fmt.Errorf("reading /proc/filesystems: %w", err)
	}
	if !strings.Contains(string(fs), "\toverlay\n") {
		return nil, errors.New("the kernel has no overlay file system (CONFIG_OVERLAY_FS), which gives nodes their private /etc and /var")
	}
	pf := &programs{}
	if p, err := exec.LookPath("nginx"); err == nil {
		pf.nginx = p
	}
	return pf, nil
}
