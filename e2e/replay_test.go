package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/status"
	"github.com/hactl/hactl/e2e/lab"
)

// Issue 15, defect 1: heartbeats an attacker on a link captured and plays
// back must not make a dead member look alive. The attacker sits in the
// client namespace, which is on the lan network, whose heartbeat link
// broadcasts (the example's "lan" link): it hears every member's
// heartbeats there. For the other link it uses ctl, the only namespace
// besides the members on the heartbeat network.

// The members' addresses in the two-node example.
var (
	h2gLan    = netip.MustParseAddr("192.168.0.18")
	c2gLan    = netip.AddrPortFrom(netip.MustParseAddr("192.168.0.17"), 694)
	c2gDirect = netip.AddrPortFrom(netip.MustParseAddr("192.168.1.17"), 694)
)

// The recorded attack: 5 s of h2g's heartbeats captured, h2g powered off
// while c2g's agent is down (frozen, then killed, and restarted by its
// supervisor: it remembers nothing of h2g), and the capture played back
// to c2g, each packet once and slowly enough to stretch it over many
// deadtimes. Taken for alive, h2g would hold the group off c2g until the
// capture ran out ("the group runs nowhere"). c2g must start it as a
// member that starts alone does, after initdead, and count what it was
// played as refused.
func TestReplayAfterRestartDoesNotHoldOffFailover(t *testing.T) {
	c := webCluster(t, nil)
	p := startProbe(t, c.lab)
	p.waitFor(t, "h2g")
	captured := captureFrom(t, c.lab, lab.Client, h2gLan, 5*time.Second)
	agent := `$(sed -n 's/^ *"pid": *\([0-9]*\).*/\1/p' ` + layout.StatusPath + `)`
	c.onNode("c2g", "kill -STOP "+agent)
	if err := c.lab.PowerOff(context.Background(), "h2g"); err != nil {
		t.Fatal(err)
	}
	var restart time.Time
	// 40 ms apart, under the defaults' 100 ms deadtime: each packet,
	// taken for alive, would keep h2g alive until the next.
	replayed := playBack(t, c.lab, lab.Client, c2gLan, captured, 40*time.Millisecond, func() {
		restart = time.Now()
		c.onNode("c2g", "kill -9 "+agent)
	})
	p.waitFor(t, "c2g")
	// The new agent hears no member: it waits initdead (5 s, the
	// default) for h2g, then starts the group. A deadtime and a margin
	// for the agent's own start are the most it may take beyond that.
	var served time.Time
	for _, pr := range p.Since(restart) {
		if pr.OK && pr.From == "c2g" {
			served = pr.Sent
			break
		}
	}
	took := served.Sub(restart)
	t.Logf("c2g served the VIP %s after its agent restarted, %d heartbeats played", took.Round(time.Millisecond), replayed)
	if took > 5*time.Second+2*time.Second {
		t.Errorf("c2g served the VIP %s after its agent restarted, while %d replayed heartbeats of the dead h2g played: they held it off (%s)",
			took.Round(time.Millisecond), replayed, p.Timeline(restart))
	}
	c.oneHolder("c2g")
	hb := c.agentHeartbeat("c2g")
	refused := hb.Dropped["unproven"] + hb.Dropped["late"] + hb.Dropped["replayed"] + hb.Dropped["stale"]
	if refused == 0 {
		t.Errorf("c2g was played %d of h2g's heartbeats and refused none: dropped %v", replayed, hb.Dropped)
	}
	for _, m := range hb.Members {
		if m.Name == "h2g" && m.Alive {
			t.Error("c2g takes the powered-off h2g for alive")
		}
	}
}

