package heartbeat

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"sync/atomic"
	"time"
)

// quorumDevice tells one half of a two-node cluster that it may keep
// quorum; tests replace the tie-breaker with a fake.
type quorumDevice interface {
	run(ctx context.Context)
	setActive(bool)
	reachable() bool
}

// tieBreaker pings an address both halves of a two-node cluster can reach
// (usually the gateway): the half that reaches it keeps quorum. It pings
// continuously while a member is late or missing, so that the answer is
// fresh when the member is declared dead, and once a second otherwise.
type tieBreaker struct {
	addr     netip.Addr
	interval time.Duration
	timeout  time.Duration
	active   atomic.Bool
	// ok is the result of the latest completed ping: a node cut off from
	// the network loses quorum as soon as one ping started after the cut
	// has gone unanswered.
	ok atomic.Bool
}

func newTieBreaker(addr netip.Addr, interval, deadtime time.Duration) *tieBreaker {
	return &tieBreaker{addr: addr, interval: interval, timeout: min(max(deadtime/2, 100*time.Millisecond), time.Second)}
}

func (t *tieBreaker) setActive(on bool) { t.active.Store(on) }

func (t *tieBreaker) reachable() bool { return t.ok.Load() }

func (t *tieBreaker) run(ctx context.Context) {
	last := time.Time{}
	for {
		if t.active.Load() || time.Since(last) >= time.Second {
			last = time.Now()
			t.ok.Store(ping(ctx, t.addr, t.timeout))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(t.interval):
		}
	}
}

// ping sends one ICMP echo with the system's ping (iputils): a raw socket
// of our own would need the same privileges and add code to the agent.
func ping(ctx context.Context, addr netip.Addr, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout+time.Second)
	defer cancel()
	wait := fmt.Sprintf("%.3f", timeout.Seconds())
	return exec.CommandContext(ctx, "ping", "-n", "-q", "-c", "1", "-W", wait, addr.String()).Run() == nil
}
