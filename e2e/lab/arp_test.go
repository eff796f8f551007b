package lab_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// The switch's view of who holds an address: both nodes when both add it,
// neither through a dead switch port, nobody for an unused address.
func TestARPAskerSeesEveryHolderTheClientCanReach(t *testing.T) {
	needRoot(t)
	l := up(t, activePassive(), "arptest")
	a, err := l.NewARPAsker("lan")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	vip := netip.MustParseAddr("192.168.0.33")
	ask := func(addr netip.Addr, want ...string) {
		t.Helper()
		got, err := a.WhoHas(addr, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("who has %s: %v, want %v", addr, got, want)
		}
	}
	ask(vip)
	for _, n := range []string{"h2g", "c2g"} {
		if out, err := l.Exec(t.Context(), n, "ip", "addr", "add", vip.String()+"/24", "dev", "eth0"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	ask(vip, "c2g", "h2g")
	ask(netip.MustParseAddr("192.168.0.1"), "h2g")
	if err := l.CutPort(t.Context(), "h2g", "eth0"); err != nil {
		t.Fatal(err)
	}
	ask(vip, "c2g")
	ask(netip.MustParseAddr("192.168.0.200"))
}
