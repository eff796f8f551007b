package vm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// GuestModules are what the guest loads: IPVS with every scheduler (the
// kernel would load them on demand, but the guest has no modprobe), veth
// and bridge for the namespaces' networks, ipip for the tunnel, nf_tables
// for the marks of firewall-mark services, the expressions of the
// nftables datapath and its flowtable fast path, 9p over virtio for the
// host's file system (keepalived, wrk).
var GuestModules = []string{
	"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_lblc", "ip_vs_lblcr",
	"ip_vs_dh", "ip_vs_sh", "ip_vs_sed", "ip_vs_nq", "ip_vs_mh",
	"veth", "bridge", "ipip", "nf_tables", "virtio_pci", "9pnet_virtio", "9p",
	"nft_chain_nat", "nft_nat", "nft_ct", "nft_numgen", "nft_hash", "nft_fib_inet", "nft_objref",
	"nf_conntrack_netlink", "nf_flow_table_inet", "nft_flow_offload",
}

// InstallHint says how to get what Boot needs.
const InstallHint = "apt-get install --no-install-recommends qemu-system-x86 linux-image-amd64 xz-utils"

// Boot builds the guest tests (package e2e/vm/guest, from the repository
// root's e2e/vm directory given as dir) into an initramfs with
// GuestModules, boots them on the newest installed kernel that has those
// modules, with the host's file system shared read-only, and runs them
// with args. Errors wrap ErrNoKernel when no kernel fits. The note says
// which kernel ran and how long each part took.
func Boot(ctx context.Context, dir string, args []string, console func(string)) (Result, string, error) {
	start := time.Now()
	kernel, err := FindKernel(GuestModules...)
	if err != nil {
		return Result{}, "", err
	}
	tmp, err := os.MkdirTemp("", "hactl-vm-")
	if err != nil {
		return Result{}, "", err
	}
	defer os.RemoveAll(tmp)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	image, note, err := kernel.Vmlinux(filepath.Join(cache, "hactl-vm"))
	if err != nil {
		return Result{}, "", err
	}
	modules, err := kernel.Modules(GuestModules...)
	if err != nil {
		return Result{}, note, fmt.Errorf("resolving modules of %s: %w", kernel.Version, err)
	}
	guest := filepath.Join(tmp, "guest.test")
	build := exec.Command("go", "test", "-c", "-trimpath", "-ldflags=-s -w", "-o", guest, "./guest")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		return Result{}, note, fmt.Errorf("building the guest tests: %v\n%s", err, out)
	}
	initrd := filepath.Join(tmp, "initramfs.cpio")
	if err := Initramfs(initrd, guest, modules); err != nil {
		return Result{}, note, err
	}
	prepared := time.Since(start)
	res, err := Run(ctx, Config{Kernel: image, Initrd: initrd, Args: args, Console: console, HostShare: "/"})
	note = fmt.Sprintf("%skernel %s (%s); prepared in %s; VM boot to init %s, VM total %s", prefix(note),
		kernel.Version, image, prepared.Round(time.Millisecond), res.Boot.Round(time.Millisecond), res.Total.Round(time.Millisecond))
	return res, note, err
}

func prefix(note string) string {
	if note == "" {
		return ""
	}
	return note + "; "
}
