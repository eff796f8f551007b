package dashboard

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hactl/hactl/agentbin/status"
	"github.com/hactl/hactl/plan/topology"
)

// dashView is what the dashboard page shows of the cluster at one moment:
// built from the configuration and the monitored nodes' status, so that it
// can be tested without hosts.
type dashView struct {
	Cluster  string        `json:"cluster"`
	Updated  time.Time     `json:"updated"`
	RefreshS float64       `json:"refresh_s"`
	Nodes    []dashNode    `json:"nodes"`
	Links    []dashLink    `json:"links"`
	Groups   []dashGroup   `json:"groups"`
	Services []dashService `json:"services"`
	Devices  []dashDevice  `json:"devices"`
	// Events are the newest first.
	Events []dashEvent `json:"events"`
}

type dashNode struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// Monitored nodes run the monitor role, whose API the dashboard reads;
	// the others are shown from what the monitored ones report.
	Monitored bool `json:"monitored"`
	// Reachable: the dashboard read the node's status through its API.
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	// State is the node in a word: "up", "down" (members see it dead),
	// "unreachable" (the dashboard cannot read it, members say nothing),
	// "unhealthy", "standby" or "maintenance".
	State        string `json:"state"`
	AgentVersion string `json:"agent_version,omitempty"`
	Healthy      bool   `json:"healthy"`
	// Holds are the groups the node runs.
	Holds []string `json:"holds"`
	// Polls names the SNMP devices the node polls.
	Polls []string `json:"polls,omitempty"`
}

type dashLink struct {
	// From and To are the link's ends, in name order.
	From    string  `json:"from"`
	To      string  `json:"to"`
	Link    string  `json:"link"`
	Up      bool    `json:"up"`
	LossPct float64 `json:"loss_pct"`
	RTTMS   float64 `json:"rtt_ms"`
}

type dashGroup struct {
	Name string `json:"name"`
	// Nodes are the group's locations, the preferred first.
	Nodes   []string `json:"nodes"`
	VIPs    []string `json:"vips"`
	Holders []string `json:"holders"`
	// State is "running", "stopped" or "split" (more than one holder).
	State string `json:"state"`
}

type dashService struct {
	Name        string       `json:"name"`
	Address     string       `json:"address"`
	LiveOn      []string     `json:"live_on"`
	RealServers []dashServer `json:"real_servers"`
}

type dashServer struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Health  string `json:"health"`
	Reason  string `json:"reason,omitempty"`
}

type dashDevice struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// PolledBy is the node whose history holds the device's series.
	PolledBy string `json:"polled_by"`
}

type dashEvent struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	Node   string    `json:"node,omitempty"`
	Group  string    `json:"group,omitempty"`
	Detail string    `json:"detail,omitempty"`
	// Source is the node that reported it, or "dashboard" for what the
	// dashboard saw change between two polls.
	Source string `json:"source"`
}

// The events the dashboard itself adds to the agents'.
const (
	eventHolder      = "holder_changed"
	eventUnreachable = "unreachable"
	eventReachable   = "reachable"
)

// maxEvents bounds the timeline the dashboard keeps.
const maxEvents = 500

// monitoredNodes are the nodes the monitor block names, or every node.
func monitoredNodes(t *topology.Topology) []string {
	var out []string
	if t.Monitor != nil && len(t.Monitor.Nodes) > 0 {
		for _, n := range t.Monitor.Nodes {
			out = append(out, n.Name)
		}
		return out
	}
	for _, n := range t.Nodes {
		out = append(out, n.Name)
	}
	return out
}

// nodeRead is one read of a monitored node's status.
type nodeRead struct {
	Status *status.Status
	Err    error
	At     time.Time
}

