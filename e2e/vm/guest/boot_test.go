package guest

import (
	"os"
	"testing"
)

// TestIPVSKernel checks that the guest's kernel has IPVS loaded: the
// modules list reached the kernel in an order it accepted.
func TestIPVSKernel(t *testing.T) {
	needGuest(t)
	data, err := os.ReadFile("/proc/net/ip_vs")
	if err != nil {
		t.Fatalf("IPVS is not loaded: %v", err)
	}
	t.Logf("/proc/net/ip_vs:\n%s", data)
}
