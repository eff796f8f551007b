package proxy

import (
	"fmt"

	"github.com/hactl/hactl/agentbin/health"
	"github.com/hactl/hactl/agentbin/status"
)

// level is how a service can answer: with a regular backend, only with an
// emergency one, or with 503.
type level int

const (
	levelRegular level = iota
	levelEmergency
	levelDown
)

// levelOf is the level of a service whose backends (regular and
// emergency) are in the states given. A backend not probed yet counts as
// able to serve, as pick uses it so; a service without regular backends
// has its emergency ones as its regular.
func levelOf(regular, emergency []health.State) level {
	alive := func(states []health.State) bool {
		for _, s := range states {
			if s != health.Down {
				return true
			}
		}
		return false
	}
	switch {
	case alive(regular) || (len(regular) == 0 && alive(emergency)):
		return levelRegular
	case alive(emergency):
		return levelEmergency
	}
	return levelDown
}

// transition is a backend's change of health in a service of proxy pr:
// the backend's event, and the service's when its level changed. They are
// reported only where the proxy serves, so that a standby director's
// checker does not report the same backends again.
func (r *Role) transition(pr *proxyRun, h *svcHealth, proxy, svc string, tr health.Transition) {
	h.mu.Lock()
	if st := h.stats[tr.Target.Name]; st != nil {
		st.state.Store(int32(tr.To))
	}
	var regular, emergency []health.State
	for name, st := range h.stats {
		s := health.State(st.state.Load())
		if h.kinds[name] == "emergency" {
			emergency = append(emergency, s)
		} else {
			regular = append(regular, s)
		}
	}
	from, to := h.level, levelOf(regular, emergency)
	h.level = to
	h.mu.Unlock()
	r.env.Logger.Printf("proxy %s: service %s: backend %s (%s:%d) is %s: %s", proxy, svc, tr.Target.Name, tr.Target.Address, tr.Target.Port, tr.To, tr.Reason)
	group := pr.eventGroup.Load()
	if group == nil || r.env.Emit == nil {
		return
	}
	emit := func(kind status.EventKind, detail string) {
		r.env.Emit(status.Event{Time: tr.At, Kind: kind, Node: r.node, Group: *group, Detail: detail})
	}
	if tr.From != health.Unknown || tr.To == health.Down {
		kind := status.ProxyBackendDown
		if tr.To == health.Up {
			kind = status.ProxyBackendUp
		}
		emit(kind, fmt.Sprintf("proxy %s, service %s, backend %s (%s:%d): %s", proxy, svc, tr.Target.Name, tr.Target.Address, tr.Target.Port, tr.Reason))
	}
	switch {
	case from == to:
	case to == levelEmergency:
		emit(status.ProxyEmergency, fmt.Sprintf("proxy %s, service %s: every regular backend is down; the emergency backend answers", proxy, svc))
	case to == levelDown:
		emit(status.ProxyServiceDown, fmt.Sprintf("proxy %s, service %s: no backend can serve; clients get 503", proxy, svc))
	default:
		emit(status.ProxyServiceRestored, fmt.Sprintf("proxy %s, service %s: backend %s serves again", proxy, svc, tr.Target.Name))
	}
}
