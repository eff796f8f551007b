package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hactl/hactl/agentbin/lvs/datapath"
)

// lvsDatapaths names the datapath each virtual service of the host will
// run on, and why, from what the host's kernel was seen to have; and
// refuses a service the datapath cannot run (nftables has no
// least-connection or locality schedulers and forwards by NAT only) rather
// than let the agent approximate it.
func lvsDatapaths(d *Desired, o *Observed) (notes, refused []string) {
	if d.Spec == nil {
		return nil, nil
	}
	kernel := "its kernel"
	if o.Facts.Kernel != "" {
		kernel = "its kernel " + o.Facts.Kernel
	}
	for _, vs := range d.Spec.VirtualServices {
		var path, why string
		switch vs.Datapath {
		case "ipvs":
			path, why = "ipvs", "set in the configuration"
			if !o.Facts.IPVS {
				refused = append(refused, fmt.Sprintf("virtual service %q asks for datapath \"ipvs\", but %s on %s has no IPVS (no /proc/net/ip_vs, no ip_vs module): load ip_vs there, or use datapath = \"nftables\" or \"auto\"%s",
					vs.Name, kernel, d.Node, nftablesFit(vs.Scheduler, vs.Forwarding)))
				continue
			}
		case "nftables":
			path, why = "nftables", "set in the configuration"
		default:
			path, why = "ipvs", "auto: "+kernel+" has IPVS"
			if !o.Facts.IPVS {
				path, why = "nftables", "auto: "+kernel+" has no IPVS"
			}
		}
		if path == "nftables" {
			if problem := nftablesProblem(vs.Scheduler, vs.Forwarding); problem != "" {
				refused = append(refused, fmt.Sprintf("virtual service %q would run on the nftables datapath on %s (%s), which %s: %s",
					vs.Name, d.Node, why, problem, nftablesAlternatives(vs.Datapath, vs.Scheduler, vs.Forwarding)))
				continue
			}
			if o.Facts.Flowtable {
				why += "; fast path: a flowtable for established connections"
			} else {
				why += "; no fast path: " + kernel + " has no nftables flowtables"
			}
		}
		notes = append(notes, fmt.Sprintf("virtual service %q: %s datapath (%s)", vs.Name, path, why))
	}
	return notes, refused
}

func nftablesProblem(scheduler, forwarding string) string {
	var out []string
	if !slices.Contains(datapath.NFTablesSchedulers, scheduler) {
		out = append(out, fmt.Sprintf("has no %q scheduler", scheduler))
	}
	if forwarding != "nat" {
		out = append(out, fmt.Sprintf("forwards by NAT only, not %q", forwarding))
	}
	return strings.Join(out, " and ")
}

// nftablesFit says what the service must change to run on nftables, after
// a suggestion to use it.
func nftablesFit(scheduler, forwarding string) string {
	if nftablesProblem(scheduler, forwarding) == "" {
		return ""
	}
	return " (with scheduler " + strings.Join(datapath.NFTablesSchedulers, ", ") + " and forwarding \"nat\")"
}

func nftablesAlternatives(asked, scheduler, forwarding string) string {
	var out []string
	if !slices.Contains(datapath.NFTablesSchedulers, scheduler) {
		out = append(out, "use scheduler "+strings.Join(datapath.NFTablesSchedulers, ", "))
	}
	if forwarding != "nat" {
		out = append(out, "use forwarding = \"nat\"")
	}
	if asked == "nftables" {
		out = append(out, "or datapath = \"ipvs\" on a kernel with IPVS")
	} else {
		out = append(out, "or load the ip_vs module on that host (auto then picks IPVS)")
	}
	return strings.Join(out, ", ")
}

// Refusals lists, as "host: sentence", what the configuration asks that
// the hosts cannot run; apply refuses to start while there are any.
func (p *Plan) Refusals() []string {
	var out []string
	for _, h := range p.Hosts {
		for _, r := range h.Refused {
			out = append(out, h.Node+": "+r)
		}
	}
	return out
}
