package keepalived

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/hactl/hactl/importer"
)

// host is one keepalived.conf and what it says about its machine.
type host struct {
	name    string
	root    *node
	src     []srcAddr
	scripts map[string]*node
	// director is the group holding the virtual servers' addresses that
	// no VRRP instance moves.
	director *importer.Group
}

type srcAddr struct {
	addr   netip.Addr
	device string
	origin importer.Origin
}

// instance is a vrrp_instance as seen from each host that declares it.
type instance struct {
	name     string
	group    *importer.Group
	peers    []netip.Addr
	peerAt   importer.Origin
	master   bool
	priority int
	host     string
}

type state struct {
	m         *importer.Model
	hosts     []*host
	instances map[string]*instance // by host + "/" + instance name
	groups    map[string]*importer.Group
	syncOf    map[string]*node // instance name → its vrrp_sync_group
}

// Import reads each file as one host's keepalived.conf.
func Import(m *importer.Model, srcs []*importer.Source) {
	st := &state{m: m, instances: map[string]*instance{}, groups: map[string]*importer.Group{}}
	for i, s := range srcs {
		h := &host{root: parseHost(m, s), scripts: map[string]*node{}}
		h.name = fmt.Sprintf("node%d", i+1)
		for _, n := range h.root.children {
			if n.key == "global_defs" {
				for _, c := range n.children {
					if c.key == "router_id" && c.arg(0) != "" && !st.hostNamed(importer.Label(c.arg(0))) {
						h.name = importer.Label(c.arg(0))
					}
				}
			}
		}
		st.hosts = append(st.hosts, h)
	}
	for _, h := range st.hosts {
		st.host(h)
	}
	if len(st.instances) > 0 {
		// keepalived holds the VIPs today: apply takes over from it.
		m.TakesOver = "keepalived"
	}
	st.finish()
}

func (st *state) hostNamed(name string) bool {
	return slices.ContainsFunc(st.hosts, func(h *host) bool { return h.name == name })
}

func (st *state) host(h *host) {
	st.syncOf = map[string]*node{}
	for _, n := range h.root.children {
		switch n.key {
		case "vrrp_script":
			h.scripts[n.arg(0)] = n
		case "vrrp_sync_group":
			for _, c := range n.children {
				if c.key == "group" {
					for _, member := range c.children {
						st.syncOf[member.key] = n
					}
				}
			}
		}
	}
	for _, n := range h.root.children {
		switch n.key {
		case "global_defs":
			st.globalDefs(n)
		case "vrrp_script", "vrrp_track_file", "vrrp_track_process", "track_file", "track_process", "track_bfd":
			if n.key != "vrrp_script" {
				st.m.Differs(n.origin, n.key+" "+n.arg(0), "hactl moves a group only when its node dies, a VIP interface fails, its ping_targets are unreachable or a resource fails; it has no tracked files or processes. Make the process a service resource of the group instead.")
			}
		case "vrrp_sync_group":
			st.syncGroup(n)
		case "vrrp_instance":
			st.instance(h, n)
		case "virtual_server", "virtual_server_group":
			// After the instances, which hold the VIPs.
		case "static_ipaddress", "static_routes", "static_rules":
			st.m.Unsupported(n.origin, n.key, "Addresses, routes and rules that never move are the host's own network configuration (ifupdown, netplan, systemd-networkd), not hactl's.")
		case "linkbeat_use_polling", "net_namespace", "instance", "use_pid_dir", "child_wait_time":
			st.m.Unsupported(n.origin, n.key, "An option of the keepalived process itself; hactl's agent has no counterpart.")
		default:
			st.m.Unsupported(n.origin, n.key, "Not a keepalived keyword the import knows; translate it by hand.")
		}
	}
	virtualServers(st, h)
}

func (st *state) globalDefs(n *node) {
	for _, c := range n.children {
		switch c.key {
		case "router_id":
			// Names the host (see Import).
		case "notification_email", "notification_email_from", "smtp_server", "smtp_connect_timeout", "smtp_helo_name":
			st.m.Unsupported(c.origin, c.key, "hactl sends no mail itself; a notify block runs a command on events (for example /usr/bin/mail).")
		case "lvs_sync_daemon":
			st.m.Unsupported(c.origin, c.key, "hactl does not run the IPVS connection sync daemon: after a failover, connections through the director are reset and clients reconnect.")
		case "script_user", "enable_script_security":
			st.m.Unsupported(c.origin, c.key, "hactl runs notify commands as root from its agent, without a shell.")
		default:
			st.m.Unsupported(c.origin, c.key, "A global setting of keepalived with no counterpart in hactl.")
		}
	}
}

