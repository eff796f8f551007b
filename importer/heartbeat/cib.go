package heartbeat

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/hactl/hactl/importer"
)

// maxDepth bounds the XML nesting: a CIB is a dozen levels deep.
const maxDepth = 64

// elem is an XML element with the line it starts on.
type elem struct {
	name     string
	attrs    map[string]string
	children []*elem
	line     int
}

func (e *elem) attr(k string) string { return e.attrs[k] }

// all returns the descendants named name, in document order, without
// recursion (the depth is bounded, but a wide file must not cost stack).
func (e *elem) all(name string) []*elem {
	var out []*elem
	stack := []*elem{e}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if cur != e && cur.name == name {
			out = append(out, cur)
		}
		for i := len(cur.children) - 1; i >= 0; i-- {
			stack = append(stack, cur.children[i])
		}
	}
	return out
}

func (e *elem) child(name string) *elem {
	for _, c := range e.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

// parseXML reads the document into a tree of elements.
func parseXML(data []byte) (*elem, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stack []*elem
	var root *elem
	for {
		line, _ := dec.InputPos()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= maxDepth {
				return nil, fmt.Errorf("line %d: elements nested more than %d deep", line, maxDepth)
			}
			e := &elem{name: t.Name.Local, attrs: map[string]string{}, line: line}
			for _, a := range t.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, e)
			} else if root == nil {
				root = e
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if root == nil || len(stack) > 0 {
		return nil, errors.New("the document ends before its root element does")
	}
	return root, nil
}

// cib reads the resources, constraints and options of a CIB.
func (st *state) cib(s *importer.Source) {
	st.m.AddSource(s)
	at := func(e *elem) importer.Origin { return importer.Origin{File: s.Name, Line: e.line} }
	root, err := parseXML(s.Bytes)
	if err != nil {
		st.m.Invalid(importer.Origin{File: s.Name, Line: 1}, "Unreadable cib.xml", fmt.Sprintf("%v. Export a complete one with cibadmin -Q > cib.xml.", err))
		return
	}
	if root.name != "cib" {
		st.m.Invalid(at(root), "Not a CIB", fmt.Sprintf("The document's root is <%s>, not <cib>.", root.name))
		return
	}
	conf := root.child("configuration")
	if conf == nil {
		st.m.Invalid(at(root), "CIB without a configuration", "A cib.xml has a <configuration> with the resources and constraints.")
		return
	}
	for _, n := range conf.all("node") {
		if u := n.attr("uname"); u != "" {
			name := st.nodeName(u, at(n))
			if !slices.Contains(st.nodes, name) {
				st.nodes = append(st.nodes, name)
			}
		}
	}
	stickiness := st.crmConfig(conf, at)
	byResource := map[string]*importer.Group{}
	if res := conf.child("resources"); res != nil {
		for _, e := range res.children {
			switch e.name {
			case "group":
				g := &importer.Group{Name: st.m.Unique("group", e.attr("id")), Origin: at(e)}
				for _, p := range e.children {
					if p.name != "primitive" {
						st.otherElement(p, at(p))
						continue
					}
					if r := st.primitive(p, at); r != nil {
						st.m.AddResource(g, r)
					}
					byResource[p.attr("id")] = g
				}
				byResource[e.attr("id")] = g
				st.m.Groups = append(st.m.Groups, g)
			case "primitive":
				r := st.primitive(e, at)
				if r == nil {
					continue
				}
				g := &importer.Group{Name: st.m.Unique("group", e.attr("id")), Origin: at(e)}
				st.m.AddResource(g, r)
				byResource[e.attr("id")] = g
				st.m.Groups = append(st.m.Groups, g)
			case "clone", "master", "bundle":
				st.m.Differs(at(e), "<"+e.name+" id=\""+e.attr("id")+"\">", "hactl runs each group on one node at a time; it has no clones or promotable (master/slave) resources. Run the service on every node as a systemd unit outside hactl, or as one group.")
			default:
				st.otherElement(e, at(e))
			}
		}
	}
	if cons := conf.child("constraints"); cons != nil {
		for _, c := range cons.children {
			st.constraint(c, byResource, at)
		}
	}
	for _, g := range st.m.Groups {
		if !byGroup(byResource, g) {
			continue
		}
		slices.SortStableFunc(g.Locations, func(a, b importer.Location) int { return b.Score - a.Score })
		fb := true
		if len(g.Locations) > 1 && stickiness >= g.Locations[0].Score-g.Locations[len(g.Locations)-1].Score {
			fb = false
		}
		g.Failback = &fb
	}
}

func byGroup(m map[string]*importer.Group, g *importer.Group) bool {
	for _, v := range m {
		if v == g {
			return true
		}
	}
	return false
}

func (st *state) otherElement(e *elem, o importer.Origin) {
	st.m.Unsupported(o, "<"+e.name+">", "The import does not know this CIB element; translate it by hand.")
}

// crmConfig reads the cluster options and returns the default resource
// stickiness (what decides whether groups fail back).
func (st *state) crmConfig(conf *elem, at func(*elem) importer.Origin) int {
	stickiness := 0
	cc := conf.child("crm_config")
	if cc == nil {
		return 0
	}
	for _, nv := range cc.all("nvpair") {
		name, value := strings.ReplaceAll(nv.attr("name"), "_", "-"), nv.attr("value")
		switch name {
		case "default-resource-stickiness", "resource-stickiness":
			stickiness = score(value)
			st.m.Translated(at(nv), name+" "+value, "hactl has no stickiness: a group moves back to a higher-scored node when failback is true. The import sets failback = false where the stickiness outweighs the location scores, true otherwise.")
		case "stonith-enabled":
			if value == "true" {
				st.m.Unsupported(at(nv), name, "hactl fences a node when it has a fence block; add one to each node.")
			}
		case "no-quorum-policy":
			st.m.Unsupported(at(nv), name+" "+value, "Write a quorum { policy = \"stop\" | \"freeze\" | \"ignore\" } block; the import does not guess it.")
		case "symmetric-cluster":
			if value == "true" {
				st.m.Translated(at(nv), name, "hactl groups run only on the nodes given by their locations (or nodes); groups without a location get every node.")
			}
		case "dc-version", "cluster-infrastructure", "cluster-name", "have-watchdog", "last-lrm-refresh", "cluster-recheck-interval", "dc-deadtime", "election-timeout":
			// Bookkeeping of the CRM itself; nothing in hactl depends on it.
		default:
			st.m.Unsupported(at(nv), "Cluster option "+name, "hactl has no counterpart of this CRM option.")
		}
	}
	return stickiness
}

// score reads a CIB score: a number or ±INFINITY.
func score(v string) int {
	switch strings.ToUpper(strings.TrimPrefix(v, "+")) {
	case "INFINITY":
		return 1000000
	case "-INFINITY":
		return -1000000
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0
	}
	return max(min(n, 1000000), -1000000)
}

// params collects a primitive's instance attributes, in Heartbeat 2's
// <instance_attributes><attributes><nvpair> form or Pacemaker's.
func params(p *elem) map[string]string {
	out := map[string]string{}
	for _, ia := range p.children {
		if ia.name != "instance_attributes" {
			continue
		}
		for _, nv := range ia.all("nvpair") {
			out[nv.attr("name")] = nv.attr("value")
		}
	}
	return out
}

// primitive translates one resource.
func (st *state) primitive(p *elem, at func(*elem) importer.Origin) *importer.Resource {
	o := at(p)
	class, typ, provider := p.attr("class"), p.attr("type"), p.attr("provider")
	ps := params(p)
	var r *importer.Resource
	switch {
	case class == "ocf" && (typ == "IPaddr" || typ == "IPaddr2") && (provider == "" || provider == "heartbeat"):
		addr, err := netip.ParseAddr(ps["ip"])
		if err != nil {
			st.m.Invalid(o, "IPaddr without a usable ip", fmt.Sprintf("ip = %q is not an IP address.", ps["ip"]))
			return nil
		}
		bits := -1
		if m := ps["cidr_netmask"]; m != "" {
			if bits = maskBits(m); bits < 0 || bits > addr.BitLen() {
				st.m.Invalid(o, "Bad cidr_netmask", fmt.Sprintf("%q is neither a prefix length nor a netmask.", m))
				return nil
			}
		}
		r = st.vip(addr, bits, o, p.attr("id"))
		r.Interface = ps["nic"]
		for k := range ps {
			switch k {
			case "ip", "cidr_netmask", "nic":
			default:
				st.m.Unsupported(o, typ+" parameter "+k, "hactl's VIPs take an address, a prefix and an interface; the label and broadcast address are derived.")
			}
		}
	case class == "ocf":
		if provider == "" {
			provider = "heartbeat"
		}
		r = &importer.Resource{Kind: importer.KindOCF, Name: importer.Label(p.attr("id")), Type: typ, Provider: provider, Params: ps, Origin: o}
		if provider == "heartbeat" {
			r.Provider = ""
		}
	case class == "lsb":
		r = &importer.Resource{Kind: importer.KindLSB, Name: importer.Label(typ), Origin: o}
		st.noParams(o, class, ps)
	case class == "systemd" || class == "service":
		r = &importer.Resource{Kind: importer.KindService, Name: importer.Label(strings.TrimSuffix(typ, ".service")), Origin: o}
		st.noParams(o, class, ps)
	case class == "heartbeat":
		r = &importer.Resource{Kind: importer.KindLSB, Name: importer.Label(typ), Script: "/etc/ha.d/resource.d/" + typ, Origin: o}
		if len(ps) > 0 {
			st.m.Differs(o, "heartbeat-class resource "+typ, "Heartbeat passes it numbered arguments; hactl's lsb resources run a script with start, stop and status only. Write a wrapper script.")
		}
	case class == "stonith":
		st.m.Unsupported(o, "stonith resource "+p.attr("id")+" ("+typ+")", "hactl fences with a fence block on each node (ipmi, redfish, ssh or command), not with a resource; add one to each node. The device's parameters are not copied, since they hold passwords.")
		return nil
	default:
		st.m.Invalid(o, "Unknown resource class "+class, "The import knows the classes ocf, lsb, systemd, heartbeat and stonith.")
		return nil
	}
	st.operations(p, r, at)
	for _, c := range p.children {
		switch c.name {
		case "instance_attributes", "operations":
		case "meta_attributes":
			for _, nv := range c.all("nvpair") {
				st.m.Unsupported(at(nv), "Resource option "+nv.attr("name"), "hactl has no per-resource meta attributes; target-role, stickiness and migration thresholds are set per group (failback) or per resource (on_fail, max_restarts).")
			}
		default:
			st.otherElement(c, at(c))
		}
	}
	return r
}

func (st *state) noParams(o importer.Origin, class string, ps map[string]string) {
	if len(ps) > 0 {
		st.m.Unsupported(o, class+" parameters", "An "+class+" resource takes no parameters; they are dropped.")
	}
}

// operations reads the monitor operation's interval, timeout and
// on-fail; other operations' timeouts are reported.
func (st *state) operations(p *elem, r *importer.Resource, at func(*elem) importer.Origin) {
	for _, op := range p.all("op") {
		o := at(op)
		if op.attr("name") != "monitor" {
			if op.attr("timeout") != "" {
				st.m.Unsupported(o, op.attr("name")+" timeout", "hactl has one timeout per resource, monitor_timeout, for every action.")
			}
			continue
		}
		if iv := op.attr("interval"); iv != "" {
			if d, err := cibDuration(iv); err == nil {
				r.Monitor = d
			} else {
				st.m.Invalid(o, "Bad monitor interval", err.Error())
			}
		}
		if to := op.attr("timeout"); to != "" {
			if d, err := cibDuration(to); err == nil {
				r.Timeout = d
			} else {
				st.m.Invalid(o, "Bad monitor timeout", err.Error())
			}
		}
		switch of := op.attr("on_fail") + op.attr("on-fail"); of {
		case "":
		case "restart", "ignore", "fence":
			r.OnFail = of
		case "standby", "stop", "block":
			st.m.Differs(o, "on-fail="+of, "hactl's on_fail is restart, move, fence or ignore; the import uses move, which takes the group elsewhere instead of stopping it.")
			r.OnFail = "move"
		default:
			st.m.Invalid(o, "Unknown on-fail "+of, "on-fail is restart, ignore, fence, standby, stop or block.")
		}
	}
}

// cibDuration reads the CIB's durations: "10s", "10", "1min", "PT10S".
func cibDuration(v string) (string, error) {
	if u := strings.ToUpper(v); strings.HasPrefix(u, "PT") {
		v = strings.ToLower(strings.TrimPrefix(u, "PT"))
	}
	d, err := importer.Seconds(v)
	if err != nil {
		return "", err
	}
	if d == "0s" || d == "0ms" {
		return "", fmt.Errorf("a zero interval turns the monitor off, which hactl does not allow")
	}
	return d, nil
}

// constraint translates rsc_location into the group's locations and
// reports colocations and orders that groups do not already express.
func (st *state) constraint(c *elem, byResource map[string]*importer.Group, at func(*elem) importer.Origin) {
	o := at(c)
	switch c.name {
	case "rsc_location":
		g := byResource[c.attr("rsc")]
		if g == nil {
			st.m.Invalid(o, "rsc_location for an unknown resource", fmt.Sprintf("%q is no group or primitive of the CIB.", c.attr("rsc")))
			return
		}
		if n := c.attr("node"); n != "" {
			st.location(g, n, c.attr("score"), o)
		}
		for _, rule := range c.all("rule") {
			exprs := rule.all("expression")
			if len(exprs) != 1 || exprs[0].attr("attribute") != "#uname" || exprs[0].attr("operation") != "eq" {
				st.m.Differs(at(rule), "rsc_location rule", "hactl places a group by node and score only; a rule on other attributes, or with several expressions, has no counterpart.")
				continue
			}
			st.location(g, exprs[0].attr("value"), rule.attr("score"), at(rule))
		}
	case "rsc_colocation", "rsc_order":
		a, b := c.attr("rsc")+c.attr("from")+c.attr("first"), c.attr("with-rsc")+c.attr("to")+c.attr("then")
		ga, gb := byResource[a], byResource[b]
		if ga != nil && ga == gb {
			st.m.Translated(o, c.name+" "+a+" / "+b, "Both are in one group, which already runs them together on one node, in the order written.")
			return
		}
		st.m.Differs(o, c.name+" "+a+" / "+b, "hactl expresses colocation and order only within a group; put these resources in one group by hand.")
	default:
		st.otherElement(c, o)
	}
}

func (st *state) location(g *importer.Group, node, sc string, o importer.Origin) {
	n := score(sc)
	name := st.nodeName(node, o)
	switch {
	case n < 0:
		st.m.Translated(o, "Negative location score for "+node, "hactl never runs a group on a node left out of its locations; "+name+" is left out.")
		return
	case n == 1000000:
		st.m.Translated(o, "INFINITY score for "+node, "hactl scores are plain numbers; INFINITY becomes 1000000.")
	}
	g.Locations = append(g.Locations, importer.Location{Node: name, Score: n, Origin: o})
}
