// Package mon imports mon.cf, the guide's chapter-4 watcher of an LVS
// director's real servers: its watch/service blocks become health checks
// of the virtual services whose real servers are the watched hostgroup,
// its alerts notify commands. lvs.alert, which mon runs to take a real
// server out of the table and put it back, is what hactl's health check
// does itself.
//
// mon.cf comes with the ipvsadm script it watches (`hactl import ipvsadm
// lvs.sh mon.cf`), told apart by its content, and is read after the
// scripts so that the virtual services it checks exist.
package mon

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/hactl/hactl/importer"
)

// Is reports whether s reads as a mon.cf: a hostgroup or watch line.
func Is(s *importer.Source) bool {
	for _, l := range s.LogicalLines() {
		if l.Fields[0] == "hostgroup" || l.Fields[0] == "watch" {
			return true
		}
	}
	return false
}

// service is a watch's service block as read so far.
type service struct {
	group, name string
	o           importer.Origin
	interval    string
	monitor     []string
	monitorO    importer.Origin
	lvsAlert    bool // an alert runs lvs.alert: the check takes real servers out
	fall        int
	alerts      []alert
	hosts       []string
}

type alert struct {
	up   bool
	args []string
	o    importer.Origin
}

type reader struct {
	m        *importer.Model
	groups   map[string][]string
	alertDir string
	watch    string
	svc      *service
	inPeriod bool
}

// Import reads each mon.cf into m.
func Import(m *importer.Model, srcs []*importer.Source) {
	for _, s := range srcs {
		m.AddSource(s)
		r := &reader{m: m, groups: map[string][]string{}, alertDir: "/usr/lib/mon/alert.d"}
		for _, l := range s.LogicalLines() {
			r.line(l)
		}
		r.endService()
	}
}

// globals are mon's own settings: files, its server, its scheduler.
var globals = []string{"alertdir", "mondir", "statedir", "logdir", "basedir", "cfbasedir", "maxprocs", "histlength", "historicfile", "historictime", "randstart", "authtype", "userfile", "serverbind", "serverport", "trapbind", "trapport", "dtlogfile", "dtlogging", "snmpport", "monerrfile", "pidfile", "cltimeout", "syslog_facility", "startupalerts_on_reset", "pamservice", "monremote"}

func (r *reader) line(l importer.Line) {
	f, o := l.Fields, l.Origin
	key := strings.ToLower(f[0])
	// Global settings are "key = value" (the = optional).
	if k, _, ok := strings.Cut(key, "="); ok || slices.Contains(globals, key) {
		if ok {
			key = k
		}
		if key == "alertdir" {
			if v := globalValue(f); v != "" {
				r.alertDir = v
			}
		}
		if slices.Contains(globals, key) {
			r.m.Unsupported(o, f[0], "A setting of mon's own process; hactl's agents run the checks and keep their state.")
		} else {
			r.m.Unsupported(o, f[0], "Not a mon.cf setting the import knows.")
		}
		return
	}
	switch key {
	case "hostgroup":
		if len(f) < 2 {
			r.m.Invalid(o, "hostgroup without a name", "A hostgroup line is: hostgroup NAME HOST...")
			return
		}
		r.endService()
		r.watch = ""
		r.groups[f[1]] = append(r.groups[f[1]], f[2:]...)
	case "watch":
		r.endService()
		r.watch = ""
		if len(f) != 2 {
			r.m.Invalid(o, "Bad watch line", "A watch line names one hostgroup: watch NAME.")
			return
		}
		if _, ok := r.groups[f[1]]; !ok {
			r.m.Invalid(o, "watch of an unknown hostgroup", fmt.Sprintf("No hostgroup %q is defined before this watch.", f[1]))
			return
		}
		r.watch = f[1]
	case "service":
		r.endService()
		if r.watch == "" {
			r.m.Invalid(o, "service outside a watch", "A service belongs to the watch above it.")
			return
		}
		if len(f) != 2 {
			r.m.Invalid(o, "Bad service line", "A service line names the service: service NAME.")
			return
		}
		r.svc = &service{group: r.watch, name: f[1], o: o, hosts: r.groups[r.watch]}
	default:
		if r.svc == nil {
			r.m.Invalid(o, "Unknown mon.cf line", fmt.Sprintf("%q is not a global setting, hostgroup or watch, and no service is open.", f[0]))
			return
		}
		r.serviceLine(key, f, o)
	}
}

