package drill

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Report is what a drill did and found. Durations are in nanoseconds in
// its JSON, as their field names say.
type Report struct {
	Cluster  string        `json:"cluster"`
	Config   string        `json:"config"`
	Lab      string        `json:"lab"`
	Seed     uint64        `json:"seed"`
	Duration time.Duration `json:"duration_ns"` // asked for
	Ran      time.Duration `json:"ran_ns"`      // from the first fault to the last settle
	Bound    time.Duration `json:"bound_ns"`    // an outage's bound: deadtime plus the margin
	// Adapted says how the configuration was changed for the lab.
	Adapted    []string    `json:"adapted,omitempty"`
	Steps      []Step      `json:"steps"`
	Violations []Violation `json:"violations"`
	// Events are the agents' events and the power switch's requests,
	// collected after each step with a violation.
	Events []string `json:"events,omitempty"`
	// Stopped says why the drill stopped before its duration was spent.
	Stopped string `json:"stopped,omitempty"`
	// Unprovoked are the fencings between faults, once the cluster had
	// settled: false deaths.
	Unprovoked []Unprovoked `json:"unprovoked_fencings,omitempty"`
}

// Unprovoked is a node the cluster fenced with no fault applied.
type Unprovoked struct {
	At        time.Time `json:"at"`
	Node      string    `json:"node"`
	AfterStep int       `json:"after_step"`
}

// Step is one fault and what the client saw of it.
type Step struct {
	Index  int            `json:"index"`
	Fault  Fault          `json:"fault"`
	Start  time.Time      `json:"start"`
	Settle time.Duration  `json:"settle_ns"` // from the heal to settled
	Groups []GroupOutcome `json:"groups"`
	// Note says what else happened: an operator's command that failed
	// because the cluster fenced a node while it ran.
	Note string `json:"note,omitempty"`
	// Fenced are the nodes the cluster powered off during the step, from
	// the power switch's log.
	Fenced []string `json:"fenced,omitempty"`
}

// GroupOutcome is what one group did during a step.
type GroupOutcome struct {
	Group string `json:"group"`
	// Before and After answered the client when the fault began and at the
	// end of its hold ("" for nobody).
	Before string `json:"before"`
	After  string `json:"after"`
	// Outage is the longest time the client got no answer during the
	// fault; HealOutage, during the heal and settle.
	Outage     time.Duration `json:"outage_ns"`
	HealOutage time.Duration `json:"heal_outage_ns"`
	// CouldRun are the nodes that could run the group at the end of the
	// hold, by the drill's model.
	CouldRun []string `json:"could_run"`
	// Unchecked says why the outage was not judged.
	Unchecked string `json:"unchecked,omitempty"`
}

// Violation is a broken invariant.
type Violation struct {
	Step      int       `json:"step"` // 0: before the first fault
	At        time.Time `json:"at"`
	Invariant string    `json:"invariant"`
	Group     string    `json:"group,omitempty"`
	Detail    string    `json:"detail"`
}

func (v Violation) String() string {
	g := ""
	if v.Group != "" {
		g = " group " + v.Group + ":"
	}
	return fmt.Sprintf("step %d at %s: %s:%s %s", v.Step, v.At.Format("15:04:05.000"), v.Invariant, g, v.Detail)
}

// KindSummary sums the steps of one kind of fault up.
type KindSummary struct {
	Kind   Kind `json:"kind"`
	Faults int  `json:"faults"`
	// Outages counts the group outcomes with an outage during the fault;
	// Median and Max are over those outages.
	Outages int           `json:"outages"`
	Median  time.Duration `json:"median_ns"`
	Max     time.Duration `json:"max_ns"`
	// HealMax is the longest outage during a heal.
	HealMax   time.Duration `json:"heal_max_ns"`
	Unchecked int           `json:"unchecked"`
	// Fenced counts the nodes the cluster fenced during these faults.
	Fenced int `json:"fenced"`
}

