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

// Import reads each mrtg.cfg.
func Import(m *importer.Model, srcs []*importer.Source) {
	for _, s := range srcs {
		m.AddSource(s)
		lines := s.Lines()
		for i := 0; i < len(lines); i++ {
			line := lines[i]
			if strings.HasPrefix(strings.TrimSpace(line), "#") || strings.TrimSpace(line) == "" {
				continue
			}
			o := importer.Origin{File: s.Name, Line: i + 1}
			// Continuation lines start with white space.
			for i+1 < len(lines) && len(lines[i+1]) > 0 && (lines[i+1][0] == ' ' || lines[i+1][0] == '\t') {
				i++
				line += " " + strings.TrimSpace(lines[i])
			}
			mt := keyRE.FindStringSubmatch(strings.TrimSpace(line))
			if mt == nil {
				m.Invalid(o, "Unreadable mrtg.cfg line", "Lines are Keyword: value or Keyword[target]: value.")
				continue
			}
			key, value := strings.ToLower(mt[1]), strings.TrimSpace(mt[3])
			switch {
			case key == "target":
				target(m, mt[2], value, o)
			case key == "interval" && mt[2] == "":
				m.Translated(o, "Interval "+value, "hactl's agents sample every 10s and poll SNMP devices every 30s (monitor interval, snmp_device interval); MRTG's five minutes would hide a failover.")
			case key == "workdir" || key == "htmldir" || key == "imagedir" || key == "logdir" || key == "logformat" || key == "pathadd" || key == "libadd" || key == "runasdaemon" || key == "forks" || key == "enableipv6" || key == "language" || key == "nomib2" || key == "loadmibs" || key == "refresh" || key == "icondir" || key == "writeexpires":
				m.Unsupported(o, mt[1], "A setting of MRTG's own files and process; hactl keeps its samples in the agent (retention) and serves the graphs on the monitor's listen address.")
			case mt[2] != "" || key == "options" || key == "title" || key == "pagetop" || key == "maxbytes" || key == "ylegend" || key == "shortlegend" || key == "legendi" || key == "legendo" || key == "legend1" || key == "legend2" || key == "kmg" || key == "xsize" || key == "ysize":
				m.Unsupported(o, mt[1], "A graph or page setting of MRTG; hactl's dashboard draws every series with its own scale and legend.")
			default:
				m.Unsupported(o, mt[1], "Not an mrtg.cfg keyword the import knows.")
			}
		}
	}
}

// target reads ITEM[&ITEM]:COMMUNITY@HOST[:PORT[:...]] where an item is
// an interface (#name, \descr, /ip, or an index) or OID&OID.
func target(m *importer.Model, name, value string, o importer.Origin) {
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
	if len(fields) > 5 && fields[5] != "" && fields[5] != "2" && fields[5] != "1" {
		m.Differs(o, "SNMP version "+fields[5], "The import reads SNMPv1/v2c targets; write a v3 block for this device by hand.")
		return
	}
	if len(fields) > 5 && fields[5] == "1" {
		m.Translated(o, "SNMPv1", "hactl polls with SNMPv2c, which every v1 agent of this century also answers.")
	}
	dev := device(m, host, port, community, o)
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
// community as a secret file) when new.
func device(m *importer.Model, host string, port int, community string, o importer.Origin) *importer.SNMPDevice {
	if m.Monitor == nil {
		m.Monitor = &importer.Monitor{Origin: o}
	}
	for _, d := range m.Monitor.Devices {
		if d.Address == host && d.Port == port {
			return d
		}
	}
	base := strings.SplitN(host, ".", 2)[0]
	if _, err := netip.ParseAddr(host); err == nil {
		base = "dev_" + strings.NewReplacer(".", "_", ":", "_").Replace(host)
	}
	name := m.Unique("snmp_device", base)
	d := &importer.SNMPDevice{Name: name, Origin: o, Address: host, Port: port}
	d.CommunityFile = "secrets/snmp-" + name + "-community"
	m.Secrets[d.CommunityFile] = []byte(community + "\n")
	m.Monitor.Devices = append(m.Monitor.Devices, d)
	return d
}