func globalValue(f []string) string {
	rest := strings.TrimSpace(strings.TrimPrefix(strings.Join(f, " "), f[0]))
	if _, v, ok := strings.Cut(f[0], "="); ok {
		rest = strings.TrimSpace(v + " " + rest)
	}
	return strings.TrimSpace(strings.TrimPrefix(rest, "="))
}

func (r *reader) serviceLine(key string, f []string, o importer.Origin) {
	s := r.svc
	switch key {
	case "interval":
		if len(f) != 2 {
			r.m.Invalid(o, "Bad interval", "interval takes one duration (30s, 5m).")
			return
		}
		d, err := importer.Seconds(f[1])
		if err != nil {
			r.m.Invalid(o, "Bad interval", err.Error())
			return
		}
		s.interval = d
	case "monitor":
		if len(f) < 2 {
			r.m.Invalid(o, "monitor without a program", "monitor names a program of mon.d and its arguments.")
			return
		}
		s.monitor, s.monitorO = f[1:], o
	case "period":
		r.inPeriod = true
		spec := strings.TrimSpace(strings.Join(f[1:], " "))
		if i := strings.Index(spec, ":"); i >= 0 && !strings.Contains(spec[:i], "{") {
			spec = strings.TrimSpace(spec[i+1:])
		}
		if spec != "" && spec != "wd {Sun-Sat}" {
			r.m.Differs(o, "period "+spec, "hactl checks and notifies at all times; mon alerted only in this period.")
		}
	case "alert", "upalert":
		if !r.inPeriod {
			r.m.Invalid(o, key+" outside a period", "Alerts belong to a period block (period wd {Sun-Sat}).")
			return
		}
		// "alert exit=2 mail.alert": the alert runs only when the
		// monitor exits so.
		for len(f) > 1 && strings.HasPrefix(f[1], "exit=") {
			r.m.Differs(o, key+" "+f[1], "hactl notifies on every failure of a health check; it has no exit codes to tell failures apart.")
			f = append(f[:1:1], f[2:]...)
		}
		if len(f) < 2 {
			r.m.Invalid(o, key+" without a program", key+" names a program of alert.d and its arguments.")
			return
		}
		if path.Base(f[1]) == "lvs.alert" {
			s.lvsAlert = true
			r.m.Translated(o, key+" lvs.alert", "hactl's health check takes a failed real server out of the table (or to weight 0 with quiescent) and puts it back when it passes, without lvs.alert.")
			return
		}
		s.alerts = append(s.alerts, alert{up: key == "upalert", args: f[1:], o: o})
	case "alertafter":
		n, err := strconv.Atoi(f[len(f)-1])
		if len(f) != 2 || err != nil || n < 1 || n > 100 {
			r.m.Differs(o, strings.Join(f, " "), "hactl takes a real server out after fall failures in a row; alertafter with a time window has no counterpart.")
			return
		}
		s.fall = n
	case "alertevery", "numalerts", "no_comp_alerts", "comp_alerts", "upalertafter", "startupalert", "unack_summary", "redistribute", "traptimeout", "trapduration", "randskew", "description", "allow_empty_group", "dep_memory", "failure_interval":
		r.m.Unsupported(o, f[0], "hactl runs a notify command once per change (real_server_down, real_server_up) and checks at the health check's interval.")
	case "depend", "dep_behavior", "exclude_period":
		r.m.Differs(o, f[0], "hactl checks every real server at all times, independently of other checks.")
	case "exclude_hosts":
		r.m.Differs(o, f[0], "hactl checks every real server of a virtual service.")
	default:
		r.m.Invalid(o, "Unknown service directive "+f[0], "Not a mon.cf service or period directive the import knows.")
	}
}