// buildView makes the view from the configuration and one poll of the
// monitored nodes.
func buildView(t *topology.Topology, reads map[string]nodeRead, now time.Time) dashView {
	v := dashView{Cluster: t.Cluster.Name, Updated: now}
	monitored := monitoredNodes(t)

	// What the reachable members say of each member, for the nodes the
	// dashboard cannot read itself.
	aliveSays := map[string][]bool{}
	holders := map[string][]string{}
	links := map[[3]string]*dashLink{}
	services := map[string]*dashService{}
	for _, name := range slices.Sorted(maps.Keys(reads)) {
		r := reads[name]
		if r.Status == nil {
			continue
		}
		if hb := r.Status.Heartbeat; hb != nil {
			for _, m := range hb.Members {
				aliveSays[m.Name] = append(aliveSays[m.Name], m.Alive)
				if m.Self {
					continue
				}
				for _, l := range m.Links {
					a, b := min(name, m.Name), max(name, m.Name)
					key := [3]string{a, b, l.Name}
					dl := links[key]
					if dl == nil {
						dl = &dashLink{From: a, To: b, Link: l.Name, Up: true}
						links[key] = dl
					}
					// Both ends report a link; it is shown as the worse.
					dl.Up = dl.Up && l.Up
					dl.LossPct = max(dl.LossPct, l.LossPct)
					dl.RTTMS = max(dl.RTTMS, l.RTTMS)
				}
			}
			for _, g := range hb.Groups {
				for _, h := range g.RunningOn {
					if !slices.Contains(holders[g.Name], h) {
						holders[g.Name] = append(holders[g.Name], h)
					}
				}
			}
		}
		if r.Status.LVS != nil {
			for _, s := range r.Status.LVS.Services {
				ds := services[s.Name]
				if ds == nil {
					ds = &dashService{Name: s.Name, Address: fmt.Sprintf("%s %s:%d", s.Protocol, s.Address, s.Port)}
					services[s.Name] = ds
				}
				if !s.Live {
					continue
				}
				ds.LiveOn = append(ds.LiveOn, name)
				// The live director's view of the real servers is the one
				// that counts.
				ds.RealServers = ds.RealServers[:0]
				for _, rs := range s.RealServers {
					ds.RealServers = append(ds.RealServers, dashServer{Name: rs.Name, Address: fmt.Sprintf("%s:%d", rs.Address, rs.Port), Health: rs.Health, Reason: rs.Reason})
				}
			}
		}
	}

	for _, n := range t.Nodes {
		dn := dashNode{Name: n.Name, Address: n.Address, Monitored: slices.Contains(monitored, n.Name), Holds: []string{}}
		r, read := reads[n.Name]
		switch {
		case read && r.Status != nil:
			dn.Reachable, dn.AgentVersion, dn.Healthy = true, r.Status.AgentVersion, r.Status.Healthy
			dn.State = "up"
			if hb := r.Status.Heartbeat; hb != nil {
				switch {
				case hb.Maintenance:
					dn.State = "maintenance"
				case hb.Standby:
					dn.State = "standby"
				}
			}
			if dn.State == "up" && !r.Status.Healthy {
				dn.State = "unhealthy"
			}
		case read && r.Err != nil:
			dn.Error = r.Err.Error()
			dn.State = "unreachable"
		default:
			dn.State = "unknown"
		}
		if says := aliveSays[n.Name]; !dn.Reachable && len(says) > 0 {
			if slices.Contains(says, true) {
				dn.State = "up"
			} else {
				dn.State = "down"
			}
		}
		v.Nodes = append(v.Nodes, dn)
	}

	for _, g := range t.Groups {
		dg := dashGroup{Name: g.Name, Nodes: []string{}, VIPs: []string{}, Holders: holders[g.Name]}
		for _, l := range g.Locations {
			dg.Nodes = append(dg.Nodes, l.Node.Name)
		}
		for _, r := range g.Resources {
			if r.VIP != nil {
				dg.VIPs = append(dg.VIPs, r.VIP.Address.String())
			}
		}
		sort.Strings(dg.Holders)
		switch len(dg.Holders) {
		case 0:
			dg.State, dg.Holders = "stopped", []string{}
		case 1:
			dg.State = "running"
		default:
			dg.State = "split"
		}
		for i := range v.Nodes {
			if slices.Contains(dg.Holders, v.Nodes[i].Name) {
				v.Nodes[i].Holds = append(v.Nodes[i].Holds, g.Name)
			}
		}
		v.Groups = append(v.Groups, dg)
	}

	for _, key := range slices.SortedFunc(maps.Keys(links), func(a, b [3]string) int {
		return strings.Compare(a[0]+"\x00"+a[1]+"\x00"+a[2], b[0]+"\x00"+b[1]+"\x00"+b[2])
	}) {
		v.Links = append(v.Links, *links[key])
	}
	for _, name := range slices.Sorted(maps.Keys(services)) {
		s := services[name]
		if s.LiveOn == nil {
			s.LiveOn = []string{}
		}
		if s.RealServers == nil {
			s.RealServers = []dashServer{}
		}
		v.Services = append(v.Services, *s)
	}
	if t.Monitor != nil && len(monitored) > 0 {
		for _, d := range t.Monitor.Devices {
			v.Devices = append(v.Devices, dashDevice{Name: d.Name, Address: d.Address, PolledBy: monitored[0]})
		}
		for i := range v.Nodes {
			if v.Nodes[i].Name == monitored[0] {
				for _, d := range v.Devices {
					v.Nodes[i].Polls = append(v.Nodes[i].Polls, d.Name)
				}
			}
		}
	}
	if v.Links == nil {
		v.Links = []dashLink{}
	}
	if v.Services == nil {
		v.Services = []dashService{}
	}
	if v.Devices == nil {
		v.Devices = []dashDevice{}
	}
	return v
}

