package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// writeMetrics shows one line per monitored node: load, memory in use,
// traffic, and the thresholds exceeded there.
func (r *statusReport) writeMetrics(w io.Writer) {
	monitored := false
	for _, n := range r.Nodes {
		monitored = monitored || n.Metrics != nil
	}
	if !monitored {
		return
	}
	fmt.Fprintln(w, "\nMetrics (each node's latest collection; traffic of every interface but loopback):")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, n := range r.Nodes {
		m := n.Metrics
		if m == nil {
			continue
		}
		if m.Collected.IsZero() {
			fmt.Fprintf(tw, "  %s\tnot collected yet\t%s\n", n.Node, dash(m.Error))
			continue
		}
		memory := "memory -"
		if m.MemoryTotalBytes > 0 {
			used := m.MemoryTotalBytes - m.MemoryAvailableBytes
			memory = fmt.Sprintf("memory %s of %s used (%d%%)", bytesIEC(used), bytesIEC(m.MemoryTotalBytes), used*100/m.MemoryTotalBytes)
		}
		extra := m.Error
		if len(m.Exceeded) > 0 {
			extra = "EXCEEDED " + strings.Join(m.Exceeded, ", ")
		}
		cells := []string{"  " + n.Node, fmt.Sprintf("load %.2f", m.Load1), memory, fmt.Sprintf("in %s, out %s", rate(m.ReceiveBytesPerSecond), rate(m.TransmitBytesPerSecond))}
		if extra != "" {
			cells = append(cells, extra)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	_ = tw.Flush()
}

// bytesIEC writes a size in binary units, as free(1) -h does.
func bytesIEC(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ci", float64(n)/float64(div), "KMGTP"[exp])
}

// rate writes bytes per second in decimal units, as link speeds are.
func rate(bps float64) string {
	switch {
	case bps >= 1e9:
		return fmt.Sprintf("%.1f GB/s", bps/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%.1f MB/s", bps/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%.1f kB/s", bps/1e3)
	}
	return fmt.Sprintf("%.0f B/s", bps)
}
