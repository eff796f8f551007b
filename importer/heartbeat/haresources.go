package heartbeat

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hactl/hactl/importer"
)

// haresources reads Heartbeat v1 resource groups: one line per group, the
// preferred node first, then the resources in start order.
func (st *state) haresources(s *importer.Source) {
	st.m.AddSource(s)
	for _, l := range s.LogicalLines() {
		if len(l.Fields) < 2 {
			st.m.Invalid(l.Origin, "haresources line without resources", "A line names the preferred node, then its resources: h2g 192.168.0.33 httpd.")
			continue
		}
		node := st.nodeName(l.Fields[0], l.Origin)
		g := &importer.Group{Origin: l.Origin, Nodes: []string{node}}
		if st.failback != nil {
			g.Failback = st.failback
		}
		for _, res := range l.Fields[1:] {
			if r := st.v1Resource(res, l.Origin); r != nil {
				st.m.AddResource(g, r)
			}
		}
		g.Name = st.groupName(g)
		st.m.Groups = append(st.m.Groups, g)
	}
}

// groupName names a group after its first non-VIP resource.
func (st *state) groupName(g *importer.Group) string {
	base := "group"
	for _, r := range g.Resources {
		if r.Kind != importer.KindVIP {
			base = r.Name
			break
		}
	}
	if base == "group" && len(g.Resources) > 0 {
		base = g.Resources[0].Name
	}
	return st.m.Unique("group", base)
}

// v1Resource translates one haresources resource: an address, IPaddr::,
// IPaddr2::, Filesystem::, or the name of a script in resource.d or
// init.d.
func (st *state) v1Resource(res string, o importer.Origin) *importer.Resource {
	name, argStr, hasArgs := strings.Cut(res, "::")
	var args []string
	if hasArgs {
		args = strings.Split(argStr, "::")
	}
	if _, err := netip.ParseAddr(strings.SplitN(res, "/", 2)[0]); err == nil {
		name, args = "IPaddr", []string{res}
	}
	switch name {
	case "IPaddr", "IPaddr2":
		if len(args) != 1 {
			st.m.Invalid(o, "Bad "+name+" resource", "Write IPaddr::ADDRESS[/PREFIX[/DEVICE[/BROADCAST]]].")
			return nil
		}
		return st.vipFromSpec(args[0], o)
	case "Filesystem":
		if len(args) < 2 {
			st.m.Invalid(o, "Bad Filesystem resource", "Write Filesystem::DEVICE::DIRECTORY[::FSTYPE[::OPTIONS]].")
			return nil
		}
		params := map[string]string{"device": args[0], "directory": args[1]}
		for i, k := range []string{"fstype", "options"} {
			if len(args) > i+2 {
				params[k] = args[i+2]
			}
		}
		return &importer.Resource{Kind: importer.KindOCF, Name: importer.Label("fs" + args[1]), Type: "Filesystem", Params: params, Origin: o}
	}
	if hasArgs {
		st.m.Differs(o, res, fmt.Sprintf("Heartbeat passes %s its arguments (%s); hactl's lsb resources run a script with start, stop and status only. Write a wrapper script, or an ocf block if an OCF agent does the same.", name, strings.Join(args, ", ")))
	}
	return &importer.Resource{Kind: importer.KindLSB, Name: importer.Label(name), Origin: o}
}

// vipFromSpec reads ADDRESS[/PREFIX[/DEVICE[/BROADCAST]]].
func (st *state) vipFromSpec(spec string, o importer.Origin) *importer.Resource {
	parts := strings.Split(spec, "/")
	addr, err := netip.ParseAddr(parts[0])
	if err != nil {
		st.m.Invalid(o, "Bad VIP address", fmt.Sprintf("%q is not an IP address.", parts[0]))
		return nil
	}
	bits := -1
	if len(parts) > 1 && parts[1] != "" {
		bits = maskBits(parts[1])
		if bits < 0 || bits > addr.BitLen() {
			st.m.Invalid(o, "Bad VIP prefix", fmt.Sprintf("%q is neither a prefix length nor a netmask.", parts[1]))
			return nil
		}
	}
	r := st.vip(addr, bits, o, "vip_"+strings.NewReplacer(".", "_", ":", "_").Replace(addr.String()))
	if len(parts) > 2 {
		r.Interface = parts[2]
	}
	if len(parts) > 3 {
		st.m.Unsupported(o, "VIP broadcast address "+parts[3], "hactl sets the broadcast address of the VIP's network.")
	}
	return r
}

func (st *state) vip(addr netip.Addr, bits int, o importer.Origin, name string) *importer.Resource {
	// With bits -1 the prefix is invalid but keeps the address: Bits()
	// says -1, "no length given".
	p := netip.PrefixFrom(addr, bits)
	name = st.m.Unique("vip", name)
	return &importer.Resource{Kind: importer.KindVIP, Name: name, Address: p, Origin: o}
}

// maskBits reads a prefix length ("24") or a netmask ("255.255.255.0").
func maskBits(s string) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	m, err := netip.ParseAddr(s)
	if err != nil || !m.Is4() {
		return -1
	}
	b := m.As4()
	bits, seenZero := 0, false
	for _, by := range b {
		for i := 7; i >= 0; i-- {
			switch {
			case by&(1<<i) != 0 && seenZero:
				return -1
			case by&(1<<i) != 0:
				bits++
			default:
				seenZero = true
			}
		}
	}
	return bits
}