// syncGroup translates a sync group's notify scripts; its members are
// made one group by instance.
func (st *state) syncGroup(n *node) {
	for _, c := range n.children {
		switch c.key {
		case "group":
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify":
			st.notify(c, n.arg(0))
		case "smtp_alert":
			st.m.Unsupported(c.origin, c.key, "hactl sends no mail; add a notify block that mails.")
		case "track_script", "track_interface", "track_file", "track_process":
			st.m.Differs(c.origin, c.key+" in a sync group", "hactl tracks only the VIPs' interfaces and ping_targets; see the instances' track_* diagnostics.")
		case "global_tracking", "sync_group_tracking_weight":
			st.m.Unsupported(c.origin, c.key, "hactl tracks per group; the group already moves as one.")
		default:
			st.m.Unsupported(c.origin, c.key, "Not a vrrp_sync_group keyword the import knows.")
		}
	}
}

var notifyEvents = map[string][]string{
	"notify_master": {"group_started"},
	"notify_backup": {"group_stopped"},
	"notify_stop":   {"group_stopped"},
	"notify_fault":  {"group_failed", "cannot_serve"},
	"notify":        {"group_started", "group_stopped", "group_failed"},
}

func (st *state) notify(c *node, owner string) {
	cmd := strings.Join(c.args, " ")
	if cmd == "" {
		st.m.Invalid(c.origin, "Empty "+c.key, c.key+" needs a script.")
		return
	}
	for _, x := range st.m.Notifies {
		if x.Command == cmd && slices.Equal(x.Events, notifyEvents[c.key]) {
			return // the same script in the other host's file
		}
	}
	name := st.m.Unique("notify", owner+"_"+strings.TrimPrefix(c.key, "notify_"))
	st.m.Notifies = append(st.m.Notifies, &importer.Notify{Name: name, Origin: c.origin, Command: cmd, Events: notifyEvents[c.key]})
	st.m.Translated(c.origin, c.key, fmt.Sprintf("hactl runs %q on %s without a shell, with the event in HACTL_EVENT and the group in HACTL_GROUP instead of keepalived's arguments (TYPE NAME STATE).", cmd, strings.Join(notifyEvents[c.key], ", ")))
}

