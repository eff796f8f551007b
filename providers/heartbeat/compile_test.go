package heartbeat

import (
	"net/netip"
	"testing"
)

func TestBroadcastAddr(t *testing.T) {
	for prefix, want := range map[string]string{
		"192.168.0.0/24": "192.168.0.255",
		"10.0.0.0/8":     "10.255.255.255",
		"172.16.4.0/22":  "172.16.7.255",
		"192.168.1.8/30": "192.168.1.11",
	} {
		if got := broadcastAddr(netip.MustParsePrefix(prefix)); got.String() != want {
			t.Errorf("broadcastAddr(%s) = %s, want %s", prefix, got, want)
		}
	}
}
