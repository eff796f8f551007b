package vm

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"
)

// TestIPVSInVM runs package e2e/vm/guest inside a VM booted on Debian's
// kernel: the LVS-NAT scenario on the IPVS datapath against a real ip_vs.
// It skips only when QEMU or a kernel package with IPVS is not installed;
// anything else that goes wrong fails it.
func TestIPVSInVM(t *testing.T) {
	if _, err := exec.LookPath(QEMU); err != nil {
		t.Skipf("%s is not installed (%s)", QEMU, InstallHint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, note, err := Boot(ctx, ".", []string{"-test.v", "-test.timeout=8m"}, func(line string) { t.Log("vm: " + line) })
	if errors.Is(err, ErrNoKernel) {
		t.Skipf("%v (%s)", err, InstallHint)
	}
	t.Log(note)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("the guest tests failed (exit code %d): see the vm: lines above", res.ExitCode)
	}
}
