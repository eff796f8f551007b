package nft

import (
	"bufio"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/hactl/hactl/agentbin/lvs/datapath"
)

// conntrackFile lists the connections the kernel tracks, in this network
// namespace.
const conntrackFile = "/proc/net/nf_conntrack"

// Stats implements datapath.Datapath: the connections each real server
// was given come from the counter in its chain (the nat hook sees a
// connection's first packet only); the open connections and their bytes
// and packets from conntrack (bytes and packets of the connections tracked
// now, -1 when the kernel does no conntrack accounting).
func (d *Datapath) Stats() ([]datapath.ServiceStats, error) {
	d.mu.Lock()
	services := d.last
	d.mu.Unlock()
	var tracked []conn
	if f, err := os.Open(conntrackFile); err == nil {
		tracked = parseConntrack(f)
		f.Close()
	}
	var out []datapath.ServiceStats
	for _, s := range services {
		ss := datapath.ServiceStats{Name: s.Name}
		for _, b := range s.Backends {
			bs := connStats(s, b, tracked)
			bs.Conns = d.counter(backendChain(s.Name, b.Name))
			ss.Backends = append(ss.Backends, bs)
		}
		out = append(out, ss)
	}
	return out, nil
}

func (d *Datapath) counter(chain string) int64 {
	rules, err := d.conn.GetRules(d.table, &nftables.Chain{Name: chain, Table: d.table})
	if err != nil || len(rules) == 0 {
		return -1
	}
	for _, e := range rules[0].Exprs {
		if c, ok := e.(*expr.Counter); ok {
			return int64(c.Packets)
		}
	}
	return -1
}

// conn is one conntrack entry.
type conn struct {
	proto             string
	state             string
	origDst, replySrc netip.AddrPort
	bytes, packets    int64 // -1: no accounting
}

func connStats(s datapath.Service, b datapath.Backend, tracked []conn) datapath.BackendStats {
	bs := datapath.BackendStats{Name: b.Name, Bytes: -1, Packets: -1}
	vip := netip.AddrPortFrom(s.Address, s.Port)
	be := netip.AddrPortFrom(b.Address, b.Port)
	for _, c := range tracked {
		if c.proto != s.Protocol || c.origDst != vip || c.replySrc != be {
			continue
		}
		if c.state == "ESTABLISHED" || (c.state == "" && s.Protocol == "udp") {
			bs.ActiveConns++
		}
		if c.bytes >= 0 {
			bs.Bytes = max(bs.Bytes, 0) + c.bytes
			bs.Packets = max(bs.Packets, 0) + c.packets
		}
	}
	return bs
}

// parseConntrack reads /proc/net/nf_conntrack's lines:
//
//	ipv4 2 tcp 6 431999 ESTABLISHED src=C dst=VIP sport=P dport=80 packets=3 bytes=180 src=RS dst=C sport=80 dport=P packets=2 bytes=120 [ASSURED] mark=0 use=1
func parseConntrack(r io.Reader) []conn {
	var out []conn
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		c := conn{proto: f[2], bytes: -1, packets: -1}
		if !strings.Contains(f[5], "=") {
			c.state = f[5]
		}
		var src, dst [2]netip.Addr
		var sport, dport [2]uint16
		dir := -1
		for _, kv := range f[5:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			switch k {
			case "src":
				dir++
				if dir < 2 {
					src[dir], _ = netip.ParseAddr(v)
				}
			case "dst":
				if dir >= 0 && dir < 2 {
					dst[dir], _ = netip.ParseAddr(v)
				}
			case "sport", "dport":
				n, _ := strconv.ParseUint(v, 10, 16)
				if dir >= 0 && dir < 2 {
					if k == "sport" {
						sport[dir] = uint16(n)
					} else {
						dport[dir] = uint16(n)
					}
				}
			case "bytes", "packets":
				n, _ := strconv.ParseInt(v, 10, 64)
				p := &c.bytes
				if k == "packets" {
					p = &c.packets
				}
				*p = max(*p, 0) + n
			}
		}
		if dir < 1 {
			continue
		}
		c.origDst = netip.AddrPortFrom(dst[0], dport[0])
		c.replySrc = netip.AddrPortFrom(src[1], sport[1])
		out = append(out, c)
	}
	return out
}
