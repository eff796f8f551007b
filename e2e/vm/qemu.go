package vm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Lines the guest prints on its console.
const (
	// BootMarker is printed by the guest's init as soon as it runs.
	BootMarker = "HACTL-VM-BOOTED"
	// ExitMarker is followed by the guest tests' exit code.
	ExitMarker = "HACTL-VM-EXIT"
	// BenchMarker starts a benchmark's raw output on the console:
	// "HACTL-LB-BENCH target mode", then the tool's lines, then
	// BenchEndMarker.
	BenchMarker    = "HACTL-LB-BENCH"
	BenchEndMarker = "HACTL-LB-BENCH-END"
	// GuestEnv is set in the guest's init environment (from the kernel
	// command line): the guest tests run only where it is.
	GuestEnv = "HACTL_VM_GUEST"
)

// QEMU is the emulator binary Run starts.
const QEMU = "qemu-system-x86_64"

// Config is one boot.
type Config struct {
	Kernel string // vmlinux or bzImage
	Initrd string
	// Args are the guest init's arguments (the guest test binary's
	// flags: -test.v, -test.run …).
	Args []string
	// MemoryMB is the guest's memory (512 when zero).
	MemoryMB int
	// Console receives every line the guest prints, as it comes.
	Console func(line string)
	// HostShare, when set, is a host directory the guest may mount
	// read-only over virtio-9p, tag HostShareTag (modules 9p,
	// 9pnet_virtio and virtio_pci): the guest runs peers such as
	// keepalived from the host's file system, chrooted there.
	HostShare string
}

// HostShareTag is the 9p mount tag of Config.HostShare.
const HostShareTag = "host"

// Result is what a boot yielded.
type Result struct {
	// ExitCode is the guest tests' exit code from ExitMarker.
	ExitCode int
	// Boot is the time from starting QEMU to the guest's init printing
	// BootMarker; Total from starting QEMU to QEMU's exit.
	Boot, Total time.Duration
}

// ErrNoExit means the guest stopped (or was stopped) without printing its
// exit line: it crashed, hung or panicked.
var ErrNoExit = errors.New("the guest did not print its exit line")

// Run boots the guest under QEMU's software emulation and waits, until ctx
// ends, for it to power off. The VM has no network device; its only link
// with the host is the console and, when set, the read-only HostShare.
func Run(ctx context.Context, c Config) (Result, error) {
	mem := c.MemoryMB
	if mem == 0 {
		mem = 512
	}
	// Kernel parameters: the serial console; panic=-1 reboots at once on
	// a panic, which -no-reboot turns into QEMU's exit; no mitigations
	// saves time under emulation. A parameter without "=" that the kernel
	// does not know would become init's first argument and end its flags;
	// a parameter with "=" that
	// the kernel does not know goes to init's environment; what follows
	// "--" goes to init's arguments.
	cmdline := fmt.Sprintf("console=ttyS0 panic=-1 quiet loglevel=4 mitigations=off %s=1 -- %s",
		GuestEnv, strings.Join(c.Args, " "))
	args := []string{
		"-machine", "pc,accel=tcg", "-cpu", "max", "-smp", "1", "-m", strconv.Itoa(mem),
		"-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-monitor", "none",
		"-nic", "none", "-no-reboot",
		"-kernel", c.Kernel, "-initrd", c.Initrd, "-append", cmdline,
	}
	if c.HostShare != "" {
		args = append(args, "-virtfs", "local,path="+c.HostShare+",mount_tag="+HostShareTag+",security_model=none,readonly=on")
	}
	cmd := exec.CommandContext(ctx, QEMU, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("starting %s: %w", QEMU, err)
	}
	res := Result{ExitCode: -1}
	exited := false
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if c.Console != nil {
			c.Console(line)
		}
		if strings.Contains(line, BootMarker) && res.Boot == 0 {
			res.Boot = time.Since(start)
		}
		if rest, ok := strings.CutPrefix(line, ExitMarker+" "); ok {
			if code, err := strconv.Atoi(strings.TrimSpace(rest)); err == nil {
				res.ExitCode, exited = code, true
			}
		}
	}
	// Drain whatever is left so that Wait does not block on the pipe.
	_, _ = io.Copy(io.Discard, out)
	werr := cmd.Wait()
	res.Total = time.Since(start)
	if ctx.Err() != nil {
		return res, fmt.Errorf("the VM ran out of time after %s: %w", res.Total.Round(time.Second), ctx.Err())
	}
	if werr != nil {
		return res, fmt.Errorf("%s: %w: %s", QEMU, werr, strings.TrimSpace(stderr.String()))
	}
	if !exited {
		return res, ErrNoExit
	}
	return res, nil
}