// A heartbeat h2g sends on the lan link, relayed at once onto the direct
// link whose cable h2g lost, must not make the direct link look up: the
// packet names the link it was sent on.
func TestReplayOnAnotherLinkDoesNotRaiseIt(t *testing.T) {
	c := webCluster(t, nil)
	p := startProbe(t, c.lab)
	p.waitFor(t, "h2g")
	if err := c.lab.Cut("h2g", "eth1"); err != nil {
		t.Fatal(err)
	}
	c.waitLinkUp("c2g", "h2g", "direct", false)
	stop := relay(t, c.lab, h2gLan, c2gDirect)
	p.holds(t, "h2g", 2*time.Second)
	hb := c.agentHeartbeat("c2g")
	relayed := stop()
	if up := linkUp(hb, "h2g", "direct"); up {
		t.Errorf("after %d of h2g's lan heartbeats relayed onto the cut direct link, c2g shows that link up", relayed)
	}
	if hb.Dropped["wrong_link"] == 0 {
		t.Errorf("c2g was relayed %d heartbeats of another link and refused none as such: dropped %v", relayed, hb.Dropped)
	}
}

// captureFrom records, from a target's network namespace, the heartbeats
// from one address that arrive there for d.
func captureFrom(t *testing.T, l *lab.Lab, target string, from netip.Addr, d time.Duration) [][]byte {
	t.Helper()
	pc := listenHeartbeats(t, l, target)
	defer pc.Close()
	_ = pc.SetDeadline(time.Now().Add(d))
	var out [][]byte
	buf := make([]byte, 9000)
	for {
		n, src, err := pc.ReadFromUDPAddrPort(buf)
		if isTimeout(err) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if src.Addr().Unmap() == from {
			out = append(out, append([]byte(nil), buf[:n]...))
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s heard no heartbeat from %s in %s", target, from, d)
	}
	return out
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// listenHeartbeats opens the heartbeat port in a target's namespace.
func listenHeartbeats(t *testing.T, l *lab.Lab, target string) *net.UDPConn {
	t.Helper()
	var pc *net.UDPConn
	err := l.InNetns(target, func() error {
		var err error
		pc, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 694})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

// playBack sends packets from a target to dst, every apart, once each;
// during runs once the first has gone. It returns how many were sent.
func playBack(t *testing.T, l *lab.Lab, target string, dst netip.AddrPort, packets [][]byte, every time.Duration, during func()) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := l.Dial(ctx, target, "udp", dst.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i, b := range packets {
		// A refused send (no listener yet: ICMP port unreachable) is
		// what a replay to a restarting agent meets; go on.
		_, _ = conn.Write(b)
		if i == 0 {
			during()
		}
		time.Sleep(every)
	}
	return len(packets)
}

// relay forwards, from the client to dst through ctl, every heartbeat from
// one address the client hears, until the returned stop, which says how
// many it forwarded.
func relay(t *testing.T, l *lab.Lab, from netip.Addr, dst netip.AddrPort) (stop func() int) {
	t.Helper()
	in := listenHeartbeats(t, l, lab.Client)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := l.Dial(ctx, lab.Ctl, "udp", dst.String())
	if err != nil {
		in.Close()
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	n := 0
	wg.Go(func() {
		buf := make([]byte, 9000)
		for {
			k, src, err := in.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if src.Addr().Unmap() == from {
				_, _ = out.Write(buf[:k])
				n++
			}
		}
	})
	var once sync.Once
	stop = func() int {
		once.Do(func() {
			in.Close()
			wg.Wait()
			out.Close()
		})
		return n
	}
	t.Cleanup(func() { stop() })
	return stop
}

// agentHeartbeat reads the heartbeat role's status from a node's agent.
func (c *cluster) agentHeartbeat(node string) *status.Heartbeat {
	c.t.Helper()
	var st status.Status
	raw := c.onNode(node, "cat "+layout.StatusPath)
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		c.t.Fatalf("%s: reading its agent's status: %v\n%s", node, err, raw)
	}
	if st.Heartbeat == nil {
		c.t.Fatalf("%s: its agent reports no heartbeat role:\n%s", node, raw)
	}
	return st.Heartbeat
}

// linkUp says whether hb shows a peer's link up.
func linkUp(hb *status.Heartbeat, peer, link string) bool {
	for _, m := range hb.Members {
		for _, l := range m.Links {
			if m.Name == peer && l.Name == link {
				return l.Up
			}
		}
	}
	return false
}

// waitLinkUp waits until a node's agent shows a peer's link up or down.
func (c *cluster) waitLinkUp(node, peer, link string, up bool) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if linkUp(c.agentHeartbeat(node), peer, link) == up {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s never showed %s's link %s up=%v", node, peer, link, up)
}