// Summary sums the steps up per kind of fault, in Kinds order.
func (r *Report) Summary() []KindSummary {
	var out []KindSummary
	for _, k := range Kinds {
		s := KindSummary{Kind: k}
		var outages []time.Duration
		for _, st := range r.Steps {
			if st.Fault.Kind != k {
				continue
			}
			s.Faults++
			s.Fenced += len(st.Fenced)
			for _, g := range st.Groups {
				if g.Unchecked != "" {
					s.Unchecked++
					continue
				}
				if g.Outage > 0 {
					outages = append(outages, g.Outage)
				}
				s.HealMax = max(s.HealMax, g.HealOutage)
			}
		}
		if s.Faults == 0 {
			continue
		}
		slices.Sort(outages)
		s.Outages = len(outages)
		if len(outages) > 0 {
			s.Median, s.Max = median(outages), outages[len(outages)-1]
		}
		out = append(out, s)
	}
	return out
}

// median of sorted durations.
func median(d []time.Duration) time.Duration {
	n := len(d)
	if n%2 == 1 {
		return d[n/2]
	}
	return (d[n/2-1] + d[n/2]) / 2
}

// secs formats a duration as seconds, "-" for none.
func secs(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3fs", d.Seconds())
}

// Write prints the report for a reader: the table of faults and outages,
// the violations and, when there are any, how to replay the run, the
// sequence of faults and the events.
func (r *Report) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "Drill of cluster %s (%s) in lab %s: seed %d, %d faults in %s; outage bound %s.\n",
		r.Cluster, r.Config, r.Lab, r.Seed, len(r.Steps), r.Ran.Round(time.Second), secs(r.Bound))
	for _, a := range r.Adapted {
		fmt.Fprintf(bw, "  (%s)\n", a)
	}
	fmt.Fprintf(bw, "\n%-14s %6s %8s %9s %9s %9s %7s %9s\n", "fault", "count", "outages", "median", "max", "heal max", "fenced", "unchecked")
	for _, s := range r.Summary() {
		fmt.Fprintf(bw, "%-14s %6d %8d %9s %9s %9s %7d %9d\n", s.Kind, s.Faults, s.Outages, secs(s.Median), secs(s.Max), secs(s.HealMax), s.Fenced, s.Unchecked)
	}
	fmt.Fprintln(bw, "\n(outages: the group outcomes where the client went unanswered during the fault, median and max over those;\n fenced: the nodes the cluster powered off through the lab's power switch)")
	if len(r.Unprovoked) > 0 {
		var at []string
		for _, u := range r.Unprovoked {
			at = append(at, fmt.Sprintf("%s at %s (after step %d)", u.Node, u.At.Format("15:04:05.000"), u.AfterStep))
		}
		fmt.Fprintf(bw, "\nFencings with no fault applied (false deaths: a member silent past deadtime): %s.\n", strings.Join(at, ", "))
	}
	if r.Stopped != "" {
		fmt.Fprintf(bw, "\nThe drill stopped early: %s.\n", r.Stopped)
	}
	if len(r.Violations) == 0 {
		fmt.Fprintln(bw, "\nViolations: none.")
		return bw.Flush()
	}
	fmt.Fprintf(bw, "\nViolations: %d.\n", len(r.Violations))
	for _, v := range r.Violations {
		fmt.Fprintf(bw, "  %s\n", v)
	}
	fmt.Fprintf(bw, "\nReplay: hactl lab drill -f %s --seed %d --duration %s\n", r.Config, r.Seed, r.Duration)
	fmt.Fprintln(bw, "\nFaults:")
	for _, st := range r.Steps {
		var gs []string
		for _, g := range st.Groups {
			gs = append(gs, fmt.Sprintf("%s %s→%s outage %s", g.Group, orNobody(g.Before), orNobody(g.After), secs(g.Outage)))
		}
		fmt.Fprintf(bw, "  #%-3d %s %-40s hold %.1fs  %s\n", st.Index, st.Start.Format("15:04:05.000"), st.Fault, st.Fault.Hold.Seconds(), strings.Join(gs, "; "))
		if len(st.Fenced) > 0 {
			fmt.Fprintf(bw, "       (fenced %s)\n", strings.Join(st.Fenced, ", "))
		}
		if st.Note != "" {
			fmt.Fprintf(bw, "       (%s)\n", st.Note)
		}
	}
	if len(r.Events) > 0 {
		fmt.Fprintln(bw, "\nEvents (agents' and the power switch's):")
		for _, e := range r.Events {
			fmt.Fprintf(bw, "  %s\n", e)
		}
	}
	return bw.Flush()
}