// instance translates a vrrp_instance into a group (one per sync group).
func (st *state) instance(h *host, n *node) {
	name := n.arg(0)
	groupName := name
	if sg := st.syncOf[name]; sg != nil {
		groupName = sg.arg(0)
	}
	g := st.groups[groupName]
	if g == nil {
		g = &importer.Group{Name: st.m.Unique("group", groupName), Origin: n.origin}
		if sg := st.syncOf[name]; sg != nil {
			g.Origin = sg.origin
		}
		st.groups[groupName] = g
		st.m.Groups = append(st.m.Groups, g)
	}
	inst := &instance{name: name, group: g, priority: 100, host: h.name}
	st.instances[h.name+"/"+name] = inst
	iface := ""
	var vips []*node
	for _, c := range n.children {
		switch c.key {
		case "interface":
			iface = c.arg(0)
		case "state":
			inst.master = strings.EqualFold(c.arg(0), "MASTER")
			st.m.Translated(c.origin, "state "+c.arg(0), "hactl has no initial state: the alive member with the highest score runs the group.")
		case "priority":
			p, err := strconv.Atoi(c.arg(0))
			if err != nil || p < 1 || p > 255 {
				st.m.Invalid(c.origin, "Bad priority", "priority is a number from 1 to 255.")
				continue
			}
			inst.priority = p
		case "virtual_router_id":
			// VRRP's wire identifier; hactl's groups are named instead.
		case "advert_int":
			st.advert(c)
		case "authentication":
			st.auth(c)
		case "virtual_ipaddress", "virtual_ipaddress_excluded":
			vips = append(vips, c)
		case "nopreempt":
			st.m.Differs(c.origin, "nopreempt", "keepalived never takes the VIPs back from a lower-priority master; hactl's failback = false is the closest, but a restarted hactl cluster still starts the group on the highest score. The import sets failback = false.")
			f := false
			g.Failback = &f
		case "preempt_delay":
			st.m.Differs(c.origin, "preempt_delay", "keepalived delays preemption only after its own start-up; hactl's failback_delay delays every move back to a returning preferred node. The import does not set it: the group moves back at once (failback = true).")
		case "track_interface":
			st.trackInterface(c, n)
		case "track_script":
			st.trackScript(h, c)
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify":
			st.notify(c, name)
		case "unicast_src_ip", "mcast_src_ip":
			if a, err := netip.ParseAddr(c.arg(0)); err == nil {
				h.src = append(h.src, srcAddr{addr: a, device: iface, origin: c.origin})
			}
		case "unicast_peer":
			for _, p := range c.children {
				if a, err := netip.ParseAddr(p.key); err == nil {
					inst.peers = append(inst.peers, a)
				}
			}
			inst.peerAt = c.origin
		case "garp_master_repeat", "garp_master_refresh", "garp_master_delay", "garp_master_refresh_repeat", "garp_lower_prio_repeat", "garp_lower_prio_delay":
			st.m.Translated(c.origin, c.key, "hactl sends 5 gratuitous ARPs when it takes a VIP and repeats them every 10s (garp_count, garp_refresh on the vip); the import keeps those defaults.")
		case "smtp_alert":
			st.m.Unsupported(c.origin, c.key, "hactl sends no mail; add a notify block that mails.")
		case "lvs_sync_daemon_interface", "lvs_sync_daemon":
			st.m.Unsupported(c.origin, c.key, "hactl does not run the IPVS connection sync daemon: after a failover, connections through the director are reset and clients reconnect.")
		case "use_vmac", "vmac_xmit_base":
			st.m.Differs(c.origin, c.key, "hactl moves a VIP with the node's own MAC address and gratuitous ARP; it has no virtual MAC, so neighbours' ARP caches are updated instead of unchanged.")
		case "virtual_routes", "virtual_rules":
			st.m.Differs(c.origin, c.key, "hactl moves addresses, not routes or rules; add them with a service resource of the group (a unit that adds and removes them).")
		case "dont_track_primary", "version", "accept", "no_accept", "strict_mode", "native_ipv6", "debug", "skip_check_adv_addr", "check_unicast_src", "unicast_ttl", "mcast_dst_ip", "kernel_rx_buf_size", "promote_secondaries":
			st.m.Unsupported(c.origin, c.key, "A detail of the VRRP protocol; hactl's heartbeats have no counterpart.")
		default:
			st.m.Unsupported(c.origin, c.key, "Not a vrrp_instance keyword the import knows; translate it by hand.")
		}
	}
	for _, v := range vips {
		st.vips(g, v, iface)
	}
	if iface != "" {
		st.link(iface, len(inst.peers) > 0, n.origin)
	}
	st.m.Node(h.name, n.origin)
	for i, l := range g.Locations {
		if l.Node != h.name {
			continue
		}
		if l.Score != inst.priority {
			st.m.Translated(n.origin, "priority of "+name, fmt.Sprintf("The instances of sync group %s make one hactl group with one score per node; %s keeps the highest, %d.", g.Name, h.name, max(l.Score, inst.priority)))
			g.Locations[i].Score = max(l.Score, inst.priority)
		}
		return
	}
	g.Locations = append(g.Locations, importer.Location{Node: h.name, Score: inst.priority, Origin: n.origin})
}

func (st *state) vips(g *importer.Group, c *node, iface string) {
	if c.key == "virtual_ipaddress_excluded" {
		st.m.Translated(c.origin, c.key, "hactl does not put addresses in VRRP adverts; these are VIPs of the group like the others.")
	}
	for _, a := range c.children {
		spec := a.key
		addr, bits := spec, -1
		if s, b, ok := strings.Cut(spec, "/"); ok {
			addr = s
			n, err := strconv.Atoi(b)
			if err != nil {
				st.m.Invalid(a.origin, "Bad VIP prefix", fmt.Sprintf("%q is not a prefix length.", b))
				continue
			}
			bits = n
		}
		ip, err := netip.ParseAddr(addr)
		if err != nil || bits > ip.BitLen() {
			st.m.Invalid(a.origin, "Bad VIP address", fmt.Sprintf("%q is not an address with an optional prefix length.", spec))
			continue
		}
		dev := iface
		for i := 0; i < len(a.args); i++ {
			switch a.args[i] {
			case "dev":
				if i+1 < len(a.args) {
					dev = a.args[i+1]
					i++
				}
			case "label", "brd", "broadcast", "scope", "preferred_lft", "metric", "track_group":
				st.m.Unsupported(a.origin, "VIP "+a.args[i], "hactl derives the label and broadcast address and uses the global scope.")
				i++
			case "no_track", "home", "nodad", "noprefixroute", "autojoin", "-":
				st.m.Unsupported(a.origin, "VIP "+a.args[i], "An address flag hactl does not set.")
			default:
				st.m.Unsupported(a.origin, "VIP option "+a.args[i], "Not an address option the import knows.")
			}
		}
		if bits < 0 {
			st.m.Translated(a.origin, "VIP "+spec+" without a prefix length", "keepalived adds it as a host address (/32); hactl gives it the prefix length of the node network that contains it.")
		}
		if st.m.FindVIP(ip) != nil {
			continue // the same instance seen from the other host
		}
		name := st.m.Unique("vip", "vip_"+strings.NewReplacer(".", "_", ":", "_").Replace(ip.String()))
		st.m.AddResource(g, &importer.Resource{Kind: importer.KindVIP, Name: name, Address: netip.PrefixFrom(ip, bits), Interface: dev, Origin: a.origin})
	}
}

