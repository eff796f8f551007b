package guest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hactl/hactl/e2e/vm"
)

// inGuest says whether this binary runs as the VM's init.
var inGuest = os.Getenv(vm.GuestEnv) != "" && os.Getpid() == 1

func TestMain(m *testing.M) {
	if !inGuest {
		os.Exit(m.Run())
	}
	code := 1
	if err := initGuest(); err != nil {
		fmt.Println("guest init:", err)
	} else {
		code = m.Run()
	}
	fmt.Printf("%s %d\n", vm.ExitMarker, code)
	// PID 1 must not exit (the kernel would panic): power off instead;
	// QEMU's -no-reboot makes a restart end it too.
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		_ = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	}
	select {}
}

// needGuest skips a test outside the VM.
func needGuest(t *testing.T) {
	t.Helper()
	if !inGuest {
		t.Skip("runs only as init of the VM that e2e/vm boots (go test ./e2e/vm): it needs a kernel with IPVS")
	}
}

// initGuest does an init's first work: the pseudo file systems, then the
// kernel modules in the order the initramfs lists them.
func initGuest() error {
	mounts := []struct{ fstype, target string }{
		{"proc", "/proc"}, {"sysfs", "/sys"}, {"devtmpfs", "/dev"}, {"tmpfs", "/tmp"}, {"tmpfs", "/run"},
	}
	for _, m := range mounts {
		if err := unix.Mount(m.fstype, m.target, m.fstype, 0, ""); err != nil && err != unix.EBUSY {
			return fmt.Errorf("mounting %s on %s: %w", m.fstype, m.target, err)
		}
	}
	uptime, _ := os.ReadFile("/proc/uptime")
	fmt.Printf("%s uptime=%s args=%q\n", vm.BootMarker, strings.Fields(string(uptime) + " ?")[0], os.Args[1:])
	f, err := os.Open(vm.ModulesOrder)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name := sc.Text()
		if err := loadModule(filepath.Join(vm.GuestModulesDir, name)); err != nil {
			return fmt.Errorf("loading module %s: %w", name, err)
		}
	}
	return sc.Err()
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if err == unix.EEXIST {
		return nil
	}
	return err
}