// monitors maps mon.d programs to hactl's check types and their usual
// ports (mon's defaults).
var monitors = map[string]struct {
	typ  string
	port int
	note string
}{
	"http.monitor":  {"http", 80, ""},
	"https.monitor": {"https", 443, ""},
	"tcp.monitor":   {"tcp", 0, ""},
	"ftp.monitor":   {"tcp", 21, "hactl connects to the FTP port; it does not read the 220 banner."},
	"smtp.monitor":  {"tcp", 25, "hactl connects to the SMTP port; it does not read the banner."},
	"pop3.monitor":  {"tcp", 110, "hactl connects to the POP3 port; it does not read the banner."},
	"imap.monitor":  {"tcp", 143, "hactl connects to the IMAP port; it does not read the banner."},
}

// endService turns the open service into health checks and notifies.
func (r *reader) endService() {
	s := r.svc
	r.svc, r.inPeriod = nil, false
	if s == nil {
		return
	}
	if len(s.monitor) == 0 {
		r.m.Invalid(s.o, "service "+s.name+" without a monitor", "A mon service runs a monitor program; this one has none.")
		return
	}
	hc, port, ok := r.check(s)
	if !ok {
		return
	}
	var checked []string
	for _, vs := range r.m.VirtualServices {
		if !r.watches(vs, s.hosts, port) {
			continue
		}
		if vs.Health != nil {
			r.m.Differs(s.monitorO, "monitor "+s.monitor[0]+" on "+vs.Name, fmt.Sprintf("hactl runs one health check per virtual service; %s already has a %s check, which is kept.", vs.Name, vs.Health.Type))
			continue
		}
		c := *hc
		vs.Health = &c
		checked = append(checked, vs.Name)
	}
	if len(checked) == 0 {
		r.m.Unsupported(s.monitorO, "monitor "+s.monitor[0], fmt.Sprintf("No virtual service has real servers of hostgroup %s on the monitor's port; give the ipvsadm script (or keepalived, ldirectord) before mon.cf, or check the hostgroup.", s.group))
		return
	}
	var notifies []*importer.Notify
	for _, a := range s.alerts {
		prog := a.args[0]
		if !strings.HasPrefix(prog, "/") {
			prog = path.Join(r.alertDir, prog)
		}
		ev := "real_server_down"
		if a.up {
			ev = "real_server_up"
		}
		cmd := strings.Join(append([]string{prog}, a.args[1:]...), " ")
		// alert and upalert with one program make one notify.
		if i := slices.IndexFunc(notifies, func(n *importer.Notify) bool { return n.Command == cmd }); i >= 0 {
			if !slices.Contains(notifies[i].Events, ev) {
				notifies[i].Events = append(notifies[i].Events, ev)
			}
		} else {
			n := &importer.Notify{Name: r.m.Unique("notify", "mon_"+s.group+"_"+s.name), Origin: a.o, Command: cmd, Events: []string{ev}}
			notifies = append(notifies, n)
			r.m.Notifies = append(r.m.Notifies, n)
		}
		r.m.Translated(a.o, a.args[0], fmt.Sprintf("hactl runs %s on %s without a shell and without mon's arguments (-s service -g group -h hosts) or standard input: the event is in HACTL_EVENT, the real server in HACTL_DETAIL.", prog, ev))
	}
}

