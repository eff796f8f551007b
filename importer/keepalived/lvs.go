package keepalived

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/hactl/hactl/importer"
)

// maxGroupAddresses bounds an address range of a virtual_server_group.
const maxGroupAddresses = 256

type endpoint struct {
	addr netip.Addr
	port int
}

// virtualServers translates the host's virtual_server blocks, expanding
// virtual_server_group into one virtual service per address and port.
func virtualServers(st *state, h *host) {
	groups := map[string][]endpoint{}
	for _, n := range h.root.children {
		if n.key == "virtual_server_group" {
			groups[n.arg(0)] = st.serverGroup(n)
		}
	}
	for _, n := range h.root.children {
		if n.key != "virtual_server" {
			continue
		}
		var eps []endpoint
		switch n.arg(0) {
		case "group":
			var ok bool
			if eps, ok = groups[n.arg(1)]; !ok {
				st.m.Invalid(n.origin, "Unknown virtual_server_group "+n.arg(1), "No virtual_server_group block of that name.")
				continue
			}
		case "fwmark":
			st.m.Differs(n.origin, "virtual_server fwmark "+n.arg(1), "hactl's virtual services are an address, protocol and port; a firewall mark grouping several has no counterpart. Write one virtual_server per port.")
			continue
		default:
			ep, err := parseEndpoint(n.arg(0), n.arg(1))
			if err != nil {
				st.m.Invalid(n.origin, "Bad virtual_server", err.Error())
				continue
			}
			eps = []endpoint{ep}
		}
		for _, ep := range eps {
			st.virtualServer(h, n, ep)
		}
	}
}

func parseEndpoint(addr, port string) (endpoint, error) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return endpoint{}, fmt.Errorf("%q is not an IP address", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return endpoint{}, fmt.Errorf("%q is not a port (1-65535); port 0 (all ports) has no counterpart in hactl", port)
	}
	return endpoint{a, p}, nil
}

func (st *state) serverGroup(n *node) []endpoint {
	var out []endpoint
	for _, c := range n.children {
		if c.key == "fwmark" {
			st.m.Differs(c.origin, "fwmark "+c.arg(0), "hactl has no firewall-mark services; the mark is left out.")
			continue
		}
		addr, last, isRange := strings.Cut(c.key, "-")
		ep, err := parseEndpoint(addr, c.arg(0))
		if err != nil {
			st.m.Invalid(c.origin, "Bad virtual_server_group entry", err.Error())
			continue
		}
		out = append(out, ep)
		if !isRange {
			continue
		}
		// The range runs over the last byte (IPv4, decimal) or the last
		// 16-bit group (IPv6, hexadecimal).
		raw := ep.addr.As16()
		first, base, limit := int(raw[15]), 10, 255
		if ep.addr.Is6() {
			first, base, limit = int(raw[14])<<8|int(raw[15]), 16, 0xffff
		}
		end, err := strconv.ParseInt(last, base, 32)
		if err != nil || int(end) < first || int(end) > limit || int(end)-first >= maxGroupAddresses {
			st.m.Invalid(c.origin, "Bad address range", fmt.Sprintf("%s: a range is ADDRESS-LAST, LAST a value of the address's last part from its own up to %d more.", c.key, maxGroupAddresses-1))
			continue
		}
		a := ep.addr
		for i := first; i < int(end); i++ {
			a = a.Next()
			out = append(out, endpoint{a, ep.port})
		}
	}
	return out
}

var lbKinds = map[string]string{"NAT": "nat", "DR": "dr", "TUN": "tunnel"}