func (st *state) advert(c *node) {
	d, err := importer.Seconds(c.arg(0))
	if err != nil {
		st.m.Invalid(c.origin, "Bad advert_int", err.Error())
		return
	}
	secs, _ := strconv.ParseFloat(c.arg(0), 64)
	hb := st.hb(c.origin)
	hb.Interval = d
	hb.Warntime = millis(int(secs * 2000))
	hb.Deadtime = millis(int(secs*3000 + 500))
	st.m.Translated(c.origin, "advert_int "+c.arg(0), fmt.Sprintf("Heartbeats every %s; a member silent for %s (three adverts and a skew, as VRRP's master-down interval) is dead. hactl's defaults (20ms, 100ms) fail over much sooner: remove the heartbeat timings to use them.", d, hb.Deadtime))
}

// millis writes a duration of ms milliseconds, in seconds when whole.
func millis(ms int) string {
	if ms%1000 == 0 {
		return fmt.Sprintf("%ds", ms/1000)
	}
	return fmt.Sprintf("%dms", ms)
}

func (st *state) hb(o importer.Origin) *importer.Heartbeat {
	if st.m.Heartbeat == nil {
		st.m.Heartbeat = &importer.Heartbeat{Origin: o}
	}
	return st.m.Heartbeat
}

// link makes the VRRP interface a heartbeat path.
func (st *state) link(iface string, unicast bool, o importer.Origin) {
	hb := st.hb(o)
	if slices.ContainsFunc(hb.Links, func(l *importer.Link) bool { return l.Device == iface }) {
		return
	}
	hb.Links = append(hb.Links, &importer.Link{Device: iface, Mode: "unicast", Origin: o})
	if !unicast {
		st.m.Translated(o, "VRRP multicast on "+iface, "hactl sends its heartbeats unicast to each member on this interface's network.")
	}
}

func (st *state) auth(c *node) {
	for _, a := range c.children {
		switch a.key {
		case "auth_type":
			st.m.Translated(a.origin, "auth_type "+a.arg(0), "hactl authenticates every heartbeat with HMAC-SHA-256 under cluster.key.")
		case "auth_pass":
			secret := strings.Join(a.args, " ")
			st.m.MaskSecret(a.origin.File, secret)
			if st.m.KeyOrigin.File == "" {
				st.m.KeyOrigin = a.origin
			}
			st.m.Translated(a.origin, "auth_pass", "hactl authenticates heartbeats with HMAC-SHA-256 under a new random key, cluster.key (mode 0600, beside the configuration); the password is not copied.")
		default:
			st.m.Unsupported(a.origin, a.key, "Not an authentication keyword the import knows.")
		}
	}
}

// trackInterface accepts the instance's VIP interfaces, which hactl
// tracks anyway; others are a difference.
func (st *state) trackInterface(c, inst *node) {
	vipDevs := map[string]bool{}
	for _, x := range inst.children {
		if x.key == "interface" {
			vipDevs[x.arg(0)] = true
		}
	}
	for _, t := range c.children {
		switch {
		case vipDevs[t.key] && len(t.args) == 0:
			st.m.Translated(t.origin, "track_interface "+t.key, "hactl hands a group over when a VIP's interface is down or has no carrier; this is the VRRP interface, so nothing changes.")
		default:
			st.m.Differs(t.origin, "track_interface "+strings.Join(append([]string{t.key}, t.args...), " "), "hactl tracks only the interfaces of the group's VIPs, with no weights; this interface's state will not move the group.")
		}
	}
}

