// Package ldirectord imports ldirectord.cf: each virtual= section becomes
// a virtual service with its real servers, fallback (the sorry server),
// scheduler, persistence and health check (connect, negotiate for http
// and https, external commands). The VIP itself is moved by Heartbeat in
// an ldirectord setup, so import it with the heartbeat files.
package ldirectord

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hactl/hactl/importer"
)

var methods = map[string]string{"gate": "dr", "masq": "nat", "ipip": "tunnel"}

// Import reads each ldirectord.cf.
func Import(m *importer.Model, srcs []*importer.Source) {
	for _, s := range srcs {
		m.AddSource(s)
		st := &state{m: m, global: map[string]kv{}}
		for i, line := range s.Lines() {
			t := strings.TrimSpace(line)
			if c := strings.Index(t, "#"); c >= 0 {
				t = strings.TrimSpace(t[:c])
			}
			if t == "" {
				continue
			}
			o := importer.Origin{File: s.Name, Line: i + 1}
			key, value, ok := strings.Cut(t, "=")
			if !ok {
				m.Invalid(o, "Unreadable ldirectord.cf line", "Lines are key=value.")
				continue
			}
			x := kv{key: strings.ToLower(strings.TrimSpace(key)), value: strings.Trim(strings.TrimSpace(value), `"`), origin: o}
			indented := line[0] == ' ' || line[0] == '\t'
			switch {
			case x.key == "virtual":
				st.flush()
				st.cur = &section{head: x}
			case indented && st.cur != nil:
				st.cur.items = append(st.cur.items, x)
			default:
				st.flush()
				st.global[x.key] = x
			}
		}
		st.flush()
		st.globals()
	}
}

type kv struct {
	key, value string
	origin     importer.Origin
}

type section struct {
	head  kv
	items []kv
}

type state struct {
	m        *importer.Model
	global   map[string]kv
	cur      *section
	sections []*section
}

func (st *state) flush() {
	if st.cur != nil {
		st.sections = append(st.sections, st.cur)
		st.cur = nil
	}
}

// globals reports the global settings and applies the check ones to
// every virtual service (they are defaults for the sections).
func (st *state) globals() {
	for _, sec := range st.sections {
		st.virtual(sec)
	}
	for _, g := range st.global {
		switch g.key {
		case "checktimeout", "negotiatetimeout", "connecttimeout", "checkinterval", "failurecount", "quiescent", "checktype", "service", "checkport", "httpmethod", "virtualhost", "request", "receive":
			// Defaults of each section, applied in virtual.
		case "autoreload", "callback", "logfile", "execute", "supervised", "fork", "cleanstop", "maintenancedir", "readdquiescent", "checkcount":
			st.m.Unsupported(g.origin, g.key, "A setting of the ldirectord process; hactl's agent applies the configuration that hactl apply uploads and logs to the journal.")
		case "emailalert", "emailalertfreq", "emailalertstatus", "emailalertfrom", "smtp":
			st.m.Unsupported(g.origin, g.key, "hactl sends no mail; a notify block runs a command on events.")
		default:
			st.m.Unsupported(g.origin, g.key, "Not an ldirectord.cf setting the import knows.")
		}
	}
}

// setting is a section's value, or the global default.
func (st *state) setting(sec *section, key string) (kv, bool) {
	for _, x := range sec.items {
		if x.key == key {
			return x, true
		}
	}
	g, ok := st.global[key]
	return g, ok
}

