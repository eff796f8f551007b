package nft

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"

	"github.com/hactl/hactl/agentbin/lvs/datapath"
)

// tcpEstablished is conntrack's TCP_CONNTRACK_ESTABLISHED.
const tcpEstablished = 3

// Stats implements datapath.Datapath: the connections each real server
// was given come from the counter in its chain (the nat hook sees a
// connection's first packet only); the open connections and their bytes
// and packets from conntrack (of the connections tracked now; -1 when the
// kernel does no conntrack accounting).
func (d *Datapath) Stats() ([]datapath.ServiceStats, error) {
	d.mu.Lock()
	services := d.last
	d.mu.Unlock()
	flows, err := d.flows()
	if err != nil {
		return nil, err
	}
	counters, err := d.counters()
	if err != nil {
		return nil, err
	}
	var out []datapath.ServiceStats
	for _, s := range services {
		ss := datapath.ServiceStats{Name: s.Name}
		for _, b := range s.Backends {
			bs := connStats(s, b, flows)
			bs.Conns = -1
			if n, ok := counters[connCounter(s.Name, b.Name)]; ok {
				bs.Conns = int64(n)
			}
			ss.Backends = append(ss.Backends, bs)
		}
		out = append(out, ss)
	}
	return out, nil
}

func (d *Datapath) flows() ([]conntrack.Flow, error) {
	c, err := conntrack.Dial(&netlink.Config{NetNS: d.netns})
	if err != nil {
		return nil, fmt.Errorf("connecting to conntrack: %w", err)
	}
	defer c.Close()
	flows, err := c.Dump(nil)
	if err != nil {
		return nil, fmt.Errorf("listing conntrack's connections: %w", err)
	}
	return flows, nil
}

// forwardedTo says whether a tracked connection is one of the service's,
// forwarded to the real server.
func forwardedTo(f conntrack.Flow, s datapath.Service, b datapath.Backend) bool {
	o, r := f.TupleOrig, f.TupleReply
	port := b.Port
	if port == 0 {
		// A firewall-mark service's real server without a port
		// takes each connection on the port it was sent to.
		port = o.Proto.DestinationPort
	}
	if o.Proto.Protocol != protoNumber(s.Protocol) || r.IP.SourceAddress != b.Address || r.Proto.SourcePort != port {
		return false
	}
	switch {
	case s.FWMark == 0:
		return o.IP.DestinationAddress == s.Address && o.Proto.DestinationPort == s.Port
	case s.Mark != nil:
		return slices.Contains(s.Mark.Addresses, o.IP.DestinationAddress) && slices.Contains(s.Mark.Ports, o.Proto.DestinationPort)
	}
	// Marked otherwise: any connection forwarded to the real server.
	return o.IP.DestinationAddress != r.IP.SourceAddress
}

func established(f conntrack.Flow) bool {
	if f.ProtoInfo.TCP != nil {
		return f.ProtoInfo.TCP.State == tcpEstablished
	}
	return true
}

func connStats(s datapath.Service, b datapath.Backend, flows []conntrack.Flow) datapath.BackendStats {
	bs := datapath.BackendStats{Name: b.Name, Bytes: -1, Packets: -1}
	for _, f := range flows {
		if !forwardedTo(f, s, b) {
			continue
		}
		if established(f) {
			bs.ActiveConns++
		}
		if f.CountersOrig.Packets+f.CountersReply.Packets > 0 {
			bs.Bytes = max(bs.Bytes, 0) + int64(f.CountersOrig.Bytes+f.CountersReply.Bytes)
			bs.Packets = max(bs.Packets, 0) + int64(f.CountersOrig.Packets+f.CountersReply.Packets)
		}
	}
	return bs
}

// departed lists, per service, the real servers that took new connections
// before and take none now (removed, or quiescent at weight 0).
func departed(before, now []datapath.Service) map[string][]datapath.Backend {
	out := map[string][]datapath.Backend{}
	for _, n := range now {
		live := map[netip.AddrPort]bool{}
		for _, b := range n.Backends {
			if b.Weight > 0 {
				live[netip.AddrPortFrom(b.Address, b.Port)] = true
			}
		}
		for _, old := range before {
			if old.Key() != n.Key() {
				continue
			}
			for _, b := range old.Backends {
				if b.Weight > 0 && !live[netip.AddrPortFrom(b.Address, b.Port)] {
					out[n.Name] = append(out[n.Name], b)
				}
			}
		}
	}
	return out
}

// forget deletes the conntrack entries of connections forwarded to real
// servers that take no new ones, except established ones (which drain).
// Without it, a client that reuses a port while the entry of its last
// connection from that port is still tracked (CLOSE after the server
// refused it, TIME_WAIT) has its new connection matched to the old entry
// and sent to the old real server, whatever the rules say now — IPVS's
// conn_reuse_mode and expire_nodest_conn handle the same case.
func (d *Datapath) forget(services []datapath.Service, gone map[string][]datapath.Backend) error {
	if len(gone) == 0 {
		return nil
	}
	c, err := conntrack.Dial(&netlink.Config{NetNS: d.netns})
	if err != nil {
		return fmt.Errorf("connecting to conntrack: %w", err)
	}
	defer c.Close()
	flows, err := c.Dump(nil)
	if err != nil {
		return fmt.Errorf("listing conntrack's connections: %w", err)
	}
	for _, s := range services {
		for _, b := range gone[s.Name] {
			for _, f := range flows {
				if forwardedTo(f, s, b) && !established(f) {
					// Gone meanwhile, or deleted by conntrack itself:
					// either way not tracked any more.
					_ = c.Delete(f)
				}
			}
		}
	}
	return nil
}
