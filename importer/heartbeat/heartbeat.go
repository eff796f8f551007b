// Package heartbeat imports a Heartbeat cluster: ha.cf (membership and
// heartbeat paths), authkeys (the shared secret, which becomes the
// cluster key), and the resources either of Heartbeat v1 (haresources)
// or of Heartbeat v2 / Pacemaker (cib.xml). The files are told apart by
// their content, not their names.
package heartbeat

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/hactl/hactl/importer"
)

// Import reads the given files into m.
func Import(m *importer.Model, srcs []*importer.Source) {
	st := &state{m: m, short: map[string]string{}}
	// The hosts run Heartbeat today: apply takes over from it.
	m.TakesOver = "heartbeat"
	var cibs, hares []*importer.Source
	for _, s := range srcs {
		switch kindOf(s) {
		case "cib":
			cibs = append(cibs, s)
		case "authkeys":
			st.authkeys(s)
		case "ha.cf":
			st.hacf(s)
		default:
			hares = append(hares, s)
		}
	}
	if st.crm && st.failback != nil {
		st.m.Unsupported(st.failbackAt, "auto_failback", "With crm on, Heartbeat ignores auto_failback and the CIB's resource stickiness decides; so does the import.")
	}
	for _, s := range hares {
		if st.crm {
			m.Unsupported(importer.Origin{File: s.Name, Line: 1}, "haresources",
				"ha.cf turns the CRM on, and Heartbeat then ignores haresources; so does the import (the cib.xml holds the resources).")
			continue
		}
		st.haresources(s)
	}
	for _, s := range cibs {
		st.cib(s)
	}
	st.finish()
}

// kindOf tells an input file's kind by its content.
func kindOf(s *importer.Source) string {
	text := bytes.TrimSpace(s.Bytes)
	if bytes.HasPrefix(text, []byte("<")) {
		return "cib"
	}
	for _, l := range s.LogicalLines() {
		switch {
		case l.Fields[0] == "auth":
			return "authkeys"
		case haCfDirectives[l.Fields[0]] != nil:
			return "ha.cf"
		}
	}
	return "haresources"
}

type state struct {
	m     *importer.Model
	crm   bool
	nodes []string          // ha.cf node names, shortened, in order
	short map[string]string // full node name → hactl node name
	// failback is ha.cf's auto_failback, for haresources groups.
	failback   *bool
	failbackAt importer.Origin
	pings      []string
}

// nodeName maps a Heartbeat node name (uname -n, often a full domain
// name) to a node label: the host part, which is what hostname prints on
// most systems and what hactl's agents compare with.
func (st *state) nodeName(full string, o importer.Origin) string {
	if n, ok := st.short[full]; ok {
		return n
	}
	name := importer.Label(strings.SplitN(full, ".", 2)[0])
	if name != full {
		st.m.Translated(o, "Node name "+full,
			fmt.Sprintf("hactl names the node %s (the host part); an agent matches its node by that name, so `hostname` on the host should print %s.", name, name))
	}
	st.short[full] = name
	st.m.Node(name, o)
	return name
}

type directive func(st *state, l importer.Line)

var haCfDirectives map[string]directive

