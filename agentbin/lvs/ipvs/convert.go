package ipvs

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"

	"github.com/hactl/hactl/agentbin/lvs/datapath"
)

// Schedulers are the schedulers of Linux's IPVS that the datapath offers
// (ipvsadm's names; each is a module ip_vs_NAME).
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh"}

var forwarding = map[string]ipvs.ForwardType{
	"nat":    ipvs.Masquerade,
	"dr":     ipvs.DirectRoute,
	"tunnel": ipvs.Tunnel,
}

var protocols = map[string]ipvs.Protocol{"tcp": ipvs.TCP, "udp": ipvs.UDP, "sctp": ipvs.SCTP}

// capable says whether IPVS can run a service as given: it can run every
// scheduler and forwarding method, so this refuses only what is malformed.
func capable(s datapath.Service) error {
	_, err := toVirtual(s)
	return err
}

func family(a netip.Addr) ipvs.AddressFamily {
	if a.Is4() {
		return ipvs.INET
	}
	return ipvs.INET6
}

// toVirtual turns the role's service into the kernel's terms, checking it.
func toVirtual(s datapath.Service) (virtual, error) {
	fail := func(format string, args ...any) (virtual, error) {
		return virtual{}, fmt.Errorf("virtual service %s: "+format, append([]any{s.Name}, args...)...)
	}
	proto, ok := protocols[s.Protocol]
	if !ok && s.FWMark == 0 {
		return fail("protocol %q is none of tcp, udp, sctp", s.Protocol)
	}
	if !s.Address.IsValid() {
		return fail("no virtual address")
	}
	addr := s.Address.Unmap()
	if !isScheduler(s.Scheduler) {
		return fail("IPVS has no scheduler %q; it has %v", s.Scheduler, Schedulers)
	}
	fwd, ok := forwarding[s.Forwarding]
	if !ok {
		return fail("forwarding %q is none of nat, dr, tunnel", s.Forwarding)
	}
	svc := ipvs.Service{
		Address: addr, Port: s.Port, Protocol: proto, Family: family(addr),
		Scheduler: s.Scheduler,
	}
	if s.FWMark != 0 {
		// The mark alone identifies the service; the address gives
		// its family.
		svc = ipvs.Service{FWMark: s.FWMark, Family: family(addr), Scheduler: s.Scheduler}
	}
	bits := addr.BitLen()
	mask := s.PersistMask
	if s.Persistence > 0 {
		if s.Persistence%time.Second != 0 || s.Persistence > math.MaxUint32*time.Second {
			return fail("persistence %s is not a whole number of seconds IPVS can hold", s.Persistence)
		}
		svc.Flags = ipvs.ServicePersistent
		svc.Timeout = uint32(s.Persistence / time.Second)
		if mask == 0 {
			mask = bits
		}
	} else {
		// The kernel wants a netmask with every service; ipvsadm gives
		// the host mask.
		mask = bits
	}
	if mask < 1 || mask > bits {
		return fail("persistence mask /%d is not between /1 and /%d", mask, bits)
	}
	var b [16]byte
	for i := 0; i < mask; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	if addr.Is4() {
		svc.Netmask = netmask.MaskFrom4([4]byte(b[:4]))
	} else {
		svc.Netmask = netmask.MaskFrom16(b)
	}
	v := virtual{name: s.Name, svc: svc}
	seen := map[netip.AddrPort]string{}
	for _, b := range s.Backends {
		baddr := b.Address.Unmap()
		if !baddr.IsValid() {
			return fail("real server %s has no address", b.Name)
		}
		port := b.Port
		if fwd != ipvs.Masquerade {
			// Direct routing and tunnels deliver the packet unchanged:
			// the real server gets the virtual port.
			if port != 0 && port != s.Port {
				if s.FWMark != 0 {
					return fail("real server %s listens on port %d, but %s forwarding delivers each packet on the port it was sent to (give no port, or use nat)", b.Name, port, s.Forwarding)
				}
				return fail("real server %s listens on port %d, but %s forwarding cannot change the port %d (use nat)", b.Name, port, s.Forwarding, s.Port)
			}
			port = s.Port
		}
		if fwd != ipvs.Tunnel && baddr.Is4() != addr.Is4() {
			return fail("real server %s (%s) is not of the virtual address's family; only tunnels can mix IPv4 and IPv6", b.Name, baddr)
		}
		if b.Weight < 0 || b.Weight > math.MaxInt32 {
			return fail("real server %s has weight %d, outside 0..%d", b.Name, b.Weight, math.MaxInt32)
		}
		ap := netip.AddrPortFrom(baddr, port)
		if other, dup := seen[ap]; dup {
			return fail("real servers %s and %s are both %s", other, b.Name, ap)
		}
		seen[ap] = b.Name
		d := ipvs.Destination{Address: baddr, Port: port, Family: family(baddr), FwdMethod: fwd, Weight: uint32(b.Weight)}
		if fwd == ipvs.Tunnel {
			d.TunnelType = ipvs.IPIP
		}
		v.dests = append(v.dests, real{name: b.Name, dest: d})
	}
	return v, nil
}

func isScheduler(name string) bool {
	for _, s := range Schedulers {
		if s == name {
			return true
		}
	}
	return false
}
