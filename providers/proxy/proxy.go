// Package proxy is the provider of proxy blocks: a Pound-style HTTP/HTTPS
// reverse proxy and load balancer in front of hidden web servers, with
// listeners, services matched by host, path and headers, regular, redirect
// and emergency backends, and session stickiness.
package proxy

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
	"github.com/hactl/hactl/providers/check"
	"github.com/hactl/hactl/providers/group"
	"github.com/hactl/hactl/providers/node"
)

// Provider decodes proxy blocks.
type Provider struct{}

var (
	_ providers.Provider  = Provider{}
	_ providers.Validator = Provider{}
)

var sessionTypes = []string{"ip", "cookie", "proxy_cookie", "header", "url", "basic"}

// Schema implements providers.Provider.
func (Provider) Schema() *providers.Block {
	return &providers.Block{
		Type:   "proxy",
		Role:   "proxy",
		Labels: []string{"name"},
		Doc:    "An HTTP/HTTPS reverse proxy (the Pound system): it accepts requests on its listeners, validates them, picks the first service whose match fits, and forwards to one of that service's live backends. Requests are never written to disk; with no live backend the client gets 503, or the emergency backend answers.",
		Attrs: []*providers.Attr{
			{Name: "vip", Type: providers.Ref, RefKind: "vip", Doc: "Run on whichever node holds this VIP and listen there. Give vip or nodes.", Example: "vip.front"},
			{Name: "nodes", Type: providers.RefList, RefKind: "node", Doc: "Run on these nodes (each listens on its own addresses).", Example: "[node.lb1, node.lb2]"},
			{Name: "allowed_methods", Type: providers.StringList, Default: `["GET", "HEAD", "POST"]`, Doc: "HTTP methods accepted on every listener that does not set its own methods; others get 405 before any backend sees them. " + methodSetsDoc, Example: `["extended", "OPTIONS"]`},
			{Name: "max_request_body", Type: providers.Size, Default: `"10M"`, Doc: "Largest request body accepted; larger ones get 413."},
			{Name: "client_timeout", Type: providers.Duration, Default: `"10s"`, Doc: "How long to wait for a client's request."},
			{Name: "backend_timeout", Type: providers.Duration, Default: `"15s"`, Doc: "How long to wait for a backend's response."},
			{Name: "max_uri", Type: providers.Size, Default: `"8K"`, Doc: "Longest request target (path and query) accepted; longer ones get 414."},
			{Name: "max_header_size", Type: providers.Size, Default: `"32K"`, Doc: "Largest request header section accepted; larger ones get 431."},
			{Name: "trusted_proxies", Type: providers.StringList, Doc: "Addresses or prefixes of proxies in front of this one: their X-Forwarded-For, -Proto, -Host and Forwarded headers are kept and appended to. From any other client they are replaced.", Example: `["10.0.0.0/8"]`},
			{Name: "error_503", Type: providers.String, Doc: "The body of the 503 answered when no service matches or no backend can serve (Pound's Err503).", Example: `"Down for maintenance, back soon.\n"`},
			{Name: "rewrite_location", Type: providers.Bool, Default: `true`, Doc: "Rewrite a backend's redirect to its own address into the listener's scheme and the request's host (Pound's RewriteLocation)."},
			{Name: "access_log", Type: providers.Bool, Default: `true`, Doc: "Log each request as one line to syslog (see docs/proxy.md). false logs none, as Pound's LogLevel 0; transitions and counters are kept."},
		},
		Blocks: []*providers.Block{
			{
				Type:     "listener",
				Labels:   []string{"name"},
				Required: true,
				Doc:      "An address and port the proxy accepts connections on (Pound's ListenHTTP / ListenHTTPS).",
				Attrs: []*providers.Attr{
					{Name: "protocol", Type: providers.String, Default: `"http"`, Enum: []string{"http", "https"}, Doc: "Plain HTTP, or HTTPS with cert_file and key_file."},
					{Name: "address", Type: providers.String, Doc: "Address to listen on. Default: the VIP's address, or every address.", Example: `"0.0.0.0"`},
					{Name: "port", Type: providers.Port, Required: true, Doc: "Port.", Example: "443"},
					{Name: "cert_file", Type: providers.String, Doc: "PEM certificate chain, for https.", Example: `"tls/www.pem"`},
					{Name: "key_file", Type: providers.String, Doc: "PEM private key, for https; uploaded with mode 0600.", Example: `"tls/www.key"`},
					{Name: "tls_min_version", Type: providers.String, Default: `"1.2"`, Enum: []string{"1.2", "1.3"}, Doc: "Oldest TLS version accepted; Go's default cipher suites, which are forward-secret AEADs for TLS 1.2."},
					{Name: "client_ca_file", Type: providers.String, Doc: "PEM CA certificates: when set, clients must present a certificate signed by one of them.", Example: `"tls/clients-ca.pem"`},
					{Name: "methods", Type: providers.StringList, Doc: "HTTP methods this listener accepts, instead of the proxy's allowed_methods (Pound's xHTTP, which is set per listener); others get 405 before any backend sees them. " + methodSetsDoc, Example: `["webdav"]`},
				},
				Blocks: []*providers.Block{{
					Type:   "certificate",
					Labels: []string{"name"},
					Doc:    "A further certificate of an https listener: the one whose names fit the client's SNI is shown, cert_file when none does.",
					Attrs: []*providers.Attr{
						{Name: "cert_file", Type: providers.String, Required: true, Doc: "PEM certificate chain.", Example: `"tls/api.pem"`},
						{Name: "key_file", Type: providers.String, Required: true, Doc: "PEM private key; uploaded with mode 0600.", Example: `"tls/api.key"`},
					},
				}},
			},
			{
				Type:     "service",
				Labels:   []string{"name"},
				Required: true,
				Doc:      "Where matching requests go. Services are tried in the order written; one with no match conditions takes everything left.",
				Attrs: []*providers.Attr{
					{Name: "host", Type: providers.String, Doc: "Regular expression the Host header must match.", Example: `"^www\\.example\\.com$"`},
					{Name: "path", Type: providers.String, Doc: "Regular expression the URL path must match.", Example: `"^/images/"`},
					{Name: "headers", Type: providers.StringMap, Doc: "Headers that must be present, each matching its regular expression (Pound's HeadRequire).", Example: `{ "X-Tenant" = "^blue$" }`},
					{Name: "deny_headers", Type: providers.StringMap, Doc: "Headers that must not match their regular expression (Pound's HeadDeny).", Example: `{ "User-Agent" = "(?i)badbot" }`},
					{Name: "methods", Type: providers.StringList, Doc: "Methods the service takes; all the proxy allows when not set.", Example: `["PUT", "DELETE"]`},
					{Name: "redirect_code", Type: providers.Number, Default: `302`, Doc: "Status of the answers of redirect backends: 301, 302, 303, 307 or 308."},
					{Name: "redirect_append", Type: providers.Bool, Default: `false`, Doc: "Append the request's path and query to a redirect backend's URL."},
				},
				Blocks: []*providers.Block{
					{
						Type:   "session",
						Single: true,
						Doc:    "Stickiness: requests of one session go to the same backend while it lives.",
						Attrs: []*providers.Attr{
							{Name: "type", Type: providers.String, Required: true, Enum: sessionTypes, Doc: "What identifies a session: client IP, the application's cookie (learnt from its Set-Cookie), the proxy's own cookie (proxy_cookie: a random id the proxy sets on the first response, naming no backend), a header, a URL parameter, or the Basic authentication user."},
							{Name: "name", Type: providers.String, Doc: "The cookie, header or URL parameter name (required for cookie, header and url; the proxy's own cookie is HACTL_SESSION unless named).", Example: `"JSESSIONID"`},
							{Name: "ttl", Type: providers.Duration, Default: `"5m"`, Doc: "How long an idle session is remembered; a proxy_cookie the proxy no longer knows is replaced by a new one."},
						},
					},
					check.Block(),
					{
						Type:     "backend",
						Labels:   []string{"name"},
						Required: true,
						Doc:      "A server behind the proxy. Regular backends share the load; an emergency backend answers only when no regular one is alive; a redirect backend answers with a redirect to redirect_url.",
						Attrs: []*providers.Attr{
							{Name: "kind", Type: providers.String, Default: `"regular"`, Enum: []string{"regular", "emergency", "redirect"}, Doc: "The backend's role."},
							{Name: "node", Type: providers.Ref, RefKind: "node", Doc: "A node of the cluster, reached on the address it shares with the proxy.", Example: "node.web1"},
							{Name: "address", Type: providers.String, Doc: "Host name or address, when not a node.", Example: `"10.0.0.21"`},
							{Name: "port", Type: providers.Port, Default: `80`, Doc: "Port."},
							{Name: "weight", Type: providers.Number, Default: `5`, Doc: "Relative share of the requests (Pound's Priority, 1-9)."},
							{Name: "redirect_url", Type: providers.String, Doc: "For kind = \"redirect\": where clients are sent.", Example: `"https://www.example.com"`},
						},
					},
				},
			},
		},
		Example: `proxy "front" {
  vip = vip.front
  listener "http" {
    port = 80
  }
  service "app" {
    path = "^/app/"
    session {
      type = "cookie"
      name = "JSESSIONID"
    }
    backend "web1" {
      node = node.web1
      port = 8080
    }
  }
}`,
	}
}

