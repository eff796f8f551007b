package status

import "time"

// Monitor is the monitor role's section: where it serves /metrics, and
// its latest collection summed up for hactl status.
type Monitor struct {
	Listen string `json:"listen"`
	// Collected is when the latest collection was made; Series how many
	// series it had.
	Collected time.Time `json:"collected,omitzero"`
	Series    int       `json:"series"`
	// Load1 is the 1-minute load average.
	Load1                float64 `json:"load1"`
	MemoryTotalBytes     int64   `json:"memory_total_bytes"`
	MemoryAvailableBytes int64   `json:"memory_available_bytes"`
	// ReceiveBytesPerSecond and TransmitBytesPerSecond are the traffic
	// of every interface but loopback, between the last two collections.
	ReceiveBytesPerSecond  float64 `json:"receive_bytes_per_second"`
	TransmitBytesPerSecond float64 `json:"transmit_bytes_per_second"`
	// Exceeded lists the thresholds beyond their limit now, as
	// "NAME series".
	Exceeded []string `json:"thresholds_exceeded,omitempty"`
	// HistoryBytes is the size of the history on disk.
	HistoryBytes int64 `json:"history_bytes,omitempty"`
	// Error says what the latest collection, serving or recording
	// could not do.
	Error string `json:"error,omitempty"`
}