func (st *state) virtual(sec *section) {
	h := sec.head
	ap, err := netip.ParseAddrPort(h.value)
	if err != nil {
		if n, err2 := strconv.Atoi(h.value); err2 == nil {
			st.m.Differs(h.origin, fmt.Sprintf("virtual=%d (firewall mark)", n), "hactl's virtual services are an address, protocol and port; firewall marks have no counterpart.")
			return
		}
		st.m.Invalid(h.origin, "Bad virtual", fmt.Sprintf("%q is not ADDRESS:PORT (the import does not resolve names).", h.value))
		return
	}
	vs := &importer.VirtualService{Origin: h.origin, VIPAddr: ap.Addr(), Port: int(ap.Port()), Protocol: "tcp", Scheduler: "wlc"}
	for _, x := range sec.items {
		switch x.key {
		case "real":
			st.real(vs, x)
		case "fallback":
			f := strings.Fields(x.value)
			if len(f) == 0 {
				continue
			}
			if _, err := netip.ParseAddrPort(f[0]); err != nil {
				st.m.Invalid(x.origin, "Bad fallback", "fallback is ADDRESS:PORT [method].")
				continue
			}
			vs.SorryServer = f[0]
		case "scheduler":
			vs.Scheduler = x.value
		case "protocol":
			switch x.value {
			case "tcp", "udp":
				vs.Protocol = x.value
			default:
				st.m.Differs(x.origin, "protocol="+x.value, "hactl's virtual services are tcp, udp or sctp.")
			}
		case "persistent":
			t, err := importer.Seconds(x.value)
			if err != nil {
				st.m.Invalid(x.origin, "Bad persistent", err.Error())
				continue
			}
			if vs.Persistence == nil {
				vs.Persistence = &importer.Persistence{}
			}
			vs.Persistence.Timeout = t
		case "netmask":
			if vs.Persistence == nil {
				vs.Persistence = &importer.Persistence{}
			}
			vs.Persistence.Netmask = x.value
		case "login", "passwd", "database", "secret":
			st.m.MaskSecret(x.origin.File, x.value)
			st.m.Differs(x.origin, x.key, "hactl's health checks log in to nothing; a command check can, with the credentials in a file of its own.")
		case "checktimeout", "negotiatetimeout", "connecttimeout", "checkinterval", "failurecount", "quiescent", "checktype", "service", "checkport", "httpmethod", "virtualhost", "request", "receive", "checkcommand":
			// Read by health below.
		case "emailalert", "emailalertfreq", "emailalertstatus":
			st.m.Unsupported(x.origin, x.key, "hactl sends no mail; a notify block runs a command on events.")
		default:
			st.m.Unsupported(x.origin, x.key, "Not an ldirectord.cf setting the import knows.")
		}
	}
	if q, ok := st.setting(sec, "quiescent"); ok && q.value == "yes" {
		vs.Quiescent = true
	}
	vs.Health = st.health(sec, vs)
	vs.Name = st.m.Unique("virtual_service", portName(vs))
	if vs.Forwarding == "" {
		vs.Forwarding = "dr"
	}
	st.m.VirtualServices = append(st.m.VirtualServices, vs)
}

func portName(vs *importer.VirtualService) string {
	switch vs.Port {
	case 80:
		return "http"
	case 443:
		return "https"
	case 21:
		return "ftp"
	}
	return fmt.Sprintf("%s_%d", vs.Protocol, vs.Port)
}

func (st *state) real(vs *importer.VirtualService, x kv) {
	f := strings.Fields(x.value)
	ap, err := netip.ParseAddrPort(f[0])
	if err != nil {
		st.m.Invalid(x.origin, "Bad real", "real is ADDRESS:PORT [gate|masq|ipip] [weight].")
		return
	}
	rs := &importer.RealServer{Addr: ap.Addr(), Port: int(ap.Port()), Weight: -1, Origin: x.origin}
	if rs.Port == vs.Port {
		rs.Port = 0
	}
	method := "dr"
	for _, w := range f[1:] {
		if m, ok := methods[w]; ok {
			method = m
		} else if n, err := strconv.Atoi(w); err == nil && n >= 0 {
			rs.Weight = n
		} else {
			st.m.Unsupported(x.origin, "real option "+w, "Not a real-server option the import knows (a request/receive pair per real server has no counterpart).")
		}
	}
	switch {
	case vs.Forwarding == "":
		vs.Forwarding = method
	case vs.Forwarding != method:
		st.m.Differs(x.origin, "forwarding of "+f[0], fmt.Sprintf("hactl forwards to every real server of a virtual service the same way; this one keeps %s.", vs.Forwarding))
	}
	vs.Reals = append(vs.Reals, rs)
}