// Decode implements providers.Provider.
func (Provider) Decode(d *providers.Decoder, c *providers.Content) {
	p := &topology.Proxy{
		Name:            c.Label(0),
		AllowedMethods:  c.Strings("allowed_methods"),
		MaxRequestBody:  c.Size("max_request_body"),
		ClientTimeout:   c.Duration("client_timeout"),
		BackendTimeout:  c.Duration("backend_timeout"),
		MaxURI:          c.Size("max_uri"),
		MaxHeader:       c.Size("max_header_size"),
		TrustedProxies:  c.Strings("trusted_proxies"),
		Error503:        c.String("error_503"),
		RewriteLocation: c.Bool("rewrite_location"),
		AccessLog:       c.Bool("access_log"),
		Range:           c.BlockRange(),
	}
	if !d.Declare("proxy", p.Name, c.DefRange) {
		return
	}
	d.Topology.Proxies = append(d.Topology.Proxies, p)
	p.AllowedMethods = methods(d, c, "allowed_methods")
	for _, tp := range p.TrustedProxies {
		if !validPrefix(tp) {
			d.Error(c.Range("trusted_proxies"), "Invalid trusted proxy", fmt.Sprintf("%q is neither an address nor a prefix; write \"10.0.0.5\" or \"10.0.0.0/8\".", tp))
		}
	}
	if c.Has("vip") == c.Has("nodes") {
		d.Error(c.DefRange, "Proxy needs vip or nodes",
			fmt.Sprintf("Proxy %q must say where it runs with exactly one of vip = vip.NAME or nodes = [node.a, …].", p.Name))
	}
	if c.Has("vip") {
		name, rng := c.Ref("vip")
		d.Later(func() { p.VIP, _ = providers.Lookup(d, "vip", name, rng, group.VIPs(d.Topology)) })
	}
	refs := c.Refs("nodes")
	d.Later(func() {
		for _, r := range refs {
			if n, ok := providers.Lookup(d, "node", r.Name, r.Range, node.ByName(d.Topology)); ok {
				p.Nodes = append(p.Nodes, n)
			}
		}
	})
	for _, lc := range c.Blocks("listener") {
		l := &topology.Listener{
			Name:          lc.Label(0),
			Protocol:      lc.String("protocol"),
			Address:       lc.String("address"),
			Port:          lc.Port("port"),
			CertFile:      lc.String("cert_file"),
			KeyFile:       lc.String("key_file"),
			TLSMinVersion: lc.String("tls_min_version"),
			ClientCAFile:  lc.String("client_ca_file"),
			Methods:       methods(d, lc, "methods"),
			Range:         lc.BlockRange(),
		}
		for _, cc := range lc.Blocks("certificate") {
			l.Certificates = append(l.Certificates, &topology.Certificate{Name: cc.Label(0), CertFile: cc.String("cert_file"), KeyFile: cc.String("key_file"), Range: cc.BlockRange()})
		}
		if !d.DeclareIn(fmt.Sprintf("proxy %q", p.Name), "listener", l.Name, lc.DefRange) {
			continue
		}
		p.Listeners = append(p.Listeners, l)
		tls := l.CertFile != "" || l.KeyFile != ""
		switch {
		case l.Protocol == "https" && (l.CertFile == "" || l.KeyFile == ""):
			d.Error(lc.DefRange, "HTTPS listener without certificate", "An https listener needs both cert_file and key_file.")
		case l.Protocol == "http" && (tls || len(l.Certificates) > 0 || l.ClientCAFile != ""):
			d.Error(lc.DefRange, "Certificate on an http listener", `cert_file, key_file, certificate blocks and client_ca_file only apply to protocol = "https".`)
		}
	}
	for _, sc := range c.Blocks("service") {
		p.Services = append(p.Services, decodeService(d, p, sc))
	}
}

