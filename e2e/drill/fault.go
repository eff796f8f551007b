package drill

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/hactl/hactl/plan/topology"
)

// Kind is a kind of fault.
type Kind string

// The kinds of fault a drill applies (see the package doc).
const (
	KindCut          Kind = "cut"
	KindCutPort      Kind = "cut-port"
	KindPartition    Kind = "partition"
	KindLoss         Kind = "loss"
	KindKill         Kind = "kill"
	KindAgentKill    Kind = "agent-kill"
	KindAgentRestart Kind = "agent-restart"
	KindFreeze       Kind = "freeze"
	KindPower        Kind = "power"
	KindApply        Kind = "apply"
	KindMove         Kind = "move"
)

// Kinds lists every kind of fault, in the report's order.
var Kinds = []Kind{KindCut, KindCutPort, KindPartition, KindLoss, KindKill, KindAgentKill,
	KindAgentRestart, KindFreeze, KindPower, KindApply, KindMove}

// ParseKinds reads a comma-separated list of kinds.
func ParseKinds(s string) ([]Kind, error) {
	var out []Kind
	for _, f := range strings.Split(s, ",") {
		k := Kind(strings.TrimSpace(f))
		if !slices.Contains(Kinds, k) {
			names := make([]string, len(Kinds))
			for i, k := range Kinds {
				names[i] = string(k)
			}
			return nil, fmt.Errorf("unknown fault kind %q: choose among %s", k, strings.Join(names, ", "))
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// Fault is one fault of a drill, as drawn from the seed.
type Fault struct {
	Kind    Kind          `json:"kind"`
	Node    string        `json:"node,omitempty"`
	Iface   string        `json:"iface,omitempty"` // cut, cut-port, loss: empty is every link
	Sides   [][]string    `json:"sides,omitempty"` // partition
	Percent int           `json:"percent,omitempty"`
	Group   string        `json:"group,omitempty"` // move; apply when it flips failback
	Edit    string        `json:"edit,omitempty"`  // apply: "failback" or "notify"
	Hold    time.Duration `json:"hold_ns"`
}

// String says what the fault is, as a line of the report.
func (f Fault) String() string {
	at := f.Node
	if f.Iface != "" {
		at += ":" + f.Iface
	}
	switch f.Kind {
	case KindCut, KindCutPort:
		return fmt.Sprintf("%s %s", f.Kind, at)
	case KindPartition:
		sides := make([]string, len(f.Sides))
		for i, s := range f.Sides {
			sides[i] = strings.Join(s, ",")
		}
		return "partition " + strings.Join(sides, " / ")
	case KindLoss:
		return fmt.Sprintf("loss %s %d%%", at, f.Percent)
	case KindApply:
		if f.Edit == "failback" {
			return "apply: failback of " + f.Group + " flipped"
		}
		return "apply: notify \"drill\" added or removed"
	case KindMove:
		return fmt.Sprintf("move %s to %s", f.Group, f.Node)
	}
	return fmt.Sprintf("%s %s", f.Kind, f.Node)
}

// schedule draws faults from the seed and the topology alone, so that a
// seed replays the same sequence whatever the cluster does.
type schedule struct {
	rng   *rand.Rand
	topo  *topology.Topology
	kinds []Kind
	bound time.Duration
}

func newSchedule(seed uint64, topo *topology.Topology, kinds []Kind, bound time.Duration) *schedule {
	if len(kinds) == 0 {
		kinds = Kinds
	}
	var usable []Kind
	for _, k := range kinds {
		if k == KindMove && len(movable(topo)) == 0 {
			continue
		}
		if k == KindPartition && len(topo.Nodes) < 2 {
			continue
		}
		usable = append(usable, k)
	}
	return &schedule{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), topo: topo, kinds: usable, bound: bound}
}

// movable lists the groups with two or more nodes.
func movable(topo *topology.Topology) []*topology.Group {
	var out []*topology.Group
	for _, g := range topo.Groups {
		if len(g.Locations) > 1 {
			out = append(out, g)
		}
	}
	return out
}

// next draws the next fault.
func (s *schedule) next() Fault {
	k := s.kinds[s.rng.IntN(len(s.kinds))]
	f := Fault{Kind: k, Hold: s.bound + time.Second + time.Duration(s.rng.IntN(2000))*time.Millisecond}
	node := s.topo.Nodes[s.rng.IntN(len(s.topo.Nodes))]
	switch k {
	case KindCut, KindCutPort, KindLoss:
		f.Node = node.Name
		if i := s.rng.IntN(len(node.Interfaces) + 1); i < len(node.Interfaces) {
			f.Iface = node.Interfaces[i].Name
		}
		if k == KindLoss {
			f.Percent = 10 + 5*s.rng.IntN(7)
		}
	case KindPartition:
		for {
			sides := [][]string{nil, nil}
			for _, n := range s.topo.Nodes {
				side := s.rng.IntN(2)
				sides[side] = append(sides[side], n.Name)
			}
			if len(sides[0]) > 0 && len(sides[1]) > 0 {
				f.Sides = sides
				break
			}
		}
	case KindKill, KindAgentKill, KindAgentRestart, KindFreeze, KindPower:
		f.Node = node.Name
	case KindApply:
		f.Edit = "notify"
		if len(s.topo.Groups) > 0 && s.rng.IntN(2) == 0 {
			f.Edit = "failback"
			f.Group = s.topo.Groups[s.rng.IntN(len(s.topo.Groups))].Name
		}
	case KindMove:
		groups := movable(s.topo)
		g := groups[s.rng.IntN(len(groups))]
		f.Group = g.Name
		f.Node = g.Locations[s.rng.IntN(len(g.Locations))].Node.Name
	}
	return f
}
