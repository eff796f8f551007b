package apply

import (
	"net/netip"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

func TestParseInspectReadsTheDaemonAndTheAddresses(t *testing.T) {
	out := "runs=1\naddr=127.0.0.1/8\naddr=192.168.0.18/24\naddr=192.168.0.33/24\naddr=fe80::1/64\nwatchdog=1\n"
	got, err := ParseInspect([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := HostState{Runs: true, Watchdog: true, Addrs: []netip.Addr{
		netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.168.0.18"),
		netip.MustParseAddr("192.168.0.33"), netip.MustParseAddr("fe80::1"),
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseInspect = %+v, want %+v", got, want)
	}
	if _, err := ParseInspect([]byte("addr=nonsense\n")); err == nil {
		t.Error("ParseInspect took an address that is none")
	}
}

func TestPlanTakeoverStopsTheStandbyAndKillsOnTheHolderOrRefuses(t *testing.T) {
	vip := netip.MustParsePrefix("192.168.0.33/24")
	other := netip.MustParsePrefix("192.168.0.34/24")
	a := func(p netip.Prefix) []netip.Addr { return []netip.Addr{p.Addr()} }
	both := map[string]map[string][]netip.Prefix{"h2g": {"web": {vip}}, "c2g": {"web": {vip}}}
	nodes := []string{"c2g", "h2g"}
	tests := []struct {
		name    string
		daemon  string
		states  map[string]HostState
		vips    map[string]map[string][]netip.Prefix
		want    *Takeover
		refused string // a part of the refusal, "" when it is not refused
	}{
		{"a healthy pair: the standby stopped, the holder's daemon killed once its agent runs web", "keepalived",
			map[string]HostState{"h2g": {Runs: true, Addrs: a(vip)}, "c2g": {Runs: true}}, both,
			&Takeover{Holder: "h2g", Stop: []string{"c2g"}, Groups: []string{"web"}}, ""},
		{"the holder may be the less preferred node", "heartbeat",
			map[string]HostState{"h2g": {Runs: true}, "c2g": {Runs: true, Addrs: a(vip)}}, both,
			&Takeover{Holder: "c2g", Stop: []string{"h2g"}, Groups: []string{"web"}}, ""},
		{"the standby stopped by hand already", "keepalived",
			map[string]HostState{"h2g": {Runs: true, Addrs: a(vip)}, "c2g": {}}, both,
			&Takeover{Holder: "h2g", Groups: []string{"web"}}, ""},
		{"resumed: the holder's agent runs, the daemon there too", "keepalived",
			map[string]HostState{"h2g": {Runs: true, AgentRuns: true, Addrs: a(vip)}, "c2g": {}}, both,
			&Takeover{Holder: "h2g", Groups: []string{"web"}}, ""},
		{"the daemon runs nowhere: nothing to take over", "keepalived",
			map[string]HostState{"h2g": {Addrs: a(vip)}, "c2g": {}}, both, nil, ""},
		{"both nodes hold the VIP", "keepalived",
			map[string]HostState{"h2g": {Runs: true, Addrs: a(vip)}, "c2g": {Runs: true, Addrs: a(vip)}}, both,
			nil, "the VIP 192.168.0.33 is on c2g and h2g at once"},
		{"neither holds it", "heartbeat",
			map[string]HostState{"h2g": {Runs: true}, "c2g": {Runs: true}}, both,
			nil, "no node holds the VIP 192.168.0.33"},
		{"VIPs on both nodes (active/active)", "keepalived",
			map[string]HostState{"h2g": {Runs: true, Addrs: a(vip)}, "c2g": {Runs: true, Addrs: a(other)}},
			map[string]map[string][]netip.Prefix{"h2g": {"web": {vip}, "db": {other}}, "c2g": {"web": {vip}, "db": {other}}},
			nil, "spread over several nodes (c2g holds 192.168.0.34, h2g holds 192.168.0.33)"},
		{"the holder runs neither the daemon nor the agent", "keepalived",
			map[string]HostState{"h2g": {Addrs: a(vip)}, "c2g": {Runs: true}}, both,
			nil, "neither keepalived nor hactl's agent runs there"},
		{"Heartbeat with the kernel watchdog on the holder", "heartbeat",
			map[string]HostState{"h2g": {Runs: true, Watchdog: true, Addrs: a(vip)}, "c2g": {Runs: true}}, both,
			nil, "killing it would reboot h2g"},
		{"the configuration does not run the VIP's group on the holder", "keepalived",
			map[string]HostState{"h2g": {Runs: true, Addrs: a(vip)}, "c2g": {Runs: true}},
			map[string]map[string][]netip.Prefix{"h2g": {}, "c2g": {"web": {vip}}},
			nil, "the configuration runs no group with it on h2g"},
		{"no VIP in the configuration", "keepalived",
			map[string]HostState{"h2g": {Runs: true}, "c2g": {Runs: true}}, map[string]map[string][]netip.Prefix{},
			nil, "has no VIP"},
		{"a daemon hactl does not know", "ctdb",
			map[string]HostState{"h2g": {Runs: true, Addrs: a(vip)}}, both,
			nil, `cannot take over from "ctdb"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PlanTakeover(tt.daemon, nodes, tt.states, tt.vips)
			switch {
			case tt.refused != "":
				if err == nil || !strings.Contains(err.Error(), tt.refused) {
					t.Fatalf("PlanTakeover = %+v, %v; want a refusal saying %q", got, err, tt.refused)
				}
				if tt.daemon != "ctdb" && !strings.Contains(err.Error(), "nothing was changed") {
					t.Errorf("the refusal does not say that nothing was changed: %v", err)
				}
			case err != nil:
				t.Fatal(err)
			case !reflect.DeepEqual(got, tt.want):
				t.Errorf("PlanTakeover = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTakeoverCommandsAreShellForEveryDaemonAndOnlyForThose(t *testing.T) {
	for name := range daemons {
		for _, mk := range []func(string) (string, error){InspectCmd, StopCmd, KillCmd} {
			cmd, err := mk(name)
			if err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("sh", "-n", "-c", cmd).CombinedOutput(); err != nil {
				t.Errorf("the command for %s is not valid shell: %v\n%s\n%s", name, err, out, cmd)
			}
		}
	}
	if _, err := KillCmd("sshd"); err == nil {
		t.Error("KillCmd accepted a daemon it does not know")
	}
}