func init() {
	timing := func(set func(hb *importer.Heartbeat, v string)) directive {
		return func(st *state, l importer.Line) {
			if len(l.Fields) != 2 {
				st.m.Invalid(l.Origin, "Bad "+l.Fields[0], l.Fields[0]+" takes one value, a number of seconds or a duration like 500ms.")
				return
			}
			d, err := importer.Seconds(l.Fields[1])
			if err != nil {
				st.m.Invalid(l.Origin, "Bad "+l.Fields[0], err.Error())
				return
			}
			set(st.hb(l.Origin), d)
		}
	}
	logging := func(st *state, l importer.Line) {
		st.m.Unsupported(l.Origin, l.Fields[0], "hactl's agents log to the systemd journal (journalctl -u hactl-agent); there is nothing to set.")
	}
	noCounterpart := func(st *state, l importer.Line) {
		st.m.Unsupported(l.Origin, l.Fields[0], "It tunes Heartbeat's own messaging layer, which hactl's agents do not have; it has no effect in hactl.")
	}
	haCfDirectives = map[string]directive{
		"keepalive": timing(func(hb *importer.Heartbeat, v string) { hb.Interval = v }),
		"deadtime":  timing(func(hb *importer.Heartbeat, v string) { hb.Deadtime = v }),
		"warntime":  timing(func(hb *importer.Heartbeat, v string) { hb.Warntime = v }),
		"initdead":  timing(func(hb *importer.Heartbeat, v string) { hb.Initdead = v }),
		"udpport": func(st *state, l importer.Line) {
			p, err := strconv.Atoi(field(l, 1))
			if err != nil || p < 1 || p > 65535 {
				st.m.Invalid(l.Origin, "Bad udpport", "udpport takes a port number, 1 to 65535.")
				return
			}
			st.hb(l.Origin).Port = p
		},
		"bcast": func(st *state, l importer.Line) {
			for _, dev := range l.Fields[1:] {
				st.hb(l.Origin).Links = append(st.hb(l.Origin).Links, &importer.Link{Device: dev, Mode: "broadcast", Origin: l.Origin})
			}
		},
		"ucast": func(st *state, l importer.Line) {
			peer, err := netip.ParseAddr(field(l, 2))
			if len(l.Fields) != 3 || err != nil {
				st.m.Invalid(l.Origin, "Bad ucast", "ucast takes a device and the peer's IP address: ucast eth1 192.168.1.17.")
				return
			}
			st.hb(l.Origin).Links = append(st.hb(l.Origin).Links, &importer.Link{Device: l.Fields[1], Peer: peer, Mode: "unicast", Origin: l.Origin})
		},
		"mcast": func(st *state, l importer.Line) {
			if len(l.Fields) != 6 {
				st.m.Invalid(l.Origin, "Bad mcast", "mcast takes a device, group, port, TTL and loop: mcast eth0 225.0.0.1 694 1 0.")
				return
			}
			grp, err := netip.ParseAddr(l.Fields[2])
			ttl, err2 := strconv.Atoi(l.Fields[4])
			if err != nil || !grp.IsMulticast() || err2 != nil {
				st.m.Invalid(l.Origin, "Bad mcast", "The group must be a multicast address and the TTL a number.")
				return
			}
			hb := st.hb(l.Origin)
			hb.Links = append(hb.Links, &importer.Link{Device: l.Fields[1], Mode: "multicast", Group: grp.String(), TTL: ttl, Origin: l.Origin})
			if p, _ := strconv.Atoi(l.Fields[3]); p != 0 && p != 694 && hb.Port == 0 {
				hb.Port = p
			}
			if l.Fields[5] != "0" {
				st.m.Unsupported(l.Origin, "mcast loop", "hactl never loops its own multicast heartbeats back; they would be ignored anyway.")
			}
		},
		"serial": func(st *state, l importer.Line) {
			st.m.Differs(l.Origin, "serial", "hactl sends heartbeats over IP only; this serial path is lost, so losing the IP links alone looks like a dead peer. Add a second network link instead.")
		},
		"baud": func(st *state, l importer.Line) {
			st.m.Unsupported(l.Origin, "baud", "It sets the speed of serial heartbeats, which hactl does not have (see serial).")
		},
		"node": func(st *state, l importer.Line) {
			for _, n := range l.Fields[1:] {
				name := st.nodeName(n, l.Origin)
				st.nodes = append(st.nodes, name)
			}
		},
		"auto_failback": func(st *state, l importer.Line) {
			var b bool
			switch strings.ToLower(field(l, 1)) {
			case "on", "yes", "true":
				b = true
			case "off", "no", "false":
			case "legacy":
				st.m.Translated(l.Origin, "auto_failback legacy", "hactl has no legacy mode; the groups fail back (failback = true).")
				b = true
			default:
				st.m.Invalid(l.Origin, "Bad auto_failback", "auto_failback is on, off or legacy.")
				return
			}
			st.failback, st.failbackAt = &b, l.Origin
		},
		"crm": func(st *state, l importer.Line) {
			switch strings.ToLower(field(l, 1)) {
			case "yes", "on", "true", "respawn":
				st.crm = true
			}
		},
		"ping": func(st *state, l importer.Line) {
			st.pings = append(st.pings, l.Fields[1:]...)
		},
		"ping_group": func(st *state, l importer.Line) {
			if len(l.Fields) < 3 {
				st.m.Invalid(l.Origin, "Bad ping_group", "ping_group takes a name and addresses.")
				return
			}
			st.m.Translated(l.Origin, "ping_group", "hactl's ping_targets count as reachable when any one answers, as a ping group does; the group's name is dropped.")
			st.pings = append(st.pings, l.Fields[2:]...)
		},
		"respawn": func(st *state, l importer.Line) {
			st.m.Unsupported(l.Origin, "respawn", "hactl does not supervise arbitrary programs; run "+strings.Join(l.Fields[2:], " ")+" as a systemd unit (Restart=always), or as a service resource of a group if it must follow the group.")
		},
		"watchdog": func(st *state, l importer.Line) {
			st.m.Differs(l.Origin, "watchdog", "Heartbeat reboots the node through the watchdog device when it hangs; hactl does not use a watchdog, so a hung agent is noticed only by its peers (which fence it when the node has a fence block).")
		},
		"stonith": func(st *state, l importer.Line) {
			st.m.Unsupported(l.Origin, l.Fields[0], "hactl fences with a fence block on each node (ipmi, redfish, ssh or command); add one per node.")
		},
		"logfile":     logging,
		"debugfile":   logging,
		"logfacility": logging,
		"use_logd":    logging,
		"debug":       logging,
		"apiauth": func(st *state, l importer.Line) {
			st.m.Unsupported(l.Origin, "apiauth", "hactl has no client API to authorize; its agents take orders only from hactl over SSH.")
		},
		"compression":             noCounterpart,
		"compression_threshold":   noCounterpart,
		"traditional_compression": noCounterpart,
		"coredumps":               noCounterpart,
		"conn_logd_time":          noCounterpart,
		"hopfudge":                noCounterpart,
		"realtime":                noCounterpart,
		"rtprio":                  noCounterpart,
		"msgfmt":                  noCounterpart,
		"uuidfrom":                noCounterpart,
		"max_rexmit_delay":        noCounterpart,
		"deadping":                noCounterpart,
		"pid_file":                noCounterpart,
		"autojoin": func(st *state, l importer.Line) {
			st.m.Unsupported(l.Origin, "autojoin", "hactl's members are the nodes the configuration names; a new node joins when it is added to the file and applied.")
		},
	}
	haCfDirectives["stonith_host"] = haCfDirectives["stonith"]
}