func (st *state) virtualServer(h *host, n *node, ep endpoint) {
	for _, vs := range st.m.VirtualServices {
		if vs.VIPAddr == ep.addr && vs.Port == ep.port {
			return // the same virtual server in the other host's file
		}
	}
	if st.m.FindVIP(ep.addr) == nil {
		st.directorGroup(h, n, ep.addr)
	}
	vs := &importer.VirtualService{Origin: n.origin, VIPAddr: ep.addr, Port: ep.port, Protocol: "tcp", Scheduler: "wlc", Forwarding: "nat"}
	var hc *importer.HealthCheck
	delay := 60
	for _, c := range n.children {
		switch c.key {
		case "lb_algo", "lvs_sched":
			vs.Scheduler = c.arg(0)
			if !slices.Contains([]string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh"}, vs.Scheduler) {
				st.m.Differs(c.origin, c.key+" "+c.arg(0), "Not a scheduler hactl offers; the import uses wlc.")
				vs.Scheduler = "wlc"
			}
		case "lb_kind", "lvs_method":
			k, ok := lbKinds[strings.ToUpper(c.arg(0))]
			if !ok {
				st.m.Invalid(c.origin, "Bad "+c.key, "lb_kind is NAT, DR or TUN.")
				continue
			}
			vs.Forwarding = k
		case "protocol":
			vs.Protocol = strings.ToLower(c.arg(0))
			if !slices.Contains([]string{"tcp", "udp", "sctp"}, vs.Protocol) {
				st.m.Invalid(c.origin, "Bad protocol", "protocol is TCP, UDP or SCTP.")
				vs.Protocol = "tcp"
			}
		case "delay_loop":
			if d, err := strconv.Atoi(c.arg(0)); err == nil && d > 0 {
				delay = d
			}
		case "persistence_timeout":
			t, err := importer.Seconds(c.arg(0))
			if err != nil {
				st.m.Invalid(c.origin, "Bad persistence_timeout", err.Error())
				continue
			}
			if vs.Persistence == nil {
				vs.Persistence = &importer.Persistence{}
			}
			vs.Persistence.Timeout = t
		case "persistence_granularity":
			if vs.Persistence == nil {
				vs.Persistence = &importer.Persistence{}
			}
			vs.Persistence.Netmask = c.arg(0)
		case "sorry_server":
			ep, err := parseEndpoint(c.arg(0), c.arg(1))
			if err != nil {
				st.m.Invalid(c.origin, "Bad sorry_server", err.Error())
				continue
			}
			vs.SorryServer = netip.AddrPortFrom(ep.addr, uint16(ep.port)).String()
		case "sorry_server_inhibit", "sorry_server_lvs_method":
			st.m.Unsupported(c.origin, c.key, "hactl's sorry server takes the connections only while no real server is alive, with the virtual service's forwarding.")
		case "virtualhost":
			if hc == nil {
				hc = &importer.HealthCheck{}
			}
			hc.Host = c.arg(0)
		case "real_server":
			st.realServer(vs, c, &hc)
		case "quorum", "quorum_up", "quorum_down", "hysteresis", "alpha", "omega", "ha_suspend":
			st.m.Differs(c.origin, c.key, "hactl keeps a virtual service up while its VIP's group runs, whatever the number of live real servers; it runs no quorum commands.")
		case "ops", "one_packet_scheduling":
			st.m.Differs(c.origin, c.key, "hactl does not schedule UDP per packet (ipvsadm -O).")
		case "inhibit_on_failure":
			vs.Quiescent = true
		case "retry", "delay_before_retry", "warmup", "connect_timeout":
			st.m.Unsupported(c.origin, c.key+" of the virtual server", "Set per checker in hactl's one health_check; the import takes the real servers' checker values.")
		default:
			st.m.Unsupported(c.origin, c.key, "Not a virtual_server keyword the import knows; translate it by hand.")
		}
	}
	if hc != nil {
		if hc.Interval == "" {
			hc.Interval = fmt.Sprintf("%ds", delay)
		}
		fixTimeout(st, hc, delay, n.origin)
	}
	if hc != nil && hc.Type == "tcp" && vs.Protocol != "tcp" {
		st.m.Differs(n.origin, "health check of a "+vs.Protocol+" service", "hactl cannot probe a "+vs.Protocol+" service with a tcp connect; the import leaves the virtual service without a health check (every real server counts as alive). Add a health_check of type command that speaks the protocol.")
		hc = nil
	}
	vs.Health = hc
	vs.Name = st.m.Unique("virtual_service", vsName(vs))
	st.m.VirtualServices = append(st.m.VirtualServices, vs)
}