// check is the health check a service's monitor amounts to, and the port
// it checks (0: the virtual service's).
func (r *reader) check(s *service) (*importer.HealthCheck, int, bool) {
	prog := path.Base(s.monitor[0])
	args := s.monitor[1:]
	mon, known := monitors[prog]
	switch {
	case prog == "ping.monitor" || prog == "fping.monitor":
		r.m.Differs(s.monitorO, "monitor "+prog, "hactl checks real servers on their service port (tcp, http), not with ICMP: a host that answers ping with its server down stays in the table under mon and not under hactl. The import gives the watched virtual services a tcp check.")
		mon = monitors["tcp.monitor"]
		args = nil
	case !known:
		cmd := s.monitor[0]
		if !strings.HasPrefix(cmd, "/") {
			cmd = path.Join("/usr/lib/mon/mon.d", cmd)
		}
		r.m.Translated(s.monitorO, "monitor "+prog, fmt.Sprintf("Run as a command check: %s with the real server's address and port added as its last two arguments, once per real server (mon passed all the hostgroup's hosts at once); exit 0 means good.", cmd))
		return &importer.HealthCheck{Type: "command", Command: strings.Join(append([]string{cmd}, args...), " "), Interval: s.interval, Fall: s.fall}, 0, true
	}
	if mon.note != "" {
		r.m.Translated(s.monitorO, "monitor "+prog, mon.note)
	}
	hc := &importer.HealthCheck{Type: mon.typ, Interval: s.interval, Fall: s.fall}
	port := mon.port
	for i := 0; i < len(args); i++ {
		a := args[i]
		val := ""
		if i+1 < len(args) {
			val = args[i+1]
		}
		switch {
		case (a == "-p" || a == "--port") && val != "":
			p, err := strconv.Atoi(val)
			if err != nil || p < 1 || p > 65535 {
				r.m.Invalid(s.monitorO, "Bad monitor port", fmt.Sprintf("%q is not a TCP port.", val))
				return nil, 0, false
			}
			port = p
			i++
		case (a == "-u" || a == "--url") && val != "" && (mon.typ == "http" || mon.typ == "https"):
			hc.Path = val
			i++
		case (a == "-t" || a == "--timeout") && val != "":
			d, err := importer.Seconds(val)
			if err != nil {
				r.m.Invalid(s.monitorO, "Bad monitor timeout", err.Error())
				return nil, 0, false
			}
			hc.Timeout = d
			i++
		default:
			r.m.Unsupported(s.monitorO, prog+" "+a, "An option of the mon.d program that hactl's "+mon.typ+" check has no counterpart for.")
		}
	}
	if mon.typ == "http" || mon.typ == "https" {
		hc.ExpectStatus = []int{200}
	}
	return hc, port, true
}

// watches reports whether vs's real servers are all hosts of the group
// and the check's port is theirs (0: any).
func (r *reader) watches(vs *importer.VirtualService, hosts []string, port int) bool {
	if len(vs.Reals) == 0 {
		return false
	}
	for _, rs := range vs.Reals {
		p := rs.Port
		if p == 0 {
			p = vs.Port
		}
		if port != 0 && p != port {
			return false
		}
		if !slices.ContainsFunc(hosts, func(h string) bool { return r.isHost(rs, h) }) {
			return false
		}
	}
	return true
}

// isHost reports whether the real server is host: its address, its name,
// or a node of that name at its address.
func (r *reader) isHost(rs *importer.RealServer, host string) bool {
	if a, err := netip.ParseAddr(host); err == nil {
		return a == rs.Addr
	}
	if rs.Host == host || rs.Name == host {
		return true
	}
	name := strings.SplitN(host, ".", 2)[0]
	if n := r.m.NodeByAddr(rs.Addr); n != nil && n.Name == name {
		return true
	}
	// Nodes given with --node get their addresses only when the import
	// finishes.
	for _, v := range r.m.Opts.Nodes {
		addrs, err := importer.ParseNodeFlag(v)
		if err != nil {
			continue
		}
		for _, na := range addrs {
			if na.Node == name && na.Addr == rs.Addr {
				return true
			}
		}
	}
	return false
}