func field(l importer.Line, i int) string {
	if i < len(l.Fields) {
		return l.Fields[i]
	}
	return ""
}

func (st *state) hb(o importer.Origin) *importer.Heartbeat {
	if st.m.Heartbeat == nil {
		st.m.Heartbeat = &importer.Heartbeat{Origin: o}
	}
	return st.m.Heartbeat
}

func (st *state) hacf(s *importer.Source) {
	st.m.AddSource(s)
	for _, l := range s.LogicalLines() {
		if d := haCfDirectives[l.Fields[0]]; d != nil {
			d(st, l)
			continue
		}
		st.m.Unsupported(l.Origin, l.Fields[0], "Not a directive of ha.cf that the import knows; check the spelling, or translate it by hand.")
	}
}

// authkeys takes the active key's secret as the material the cluster key
// is derived from: the same authkeys always gives the same cluster.key.
func (st *state) authkeys(s *importer.Source) {
	st.m.AddSource(s)
	active := ""
	keys := map[string]importer.Line{}
	var authAt importer.Origin
	for _, l := range s.LogicalLines() {
		if l.Fields[0] == "auth" {
			active, authAt = field(l, 1), l.Origin
			continue
		}
		keys[l.Fields[0]] = l
	}
	l, ok := keys[active]
	if !ok {
		st.m.Invalid(authAt, "authkeys has no active key", fmt.Sprintf("auth %s names a key the file does not define.", active))
		return
	}
	switch method := field(l, 1); method {
	case "sha1", "md5":
		secret := strings.Join(l.Fields[2:], " ")
		if secret == "" {
			st.m.Invalid(l.Origin, "authkeys key without a secret", method+" needs a secret after it.")
			return
		}
		st.m.KeyOrigin = l.Origin
		for _, k := range keys {
			st.m.MaskSecret(s.Name, strings.Join(k.Fields[2:], " "))
		}
		st.m.Translated(l.Origin, "authkeys "+method, "hactl authenticates heartbeats with HMAC-SHA-256 under a new random key, cluster.key (mode 0600, beside the configuration); the secret is not copied.")
	case "crc":
		st.m.Translated(l.Origin, "authkeys crc", "crc authenticates nothing; hactl always authenticates heartbeats, with a new random key in cluster.key (mode 0600).")
	default:
		st.m.Invalid(l.Origin, "Unknown authkeys method", fmt.Sprintf("%q is not crc, md5 or sha1.", method))
	}
}

// finish gives the groups their members, failback and ping targets.
func (st *state) finish() {
	for _, g := range st.m.Groups {
		if len(g.Locations) == 0 && len(g.Nodes) < len(st.nodes) {
			for _, n := range st.nodes {
				if !slices.Contains(g.Nodes, n) {
					g.Nodes = append(g.Nodes, n)
				}
			}
		}
		if len(g.PingTargets) == 0 {
			g.PingTargets = st.pings
		}
	}
}