func vsName(vs *importer.VirtualService) string {
	names := map[int]string{21: "ftp", 25: "smtp", 53: "dns", 80: "http", 443: "https"}
	if n := names[vs.Port]; n != "" {
		return n
	}
	return fmt.Sprintf("%s_%d", vs.Protocol, vs.Port)
}

// fixTimeout keeps the probe timeout below the interval, as hactl
// requires.
func fixTimeout(st *state, hc *importer.HealthCheck, delay int, o importer.Origin) {
	to := 0
	if hc.Timeout != "" {
		to, _ = strconv.Atoi(strings.TrimSuffix(hc.Timeout, "s"))
	}
	if to >= delay || (hc.Timeout == "" && delay <= 1) {
		hc.Timeout = fmt.Sprintf("%dms", delay*500)
		st.m.Translated(o, "connect_timeout "+strconv.Itoa(to)+" with delay_loop "+strconv.Itoa(delay), fmt.Sprintf("hactl needs the timeout shorter than the interval; the import uses %s.", hc.Timeout))
	}
}

// directorGroup makes a one-node group holding a virtual server's
// address when no VRRP instance of the file moves it.
func (st *state) directorGroup(h *host, n *node, addr netip.Addr) {
	g := h.director
	if g == nil {
		g = &importer.Group{Name: st.m.Unique("group", h.name+"_director"), Origin: n.origin, Locations: []importer.Location{{Node: h.name, Score: 100, Origin: n.origin}}}
		st.m.Groups = append(st.m.Groups, g)
		st.m.Node(h.name, n.origin)
		h.director = g
	}
	st.m.AddResource(g, &importer.Resource{Kind: importer.KindVIP, Name: st.m.Unique("vip", "vip_"+strings.NewReplacer(".", "_", ":", "_").Replace(addr.String())), Address: netip.PrefixFrom(addr, -1), Origin: n.origin})
	st.m.Translated(n.origin, "virtual_server "+addr.String(), fmt.Sprintf("No vrrp_instance of this file moves %s, so keepalived expects it configured on the host. hactl runs a virtual service where its VIP is: the import makes %s a VIP of a one-node group %s on %s. Import the other director's file too, or add it to the group, for failover.", addr, addr, g.Name, h.name))
}

// checkers maps keepalived's checkers to health_check types.
var checkers = map[string]string{"HTTP_GET": "http", "SSL_GET": "https", "TCP_CHECK": "tcp", "MISC_CHECK": "command"}

func (st *state) realServer(vs *importer.VirtualService, n *node, hcp **importer.HealthCheck) {
	ep, err := parseEndpoint(n.arg(0), n.arg(1))
	if err != nil {
		st.m.Invalid(n.origin, "Bad real_server", err.Error())
		return
	}
	rs := &importer.RealServer{Addr: ep.addr, Port: ep.port, Weight: -1, Origin: n.origin}
	if rs.Port == vs.Port {
		rs.Port = 0
	}
	for _, c := range n.children {
		switch c.key {
		case "weight":
			w, err := strconv.Atoi(c.arg(0))
			if err != nil || w < 0 {
				st.m.Invalid(c.origin, "Bad weight", "weight is a whole number.")
				continue
			}
			rs.Weight = w
		case "inhibit_on_failure":
			if !vs.Quiescent && len(vs.Reals) > 0 {
				st.m.Translated(c.origin, c.key, "hactl sets quiescence per virtual service: every real server of it is kept with weight 0 when it fails.")
			}
			vs.Quiescent = true
		case "notify_up", "notify_down":
			st.m.Unsupported(c.origin, c.key, "hactl has no per-real-server events; its lvs collector shows each real server's state on the dashboard.")
		case "HTTP_GET", "SSL_GET", "TCP_CHECK", "MISC_CHECK":
			hc := st.checker(c, rs)
			switch {
			case *hcp == nil || (*hcp).Type == "":
				if *hcp != nil {
					hc.Host = (*hcp).Host
				}
				*hcp = hc
			case (*hcp).Type != hc.Type || (*hcp).Path != hc.Path:
				st.m.Translated(c.origin, c.key, "hactl has one health check per virtual service; the first real server's checker is used for all.")
			}
		case "SMTP_CHECK", "DNS_CHECK", "PING_CHECK", "UDP_CHECK", "BFD_CHECK", "FILE_CHECK":
			st.m.Differs(c.origin, c.key, "hactl's health checks are tcp, http, https or command; the import uses a tcp connect to the real server's port. A command check can run the same test (for example swaks or dig) through a script.")
			if *hcp == nil || (*hcp).Type == "" {
				host := ""
				if *hcp != nil {
					host = (*hcp).Host
				}
				*hcp = &importer.HealthCheck{Type: "tcp", Host: host}
			}
		default:
			st.m.Unsupported(c.origin, c.key, "Not a real_server keyword the import knows; translate it by hand.")
		}
	}
	vs.Reals = append(vs.Reals, rs)
}

