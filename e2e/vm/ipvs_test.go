package vm

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// guestModules are what the guest tests load: IPVS with every scheduler
// (the kernel would load them on demand, but the guest has no modprobe),
// veth and bridge for the namespaces' networks, ipip for the tunnel,
// nf_tables for the marks of firewall-mark services, 9p over virtio for
// the host's file system (keepalived).
var guestModules = []string{
	"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_lblc", "ip_vs_lblcr",
	"ip_vs_dh", "ip_vs_sh", "ip_vs_sed", "ip_vs_nq", "ip_vs_mh",
	"veth", "bridge", "ipip", "nf_tables", "virtio_pci", "9pnet_virtio", "9p",
}

const installHint = "apt-get install --no-install-recommends qemu-system-x86 linux-image-amd64 xz-utils"

// TestIPVSInVM runs package e2e/vm/guest inside a VM booted on Debian's
// kernel: the LVS-NAT scenario on the IPVS datapath against a real ip_vs.
// It skips only when QEMU or a kernel package with IPVS is not installed;
// anything else that goes wrong fails it.
func TestIPVSInVM(t *testing.T) {
	if _, err := exec.LookPath(QEMU); err != nil {
		t.Skipf("%s is not installed (%s)", QEMU, installHint)
	}
	kernel, err := FindKernel(guestModules...)
	if errors.Is(err, ErrNoKernel) {
		t.Skipf("%v (%s)", err, installHint)
	}
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	dir := t.TempDir()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	image, note, err := kernel.Vmlinux(filepath.Join(cache, "hactl-vm"))
	if err != nil {
		t.Fatal(err)
	}
	if note != "" {
		t.Log(note)
	}
	modules, err := kernel.Modules(guestModules...)
	if err != nil {
		t.Fatalf("resolving modules of %s: %v", kernel.Version, err)
	}
	guest := filepath.Join(dir, "guest.test")
	build := exec.Command("go", "test", "-c", "-trimpath", "-ldflags=-s -w", "-o", guest, "./guest")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the guest tests: %v\n%s", err, out)
	}
	initrd := filepath.Join(dir, "initramfs.cpio")
	if err := Initramfs(initrd, guest, modules); err != nil {
		t.Fatal(err)
	}
	prepared := time.Since(start)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{
		Kernel: image, Initrd: initrd,
		Args:    []string{"-test.v", "-test.timeout=8m"},
		Console: func(line string) { t.Log("vm: " + line) },
		// The guest runs keepalived from here, read-only.
		HostShare: "/",
	})
	t.Logf("kernel %s (%s); prepared in %s; VM boot to init %s, VM total %s, whole test %s",
		kernel.Version, image, prepared.Round(time.Millisecond), res.Boot.Round(time.Millisecond),
		res.Total.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("the guest tests failed (exit code %d): see the vm: lines above", res.ExitCode)
	}
}
