package ipvs

import (
	"fmt"
	"net/netip"
	"sort"

	"github.com/cloudflare/ipvs"
)

// virtual is a desired virtual service in the kernel's terms.
type virtual struct {
	name  string
	svc   ipvs.Service
	dests []real
}

// real is a desired destination (real server).
type real struct {
	name string
	dest ipvs.Destination
}

// current is a service as the kernel holds it.
type current struct {
	svc   ipvs.Service
	dests []ipvs.DestinationExtended
}

type opKind int

const (
	createService opKind = iota
	updateService
	removeService
	createDest
	updateDest
	removeDest
)

func (k opKind) String() string {
	return [...]string{"create-service", "update-service", "remove-service", "create-dest", "update-dest", "remove-dest"}[k]
}

// op is one netlink command to send, with why, as a sentence for drift.
type op struct {
	kind opKind
	svc  ipvs.Service
	dest ipvs.Destination
	why  string
}

// serviceKey is a service's identity in the kernel: what IPVS looks it up
// by.
func serviceKey(s ipvs.Service) string {
	if s.FWMark != 0 {
		return fmt.Sprintf("fwmark %d %s", s.FWMark, s.Family)
	}
	return fmt.Sprintf("%s %s", protoName(s.Protocol), netip.AddrPortFrom(s.Address, s.Port))
}

func destKey(d ipvs.Destination) string {
	return netip.AddrPortFrom(d.Address, d.Port).String()
}

func protoName(p ipvs.Protocol) string {
	switch p {
	case ipvs.TCP:
		return "tcp"
	case ipvs.UDP:
		return "udp"
	case ipvs.SCTP:
		return "sctp"
	}
	return fmt.Sprintf("protocol %d", p)
}

// flagsMask keeps the flags a spec sets: the kernel adds "hashed" itself.
const flagsMask = ^ipvs.ServiceHashed

// diff returns the commands that turn the kernel's services (cur, by
// serviceKey) into the desired ones: only what differs, in an order that
// never leaves a service without its real servers. owned lists the
// services this datapath made; of the others, only desired ones are
// touched.
func diff(want []virtual, cur map[string]current, owned map[string]bool) []op {
	var ops []op
	wanted := map[string]bool{}
	for _, v := range want {
		key := serviceKey(v.svc)
		wanted[key] = true
		label := fmt.Sprintf("virtual service %s (%s)", v.name, key)
		have, ok := cur[key]
		if !ok {
			ops = append(ops, op{kind: createService, svc: v.svc, why: label + " is missing from IPVS"})
			for _, r := range v.dests {
				ops = append(ops, op{kind: createDest, svc: v.svc, dest: r.dest,
					why: fmt.Sprintf("real server %s (%s) of %s is missing from IPVS", r.name, destKey(r.dest), v.name)})
			}
			continue
		}
		if why := serviceDiffers(v.svc, have.svc); why != "" {
			ops = append(ops, op{kind: updateService, svc: v.svc, why: label + " " + why})
		}
		existing := map[string]ipvs.Destination{}
		for _, d := range have.dests {
			existing[destKey(d.Destination)] = d.Destination
		}
		var removals []op
		keep := map[string]bool{}
		for _, r := range v.dests {
			k := destKey(r.dest)
			keep[k] = true
			d, ok := existing[k]
			switch {
			case !ok:
				ops = append(ops, op{kind: createDest, svc: v.svc, dest: r.dest,
					why: fmt.Sprintf("real server %s (%s) of %s is missing from IPVS", r.name, k, v.name)})
			case destDiffers(r.dest, d) != "":
				ops = append(ops, op{kind: updateDest, svc: v.svc, dest: r.dest,
					why: fmt.Sprintf("real server %s (%s) of %s %s", r.name, k, v.name, destDiffers(r.dest, d))})
			}
		}
		for _, d := range have.dests {
			if k := destKey(d.Destination); !keep[k] {
				removals = append(removals, op{kind: removeDest, svc: v.svc, dest: d.Destination,
					why: fmt.Sprintf("IPVS forwards %s also to %s, which the spec does not list", v.name, k)})
			}
		}
		ops = append(ops, removals...)
	}
	var stale []string
	for key := range owned {
		if _, inKernel := cur[key]; inKernel && !wanted[key] {
			stale = append(stale, key)
		}
	}
	sort.Strings(stale)
	for _, key := range stale {
		ops = append(ops, op{kind: removeService, svc: cur[key].svc,
			why: fmt.Sprintf("IPVS still has virtual service %s, which hactl made and the spec no longer lists", key)})
	}
	return ops
}

// serviceDiffers says how the kernel's service differs from the wanted
// one, or "".
func serviceDiffers(want, have ipvs.Service) string {
	switch {
	case want.Scheduler != have.Scheduler:
		return fmt.Sprintf("has scheduler %s in IPVS, the spec says %s", have.Scheduler, want.Scheduler)
	case want.Flags&flagsMask != have.Flags&flagsMask:
		return fmt.Sprintf("has flags %v in IPVS, the spec says %v", have.Flags&flagsMask, want.Flags&flagsMask)
	case want.Timeout != have.Timeout:
		return fmt.Sprintf("has a persistence of %ds in IPVS, the spec says %ds", have.Timeout, want.Timeout)
	case want.Netmask != have.Netmask:
		return fmt.Sprintf("has persistence netmask %v in IPVS, the spec says %v", have.Netmask, want.Netmask)
	}
	return ""
}

// destDiffers says how the kernel's destination differs, or "".
func destDiffers(want, have ipvs.Destination) string {
	switch {
	case want.Weight != have.Weight:
		return fmt.Sprintf("has weight %d in IPVS, the spec says %d", have.Weight, want.Weight)
	case want.FwdMethod != have.FwdMethod:
		return fmt.Sprintf("is forwarded by %s in IPVS, the spec says %s", have.FwdMethod, want.FwdMethod)
	case want.FwdMethod == ipvs.Tunnel && (want.TunnelType != have.TunnelType || want.TunnelPort != have.TunnelPort || want.TunnelFlags != have.TunnelFlags):
		return fmt.Sprintf("has tunnel %s port %d in IPVS, the spec says %s port %d", have.TunnelType, have.TunnelPort, want.TunnelType, want.TunnelPort)
	case want.UpperThreshold != have.UpperThreshold || want.LowerThreshold != have.LowerThreshold:
		return fmt.Sprintf("has connection thresholds %d-%d in IPVS, the spec says none", have.LowerThreshold, have.UpperThreshold)
	}
	return ""
}