func decodeService(d *providers.Decoder, p *topology.Proxy, c *providers.Content) *topology.ProxyService {
	s := &topology.ProxyService{
		Name:           c.Label(0),
		Host:           c.String("host"),
		Path:           c.String("path"),
		Headers:        c.StringMap("headers"),
		DenyHeaders:    c.StringMap("deny_headers"),
		Methods:        methods(d, c, "methods"),
		RedirectCode:   c.Int("redirect_code"),
		RedirectAppend: c.Bool("redirect_append"),
		HealthCheck:    check.Decode(d, c.Block("health_check")),
		Range:          c.BlockRange(),
	}
	d.DeclareIn(fmt.Sprintf("proxy %q", p.Name), "service", s.Name, c.DefRange)
	for _, attr := range []string{"host", "path"} {
		checkRegex(d, c, attr, c.String(attr))
	}
	for _, re := range s.Headers {
		checkRegex(d, c, "headers", re)
	}
	for _, re := range s.DenyHeaders {
		checkRegex(d, c, "deny_headers", re)
	}
	switch s.RedirectCode {
	case 301, 302, 303, 307, 308:
	default:
		d.Error(c.Range("redirect_code"), "Invalid redirect code", fmt.Sprintf("redirect_code must be 301, 302, 303, 307 or 308, not %d.", s.RedirectCode))
	}
	if sc := c.Block("session"); sc != nil {
		s.Session = &topology.Session{Type: sc.String("type"), Name: sc.String("name"), TTL: sc.Duration("ttl")}
		if (s.Session.Type == "cookie" || s.Session.Type == "header" || s.Session.Type == "url") && s.Session.Name == "" {
			d.Error(sc.DefRange, "Session without a name", fmt.Sprintf("A %s session needs name = \"...\": the %s that carries the session id.", s.Session.Type, s.Session.Type))
		}
	}
	regular := 0
	for _, bc := range c.Blocks("backend") {
		b := &topology.Backend{
			Name:        bc.Label(0),
			Kind:        bc.String("kind"),
			Address:     bc.String("address"),
			Port:        bc.Port("port"),
			Weight:      bc.Int("weight"),
			RedirectURL: bc.String("redirect_url"),
			Range:       bc.BlockRange(),
		}
		if !d.DeclareIn(fmt.Sprintf("service %q of proxy %q", s.Name, p.Name), "backend", b.Name, bc.DefRange) {
			continue
		}
		s.Backends = append(s.Backends, b)
		if b.Kind == "regular" {
			regular++
		}
		if b.Weight < 1 || b.Weight > 9 {
			d.Error(bc.Range("weight"), "Invalid weight", fmt.Sprintf("weight must be between 1 and 9, not %d.", b.Weight))
		}
		switch {
		case b.Kind == "redirect" && b.RedirectURL == "":
			d.Error(bc.DefRange, "Redirect without a URL", `A backend of kind "redirect" needs redirect_url = "https://...".`)
		case b.Kind == "redirect":
		case bc.Has("node") == bc.Has("address"):
			d.Error(bc.DefRange, "Backend needs node or address", fmt.Sprintf("Backend %q must have exactly one of node = node.NAME or address = \"...\".", b.Name))
		case bc.Has("node"):
			name, rng := bc.Ref("node")
			d.Later(func() { b.Node, _ = providers.Lookup(d, "node", name, rng, node.ByName(d.Topology)) })
		}
	}
	if regular == 0 && len(s.Backends) > 0 && s.Backends[0].Kind == "emergency" {
		d.Warn(c.DefRange, "Service with only an emergency backend", fmt.Sprintf("Service %q has no regular backend, so the emergency backend answers every request.", s.Name))
	}
	return s
}

