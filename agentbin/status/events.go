package status

// EventKind names something that happened on the cluster. Every kind a role
// can emit is declared here, once: notify blocks accept exactly these
// (providers/notify derives its list from EventKinds), and the docs list
// them with their meaning.
type EventKind string

// The heartbeat role's events.
const (
	NodeDead       EventKind = "node_dead"
	NodeAlive      EventKind = "node_alive"
	NodeLate       EventKind = "node_late"
	NodeLeaving    EventKind = "node_leaving"
	LinkDown       EventKind = "link_down"
	LinkUp         EventKind = "link_up"
	GroupStarted   EventKind = "group_started"
	GroupStopped   EventKind = "group_stopped"
	GroupFailed    EventKind = "group_failed"
	SplitBrain     EventKind = "split_brain"
	Fencing        EventKind = "fencing"
	Fenced         EventKind = "fenced"
	FenceFailed    EventKind = "fence_failed"
	QuorumLost     EventKind = "quorum_lost"
	QuorumRegained EventKind = "quorum_regained"
	Standby        EventKind = "standby"
	Online         EventKind = "online"
	Maintenance    EventKind = "maintenance"
	Move           EventKind = "move"
	CannotServe    EventKind = "cannot_serve"
	CanServe       EventKind = "can_serve"
)

// ResourceRestarted is the heartbeat role's event for a resource its group's
// monitor found stopped or failing and started again in place (on_fail
// restart, within max_restarts): the group stays where it is.
const ResourceRestarted EventKind = "resource_restarted"

// The lvs role's events.
const (
	RealServerDown EventKind = "real_server_down"
	RealServerUp   EventKind = "real_server_up"
	// LVSRestored: the lvs role found its rules changed by hand and
	// wrote them back.
	LVSRestored EventKind = "lvs_rules_restored"
)

// The sync role's events.
const (
	SyncFailed    EventKind = "sync_failed"
	SyncRecovered EventKind = "sync_recovered"
)

// The monitor role's events.
const (
	// ThresholdExceeded: a monitored series stayed beyond a threshold's
	// limit for its duration.
	ThresholdExceeded EventKind = "threshold_exceeded"
	// ThresholdCleared: it is back within the limit.
	ThresholdCleared EventKind = "threshold_cleared"
)

// The proxy role's events, reported by the node where the proxy serves.
const (
	ProxyBackendDown EventKind = "proxy_backend_down"
	ProxyBackendUp   EventKind = "proxy_backend_up"
	// ProxyEmergency: every regular backend of a service is down and its
	// emergency backend answers.
	ProxyEmergency EventKind = "proxy_emergency"
	// ProxyServiceDown: no backend of a service can serve; clients get 503.
	ProxyServiceDown EventKind = "proxy_service_down"
	// ProxyServiceRestored: a regular backend of a service that was down
	// or on its emergency backend serves again.
	ProxyServiceRestored EventKind = "proxy_service_restored"
)

// The agent's own events.
const (
	// RoleFailure: a role stopped by itself or could not start; the agent
	// retries it.
	RoleFailure EventKind = "role_failed"
	// RoleRecovery: a failed role runs again.
	RoleRecovery EventKind = "role_recovered"
)

// EventKinds lists every event kind with what it means, in the order the
// docs show them.
var EventKinds = []struct {
	Kind    EventKind
	Meaning string
}{
	{NodeDead, "a member sent no valid heartbeat on any link for deadtime"},
	{NodeAlive, "a member is heard again (or for the first time)"},
	{NodeLate, "a member's heartbeats are later than warntime"},
	{NodeLeaving, "a member's agent stops (a restart, an upgrade): it is not counted dead while a new agent starts, for initdead"},
	{LinkDown, "one heartbeat link to a member is silent for deadtime"},
	{LinkUp, "a heartbeat link to a member works again"},
	{GroupStarted, "a group's resources started on the node that reports it"},
	{GroupStopped, "a group's resources stopped on the node that reports it"},
	{GroupFailed, "a group's resource failed and the group could not be kept running there"},
	{ResourceRestarted, "a group's resource was found stopped or failing and was restarted in place (on_fail restart, within max_restarts)"},
	{SplitBrain, "a group was found running on two nodes after a partition; the lower placed one released it"},
	{Fencing, "a dead member is being fenced before its groups are taken over"},
	{Fenced, "a dead member was fenced"},
	{FenceFailed, "fencing a dead member failed; its groups are not taken over"},
	{QuorumLost, "this node no longer sees a quorum of members"},
	{QuorumRegained, "this node sees a quorum of members again"},
	{Standby, "the operator put a node in standby"},
	{Online, "the operator brought a node out of standby"},
	{Maintenance, "the operator turned maintenance on or off"},
	{Move, "the operator moved a group, or a move ended (cleared, expired, or its target died, went into standby or failed the group)"},
	{CannotServe, "a member can no longer serve a group (a VIP's interface lost carrier, or its ping targets stopped answering); the group moves to a member that can"},
	{CanServe, "a member can serve a group again (its VIPs' interfaces and ping targets were fit for 5s)"},
	{RealServerDown, "a virtual service's real server failed its health checks (fall in a row) and takes no new connections"},
	{RealServerUp, "a virtual service's real server passed its health checks (rise in a row) and takes connections again"},
	{LVSRestored, "the lvs role found its kernel rules (IPVS or nftables) changed by hand and wrote them back"},
	{RoleFailure, "an agent role stopped by itself or could not start; the agent retries it"},
	{RoleRecovery, "a failed agent role runs again"},
	{SyncFailed, "a sync run to a target failed (or stopped at the delete guard); it is retried with backoff, the changes kept pending"},
	{SyncRecovered, "a target of a sync that failed received a complete run again"},
	{ThresholdExceeded, "a series a monitor threshold watches stayed beyond its limit for the threshold's duration (detail: threshold, series, value)"},
	{ThresholdCleared, "a series that exceeded a monitor threshold is back within the limit"},
	{ProxyBackendDown, "a proxy's backend failed its health checks (fall in a row) or a connection to it failed (passive); it gets no requests"},
	{ProxyBackendUp, "a proxy's backend passed its health checks (rise in a row) and gets requests again"},
	{ProxyEmergency, "every regular backend of a proxy's service is down: its emergency backend answers"},
	{ProxyServiceDown, "no backend of a proxy's service can serve (regular and emergency down): its clients get 503"},
	{ProxyServiceRestored, "a regular backend of a proxy's service that was down or on its emergency backend serves again"},
}

// EventKindNames returns every event kind's name, in declaration order.
func EventKindNames() []string {
	names := make([]string, len(EventKinds))
	for i, k := range EventKinds {
		names[i] = string(k.Kind)
	}
	return names
}
