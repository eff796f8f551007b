// Package vm boots a real Linux kernel under QEMU with a Go test binary as
// its init, so that code which needs kernel features this machine lacks
// (IPVS: the CI machines' kernel has no ip_vs) is tested against the real
// thing. The kernel is Debian's (package linux-image-amd64), whose modules
// include ip_vs and every scheduler.
//
// A run is:
//
//   - FindKernel picks the newest installed kernel whose modules hold
//     ip_vs (under /usr/lib/modules, with its vmlinuz in /boot);
//   - Kernel.Vmlinux extracts the uncompressed ELF kernel from the bzImage
//     once and caches it: QEMU boots it directly through its PVH entry in
//     about half the time of the compressed image under TCG;
//   - Initramfs writes a newc cpio archive holding the guest test binary as
//     /init, the kernel modules it needs in load order (resolved here from
//     each module's .modinfo: hard dependencies and softdeps, so neither
//     depmod nor modprobe is needed in the guest) and /dev/console;
//   - Run starts qemu-system-x86_64 with software emulation (KVM aborts on
//     these machines), no network device and the serial console on a pipe,
//     and reads the console until the guest prints its exit line.
//
// The guest side is package e2e/vm/guest: as PID 1 its TestMain mounts
// /proc, /sys and /dev, loads the modules listed in /modules/order, runs
// the tests, prints ExitMarker with the exit code and powers off. Nothing
// leaves the VM: it has no network device.
package vm
