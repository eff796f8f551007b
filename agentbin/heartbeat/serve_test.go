package heartbeat

import (
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/hactl/hactl/agentbin/status"
)

// The hold time of these tests: long against the 20ms heartbeats, short
// for a test.
const testHold = time.Second

func TestCarrierLossMovesTheGroupWithoutFencing(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true, vip: true, serveHold: testHold,
		fences: map[string]error{"h2g": nil}})
	c.eventually("h2g")
	c.w.setCarrier("h2g", false)
	c.eventually("c2g")
	c.sawEvent("h2g", "cannot_serve")
	// Status is published on the next tick.
	var h2g status.Member
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if h2g = c.member("c2g", "h2g"); h2g.Alive && slices.Equal(h2g.CannotServe, []string{"web"}) {
			break
		}
	}
	if !h2g.Alive || !slices.Equal(h2g.CannotServe, []string{"web"}) {
		t.Errorf("c2g sees h2g as %+v, want alive and unable to serve web", h2g)
	}
	st := c.engines["c2g"].Status()
	for _, ev := range st.Events {
		if ev.Kind == "fencing" || ev.Kind == "node_dead" {
			t.Errorf("c2g reported %s %s: h2g is alive on its heartbeat link", ev.Kind, ev.Node)
		}
	}
	// The carrier comes back: failback waits for the hold time.
	healed := time.Now()
	c.w.setCarrier("h2g", true)
	c.eventually("h2g")
	if waited := time.Since(healed); waited < testHold {
		t.Errorf("the group came back %s after the carrier, before the hold of %s", waited, testHold)
	}
	c.sawEvent("h2g", "can_serve")
}

func TestFlappingCarrierDoesNotBounceTheGroup(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true, vip: true, serveHold: testHold})
	c.eventually("h2g")
	c.w.setCarrier("h2g", false)
	c.eventually("c2g")
	// Up for less than the hold each time, several holds long.
	for range 8 {
		c.w.setCarrier("h2g", true)
		time.Sleep(testHold / 3)
		if got := c.w.where("web"); !slices.Equal(got, []string{"c2g"}) {
			t.Fatalf("group web runs on %v while h2g's carrier flaps, want c2g", got)
		}
		c.w.setCarrier("h2g", false)
		time.Sleep(testHold / 10)
	}
	c.w.setCarrier("h2g", true)
	c.eventually("h2g")
}

func TestCarrierLossOnAStandbyNodeOrEverywhereMovesNothing(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: false, vip: true, serveHold: testHold})
	c.eventually("h2g")
	c.w.setCarrier("c2g", false)
	c.stays("h2g")
	// No member can serve: moving the group would not make it reachable.
	c.w.setCarrier("h2g", false)
	c.stays("h2g")
}

func TestNoFailbackStaysAfterTheCarrierReturns(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: false, vip: true, serveHold: testHold})
	c.eventually("h2g")
	c.w.setCarrier("h2g", false)
	c.eventually("c2g")
	c.w.setCarrier("h2g", true)
	time.Sleep(testHold)
	c.stays("c2g")
}

// member is how node's status shows another member.
func (c *cluster) member(node, name string) status.Member {
	for _, m := range c.engines[node].Status().Members {
		if m.Name == name {
			return m
		}
	}
	return status.Member{}
}

func TestIfCarrier(t *testing.T) {
	if up, err := ifCarrier("lo"); err != nil || !up {
		t.Errorf("ifCarrier(lo) = %v, %v; want up", up, err)
	}
	if _, err := ifCarrier("nosuch0"); err == nil {
		t.Error("ifCarrier(nosuch0) found an interface that does not exist")
	}
}

// An interface that is up but whose cable is dead (its veth peer is
// down) has no carrier, as netlink's IFF_LOWER_UP says.
func TestIfCarrierOfADeadCable(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	deadLink(t)
	if up, err := ifCarrier("hb0"); err != nil || up {
		t.Errorf("ifCarrier(hb0) = %v, %v; want no carrier", up, err)
	}
	far, err := netlink.LinkByName("hb0-far")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(far); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		up, err := ifCarrier("hb0")
		if err == nil && up {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ifCarrier(hb0) = %v, %v with its peer up; want carrier", up, err)
		}
	}
}

func TestCarrierHold(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		c    carrierState
		want bool
	}{
		{"up since the agent started", carrierState{up: true}, true},
		{"down", carrierState{}, false},
		{"down after a return", carrierState{since: now.Add(-time.Hour)}, false},
		{"back for less than the hold", carrierState{up: true, since: now.Add(-testHold + time.Millisecond)}, false},
		{"back for the hold", carrierState{up: true, since: now.Add(-testHold)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.fit(now, testHold); got != tc.want {
				t.Errorf("fit = %v, want %v", got, tc.want)
			}
		})
	}
}

func (w *world) setPings(node string, f pingFate) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pings[node] = f
}

func TestUnreachablePingTargetsMoveTheGroup(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true, ping: true, serveHold: testHold})
	c.eventually("h2g")
	// Two pings lost in every three: never pingMisses in a row.
	c.w.setPings("h2g", everyThird)
	c.stays("h2g")
	c.w.setPings("h2g", lost)
	c.eventually("c2g")
	c.sawEvent("h2g", "cannot_serve")
	healed := time.Now()
	c.w.setPings("h2g", answered)
	c.eventually("h2g")
	if waited := time.Since(healed); waited < testHold {
		t.Errorf("the group came back %s after the ping target answered, before the hold of %s", waited, testHold)
	}
}

func TestPingTargetsNobodyReachesMoveNothing(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true, ping: true, serveHold: testHold})
	c.eventually("h2g")
	c.w.setPings("c2g", lost)
	c.w.setPings("h2g", lost)
	c.stays("h2g")
}
