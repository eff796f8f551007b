package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hactl/hactl/agentbin/status"
)

// syncFailures lists a source's targets that are failing or stopped by
// the delete guard: changes are not reaching them.
func syncFailures(syncs []status.Sync) []string {
	var out []string
	for _, s := range syncs {
		for _, t := range s.Targets {
			switch t.State {
			case "failing":
				out = append(out, fmt.Sprintf("sync %s → %s: %s", s.Name, t.Node, t.LastError))
			case "blocked":
				out = append(out, fmt.Sprintf("sync %s → %s: %s", s.Name, t.Node, t.Blocked))
			}
		}
	}
	return out
}

// writeSyncs shows every sync target as its source reports it.
func (r *statusReport) writeSyncs(w io.Writer) {
	var rows []string
	for _, n := range r.Nodes {
		for _, s := range n.Syncs {
			mode := s.Mode
			if s.Watch != "" {
				mode += " (" + s.Watch + ")"
			}
			for _, t := range s.Targets {
				pending := fmt.Sprint(t.Pending)
				if t.Pending < 0 {
					pending = "full run"
				}
				rows = append(rows, fmt.Sprintf("  %s\t%s → %s:%s\t%s\t%s\t%s\t%d/%d\t%s sent, %s saved\t%s",
					s.Name, n.Node, t.Node, t.Path, t.State, pending, (time.Duration(t.LagMS)*time.Millisecond).String(),
					t.Failures, t.Runs, byteSize(t.BytesSent), byteSize(t.BytesSaved), mode))
			}
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "\nSyncs:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  SYNC\tSOURCE → TARGET\tSTATE\tPENDING\tLAG\tFAILED/RUNS\tBYTES\tMODE")
	fmt.Fprintln(tw, strings.Join(rows, "\n"))
	_ = tw.Flush()
}

func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
