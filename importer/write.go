package importer

import (
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// HCL renders the model as one canonical cluster.hcl (as hactl fmt
// leaves it); every block is preceded by a comment naming its origin.
func (m *Model) HCL() []byte {
	f := hclwrite.NewEmptyFile()
	b := f.Body()
	m.base = m.commonDir()
	comment(b, "Written by hactl import; the comments name the file and line each block comes from.")
	keyNote := "cluster.key is a new random key"
	if m.KeyOrigin.File != "" {
		keyNote = "cluster.key, a new random key, replaces this line's secret"
	}
	cl := m.block(b, "cluster", []string{m.ClusterName}, m.KeyOrigin, keyNote)
	cl.SetAttributeValue("key_file", cty.StringVal(ClusterKeyFile))
	if m.TakesOver != "" {
		cl.SetAttributeValue("takes_over", cty.StringVal(m.TakesOver))
	}

	for _, v := range m.Variables {
		vb := m.block(b, "variable", []string{v.Name}, Origin{}, "an address the input does not give: set it before validate or apply")
		vb.SetAttributeTraversal("type", hcl.Traversal{hcl.TraverseRoot{Name: "string"}})
		vb.SetAttributeValue("description", cty.StringVal(v.Description))
	}
	for _, n := range m.Networks {
		nb := m.block(b, "network", []string{n.Name}, n.Origin, "")
		nb.SetAttributeValue("cidr", cty.StringVal(n.Prefix.String()))
	}
	for _, n := range m.Nodes {
		nb := m.block(b, "node", []string{n.Name}, n.Origin, "")
		for _, i := range n.Interfaces {
			ib := nb.AppendNewBlock("interface", []string{i.Device}).Body()
			ib.SetAttributeTraversal("network", ref("network", i.Network.Name))
			if i.Var != "" {
				ib.SetAttributeTraversal("address", ref("var", i.Var))
			} else {
				ib.SetAttributeValue("address", cty.StringVal(i.Addr.String()))
			}
		}
	}
	m.writeHeartbeat(b)
	for _, g := range m.Groups {
		m.writeGroup(b, g)
	}
	for _, vs := range m.VirtualServices {
		m.writeVirtualService(b, vs)
	}
	for _, p := range m.Proxies {
		m.writeProxy(b, p)
	}
	for _, s := range m.Syncs {
		m.writeSync(b, s)
	}
	m.writeMonitor(b)
	for _, n := range m.Notifies {
		nb := m.block(b, "notify", []string{n.Name}, n.Origin, "")
		nb.SetAttributeValue("command", cty.StringVal(n.Command))
		setStrings(nb, "events", n.Events)
	}
	return hclwrite.Format(f.Bytes())
}

func (m *Model) writeHeartbeat(b *hclwrite.Body) {
	hb := m.Heartbeat
	if hb == nil {
		return
	}
	hbb := m.block(b, "heartbeat", nil, hb.Origin, "")
	setStr(hbb, "interval", hb.Interval)
	setStr(hbb, "warntime", hb.Warntime)
	setStr(hbb, "deadtime", hb.Deadtime)
	setStr(hbb, "initdead", hb.Initdead)
	setInt(hbb, "port", hb.Port)
	for _, l := range hb.Links {
		lb := m.block(hbb, "link", []string{l.Name}, l.Origin, "")
		lb.SetAttributeTraversal("network", ref("network", l.Network.Name))
		setStr(lb, "mode", l.Mode)
		setStr(lb, "group", l.Group)
		setInt(lb, "ttl", l.TTL)
	}
}

func (m *Model) writeGroup(b *hclwrite.Body, g *Group) {
	gb := m.block(b, "group", []string{g.Name}, g.Origin, "")
	if len(g.Locations) == 0 && len(g.Nodes) > 0 {
		var refs []hclwrite.Tokens
		for _, n := range g.Nodes {
			refs = append(refs, hclwrite.TokensForTraversal(ref("node", n)))
		}
		gb.SetAttributeRaw("nodes", hclwrite.TokensForTuple(refs))
	}
	if g.Failback != nil {
		gb.SetAttributeValue("failback", cty.BoolVal(*g.Failback))
	}
	setStrings(gb, "ping_targets", g.PingTargets)
	for _, l := range g.Locations {
		lb := m.block(gb, "location", nil, l.Origin, "")
		lb.SetAttributeTraversal("node", ref("node", l.Node))
		lb.SetAttributeValue("score", cty.NumberIntVal(int64(l.Score)))
	}
	for _, r := range g.Resources {
		rb := m.block(gb, r.Kind, []string{r.Name}, r.Origin, "")
		switch r.Kind {
		case KindVIP:
			addr := r.Address.Addr().String()
			if r.Address.Bits() >= 0 {
				addr = r.Address.String()
			}
			rb.SetAttributeValue("address", cty.StringVal(addr))
			setStr(rb, "interface", r.Interface)
		case KindService:
			setStr(rb, "unit", r.Unit)
		case KindLSB:
			setStr(rb, "script", r.Script)
		case KindOCF:
			setStr(rb, "provider", r.Provider)
			rb.SetAttributeValue("type", cty.StringVal(r.Type))
			if len(r.Params) > 0 {
				vals := map[string]cty.Value{}
				for k, v := range r.Params {
					vals[k] = cty.StringVal(v)
				}
				rb.SetAttributeValue("params", cty.ObjectVal(vals))
			}
		}
		setStr(rb, "monitor_interval", r.Monitor)
		setStr(rb, "monitor_timeout", r.Timeout)
		setStr(rb, "on_fail", r.OnFail)
	}
}

func (m *Model) writeVirtualService(b *hclwrite.Body, vs *VirtualService) {
	vb := m.block(b, "virtual_service", []string{vs.Name}, vs.Origin, "")
	if vip := m.FindVIP(vs.VIPAddr); vip != nil {
		vb.SetAttributeTraversal("vip", ref("vip", vip.Name))
	}
	setStr(vb, "protocol", vs.Protocol)
	setInt(vb, "port", vs.Port)
	setStr(vb, "scheduler", vs.Scheduler)
	setStr(vb, "forwarding", vs.Forwarding)
	if vs.Quiescent {
		vb.SetAttributeValue("quiescent", cty.True)
	}
	setStr(vb, "sorry_server", vs.SorryServer)
	if p := vs.Persistence; p != nil {
		pb := vb.AppendNewBlock("persistence", nil).Body()
		setStr(pb, "timeout", p.Timeout)
		setStr(pb, "netmask", p.Netmask)
	}
	writeHealth(vb, vs.Health)
	for _, r := range vs.Reals {
		rb := m.block(vb, "real_server", []string{r.Name}, r.Origin, "")
		m.setTarget(rb, r)
		setInt(rb, "port", r.Port)
		if r.Weight >= 0 {
			rb.SetAttributeValue("weight", cty.NumberIntVal(int64(r.Weight)))
		}
	}
}

// setTarget writes node = node.X when the address is a node's, else the
// address.
func (m *Model) setTarget(b *hclwrite.Body, r *RealServer) {
	switch n := m.NodeByAddr(r.Addr); {
	case r.Addr.IsValid() && n != nil:
		b.SetAttributeTraversal("node", ref("node", n.Name))
	case r.Addr.IsValid():
		b.SetAttributeValue("address", cty.StringVal(r.Addr.String()))
	case r.Host != "":
		b.SetAttributeValue("address", cty.StringVal(r.Host))
	}
}

func writeHealth(b *hclwrite.Body, h *HealthCheck) {
	if h == nil {
		return
	}
	hb := b.AppendNewBlock("health_check", nil).Body()
	setStr(hb, "type", h.Type)
	setStr(hb, "interval", h.Interval)
	setStr(hb, "timeout", h.Timeout)
	setInt(hb, "rise", h.Rise)
	setInt(hb, "fall", h.Fall)
	setStr(hb, "path", h.Path)
	setStr(hb, "host", h.Host)
	if len(h.ExpectStatus) > 0 {
		var vals []cty.Value
		for _, s := range h.ExpectStatus {
			vals = append(vals, cty.NumberIntVal(int64(s)))
		}
		hb.SetAttributeValue("expect_status", cty.ListVal(vals))
	}
	setStr(hb, "body_regex", h.BodyRegex)
	setStr(hb, "command", h.Command)
}

func (m *Model) writeProxy(b *hclwrite.Body, p *Proxy) {
	pb := m.block(b, "proxy", []string{p.Name}, p.Origin, "")
	if vip := m.FindVIP(p.VIPAddr); vip != nil {
		pb.SetAttributeTraversal("vip", ref("vip", vip.Name))
	}
	setStrings(pb, "allowed_methods", p.AllowedMethods)
	setStr(pb, "max_request_body", p.MaxBody)
	setStr(pb, "client_timeout", p.ClientTimeout)
	setStr(pb, "backend_timeout", p.BackendTimeout)
	if p.NoAccessLog {
		pb.SetAttributeValue("access_log", cty.False)
	}
	if p.NoRewriteLocation {
		pb.SetAttributeValue("rewrite_location", cty.False)
	}
	for _, l := range p.Listeners {
		lb := m.block(pb, "listener", []string{l.Name}, l.Origin, "")
		setStr(lb, "protocol", l.Protocol)
		setStr(lb, "address", l.Address)
		setInt(lb, "port", l.Port)
		setStr(lb, "cert_file", l.CertFile)
		setStr(lb, "key_file", l.KeyFile)
		setStr(lb, "tls_min_version", l.TLSMinVersion)
		setStr(lb, "client_ca_file", l.ClientCAFile)
		setStrings(lb, "methods", l.Methods)
		for _, c := range l.Certificates {
			cb := m.block(lb, "certificate", []string{c.Name}, c.Origin, "")
			setStr(cb, "cert_file", c.CertFile)
			setStr(cb, "key_file", c.KeyFile)
		}
	}
	for _, s := range p.Services {
		sb := m.block(pb, "service", []string{s.Name}, s.Origin, "")
		setStr(sb, "host", s.Host)
		setStr(sb, "path", s.Path)
		if len(s.Headers) > 0 {
			vals := map[string]cty.Value{}
			for k, v := range s.Headers {
				vals[k] = cty.StringVal(v)
			}
			sb.SetAttributeValue("headers", cty.MapVal(vals))
		}
		if se := s.Session; se != nil {
			seb := sb.AppendNewBlock("session", nil).Body()
			seb.SetAttributeValue("type", cty.StringVal(se.Type))
			setStr(seb, "name", se.Name)
			setStr(seb, "ttl", se.TTL)
		}
		writeHealth(sb, s.Health)
		for _, be := range s.Backends {
			bb := m.block(sb, "backend", []string{be.Name}, be.Origin, "")
			setStr(bb, "kind", be.Kind)
			m.setTarget(bb, be)
			setInt(bb, "port", be.Port)
			if be.Weight >= 0 {
				bb.SetAttributeValue("weight", cty.NumberIntVal(int64(be.Weight)))
			}
			setStr(bb, "redirect_url", be.URL)
		}
	}
}

func (m *Model) writeSync(b *hclwrite.Body, s *Sync) {
	sb := m.block(b, "sync", []string{s.Name}, s.Origin, "")
	for _, end := range []struct{ kind, host, path string }{{"source", s.SourceHost, s.SourcePath}, {"target", s.TargetHost, s.TargetPath}} {
		eb := sb.AppendNewBlock(end.kind, nil).Body()
		eb.SetAttributeTraversal("node", ref("node", m.nodeNamed(end.host)))
		eb.SetAttributeValue("path", cty.StringVal(end.path))
	}
	if s.Delete {
		sb.SetAttributeValue("delete", cty.True)
	}
	setStrings(sb, "excludes", s.Excludes)
	setStr(sb, "trigger", s.Trigger)
	setStr(sb, "interval", s.Interval)
	setStr(sb, "bwlimit", s.Bwlimit)
	if s.Checksum {
		sb.SetAttributeValue("checksum", cty.True)
	}
}

// nodeNamed is the node a sync end names, by address or by name.
func (m *Model) nodeNamed(host string) string {
	if n := m.NodeByAddrString(host); n != nil {
		return n.Name
	}
	return Label(strings.SplitN(host, ".", 2)[0])
}

func (m *Model) writeMonitor(b *hclwrite.Body) {
	mon := m.Monitor
	if mon == nil {
		return
	}
	mb := m.block(b, "monitor", nil, mon.Origin, "")
	for _, d := range mon.Devices {
		db := m.block(mb, "snmp_device", []string{d.Name}, d.Origin, "")
		db.SetAttributeValue("address", cty.StringVal(d.Address))
		setInt(db, "port", d.Port)
		setStr(db, "version", d.Version)
		setStr(db, "community_file", d.CommunityFile)
		setStrings(db, "interfaces", d.Interfaces)
		setStrings(db, "oids", d.OIDs)
		if v3 := d.V3; v3 != nil {
			vb := db.AppendNewBlock("v3", nil).Body()
			vb.SetAttributeValue("user", cty.StringVal(v3.User))
			vb.SetAttributeValue("security_level", cty.StringVal(v3.SecurityLevel))
			setStr(vb, "auth_protocol", v3.AuthProtocol)
			setStr(vb, "auth_password_file", v3.AuthPasswordFile)
			setStr(vb, "priv_protocol", v3.PrivProtocol)
			setStr(vb, "priv_password_file", v3.PrivPasswordFile)
		}
	}
}

// commonDir is the directory all input files are in, which the origin
// comments leave out.
func (m *Model) commonDir() string {
	dir := ""
	first := true
	for name := range m.sources {
		d := filepath.Dir(name)
		switch {
		case first:
			dir, first = d, false
		default:
			for dir != "." && dir != "/" && !strings.HasPrefix(d+"/", dir+"/") {
				dir = filepath.Dir(dir)
			}
		}
	}
	return dir
}

// block appends a block preceded by a blank line and its origin comment.
func (m *Model) block(b *hclwrite.Body, typ string, labels []string, o Origin, note string) *hclwrite.Body {
	b.AppendNewline()
	var parts []string
	if o.File != "" {
		file := o.File
		if rel, err := filepath.Rel(m.base, o.File); err == nil && m.base != "" && !strings.HasPrefix(rel, "..") {
			file = rel
		}
		parts = append(parts, "from "+Origin{File: file, Line: o.Line}.String())
	}
	if note != "" {
		parts = append(parts, note)
	}
	if len(parts) > 0 {
		comment(b, strings.Join(parts, ": "))
	}
	return b.AppendNewBlock(typ, labels).Body()
}

func comment(b *hclwrite.Body, text string) {
	b.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte("# " + text + "\n")}})
}

func ref(kind, name string) hcl.Traversal {
	return hcl.Traversal{hcl.TraverseRoot{Name: kind}, hcl.TraverseAttr{Name: name}}
}

func setStr(b *hclwrite.Body, name, v string) {
	if v != "" {
		b.SetAttributeValue(name, cty.StringVal(v))
	}
}

func setInt(b *hclwrite.Body, name string, v int) {
	if v != 0 {
		b.SetAttributeValue(name, cty.NumberIntVal(int64(v)))
	}
}

func setStrings(b *hclwrite.Body, name string, vs []string) {
	if len(vs) == 0 {
		return
	}
	var vals []cty.Value
	for _, v := range vs {
		vals = append(vals, cty.StringVal(v))
	}
	b.SetAttributeValue(name, cty.ListVal(vals))
}
