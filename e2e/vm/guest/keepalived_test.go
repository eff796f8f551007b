package guest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hactl/hactl/e2e/vm"
)

// hostRoot is where the guest mounts the host's file system
// (vm.Config.HostShare), to run peers such as keepalived chrooted there.
const hostRoot = "/host"

// mountHost mounts the host's file system read-only on hostRoot, with the
// pseudo file systems and the writable /run and /tmp a program chrooted
// there needs; once per boot.
func mountHost(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(hostRoot, "proc/self")); err == nil {
		return
	}
	if err := os.MkdirAll(hostRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(vm.HostShareTag, hostRoot, "9p", unix.MS_RDONLY, "trans=virtio,version=9p2000.L"); err != nil {
		t.Fatalf("mounting the host's file system (9p tag %q): %v", vm.HostShareTag, err)
	}
	for _, m := range []struct{ fstype, target string }{
		{"proc", "proc"}, {"sysfs", "sys"}, {"devtmpfs", "dev"}, {"tmpfs", "run"}, {"tmpfs", "tmp"},
	} {
		if err := unix.Mount(m.fstype, filepath.Join(hostRoot, m.target), m.fstype, 0, ""); err != nil {
			t.Fatalf("mounting %s on %s/%s: %v", m.fstype, hostRoot, m.target, err)
		}
	}
}

// TestKeepalivedInTheGuest runs the host's keepalived in the VM, chrooted
// in the host's file system, as the LVS-NAT director h2g: its
// virtual_server goes into the guest kernel's IPVS and forwards the
// client's requests round robin. It is the peer the lb benchmark compares
// hactl's IPVS datapath with where the kernel has IPVS.
func TestKeepalivedInTheGuest(t *testing.T) {
	needGuest(t)
	mountHost(t)
	if _, err := os.Stat(hostRoot + keepalived); err != nil {
		t.Skipf("the host has no keepalived (apt-get install keepalived): %v", err)
	}
	n := newLVSNAT(t)
	n.takeVIPs(t, nil, n.h2g)
	stop := startKeepalived(t, n.h2g)
	defer stop()
	waitFor(t, "keepalived's virtual server in h2g's IPVS", func() bool { return serving(t, n.h2g) })
	a := gets(t, n.client, 6)
	for i := 1; i < len(a); i++ {
		if a[i] == a[i-1] || (a[i] != "f400" && a[i] != "dgx") {
			t.Fatalf("answers %q do not alternate between f400 and dgx", a)
		}
	}
}

const keepalived = "/usr/sbin/keepalived"

// startKeepalived runs the host's keepalived, chrooted in the host's file
// system, as the director h (it must hold the VIPs): one virtual_server,
// the guide's http service, round robin over f400 and dgx by NAT. Stop
// ends it and logs what it printed.
func startKeepalived(t *testing.T, h *host) (stop func()) {
	t.Helper()
	conf := `global_defs {
  router_id ` + h.name + `
}
virtual_server 192.168.3.181 80 {
  delay_loop 1
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 192.168.0.3 80 {
    weight 1
  }
  real_server 192.168.0.27 80 {
    weight 1
  }
}
`
	if err := os.WriteFile(filepath.Join(hostRoot, "tmp/keepalived.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	cmd := exec.Command(keepalived, "--dont-fork", "--log-console", "--check", "--use-file", "/tmp/keepalived.conf",
		"--pid", "/run/keepalived.pid", "--checkers_pid", "/run/keepalived-checkers.pid")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: hostRoot}
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = &log, &log
	// Started from a thread in h's namespace, keepalived runs there.
	if err := inNS(h.ns, cmd.Start); err != nil {
		t.Fatalf("starting keepalived: %v", err)
	}
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		t.Logf("keepalived's log:\n%s", log.String())
	}
}