func (st *state) health(sec *section, vs *importer.VirtualService) *importer.HealthCheck {
	hc := &importer.HealthCheck{Type: "tcp"}
	ct, _ := st.setting(sec, "checktype")
	svc, _ := st.setting(sec, "service")
	switch ct.value {
	case "", "negotiate":
		switch svc.value {
		case "http", "https":
			hc.Type = svc.value
		case "", "none":
			if ct.value == "negotiate" {
				st.m.Differs(ct.origin, "checktype=negotiate without service", "hactl probes with a tcp connect.")
			}
		default:
			st.m.Differs(svc.origin, "service="+svc.value, "hactl negotiates http and https only; other services are probed with a tcp connect (a command check can speak the protocol).")
		}
	case "connect":
	case "external":
		cmd, ok := st.setting(sec, "checkcommand")
		if !ok {
			st.m.Invalid(ct.origin, "checktype=external without checkcommand", "Give checkcommand.")
			return nil
		}
		hc.Type, hc.Command = "command", cmd.value
		st.m.Translated(cmd.origin, "checkcommand", "hactl runs it without a shell with the real server's address and port as its last two arguments (ldirectord passes virtual and real addresses and ports).")
	case "off", "on", "ping":
		st.m.Differs(ct.origin, "checktype="+ct.value, "hactl always probes real servers (tcp, http, https or command); the import probes with a tcp connect.")
	default:
		if _, err := strconv.Atoi(ct.value); err == nil {
			st.m.Differs(ct.origin, "checktype="+ct.value, "hactl negotiates at every probe; the import does.")
		} else {
			st.m.Invalid(ct.origin, "Unknown checktype "+ct.value, "checktype is connect, negotiate, external, ping, off, on or a number.")
		}
	}
	if vs.Protocol == "udp" && hc.Type == "tcp" {
		st.m.Differs(sec.head.origin, "health check of a udp service", "hactl cannot probe udp with a tcp connect; the service has no health check.")
		return nil
	}
	if r, ok := st.setting(sec, "request"); ok && (hc.Type == "http" || hc.Type == "https") {
		hc.Path = "/" + strings.TrimPrefix(r.value, "/")
	}
	if r, ok := st.setting(sec, "receive"); ok && (hc.Type == "http" || hc.Type == "https") {
		hc.BodyRegex = r.value
	}
	if v, ok := st.setting(sec, "virtualhost"); ok {
		hc.Host = v.value
	}
	if v, ok := st.setting(sec, "checkport"); ok && v.value != strconv.Itoa(vs.Port) {
		st.m.Differs(v.origin, "checkport="+v.value, "hactl probes each real server on its own port.")
	}
	interval := 0
	if v, ok := st.setting(sec, "checkinterval"); ok {
		interval, _ = strconv.Atoi(v.value)
		hc.Interval = v.value + "s"
	}
	for _, k := range []string{"negotiatetimeout", "connecttimeout", "checktimeout"} {
		if v, ok := st.setting(sec, k); ok && hc.Timeout == "" {
			t, _ := strconv.Atoi(v.value)
			if interval > 0 && t >= interval {
				hc.Timeout = fmt.Sprintf("%dms", interval*500)
				st.m.Translated(v.origin, k+"="+v.value, fmt.Sprintf("hactl needs the timeout shorter than the check interval; the import uses %s.", hc.Timeout))
			} else {
				hc.Timeout = v.value + "s"
			}
		}
	}
	if hc.Timeout == "" && interval == 1 {
		hc.Timeout = "500ms"
	}
	if v, ok := st.setting(sec, "failurecount"); ok {
		hc.Fall, _ = strconv.Atoi(v.value)
	}
	if v, ok := st.setting(sec, "httpmethod"); ok && v.value != "GET" {
		st.m.Differs(v.origin, "httpmethod="+v.value, "hactl's http check sends GET.")
	}
	return hc
}
