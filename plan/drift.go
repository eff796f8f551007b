package plan

import (
	"fmt"
	"sort"

	"github.com/hactl/hactl/agentbin/spec"
)

// DriftKind separates what hactl has not applied yet from what changed on a
// host behind its back.
type DriftKind string

// Drift kinds.
const (
	Pending     DriftKind = "pending"     // the configuration changed since the last apply
	HandChange  DriftKind = "drift"       // the host no longer matches what hactl applied
	Unreachable DriftKind = "unreachable" // the host could not be observed
)

// DriftItem is one finding.
type DriftItem struct {
	Node    string    `json:"node"`
	Kind    DriftKind `json:"kind"`
	What    string    `json:"what"`
	Details []string  `json:"details,omitempty"`
}

// Drift compares each host with what hactl last applied there (its own
// record on the host) and with the desired state. It is read-only and pure.
func Drift(desired []*Desired, observed map[string]*Observed) []DriftItem {
	var out []DriftItem
	add := func(node string, kind DriftKind, what string, details ...string) {
		out = append(out, DriftItem{Node: node, Kind: kind, What: what, Details: details})
	}
	for _, d := range desired {
		o := observed[d.Node]
		switch {
		case o == nil:
			add(d.Node, Unreachable, "not observed")
			continue
		case o.Error != "":
			add(d.Node, Unreachable, WithoutHost(d.Node, o.Error))
			continue
		case o.Applied == nil:
			add(d.Node, Pending, "never applied")
			continue
		}
		a := o.Applied
		switch {
		case !o.AgentInstalled:
			add(d.Node, HandChange, "agent binary removed")
		case o.AgentSHA256 != a.AgentSHA256:
			add(d.Node, HandChange, "agent binary replaced")
		case !o.AgentRunning:
			add(d.Node, HandChange, "agent not running")
		}
		specDrift := true
		switch {
		case o.SpecHash == "":
			add(d.Node, HandChange, "spec file deleted")
		case o.SpecHash != a.SpecHash:
			add(d.Node, HandChange, "spec file changed by hand")
		default:
			specDrift = false
		}
		for _, p := range spec.SortedKeys(a.Secrets) {
			switch have, ok := o.SecretHashes[p]; {
			case !ok:
				add(d.Node, HandChange, "secret file deleted: "+p)
			case have != a.Secrets[p]:
				add(d.Node, HandChange, "secret file changed by hand: "+p)
			}
		}
		if st := o.Status; st != nil && o.AgentRunning {
			if st.SpecError != "" && !specDrift {
				add(d.Node, HandChange, "agent reports: "+st.SpecError)
			}
			for _, item := range st.Drift {
				add(d.Node, HandChange, item)
			}
		}
		if d.SpecHash != a.SpecHash {
			add(d.Node, Pending, "configuration changed since the last apply", DiffSpecs(o.Spec, d.Spec)...)
		}
		if d.AgentSHA256 != "" && d.AgentSHA256 != a.AgentSHA256 { // "": the operator's hactl has no agent
			add(d.Node, Pending, fmt.Sprintf("agent upgrade to %s", d.AgentVersion))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// HasDrift says whether a finding is a real drift (not merely pending).
func HasDrift(items []DriftItem) bool {
	for _, it := range items {
		if it.Kind == HandChange {
			return true
		}
	}
	return false
}
