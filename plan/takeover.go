package plan

import "fmt"

// takeoverNotes says, on a host whose agent is to start, that apply takes
// over there from the daemon the cluster replaces (Desired.TakesOver), and
// how: a host whose agent already runs has been taken over, and the
// attribute then changes nothing.
func takeoverNotes(d *Desired, changes []Change) []string {
	if d.TakesOver == "" {
		return nil
	}
	for _, c := range changes {
		if c.Action == InstallAgent || c.Action == StartAgent {
			return []string{fmt.Sprintf("takes over from %[1]s (takes_over) where it still runs: if this node holds none of the cluster's VIPs, %[1]s is stopped and disabled here before any agent starts; if it holds them, its agent starts first, adopts them, and %[1]s is killed once the agent runs the groups", d.TakesOver)}
		}
	}
	return nil
}
