package plan

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

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
	vips := clusterVIPs(desired)
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
			case have != a.Secrets[p] && a.SecretDigest == KeyedDigests:
				// An older record's plain digests say nothing about
				// the content until the next apply rewrites it.
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
		for _, addr := range Unaccounted(d, o, vips) {
			add(d.Node, HandChange, addr)
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

// clusterVIPs lists the VIPs of every node's spec.
func clusterVIPs(desired []*Desired) []netip.Prefix {
	var out []netip.Prefix
	for _, d := range desired {
		out = append(out, specVIPs(d.Spec)...)
	}
	return out
}

func specVIPs(s *spec.Spec) []netip.Prefix {
	if s == nil {
		return nil
	}
	var out []netip.Prefix
	for _, g := range s.Groups {
		for _, r := range g.Resources {
			if p, err := netip.ParsePrefix(r.Address); r.Kind == "vip" && err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// Unaccounted lists the addresses on the host d.Node that lie in the
// network of one of the cluster's VIPs (vips) and that the node's spec does
// not account for: a VIP an agent left behind, one added by hand, another
// node's VIP. Only VIP networks are looked at, where a stray address
// answers for the cluster; and there the node's own addresses are left out:
// the primary address of the network's size on its interface (a VIP, and
// any address added next to it, is secondary), the heartbeat links' local
// addresses, and a VIP on the loopback (a direct-routing real server).
func Unaccounted(d *Desired, o *Observed, vips []netip.Prefix) []string {
	if d.Spec == nil || o == nil {
		return nil
	}
	own := map[netip.Addr]bool{}
	for _, p := range specVIPs(d.Spec) {
		own[p.Addr()] = true
	}
	if hb := d.Spec.Heartbeat; hb != nil {
		for _, l := range hb.Links {
			if a, err := netip.ParseAddr(l.Local); err == nil {
				own[a] = true
			}
		}
	}
	var out []string
	for _, line := range o.Facts.Addrs {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		dev, secondary := fields[0], slices.Contains(fields[2:], "secondary")
		p, err := netip.ParsePrefix(fields[1])
		if err != nil || own[p.Addr()] || dev == "lo" && slices.ContainsFunc(vips, func(v netip.Prefix) bool { return v.Addr() == p.Addr() }) {
			continue
		}
		i := slices.IndexFunc(vips, func(v netip.Prefix) bool { return v.Masked().Contains(p.Addr()) })
		if i < 0 || !secondary && p.Bits() == vips[i].Bits() {
			continue
		}
		out = append(out, fmt.Sprintf("address %s on %s is in the network of VIP %s and not in the configuration of %s; remove it (ip addr del %s dev %s) or configure it", p, dev, vips[i], d.Node, p, dev))
	}
	return out
}
