// Package mrtg imports mrtg.cfg: its Target[] lines become SNMP devices
// of the monitor block (one per polled host, with the interfaces and OIDs
// its targets read), their communities secret files beside the
// configuration. MRTG's graph and page settings have no counterpart: the
// agents' dashboard draws the graphs.
package mrtg

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hactl/hactl/importer"
)

var keyRE = regexp.MustCompile(`^([A-Za-z_]+)(?:\[([^\]]*)\])?\s*:\s*(.*)$`)

// source is one polled item of a Target: an interface or an OID pair.
var oidRE = regexp.MustCompile(`^[0-9.]+$`)

// line is one keyword line of mrtg.cfg, continuation lines joined.
type line struct {
	key, keyword, target, value string
	o                           importer.Origin
}

// Import reads each mrtg.cfg.
func Import(m *importer.Model, srcs []*importer.Source) {
	for _, s := range srcs {
		m.AddSource(s)
		lines := read(m, s)
		// SnmpOptions[T] may come before or after Target[T]; [_] is the
		// default of the targets that follow it, as MRTG reads it.
		named := map[string]*snmpOptions{}
		for _, l := range lines {
			if l.key == "snmpoptions" && l.target != "_" {
				named[l.target] = parseOptions(m, l)
			}
		}
		var def *snmpOptions
		for _, l := range lines {
			key, value, o := l.key, l.value, l.o
			switch {
			case key == "target":
				opts := named[l.target]
				if opts == nil {
					opts = def
				}
				target(m, l.target, value, opts, o)
			case key == "snmpoptions" && l.target == "_":
				def = parseOptions(m, l)
			case key == "snmpoptions":
			case key == "interval" && l.target == "":
				m.Translated(o, "Interval "+value, "hactl's agents sample every 10s and poll SNMP devices every 30s (monitor interval, snmp_device interval); MRTG's five minutes would hide a failover.")
			case key == "workdir" || key == "htmldir" || key == "imagedir" || key == "logdir" || key == "logformat" || key == "pathadd" || key == "libadd" || key == "runasdaemon" || key == "forks" || key == "enableipv6" || key == "language" || key == "nomib2" || key == "loadmibs" || key == "refresh" || key == "icondir" || key == "writeexpires":
				m.Unsupported(o, l.keyword, "A setting of MRTG's own files and process; hactl keeps its samples in the agent's round-robin history (a day to two years) and serves the graphs on the monitor's listen address.")
			case l.target != "" || key == "options" || key == "title" || key == "pagetop" || key == "maxbytes" || key == "ylegend" || key == "shortlegend" || key == "legendi" || key == "legendo" || key == "legend1" || key == "legend2" || key == "kmg" || key == "xsize" || key == "ysize":
				m.Unsupported(o, l.keyword, "A graph or page setting of MRTG; hactl's dashboard draws every series with its own scale and legend.")
			default:
				m.Unsupported(o, l.keyword, "Not an mrtg.cfg keyword the import knows.")
			}
		}
		for _, l := range lines {
			if l.key == "snmpoptions" && l.target != "_" && !named[l.target].used {
				m.Unsupported(l.o, "SnmpOptions["+l.target+"]", "No SNMPv3 Target["+l.target+"] uses these options (a v1/v2c target, or none of that name).")
			}
		}
	}
}

// read splits s into keyword lines, reporting the unreadable ones.
func read(m *importer.Model, s *importer.Source) []line {
	var out []line
	lines := s.Lines()
	for i := 0; i < len(lines); i++ {
		text := lines[i]
		if strings.HasPrefix(strings.TrimSpace(text), "#") || strings.TrimSpace(text) == "" {
			continue
		}
		o := importer.Origin{File: s.Name, Line: i + 1}
		// Continuation lines start with white space.
		for i+1 < len(lines) && len(lines[i+1]) > 0 && (lines[i+1][0] == ' ' || lines[i+1][0] == '\t') {
			i++
			text += " " + strings.TrimSpace(lines[i])
		}
		mt := keyRE.FindStringSubmatch(strings.TrimSpace(text))
		if mt == nil {
			m.Invalid(o, "Unreadable mrtg.cfg line", "Lines are Keyword: value or Keyword[target]: value.")
			continue
		}
		out = append(out, line{key: strings.ToLower(mt[1]), keyword: mt[1], target: mt[2], value: strings.TrimSpace(mt[3]), o: o})
	}
	return out
}

