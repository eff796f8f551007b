package heartbeat

import (
	"context"
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
// (usually the gateway) while a member is missing: the half that reaches it
// keeps quorum. It pings only while needed.
type tieBreaker struct {
	addr     netip.Addr
	interval time.Duration
	active   atomic.Bool
	seen     atomic.Int64 // unix nanoseconds of the last answer
}

func newTieBreaker(addr netip.Addr, interval time.Duration) *tieBreaker {
	return &tieBreaker{addr: addr, interval: interval}
}

func (t *tieBreaker) setActive(on bool) { t.active.Store(on) }

// reachable says whether the address answered recently.
func (t *tieBreaker) reachable() bool {
	return time.Since(time.Unix(0, t.seen.Load())) < 2*time.Second
}

func (t *tieBreaker) run(ctx context.Context) {
	period := max(t.interval, 200*time.Millisecond)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(period):
		}
		// Ping ahead of need too, so that the answer is fresh when a peer
		// is declared dead.
		if t.active.Load() || time.Since(time.Unix(0, t.seen.Load())) > time.Second {
			if ping(ctx, t.addr) {
				t.seen.Store(time.Now().UnixNano())
			}
		}
	}
}

// ping sends one ICMP echo with the system's ping (iputils): a raw socket
// of our own would need the same privileges and add code to the agent.
func ping(ctx context.Context, addr netip.Addr) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "ping", "-n", "-q", "-c", "1", "-W", "1", addr.String()).Run() == nil
}
