package heartbeat

import (
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/heartbeat/wire"
)

// Issue 15: h2g dies, c2g's agent restarts, and heartbeats of h2g that an
// attacker held back are played to the new agent. Fresh, authentic and
// never seen by it, they still answer only c2g's previous start: c2g must
// not take h2g for alive, and starts the group after initdead.
func TestHeartbeatsFromBeforeARestartAreNotLife(t *testing.T) {
	o := clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true}
	c := newCluster(t, o)
	c.eventually("h2g")
	h2g, old := c.engines["h2g"], c.engines["c2g"]
	time.Sleep(100 * time.Millisecond) // h2g has heard c2g's current start
	heard := h2g.guard.Heard()
	if len(heard) != 1 || heard[0] != (wire.Heard{Node: "c2g", Generation: old.gen}) {
		t.Fatalf("h2g heard %v, want c2g's generation %d", heard, old.gen)
	}
	// What h2g would send next, as the attacker holds it back: it runs
	// the group and has heard c2g.
	key := []byte(strings.Repeat("k", 32))
	var held [][]byte
	for i := range uint64(50) {
		b, err := wire.Encode(&wire.Packet{Cluster: "test", From: "h2g", Generation: h2g.gen, Seq: 1_000_000 + i, Link: "lan",
			SentUnixNano: time.Now().UnixNano(), Heard: heard, State: wire.State{Quorate: true, Held: []string{"web"}}}, key, wire.KeyCurrent)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, b)
	}
	// h2g powers off; c2g's agent restarts.
	c.net.setCut("h2g", true)
	c.cancel["h2g"]()
	<-c.done["h2g"]
	c.w.set("web", "h2g", false)
	c.cancel["c2g"]()
	<-c.done["c2g"]
	restart := time.Now()
	c.start("c2g", o, 1)
	fresh := c.engines["c2g"]
	if fresh.gen <= old.gen {
		t.Fatalf("the restarted agent's generation %d is not above %d", fresh.gen, old.gen)
	}
	for _, b := range held {
		fresh.deliver("lan", b, time.Now())
		time.Sleep(20 * time.Millisecond)
		if m := c.member("c2g", "h2g"); m.Alive {
			t.Fatal("the restarted c2g takes h2g for alive on packets that answer its previous start")
		}
	}
	c.eventually("c2g")
	if took, most := time.Since(restart), 2*time.Duration(fresh.hb.InitdeadMS)*time.Millisecond+time.Second; took > most {
		t.Errorf("c2g started the group %s after its restart, want within initdead and a margin (%s)", took, most)
	}
	// The status is refreshed every publishEvery when nothing happens.
	deadline := time.Now().Add(2 * publishEvery)
	for fresh.Status().Dropped["unproven"] < uint64(len(held)) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := fresh.Status().Dropped["unproven"]; n < uint64(len(held)) {
		t.Errorf("c2g counted %d of the %d packets as unproven: %v", n, len(held), fresh.Status().Dropped)
	}
}

// Two members that start at once hear each other within a few intervals:
// the challenge costs about one interval at start-up.
func TestMembersStartingTogetherProveEachOtherQuickly(t *testing.T) {
	c := newCluster(t, clusterOpts{nodes: []string{"h2g", "c2g"}, failback: true})
	start := time.Now()
	deadline := start.Add(5 * time.Second)
	for !(c.member("h2g", "c2g").Alive && c.member("c2g", "h2g").Alive) {
		if time.Now().After(deadline) {
			t.Fatal("the members never took each other for alive")
		}
		time.Sleep(2 * time.Millisecond)
	}
	interval := time.Duration(c.specs["h2g"].Heartbeat.IntervalMS) * time.Millisecond
	t.Logf("alive to each other after %s", time.Since(start))
	if took := time.Since(start); took > 10*interval {
		t.Errorf("the members took %s to take each other for alive, want a few intervals (%s each)", took, interval)
	}
}