// target reads ITEM[&ITEM]:COMMUNITY@HOST[:PORT[:...]] where an item is
// an interface (#name, \descr, /ip, or an index) or OID&OID.
func target(m *importer.Model, name, value string, opts *snmpOptions, o importer.Origin) {
	if strings.HasPrefix(value, "`") {
		m.Differs(o, "Target["+name+"] script", "MRTG runs this program for the values; hactl has no external-command collector.")
		return
	}
	at := strings.LastIndex(value, "@")
	if at < 0 {
		m.Invalid(o, "Bad Target", "A Target is WHAT:COMMUNITY@HOST.")
		return
	}
	left, hostPart := value[:at], value[at+1:]
	colon := strings.LastIndex(left, ":")
	if colon < 0 {
		m.Invalid(o, "Bad Target", "A Target is WHAT:COMMUNITY@HOST.")
		return
	}
	what, community := left[:colon], left[colon+1:]
	m.MaskSecret(o.File, ":"+community+"@")
	fields := strings.Split(hostPart, ":")
	host := strings.Trim(fields[0], "[]")
	port := 0
	if len(fields) > 1 && fields[1] != "" {
		p, err := strconv.Atoi(fields[1])
		if err != nil || p < 1 || p > 65535 {
			m.Invalid(o, "Bad Target port", fmt.Sprintf("%q is not a UDP port.", fields[1]))
			return
		}
		if p != 161 {
			port = p
		}
	}
	version := ""
	if len(fields) > 5 {
		version = fields[5]
	}
	var dev *importer.SNMPDevice
	switch version {
	case "", "2":
		dev = device(m, host, port, community, nil, o)
	case "1":
		m.Translated(o, "SNMPv1", "hactl polls with SNMPv2c, which every v1 agent of this century also answers.")
		dev = device(m, host, port, community, nil, o)
	case "3":
		if opts == nil || opts.user == "" {
			m.Invalid(o, "SNMPv3 target without a user", fmt.Sprintf("Target[%s] asks for SNMPv3 (version field 3) but no SnmpOptions[%s] (or SnmpOptions[_] before it) gives username=>'...'.", name, name))
			return
		}
		opts.used = true
		dev = device(m, host, port, "", opts, o)
		if dev == nil {
			m.Invalid(o, "Conflicting SNMPv3 credentials", fmt.Sprintf("Another target polls %s as SNMPv3 user %q with other passwords or protocols; hactl has one set per device.", host, opts.user))
			return
		}
	default:
		m.Invalid(o, "Bad SNMP version "+version, "The version field of a Target (after five colons) is 1, 2 or 3.")
		return
	}
	for _, item := range strings.Split(what, "&") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
		case strings.HasPrefix(item, "#") || strings.HasPrefix(item, "\\"):
			add(&dev.Interfaces, item[1:])
		case strings.HasPrefix(item, "/"):
			m.Differs(o, "interface by IP "+item[1:], "hactl picks interfaces by name (ifName or ifDescr); give the name.")
		case oidRE.MatchString(item) && strings.Contains(item, "."):
			add(&dev.OIDs, strings.TrimPrefix(item, "."))
		case oidRE.MatchString(item):
			m.Differs(o, "interface index "+item, "hactl picks interfaces by name (ifName or ifDescr), since indexes change when a device reboots; give the name (#eth0).")
		default:
			m.Unsupported(o, "Target item "+item, "Not an interface or numeric OID; symbolic OIDs need MRTG's MIBs, which hactl does not load. Give the numeric OID.")
		}
	}
}

func add(list *[]string, v string) {
	if !slices.Contains(*list, v) {
		*list = append(*list, v)
	}
}

// device returns the snmp_device polling host, adding it (and its
// community, or its v3 passwords, as secret files) when new. It returns
// nil for v3 options that differ from those the device already has.
func device(m *importer.Model, host string, port int, community string, v3 *snmpOptions, o importer.Origin) *importer.SNMPDevice {
	if m.Monitor == nil {
		m.Monitor = &importer.Monitor{Origin: o}
	}
	user := ""
	if v3 != nil {
		user = v3.user
	}
	for _, d := range m.Monitor.Devices {
		if d.Address != host || d.Port != port || (d.V3 == nil) != (v3 == nil) || (d.V3 != nil && d.V3.User != user) {
			continue
		}
		if v3 != nil && !v3.matches(m, d.V3) {
			return nil
		}
		return d
	}
	base := strings.SplitN(host, ".", 2)[0]
	if _, err := netip.ParseAddr(host); err == nil {
		base = "dev_" + strings.NewReplacer(".", "_", ":", "_").Replace(host)
	}
	name := m.Unique("snmp_device", base)
	d := &importer.SNMPDevice{Name: name, Origin: o, Address: host, Port: port}
	if v3 == nil {
		d.CommunityFile = "secrets/snmp-" + name + "-community"
		m.Secrets[d.CommunityFile] = []byte(community + "\n")
	} else {
		d.Version = "3"
		d.V3 = v3.block(m, name)
	}
	m.Monitor.Devices = append(m.Monitor.Devices, d)
	return d
}
