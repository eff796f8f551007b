package status

// Proxy is one proxy of the proxy role as it runs on this node.
type Proxy struct {
	Name string `json:"name"`
	// Group is the VIP's group the proxy follows ("" for one on nodes).
	Group string `json:"group,omitempty"`
	// Serving is true when the proxy should listen here (its group runs
	// here, or it has none).
	Serving   bool            `json:"serving"`
	Listeners []ProxyListener `json:"listeners"`
	Services  []ProxyService  `json:"services"`
	// Requests counts the requests relayed to a backend.
	Requests uint64 `json:"requests"`
	// Rejected counts the requests refused before routing, by status.
	Rejected map[string]uint64 `json:"rejected,omitempty"`
	// LogLinesDropped counts access lines dropped because the log writer
	// fell behind (the role's, for all its proxies).
	LogLinesDropped uint64 `json:"log_lines_dropped,omitempty"`
}

// ProxyListener is a proxy's listener.
type ProxyListener struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Address  string `json:"address"`
	Serving  bool   `json:"serving"`
	Error    string `json:"error,omitempty"`
}

// ProxyService is a proxy service and its backends.
type ProxyService struct {
	Name     string         `json:"name"`
	Sessions int            `json:"sessions"`
	Backends []ProxyBackend `json:"backends"`
}

// ProxyBackend is a backend's health and counters since it was added.
type ProxyBackend struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Address string `json:"address"`
	Weight  int    `json:"weight"`
	// State is up, down or unknown (not probed yet).
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// Requests sent to it, those that failed (no answer, or 5xx), in flight.
	Requests      uint64  `json:"requests"`
	Errors        uint64  `json:"errors"`
	Active        int64   `json:"active"`
	MeanLatencyMS float64 `json:"mean_latency_ms"`
	// LatencyMSSum is the sum of the requests' latencies (to the
	// response's headers), in ms: a counter, for rates.
	LatencyMSSum float64 `json:"latency_ms_sum"`
	// LatencyBuckets count the requests by latency, each those that took
	// at most LEMS, cumulative as a Prometheus histogram's; Requests is
	// the +Inf bucket's count. Absent before the first request.
	LatencyBuckets []LatencyBucket `json:"latency_buckets,omitempty"`
	// SessionsMoved counts sessions moved off it because it was down.
	SessionsMoved uint64 `json:"sessions_moved"`
	// CheckLatencyMS is how long its last health check took, passed or
	// not; absent without health checks or before the first.
	CheckLatencyMS float64 `json:"check_latency_ms,omitempty"`
}

// LatencyBucket is one bucket of a latency histogram.
type LatencyBucket struct {
	LEMS  float64 `json:"le_ms"`
	Count uint64  `json:"count"`
}
