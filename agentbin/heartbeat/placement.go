package heartbeat

import (
	"slices"
	"time"
)

// GroupPlan is what placement needs of a group.
type GroupPlan struct {
	Name          string
	Locations     []Location // highest score first
	Failback      bool
	FailbackDelay time.Duration
}

// Location is a node allowed to run a group and its score.
type Location struct {
	Node  string
	Score int
}

// View is one node's picture of the cluster at an instant. Every member
// computes placement from its own view; members that hear each other have
// the same view and so agree.
type View struct {
	// Alive members (this node included), with the time each was last seen
	// coming alive, for failback delays.
	AliveSince map[string]time.Time
	Standby    map[string]bool
	// Dead lists the members this node heard and has since declared dead,
	// while it has quorum: a move to one of them ends (MoveEnd). A member
	// not heard yet since this node started is neither alive nor dead.
	Dead map[string]bool
	// Holders lists, per group, the alive members that say they run it.
	Holders map[string][]string
	// Moves are manual placements (hactl failover), the newest per group
	// winning (Move.Supersedes).
	Moves map[string]Move
	// CannotServe lists, per alive member, the groups it may run but
	// cannot serve now (see serve.go).
	CannotServe map[string][]string
	Now         time.Time
}

// Move is a manual placement of a group. It holds until it ends: the
// operator clears it, its Until passes, a newer move replaces it, or its
// target can no longer run the group (MoveEnd). An ended move is kept as
// a record with no target and the same or a higher Epoch, and gossiped
// like any move, so that a peer that still knows the move (it was cut
// off, or down, when the move ended) learns it ended instead of bringing
// it back.
type Move struct {
	To string // the target; "" once the move ended
	// Epoch orders a group's moves. A new move takes the time in Unix
	// nanoseconds, or one more than the newest it knows if that is
	// larger (NextEpoch), so that across a partition the later move wins
	// as long as clocks agree within wire.MaxSkew, as they must anyway.
	Epoch uint64
	// Until is when the move expires; zero: no expiry.
	Until time.Time
}

// Active says whether the move places its group at now.
func (m Move) Active(now time.Time) bool {
	return m.To != "" && (m.Until.IsZero() || now.Before(m.Until))
}

// Supersedes says whether m replaces old as the group's move: a higher
// epoch wins; at equal epochs an ended move wins over an active one, so
// that one ending reached from two sides agrees, then the larger target
// name, so that every node picks the same.
func (m Move) Supersedes(old Move) bool {
	switch {
	case m.Epoch != old.Epoch:
		return m.Epoch > old.Epoch
	case (m.To == "") != (old.To == ""):
		return m.To == ""
	}
	return m.To > old.To
}

// NextEpoch is the epoch of a move made at now after cur.
func NextEpoch(cur Move, now time.Time) uint64 {
	return max(cur.Epoch+1, uint64(max(now.UnixNano(), 1)))
}

// Ended is the record of m once it no longer holds.
func (m Move) Ended() Move { return Move{Epoch: m.Epoch + 1} }

// MoveEnd says why the group's move no longer holds in v, or "" while it
// does or there is none. g.Locations are the nodes that may run the group
// now (without those that failed it). A move to a node that is alive but
// only unable to run the group for a moment (the group is still stopping
// elsewhere) holds; one whose target died, went into standby or failed
// the group ends for good, so that the node's return — or the operator's
// `hactl online` — is failback's business, not the old move's.
func MoveEnd(g GroupPlan, v View) string {
	m, ok := v.Moves[g.Name]
	switch {
	case !ok || m.To == "":
		return ""
	case !m.Active(v.Now):
		return "expired"
	case v.Dead[m.To]:
		return m.To + " died"
	case v.Standby[m.To]:
		return m.To + " is in standby"
	case !slices.ContainsFunc(g.Locations, func(l Location) bool { return l.Node == m.To }):
		return m.To + " may no longer run it"
	}
	return ""
}

// Place returns the node that should run the group, or "" when no member
// may run it now. It is a pure function of the view.
func Place(g GroupPlan, v View) string {
	var candidates []Location
	for _, l := range g.Locations {
		if _, alive := v.AliveSince[l.Node]; alive && !v.Standby[l.Node] {
			candidates = append(candidates, l)
		}
	}
	if len(candidates) == 0 {
		return ""
	}
	candidates = ableToServe(g.Name, candidates, v)
	isCandidate := func(n string) bool {
		for _, c := range candidates {
			if c.Node == n {
				return true
			}
		}
		return false
	}
	if m, ok := v.Moves[g.Name]; ok && m.Active(v.Now) && isCandidate(m.To) {
		return m.To
	}
	// The current holder, if one alive candidate runs the group. When two
	// do (after a partition healed), the better placed one counts.
	current := ""
	for _, c := range candidates {
		for _, h := range v.Holders[g.Name] {
			if h == c.Node && current == "" {
				current = c.Node
			}
		}
	}
	best := candidates[0]
	switch {
	case current == "":
		return best.Node
	case !g.Failback:
		return current
	case current == best.Node:
		return current
	case v.Now.Sub(v.AliveSince[best.Node]) < g.FailbackDelay:
		// The preferred node came back, but not long enough ago.
		return current
	}
	return best.Node
}

// ableToServe drops the candidates that cannot serve the group, unless
// none can: then placement goes on as if all could, as moving the group
// would not make it reachable.
func ableToServe(group string, candidates []Location, v View) []Location {
	able := slices.DeleteFunc(slices.Clone(candidates), func(l Location) bool {
		return slices.Contains(v.CannotServe[l.Node], group)
	})
	if len(able) == 0 {
		return candidates
	}
	return able
}
