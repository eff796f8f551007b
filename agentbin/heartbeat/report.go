package heartbeat

import (
	"time"

	"github.com/hactl/hactl/agentbin/status"
)

// publish refreshes the status the agent reports.
func (e *Engine) publish(now time.Time) {
	e.published, e.changed = now, false
	v := e.view(now)
	hs := &status.Heartbeat{Quorate: e.quorate, Standby: e.standby, Maintenance: e.maintenance, SplitBrains: e.splitBrains}
	hs.Members = append(hs.Members, status.Member{Name: e.self, Self: true, Alive: true, Standby: e.standby, CannotServe: e.cannotServe})
	for _, name := range e.peerNames() {
		p := e.peers[name]
		m := status.Member{Name: name, Alive: p.alive, Standby: p.alive && p.state.Standby}
		if p.alive {
			m.CannotServe = p.state.CannotServe
		}
		for _, l := range e.hb.Links {
			pl := p.links[l.Name]
			m.Links = append(m.Links, status.Link{Name: l.Name, Up: pl.up, LossPct: pl.lossPct, RTTMS: float64(pl.rtt.Microseconds()) / 1000})
		}
		hs.Members = append(hs.Members, m)
	}
	e.mu.Lock()
	waiting := e.waiting
	hs.Events = append([]Event(nil), e.recent...)
	e.mu.Unlock()
	for _, name := range e.groupNames {
		g := e.groups[name]
		gs := status.Group{Name: name, RunningOn: v.Holders[name], State: string(g.state), Waiting: waiting[name]}
		if gs.RunningOn == nil {
			gs.RunningOn = []string{}
		}
		if g.err != nil {
			gs.Error = g.err.Error()
		}
		if m := e.moves[name]; m.Active(now) {
			gs.MovedTo, gs.MoveUntil = m.To, m.Until.UTC()
		}
		gs.Resources = append(gs.Resources, g.runner.Statuses()...)
		hs.Groups = append(hs.Groups, gs)
	}
	hs.Dropped = map[string]uint64{}
	for _, ib := range e.links {
		c := ib.counts.Snapshot()
		hs.Accepted += c.Accepted
		dropped := c.Dropped()
		for reason, n := range map[string]uint64{"queue_full": ib.full.Load(), "unverified": ib.unverified.Load()} {
			if n > 0 {
				dropped[reason] = n
			}
		}
		for reason, n := range dropped {
			hs.Dropped[reason] += n
			if hs.DroppedByLink == nil {
				hs.DroppedByLink = map[string]map[string]uint64{}
			}
			if hs.DroppedByLink[ib.link] == nil {
				hs.DroppedByLink[ib.link] = map[string]uint64{}
			}
			hs.DroppedByLink[ib.link][reason] = n
		}
	}
	hs.TrimmedStates = e.trimmed
	for link, n := range e.sendDrops {
		if hs.SendDrops == nil {
			hs.SendDrops = map[string]uint64{}
		}
		hs.SendDrops[link] = n
	}
	e.mu.Lock()
	e.status = hs
	e.mu.Unlock()
}

// Status returns the latest published status.
func (e *Engine) Status() *status.Heartbeat {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}