// methodSetsDoc says, in the schema, what the named method sets hold.
const methodSetsDoc = "Besides method names, Pound's xHTTP levels as named sets, each holding the one before: \"standard\" or \"xhttp0\" (GET, HEAD, POST), \"extended\" or \"xhttp1\" (and PUT, PATCH, DELETE), \"webdav\" or \"xhttp2\" (and WebDAV's LOCK, UNLOCK, PROPFIND, PROPPATCH, SEARCH, MKCOL, MOVE, COPY, OPTIONS, TRACE, MKACTIVITY, CHECKOUT, MERGE, REPORT), \"ms_webdav\" or \"xhttp3\" (and Microsoft's SUBSCRIBE, UNSUBSCRIBE, NOTIFY, BPROPFIND, BPROPPATCH, POLL, BMOVE, BCOPY, BDELETE, CONNECT), \"ms_rpc\" or \"xhttp4\" (and RPC over HTTP's RPC_IN_DATA, RPC_OUT_DATA)."

// setNames are the names of Pound's xHTTP levels, by level.
var setNames = []string{"standard", "extended", "webdav", "ms_webdav", "ms_rpc"}

// methodSets are Pound's xHTTP levels, each adding to the one before.
var methodSets = [][]string{
	{"GET", "HEAD", "POST"},
	{"PUT", "PATCH", "DELETE"},
	{"LOCK", "UNLOCK", "PROPFIND", "PROPPATCH", "SEARCH", "MKCOL", "MOVE", "COPY", "OPTIONS", "TRACE", "MKACTIVITY", "CHECKOUT", "MERGE", "REPORT"},
	{"SUBSCRIBE", "UNSUBSCRIBE", "NOTIFY", "BPROPFIND", "BPROPPATCH", "POLL", "BMOVE", "BCOPY", "BDELETE", "CONNECT"},
	{"RPC_IN_DATA", "RPC_OUT_DATA"},
}