// changes are the events the dashboard sees between two views: a group
// held elsewhere (a failover or a move), a node it can or cannot read.
func changes(prev, next dashView) []dashEvent {
	var out []dashEvent
	was := map[string]dashNode{}
	for _, n := range prev.Nodes {
		was[n.Name] = n
	}
	for _, n := range next.Nodes {
		p, ok := was[n.Name]
		if !ok || !n.Monitored {
			continue
		}
		switch {
		case p.Reachable && !n.Reachable:
			out = append(out, dashEvent{Time: next.Updated, Kind: eventUnreachable, Node: n.Name, Detail: n.Error, Source: "dashboard"})
		case !p.Reachable && n.Reachable && p.State != "unknown":
			out = append(out, dashEvent{Time: next.Updated, Kind: eventReachable, Node: n.Name, Source: "dashboard"})
		}
	}
	held := map[string][]string{}
	for _, g := range prev.Groups {
		held[g.Name] = g.Holders
	}
	for _, g := range next.Groups {
		before, ok := held[g.Name]
		if !ok || slices.Equal(before, g.Holders) {
			continue
		}
		out = append(out, dashEvent{Time: next.Updated, Kind: eventHolder, Group: g.Name, Node: strings.Join(g.Holders, ","),
			Detail: fmt.Sprintf("group %s held by %s (was %s)", g.Name, holderWords(g.Holders), holderWords(before)), Source: "dashboard"})
	}
	return out
}

func holderWords(h []string) string {
	if len(h) == 0 {
		return "no node"
	}
	return strings.Join(h, " and ")
}

// agentEvents are the events the reachable members report (the timeline
// keeps each once: several members report the same death or failover).
func agentEvents(reads map[string]nodeRead) []dashEvent {
	var out []dashEvent
	for _, name := range slices.Sorted(maps.Keys(reads)) {
		r := reads[name]
		if r.Status == nil || r.Status.Heartbeat == nil {
			continue
		}
		for _, e := range r.Status.Heartbeat.Events {
			out = append(out, dashEvent{Time: e.Time, Kind: string(e.Kind), Node: e.Node, Group: e.Group, Detail: e.Detail, Source: name})
		}
	}
	return out
}

// timeline keeps the events the dashboard has seen, each once.
type timeline struct {
	seen   map[string]bool
	events []dashEvent // oldest first
}

func (tl *timeline) add(events ...dashEvent) {
	if tl.seen == nil {
		tl.seen = map[string]bool{}
	}
	for _, e := range events {
		key := e.key()
		if tl.seen[key] {
			continue
		}
		tl.seen[key] = true
		tl.events = append(tl.events, e)
	}
	sort.SliceStable(tl.events, func(i, j int) bool { return tl.events[i].Time.Before(tl.events[j].Time) })
	if over := len(tl.events) - maxEvents; over > 0 {
		// An agent may report a dropped event again; older than every
		// kept one, it is dropped again at once.
		tl.events = slices.Delete(tl.events, 0, over)
		clear(tl.seen)
		for _, e := range tl.events {
			tl.seen[e.key()] = true
		}
	}
}

// key is the event's identity whoever reports it.
func (e dashEvent) key() string {
	return e.Time.UTC().Format(time.RFC3339Nano) + "\x00" + e.Kind + "\x00" + e.Node + "\x00" + e.Group + "\x00" + e.Detail
}

// newestFirst is a copy of the timeline, newest event first.
func (tl *timeline) newestFirst() []dashEvent {
	out := slices.Clone(tl.events)
	slices.Reverse(out)
	if out == nil {
		out = []dashEvent{}
	}
	return out
}
