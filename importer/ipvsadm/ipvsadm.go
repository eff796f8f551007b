// Package ipvsadm imports LVS virtual services from a shell script of
// ipvsadm commands or from ipvsadm-save (ipvsadm -S -n) output.
package ipvsadm

import (
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"strings"

	"github.com/hactl/hactl/importer"
	"github.com/hactl/hactl/importer/mon"
)

// Import reads the given files into m: ipvsadm scripts and ipvsadm-save
// output, then any mon.cf among them (told apart by its content), whose
// checks apply to the virtual services the scripts made.
func Import(m *importer.Model, srcs []*importer.Source) {
	var monCF []*importer.Source
	for _, s := range srcs {
		if mon.Is(s) {
			monCF = append(monCF, s)
			continue
		}
		m.AddSource(s)
		p := &parser{m: m, services: map[string]*importer.VirtualService{}}
		for _, l := range s.LogicalLines() {
			p.line(l)
		}
	}
	mon.Import(m, monCF)
}

type parser struct {
	m        *importer.Model
	services map[string]*importer.VirtualService
}

// portNames name virtual services after well-known ports.
var portNames = map[int]string{21: "ftp", 22: "ssh", 25: "smtp", 53: "dns", 80: "http", 110: "pop3", 143: "imap", 443: "https", 3306: "mysql", 5432: "postgresql"}

func (p *parser) line(l importer.Line) {
	f := l.Fields
	switch {
	case path.Base(f[0]) == "ipvsadm":
		f = f[1:]
	case strings.HasPrefix(f[0], "-"): // ipvsadm-save
	case f[0] == "#!/bin/sh" || f[0] == "#!/bin/bash" || f[0] == "set":
		return
	default:
		p.m.Unsupported(l.Origin, f[0], "Not an ipvsadm command; the import reads only ipvsadm lines of a script.")
		return
	}
	if len(f) == 0 {
		return
	}
	opts, err := parseOptions(f)
	if err != nil {
		p.m.Invalid(l.Origin, "Bad ipvsadm command", err.Error())
		return
	}
	switch opts.command {
	case "-C", "--clear":
		// hactl owns the whole table of its virtual services anyway.
	case "-A", "--add-service", "-E", "--edit-service":
		p.service(l, opts)
	case "-a", "--add-server", "-e", "--edit-server":
		p.server(l, opts)
	case "--start-daemon", "--stop-daemon":
		p.m.Unsupported(l.Origin, "ipvsadm "+opts.command, "hactl does not run the IPVS connection sync daemon: after a failover, open connections through the director are reset and clients reconnect.")
	case "-L", "-l", "--list", "-Z", "--zero", "-S", "--save", "-R", "--restore", "--set", "-D", "--delete-service", "-d", "--delete-server":
		p.m.Unsupported(l.Origin, "ipvsadm "+opts.command, "It does not describe a virtual service; hactl computes the table from the configuration.")
	default:
		p.m.Invalid(l.Origin, "Unknown ipvsadm command", fmt.Sprintf("%q is not a command the import knows (-A, -E, -a, -e, -C).", opts.command))
	}
}

type options struct {
	command    string
	proto      string
	service    string
	fwmark     bool
	scheduler  string
	persistent string
	netmask    string
	real       string
	forwarding string
	weight     int
	thresholds bool
}

// parseOptions reads ipvsadm's options; -p takes an optional argument.
func parseOptions(f []string) (*options, error) {
	o := &options{weight: -1}
	next := func(i *int) (string, error) {
		if *i+1 >= len(f) {
			return "", fmt.Errorf("%s needs a value", f[*i])
		}
		*i++
		return f[*i], nil
	}
	var err error
	for i := 0; i < len(f) && err == nil; i++ {
		a := f[i]
		if name, val, ok := strings.Cut(a, "="); ok && strings.HasPrefix(a, "--") {
			f = append(f[:i+1], append([]string{val}, f[i+1:]...)...)
			a = name
		}
		switch a {
		case "-A", "--add-service", "-E", "--edit-service", "-a", "--add-server", "-e", "--edit-server", "-C", "--clear",
			"-L", "-l", "--list", "-Z", "--zero", "-S", "--save", "-R", "--restore", "--set", "-D", "--delete-service",
			"-d", "--delete-server", "--start-daemon", "--stop-daemon":
			if o.command == "" {
				o.command = a
			}
			if a == "--start-daemon" || a == "--stop-daemon" || a == "--set" {
				return o, nil
			}
		case "-t", "--tcp-service":
			o.proto = "tcp"
			o.service, err = next(&i)
		case "-u", "--udp-service":
			o.proto = "udp"
			o.service, err = next(&i)
		case "--sctp-service":
			o.proto = "sctp"
			o.service, err = next(&i)
		case "-f", "--fwmark-service":
			o.fwmark = true
			o.service, err = next(&i)
		case "-s", "--scheduler":
			o.scheduler, err = next(&i)
		case "-p", "--persistent":
			o.persistent = "300"
			if i+1 < len(f) && !strings.HasPrefix(f[i+1], "-") {
				i++
				o.persistent = f[i]
			}
		case "-M", "--netmask":
			o.netmask, err = next(&i)
		case "-r", "--real-server":
			o.real, err = next(&i)
		case "-g", "--gatewaying":
			o.forwarding = "dr"
		case "-m", "--masquerading":
			o.forwarding = "nat"
		case "-i", "--ipip":
			o.forwarding = "tunnel"
		case "-w", "--weight":
			var v string
			if v, err = next(&i); err == nil {
				if o.weight, err = strconv.Atoi(v); err != nil || o.weight < 0 {
					err = fmt.Errorf("weight %q is not a whole number", v)
				}
			}
		case "-x", "--u-threshold", "-y", "--l-threshold":
			o.thresholds = true
			_, err = next(&i)
		case "-n", "--numeric", "-b", "--sched-flags", "-O", "--ops", "--pe":
			if a == "-b" || a == "--sched-flags" || a == "--pe" {
				_, err = next(&i)
			}
		default:
			err = fmt.Errorf("unknown option %q", a)
		}
	}
	if err != nil {
		return nil, err
	}
	if o.command == "" {
		return nil, fmt.Errorf("no command (-A, -a, -C…) in %q", strings.Join(f, " "))
	}
	return o, nil
}

