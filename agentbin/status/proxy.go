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
	// SessionsMoved counts sessions moved off it because it was down.
	SessionsMoved uint64 `json:"sessions_moved"`
}