// trackScript translates ping checks into ping_targets; other scripts
// are a difference.
func (st *state) trackScript(h *host, c *node) {
	for _, t := range c.children {
		sc := h.scripts[t.key]
		if sc == nil {
			st.m.Invalid(t.origin, "Unknown vrrp_script "+t.key, "No vrrp_script block of that name.")
			continue
		}
		script := ""
		for _, x := range sc.children {
			if x.key == "script" {
				script = strings.Join(x.args, " ")
			}
		}
		fields := strings.Fields(script)
		if len(fields) > 0 && (strings.HasSuffix(fields[0], "ping") || strings.HasSuffix(fields[0], "fping")) {
			target := fields[len(fields)-1]
			if _, err := netip.ParseAddr(target); err == nil {
				for _, g := range st.m.Groups {
					if !slices.Contains(g.PingTargets, target) {
						g.PingTargets = append(g.PingTargets, target)
					}
				}
				st.m.Translated(t.origin, "track_script "+t.key, fmt.Sprintf("The script pings %s: hactl's ping_targets does that (3 failures 1s apart hand the group over).", target))
				continue
			}
		}
		st.m.Differs(t.origin, "track_script "+t.key+" ("+script+")", "hactl moves a group when a resource of it fails, not on an arbitrary script's result. Make what the script checks a service resource of the group (hactl monitors it and moves the group), or use ping_targets for reachability.")
	}
}

// finish gives each group the peers the hosts name and the hosts their
// addresses.
func (st *state) finish() {
	byAddr := map[netip.Addr]string{}
	for _, h := range st.hosts {
		for _, s := range h.src {
			byAddr[s.addr] = h.name
		}
	}
	for _, h := range st.hosts {
		if len(h.src) == 0 {
			continue // the host's node exists if a group has it
		}
		n := st.m.Node(h.name, h.root.origin)
		for _, s := range h.src {
			if st.m.NodeByAddr(s.addr) != nil {
				continue
			}
			net := st.m.NetworkFor(s.addr, guessBits(st.m, s.addr), s.origin)
			n.Interfaces = append(n.Interfaces, &importer.Interface{Device: s.device, Network: net, Addr: s.addr})
		}
	}
	for _, inst := range st.instances {
		for _, p := range inst.peers {
			name := byAddr[p]
			if name == "" {
				name = importer.Label("peer_" + strings.NewReplacer(".", "_", ":", "_").Replace(p.String()))
				n := st.m.Node(name, inst.peerAt)
				if len(n.Interfaces) == 0 {
					net := st.m.NetworkFor(p, guessBits(st.m, p), inst.peerAt)
					n.Interfaces = append(n.Interfaces, &importer.Interface{Device: deviceFor(st.m, net), Network: net, Addr: p})
				}
			}
			if slices.ContainsFunc(inst.group.Locations, func(l importer.Location) bool { return l.Node == name }) {
				continue
			}
			score := max(1, inst.priority-50)
			if !inst.master {
				score = min(255, inst.priority+50)
			}
			inst.group.Locations = append(inst.group.Locations, importer.Location{Node: name, Score: score, Origin: inst.peerAt})
			st.m.Translated(inst.peerAt, "unicast_peer "+p.String(), fmt.Sprintf("The peer's priority is in its own keepalived.conf; without it, the import gives %s score %d (this host is %s with %d). Import both hosts' files together to keep their priorities.", name, score, map[bool]string{true: "MASTER", false: "BACKUP"}[inst.master], inst.priority))
		}
	}
	for _, g := range st.m.Groups {
		slices.SortStableFunc(g.Locations, func(a, b importer.Location) int { return b.Score - a.Score })
		if g.Failback == nil {
			t := true
			g.Failback = &t
		}
	}
}

func guessBits(m *importer.Model, a netip.Addr) int {
	for _, g := range m.Groups {
		for _, r := range g.Resources {
			if r.Kind == importer.KindVIP && r.Address.Bits() > 0 && r.Address.Bits() < a.BitLen() {
				if p, err := r.Address.Addr().Prefix(r.Address.Bits()); err == nil && p.Contains(a) {
					return r.Address.Bits()
				}
			}
		}
	}
	if a.Is6() {
		return 64
	}
	return 24
}

func deviceFor(m *importer.Model, net *importer.Network) string {
	for _, n := range m.Nodes {
		for _, i := range n.Interfaces {
			if i.Network == net && i.Device != "" {
				return i.Device
			}
		}
	}
	return "eth0"
}