func (st *state) checker(c *node, rs *importer.RealServer) *importer.HealthCheck {
	hc := &importer.HealthCheck{Type: checkers[c.key]}
	for _, x := range c.children {
		switch x.key {
		case "url":
			for _, u := range x.children {
				switch u.key {
				case "path":
					if hc.Path == "" {
						hc.Path = u.arg(0)
					}
				case "status_code":
					if code, err := strconv.Atoi(u.arg(0)); err == nil {
						hc.ExpectStatus = append(hc.ExpectStatus, code)
					}
				case "digest":
					st.m.Differs(u.origin, "digest", "hactl checks a response's status and a regular expression on its body, not an MD5 digest of it; the page's content is not checked. Add body_regex by hand.")
				case "regex":
					hc.BodyRegex = u.arg(0)
				case "virtualhost":
					hc.Host = u.arg(0)
				default:
					st.m.Unsupported(u.origin, "url "+u.key, "Not a url keyword the import knows.")
				}
			}
			if len(x.children) > 0 && hc.Path != "" && slices.ContainsFunc(c.children, func(o *node) bool { return o.key == "url" && o != x }) {
				st.m.Translated(x.origin, "several url blocks", "hactl checks one path; the first url's is used.")
			}
		case "connect_timeout":
			hc.Timeout = x.arg(0) + "s"
		case "nb_get_retry", "retry":
			if r, err := strconv.Atoi(x.arg(0)); err == nil && r > 0 {
				hc.Fall = r
			}
		case "delay_before_retry":
			st.m.Translated(x.origin, x.key, "hactl probes at the health check's interval, failures included; fall failures in a row take the server out.")
		case "connect_port":
			if p, _ := strconv.Atoi(x.arg(0)); p != 0 && p != rs.Port {
				st.m.Differs(x.origin, "connect_port "+x.arg(0), "hactl probes the real server's own port.")
			}
		case "misc_path":
			hc.Command = strings.Join(x.args, " ")
			st.m.Translated(x.origin, "misc_path", "hactl runs the command without a shell and adds the real server's address and port as its last two arguments (also in HACTL_CHECK_ADDRESS and HACTL_CHECK_PORT); exit 0 means good, any other status bad (keepalived's misc_dynamic weights are not read).")
		case "misc_timeout":
			hc.Timeout = x.arg(0) + "s"
		case "misc_dynamic", "user", "bindto", "bind_port", "bind_if", "warmup", "fwmark", "connect_ip", "enable_sni", "tls_compliant", "protocol":
			st.m.Unsupported(x.origin, c.key+" "+x.key, "A detail of keepalived's checker that hactl's health_check does not have.")
		default:
			st.m.Unsupported(x.origin, c.key+" "+x.key, "Not a checker keyword the import knows.")
		}
	}
	return hc
}
