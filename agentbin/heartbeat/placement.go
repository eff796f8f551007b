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
	// Holders lists, per group, the alive members that say they run it.
	Holders map[string][]string
	// Moves are manual placements (hactl failover --to), the newest per
	// group winning.
	Moves map[string]Move
	// CannotServe lists, per alive member, the groups it may run but
	// cannot serve now (see serve.go).
	CannotServe map[string][]string
	Now         time.Time
}

// Move is a manual placement of a group.
type Move struct {
	To    string
	Epoch uint64
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
	if m, ok := v.Moves[g.Name]; ok && m.To != "" && isCandidate(m.To) {
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