// expandMethods upper-cases method names and replaces the named sets
// (xhttpN or its name) by their methods, without repeats.
func expandMethods(in []string) []string {
	var out []string
	add := func(m string) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	for _, m := range in {
		lower := strings.ToLower(m)
		level := slices.Index(setNames, lower)
		if n, ok := strings.CutPrefix(lower, "xhttp"); ok && len(n) == 1 && n[0] >= '0' && int(n[0]-'0') < len(methodSets) {
			level = int(n[0] - '0')
		}
		if level < 0 {
			add(strings.ToUpper(m))
			continue
		}
		for _, set := range methodSets[:level+1] {
			for _, sm := range set {
				add(sm)
			}
		}
	}
	return out
}

// notMethodRune says r has no place in a method name: HTTP allows any
// token, hactl the upper-case letters, digits, '_' and '-' of the
// methods in use (RPC_IN_DATA, VERSION-CONTROL).
func notMethodRune(r rune) bool {
	return (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' && r != '-'
}

// methods reads a list of methods and named sets, expanded, and says
// which names are no HTTP method: an error when a name cannot be one, a
// warning when it is none Pound knows (most likely a misspelt set).
func methods(d *providers.Decoder, c *providers.Content, attr string) []string {
	out := expandMethods(c.Strings(attr))
	for _, m := range out {
		switch {
		case m == "" || strings.IndexFunc(m, notMethodRune) >= 0:
			d.Error(c.Range(attr), "Invalid method", fmt.Sprintf("%s: %q is not an HTTP method; write upper-case method names like \"GET\" or a named set (%s).", attr, m, strings.Join(setNames, ", ")))
		case !slices.ContainsFunc(methodSets, func(set []string) bool { return slices.Contains(set, m) }):
			d.Warn(c.Range(attr), "Unknown method", fmt.Sprintf("%s: %q is neither a method of Pound's sets nor a set (%s); it is accepted as written.", attr, m, strings.Join(setNames, ", ")))
		}
	}
	return out
}

func validPrefix(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	_, err := netip.ParsePrefix(s)
	return err == nil
}

func checkRegex(d *providers.Decoder, c *providers.Content, attr, re string) {
	if re == "" {
		return
	}
	if _, err := regexp.Compile(re); err != nil {
		d.Error(c.Range(attr), "Invalid regular expression", fmt.Sprintf("%s: %s. Write an RE2 regular expression, like \"^/static/\".", attr, providers.RegexpProblem(err)))
	}
}

// Validate implements providers.Validator: listeners do not collide, and
// backend nodes are reachable from every node the proxy may run on.
func (Provider) Validate(d *providers.Decoder) {
	for _, p := range d.Topology.Proxies {
		hosts := p.Nodes
		if p.VIP != nil {
			for _, l := range p.VIP.Group.Locations {
				hosts = append(hosts, l.Node)
			}
		}
		seen := map[string]string{}
		for _, l := range p.Listeners {
			key := fmt.Sprintf("%s:%d", l.Address, l.Port)
			if other, dup := seen[key]; dup {
				d.Error(providers.FromTopo(l.Range), "Two listeners on one address",
					fmt.Sprintf("Listener %q uses %s like listener %q; give one another port or address.", l.Name, key, other))
			}
			seen[key] = l.Name
		}
		for _, s := range p.Services {
			for _, b := range s.Backends {
				if b.Node == nil {
					continue
				}
				for _, h := range hosts {
					if !sharesNetwork(b.Node, h) && b.Node != h {
						d.Error(providers.FromTopo(b.Range), "Backend unreachable from the proxy",
							fmt.Sprintf("Backend node %q shares no network with %q, where proxy %q may run. Attach them to a common network or give the backend an address.", b.Node.Name, h.Name, p.Name))
						break
					}
				}
			}
		}
	}
}

func sharesNetwork(a, b *topology.Node) bool {
	for _, i := range a.Interfaces {
		if i.Network != nil && b.InterfaceOn(i.Network) != nil {
			return true
		}
	}
	return false
}
