package heartbeat

import (
	"context"
	"net/netip"
	"os"
	"testing"
	"time"
)

// TestPingAnswersOnlyForAReachableAddress pings from a raw socket, and
// from an unprivileged ICMP socket, in a network namespace of its own
// whose only interface is the loopback: its addresses answer, an address
// with no route does not, and neither does a ping whose context is done.
func TestPingAnswersOnlyForAReachableAddress(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	loopbackUp(t)
	ctx := context.Background()
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true},
		{"::ffff:127.0.0.1", true},
		{"::1", true},
		{"192.0.2.9", false}, // no route in this namespace
		{"2001:db8::9", false},
	} {
		start := time.Now()
		if got := ping(ctx, netip.MustParseAddr(tc.addr), 300*time.Millisecond); got != tc.want {
			t.Errorf("ping %s = %v, want %v", tc.addr, got, tc.want)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("ping %s took %s, past its timeout", tc.addr, took)
		}
	}
	// Where raw sockets are refused, the unprivileged ICMP sockets the
	// system's ping uses, which this namespace allows every group.
	if err := os.WriteFile("/proc/sys/net/ipv4/ping_group_range", []byte("0 2147483647"), 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr string
		want bool
	}{{"127.0.0.1", true}, {"::1", true}, {"192.0.2.9", false}} {
		got, err := pingOver(ctx, true, netip.MustParseAddr(tc.addr), 300*time.Millisecond)
		if err != nil || got != tc.want {
			t.Errorf("ping %s from a datagram socket = %v, %v; want %v", tc.addr, got, err, tc.want)
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if ping(done, netip.MustParseAddr("127.0.0.1"), time.Second) {
		t.Error("a ping whose context is done answered")
	}
}