// hostPort reads ADDRESS:PORT or [ADDRESS]:PORT.
func hostPort(s string) (netip.Addr, int, error) {
	ap, err := netip.ParseAddrPort(s)
	if err == nil {
		return ap.Addr().Unmap(), int(ap.Port()), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a, 0, nil
	}
	return netip.Addr{}, 0, fmt.Errorf("%q is not ADDRESS:PORT (the import does not resolve host names; use ipvsadm -S -n)", s)
}

func (p *parser) service(l importer.Line, o *options) {
	if o.fwmark {
		p.m.Differs(l.Origin, "firewall-mark service "+o.service, "hactl's virtual services are an address, protocol and port; a firewall mark grouping several has no counterpart. Write one virtual service per port.")
		return
	}
	addr, port, err := hostPort(o.service)
	if err != nil || port == 0 {
		p.m.Invalid(l.Origin, "Bad virtual service", fmt.Sprintf("%v; a virtual service is ADDRESS:PORT (port 0 — all ports — has no counterpart in hactl).", err))
		return
	}
	key := o.proto + " " + o.service
	vs := p.services[key]
	if vs == nil {
		name := portNames[port]
		if name == "" {
			name = fmt.Sprintf("%s_%d", o.proto, port)
		}
		vs = &importer.VirtualService{Name: p.uniqueName(name), Origin: l.Origin, VIPAddr: addr, Protocol: o.proto, Port: port, Scheduler: "wlc"}
		p.services[key] = vs
		p.m.VirtualServices = append(p.m.VirtualServices, vs)
	}
	if o.scheduler != "" {
		vs.Scheduler = o.scheduler
	}
	if o.persistent != "" {
		t, err := importer.Seconds(o.persistent)
		if err != nil {
			p.m.Invalid(l.Origin, "Bad persistence timeout", err.Error())
			return
		}
		vs.Persistence = &importer.Persistence{Timeout: t, Netmask: o.netmask}
	}
}

func (p *parser) uniqueName(base string) string {
	return p.m.Unique("virtual_service", base)
}

func (p *parser) server(l importer.Line, o *options) {
	vs := p.services[o.proto+" "+o.service]
	if vs == nil {
		p.m.Invalid(l.Origin, "Real server of an unknown virtual service", fmt.Sprintf("No earlier -A line adds %s; add the virtual service first.", o.service))
		return
	}
	addr, port, err := hostPort(o.real)
	if err != nil {
		p.m.Invalid(l.Origin, "Bad real server", err.Error())
		return
	}
	fwd := o.forwarding
	if fwd == "" {
		fwd = "dr" // ipvsadm's default, -g
	}
	switch {
	case vs.Forwarding == "":
		vs.Forwarding = fwd
	case vs.Forwarding != fwd:
		p.m.Differs(l.Origin, "-"+fwd+" for one real server", fmt.Sprintf("hactl forwards to every real server of a virtual service the same way; this one keeps %s.", vs.Forwarding))
	}
	if o.thresholds {
		p.m.Unsupported(l.Origin, "connection thresholds (-x/-y)", "hactl sets no connection limits on real servers.")
	}
	if port == vs.Port {
		port = 0
	}
	vs.Reals = append(vs.Reals, &importer.RealServer{Addr: addr, Port: port, Weight: o.weight, Origin: l.Origin})
}
