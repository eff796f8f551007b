// Package pound imports a Pound reverse proxy's pound.cfg, in Apsis 2.x
// syntax or the maintained 4.x one: listeners (with their certificates,
// client certificates, protocol floor and xHTTP methods), services with
// their match conditions, backends (regular, Emergency, Redirect),
// Session, TimeOut, Client, Alive, MaxRequest; what hactl's proxy has no
// counterpart for (CheckURL, Err503, HeadDeny, header rewriting…) is
// reported.
package pound

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hactl/hactl/importer"
)

const maxDepth = 16

// openers are the keywords that start a block closed by End.
var openers = map[string]bool{
	"listenhttp": true, "listenhttps": true, "httplistener": true, "httpslistener": true,
	"service": true, "backend": true, "emergency": true, "session": true, "match": true,
	"not": true, "rewrite": true, "else": true, "resolver": true, "trustedip": true,
	"combineheaders": true, "acl": true,
}

type block struct {
	key      string // lower case
	args     []string
	children []*block
	origin   importer.Origin
	isBlock  bool
}

// words splits a line into words and "quoted strings", without comments.
func words(line string) []string {
	var out []string
	var cur strings.Builder
	inQ, has, esc := false, false, false
	for _, r := range line {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case inQ && r == '\\':
			cur.WriteRune(r)
			esc = true
		case inQ && r == '"':
			inQ = false
		case inQ:
			cur.WriteRune(r)
		case r == '"':
			inQ, has = true, true
		case r == '#':
			if has {
				out = append(out, cur.String())
			}
			return out
		case r == ' ' || r == '\t' || r == '\r':
			if has {
				out = append(out, cur.String())
			}
			cur.Reset()
			has = false
		default:
			cur.WriteRune(r)
			has = true
		}
	}
	if has {
		out = append(out, cur.String())
	}
	return out
}

func parse(m *importer.Model, s *importer.Source) *block {
	root := &block{isBlock: true, origin: importer.Origin{File: s.Name}}
	stack := []*block{root}
	for i, line := range s.Lines() {
		w := words(line)
		if len(w) == 0 {
			continue
		}
		o := importer.Origin{File: s.Name, Line: i + 1}
		key := strings.ToLower(w[0])
		cur := stack[len(stack)-1]
		if key == "end" {
			if len(stack) == 1 {
				m.Invalid(o, "End without a block", "This End closes no ListenHTTP, Service, BackEnd or Session.")
				continue
			}
			stack = stack[:len(stack)-1]
			continue
		}
		b := &block{key: key, args: w[1:], origin: o}
		cur.children = append(cur.children, b)
		// Inside a service, ACL "name" refers to a global ACL.
		if openers[key] && !(key == "acl" && len(stack) > 1 && len(w) > 1) {
			if len(stack) > maxDepth {
				m.Invalid(o, "Blocks nested too deep", fmt.Sprintf("More than %d levels of blocks.", maxDepth))
				return root
			}
			b.isBlock = true
			stack = append(stack, b)
		}
	}
	if len(stack) > 1 {
		open := stack[len(stack)-1]
		m.Invalid(open.origin, "Block without End", fmt.Sprintf("%s is never closed: the file ends before its End.", open.key))
	}
	return root
}

// Import reads each pound.cfg as one proxy.
func Import(m *importer.Model, srcs []*importer.Source) {
	for _, s := range srcs {
		m.AddSource(s)
		st := &state{m: m, p: &importer.Proxy{Origin: importer.Origin{File: s.Name, Line: 1}}, xhttp: map[*importer.Listener]int{}}
		st.p.Name = m.Unique("proxy", "pound")
		root := parse(m, s)
		st.top(root)
		st.settleMethods()
		if len(st.p.Listeners) == 0 {
			m.Invalid(st.p.Origin, "pound.cfg without a listener", "A proxy needs a ListenHTTP or ListenHTTPS block.")
		}
		if len(st.p.Services) == 0 {
			m.Invalid(st.p.Origin, "pound.cfg without a service", "A proxy needs at least one Service block.")
		}
		for _, sv := range st.p.Services {
			onlyRedirects := !slices.ContainsFunc(sv.Backends, func(b *importer.RealServer) bool { return b.Kind != "redirect" })
			if st.alive != "" && sv.Health == nil && !onlyRedirects {
				sv.Health = &importer.HealthCheck{Type: "tcp", Interval: st.alive}
			}
		}
		m.Proxies = append(m.Proxies, st.p)
	}
}

type state struct {
	m     *importer.Model
	p     *importer.Proxy
	alive string
	// defaultXHTTP is the level of listeners without an xHTTP of their
	// own (Pound's default is 0); xhttp holds those that have one.
	defaultXHTTP int
	xhttp        map[*importer.Listener]int
}

// settleMethods sets the methods the listeners accept: on the proxy
// when every listener has the same xHTTP level (nothing when that is 0,
// hactl's default too), else on each listener whose level is not the
// proxy's.
func (st *state) settleMethods() {
	level := func(l *importer.Listener) int {
		if n, ok := st.xhttp[l]; ok {
			return n
		}
		return st.defaultXHTTP
	}
	same := !slices.ContainsFunc(st.p.Listeners, func(l *importer.Listener) bool {
		return level(l) != level(st.p.Listeners[0])
	})
	proxyLevel := 0
	if same && len(st.p.Listeners) > 0 {
		proxyLevel = level(st.p.Listeners[0])
	}
	if proxyLevel != 0 {
		st.p.AllowedMethods = []string{xhttpSets[proxyLevel]}
	}
	for _, l := range st.p.Listeners {
		if n := level(l); n != proxyLevel {
			l.Methods = []string{xhttpSets[n]}
		}
	}
}

func (st *state) seconds(b *block) string {
	d, err := importer.Seconds(arg(b, 0))
	if err != nil {
		st.m.Invalid(b.origin, "Bad "+b.key, err.Error())
		return ""
	}
	return d
}

func arg(b *block, i int) string {
	if i < len(b.args) {
		return b.args[i]
	}
	return ""
}

// xhttpSets are hactl's named method sets for Pound's xHTTP levels 0 to
// 4, each holding the one before (providers/proxy expands them).
var xhttpSets = []string{"standard", "extended", "webdav", "ms_webdav", "ms_rpc"}

// xhttpLevel reads an xHTTP directive's level.
func (st *state) xhttpLevel(b *block) (int, bool) {
	n, err := strconv.Atoi(arg(b, 0))
	if err != nil || n < 0 || n >= len(xhttpSets) {
		st.m.Invalid(b.origin, "Bad xHTTP", "xHTTP is 0 to 4.")
		return 0, false
	}
	if n >= 1 {
		st.m.Translated(b.origin, "xHTTP "+arg(b, 0), fmt.Sprintf("The methods of hactl's set %q, which holds PATCH, as Pound 4's xHTTP 1 does (Pound 2's did not).", xhttpSets[n]))
	}
	return n, true
}

func (st *state) common(b *block) bool {
	switch b.key {
	case "timeout":
		st.p.BackendTimeout = st.seconds(b)
	case "client":
		st.p.ClientTimeout = st.seconds(b)
	case "alive":
		st.alive = st.seconds(b)
		st.m.Translated(b.origin, "Alive "+arg(b, 0), "hactl probes every backend (not only dead ones) at this interval with a tcp connect; a service's health_check can probe http instead.")
	case "maxrequest":
		if _, err := strconv.Atoi(arg(b, 0)); err != nil {
			st.m.Invalid(b.origin, "Bad MaxRequest", "MaxRequest is a number of bytes.")
			return true
		}
		st.p.MaxBody = arg(b, 0)
	case "checkurl":
		st.m.Differs(b.origin, "CheckURL", "Pound answers 501 to requests whose URL does not match; hactl's proxy has no URL filter (a service with a path match and a redirect backend can send such requests elsewhere).")
	case "err414", "err500", "err501", "err503", "errorfile":
		st.m.Unsupported(b.origin, b.key, "hactl's proxy answers errors with its own short page; use an emergency backend for a maintenance page.")
	case "headremove", "addheader", "headeradd", "headerremove", "rewritedestination", "headerdeny", "logsuppress":
		st.m.Differs(b.origin, b.key, "hactl's proxy passes headers and Location as they are; it has no header rewriting.")
	default:
		return false
	}
	return true
}

func (st *state) top(root *block) {
	for _, b := range root.children {
		if st.common(b) {
			continue
		}
		switch b.key {
		case "xhttp":
			if n, ok := st.xhttpLevel(b); ok {
				st.defaultXHTTP = n
			}
		case "rewritelocation":
			// rewrite_location is on by default; Pound's 0 turns it off.
			st.p.NoRewriteLocation = st.p.NoRewriteLocation || arg(b, 0) == "0"
		case "listenhttp", "listenhttps", "httplistener", "httpslistener":
			st.listener(b)
		case "service":
			st.service(b)
		case "loglevel":
			if arg(b, 0) == "0" {
				st.p.NoAccessLog = true // Pound logs no request
			} else {
				st.m.Unsupported(b.origin, b.key, "hactl's proxy logs each request in one format of its own (docs/proxy.md), to syslog or the journal.")
			}
		case "user", "group", "rootjail", "daemon", "logfacility", "control", "threads", "grace", "anonymise", "anonymize", "pidfile", "workermincount", "workermaxcount", "threadidletimeout", "dynscale", "ignorecase", "supervisor", "sslengine", "ecdhcurve", "logformat":
			st.m.Unsupported(b.origin, b.key, "A setting of the pound process itself; hactl's proxy runs inside its agent and logs to the journal.")
		case "include":
			st.m.Invalid(b.origin, "Include not followed", "The import reads one pound.cfg; give the included file's content in place (cat the files together) and import again.")
		default:
			st.m.Unsupported(b.origin, b.key, "Not a pound.cfg directive the import knows; translate it by hand.")
		}
	}
}

func (st *state) listener(b *block) {
	l := &importer.Listener{Protocol: "http", Origin: b.origin}
	if strings.Contains(b.key, "https") {
		l.Protocol = "https"
	}
	var clientCert *block
	var verify, caList string
	for _, c := range b.children {
		if st.common(c) {
			continue
		}
		switch c.key {
		case "xhttp":
			if n, ok := st.xhttpLevel(c); ok {
				st.xhttp[l] = n
			}
		case "rewritelocation":
			if arg(c, 0) == "0" {
				st.p.NoRewriteLocation = true
				st.m.Differs(c.origin, c.key, "hactl's rewrite_location is one setting for the whole proxy: a listener's RewriteLocation 0 turns it off for every listener.")
			}
		case "address":
			a, err := netip.ParseAddr(arg(c, 0))
			switch {
			case err != nil:
				l.Address = arg(c, 0)
			case a.IsUnspecified():
				l.Address = a.String()
			case !st.p.VIPAddr.IsValid() || st.p.VIPAddr == a:
				st.p.VIPAddr = a
			default:
				l.Address = a.String()
			}
		case "port":
			p, err := strconv.Atoi(arg(c, 0))
			if err != nil || p < 1 || p > 65535 {
				st.m.Invalid(c.origin, "Bad Port", "Port is 1 to 65535.")
				continue
			}
			l.Port = p
		case "cert":
			file := arg(c, 0)
			if l.CertFile == "" {
				l.CertFile, l.KeyFile = file, file
				st.m.Translated(c.origin, "Cert "+file, "Pound's PEM holds the certificate and its key; hactl names the file as both cert_file and key_file, read from the machine that runs hactl (copy it beside the configuration) and uploaded with mode 0600.")
				continue
			}
			name := st.m.Unique("certificate:"+st.p.Name+":"+b.origin.String(), certName(file))
			// Chosen by SNI, the first shown when none fits: as Pound does.
			l.Certificates = append(l.Certificates, &importer.Certificate{Name: name, CertFile: file, KeyFile: file, Origin: c.origin})
		case "clientcert":
			clientCert = c
		case "verifylist":
			verify = arg(c, 0)
		case "calist":
			caList = arg(c, 0)
		case "disable":
			st.disable(l, c)
		case "ciphers":
			st.m.Differs(c.origin, "Ciphers", "hactl's HTTPS listener offers Go's default cipher suites (forward-secret AEADs for TLS 1.2; TLS 1.3's own), not a list of its own.")
		case "sslhonorcipherorder":
			st.m.Translated(c.origin, "SSLHonorCipherOrder", "Go's TLS server chooses the suite itself, preferring the strongest both sides have.")
		case "sslallowclientrenegotiation":
			if arg(c, 0) != "0" {
				st.m.Translated(c.origin, "SSLAllowClientRenegotiation "+arg(c, 0), "Go's TLS server never renegotiates (Pound's default, 0).")
			}
		case "service":
			st.m.Translated(c.origin, "Service inside a listener", "hactl's services apply to every listener of the proxy; this one is tried in the order written with the global ones.")
			st.service(c)
		case "nohttps11", "crlist":
			st.m.Unsupported(c.origin, c.key, "hactl's HTTPS listener has no counterpart (no certificate revocation lists; HTTP/1.1 and HTTP/2 for every client).")
		default:
			st.m.Unsupported(c.origin, c.key, "Not a listener directive the import knows; translate it by hand.")
		}
	}
	st.clientCerts(l, clientCert, verify, caList)
	name := l.Protocol
	if arg(b, 0) != "" {
		name = arg(b, 0) // Pound 4 names its listeners
	}
	l.Name = st.m.Unique("listener:"+st.p.Name, name)
	if l.Port == 0 {
		st.m.Invalid(b.origin, "Listener without a Port", "Give the listener a Port.")
		return
	}
	st.p.Listeners = append(st.p.Listeners, l)
}

// certName is a certificate block's name: its file's base name without
// the extension (Unique makes a label of it).
func certName(file string) string {
	base := path.Base(file)
	return strings.TrimSuffix(base, path.Ext(base))
}

// disable reads Disable PROTOCOL: Pound turns that protocol off and every
// older one with it.
func (st *state) disable(l *importer.Listener, c *block) {
	switch strings.ToLower(arg(c, 0)) {
	case "sslv2", "sslv3", "tlsv1", "tlsv1_1":
		st.m.Translated(c.origin, "Disable "+arg(c, 0), "hactl's HTTPS listener accepts TLS 1.2 and later only.")
	case "tlsv1_2":
		l.TLSMinVersion = "1.3"
	default:
		st.m.Invalid(c.origin, "Bad Disable", "Disable takes SSLv2, SSLv3, TLSv1, TLSv1_1 or TLSv1_2.")
	}
}

// clientCerts reads ClientCert MODE DEPTH with the CAs of VerifyList (or
// else CAlist): hactl's client_ca_file asks every client for a
// certificate signed by one of them and refuses those without, which is
// Pound's mode 2.
func (st *state) clientCerts(l *importer.Listener, c *block, verify, caList string) {
	if c == nil {
		return
	}
	ca := verify
	if ca == "" {
		ca = caList
	}
	switch arg(c, 0) {
	case "0": // no client certificates, hactl's default too
	case "2":
		if ca == "" {
			st.m.Invalid(c.origin, "ClientCert 2 without CAs", "Give the CAs that sign the clients' certificates with VerifyList (or CAlist).")
			return
		}
		l.ClientCAFile = ca
		st.m.Translated(c.origin, "ClientCert 2", fmt.Sprintf("client_ca_file = %q: clients must present a certificate signed by one of its CAs (Pound's depth is Go's default chain verification).", ca))
	default:
		st.m.Differs(c.origin, "ClientCert "+arg(c, 0), "hactl's listener either requires a verified client certificate (client_ca_file, Pound's mode 2) or asks for none; it has no optional or unverified mode.")
	}
}

var nameRE = regexp.MustCompile(`[A-Za-z0-9_-]+`)

func (st *state) service(b *block) {
	sv := &importer.ProxyService{Origin: b.origin, Name: arg(b, 0)}
	for _, c := range b.children {
		switch c.key {
		case "url", "path":
			if sv.Path != "" {
				st.m.Differs(c.origin, "second "+c.key, "hactl's service matches one path expression; write them as one alternation (a|b).")
				continue
			}
			sv.Path = arg(c, 0)
		case "host":
			sv.Host = "^" + regexp.QuoteMeta(arg(c, len(c.args)-1)) + "$"
		case "headrequire", "header":
			name, value, ok := strings.Cut(arg(c, len(c.args)-1), ":")
			if !ok {
				st.m.Invalid(c.origin, "Bad "+c.key, "Write \"Name: regular expression\".")
				continue
			}
			value = strings.TrimSpace(value)
			if strings.EqualFold(strings.TrimSpace(name), "host") {
				sv.Host = value
				continue
			}
			if sv.Headers == nil {
				sv.Headers = map[string]string{}
			}
			sv.Headers[strings.TrimSpace(name)] = value
		case "headdeny":
			st.m.Differs(c.origin, "HeadDeny", "hactl's services match on required headers only; a request with this header is not kept out of the service.")
		case "backend":
			if be := st.backend(c, ""); be != nil {
				sv.Backends = append(sv.Backends, be)
			}
		case "emergency":
			if be := st.backend(c, "emergency"); be != nil {
				sv.Backends = append(sv.Backends, be)
			}
		case "redirect":
			url := arg(c, len(c.args)-1)
			if len(c.args) > 1 && c.args[0] != "302" {
				st.m.Translated(c.origin, "Redirect "+c.args[0], "hactl's redirect backend answers with its own status code.")
			}
			sv.Backends = append(sv.Backends, &importer.RealServer{Kind: "redirect", URL: url, Weight: -1, Origin: c.origin, Name: "redirect"})
		case "session":
			st.session(sv, c)
		case "match", "not", "rewrite", "acl", "else":
			st.m.Differs(c.origin, c.key, "hactl's services match by host, path and required headers; conditions and rewrites of Pound 4 have no counterpart.")
		case "disabled", "ignorecase", "dynscale", "backendcookie", "balancer", "logsuppress":
			st.m.Unsupported(c.origin, c.key, "hactl's proxy has no counterpart; the service is enabled and balanced by weight.")
		default:
			if !st.common(c) {
				st.m.Unsupported(c.origin, c.key, "Not a service directive the import knows; translate it by hand.")
			}
		}
	}
	if sv.Name == "" {
		switch {
		case sv.Path != "":
			sv.Name = strings.Join(nameRE.FindAllString(sv.Path, -1), "_")
		case sv.Host != "":
			sv.Name = strings.Join(nameRE.FindAllString(sv.Host, -1), "_")
		default:
			sv.Name = "default"
		}
	}
	sv.Name = st.m.Unique("service:"+st.p.Name, sv.Name)
	if len(sv.Backends) == 0 {
		st.m.Invalid(b.origin, "Service without a backend", "Give the service a BackEnd, Emergency or Redirect.")
		return
	}
	st.p.Services = append(st.p.Services, sv)
}

func (st *state) backend(b *block, kind string) *importer.RealServer {
	be := &importer.RealServer{Kind: kind, Weight: -1, Origin: b.origin}
	for _, c := range b.children {
		switch c.key {
		case "address":
			if a, err := netip.ParseAddr(arg(c, 0)); err == nil {
				be.Addr = a
			} else {
				be.Host = arg(c, 0)
			}
		case "port":
			p, err := strconv.Atoi(arg(c, 0))
			if err != nil || p < 1 || p > 65535 {
				st.m.Invalid(c.origin, "Bad Port", "Port is 1 to 65535.")
				continue
			}
			be.Port = p
		case "priority", "weight":
			w, err := strconv.Atoi(arg(c, 0))
			if err != nil || w < 0 {
				st.m.Invalid(c.origin, "Bad "+c.key, c.key+" is a whole number.")
				continue
			}
			be.Weight = w
		case "timeout", "conntimeout", "connto", "wstimeout":
			st.m.Translated(c.origin, c.key, "hactl has one backend_timeout per proxy; the backend's own is not kept.")
		case "haport":
			st.m.Differs(c.origin, "HAport", "hactl checks a backend on its own port, not on a separate health port.")
		case "https":
			st.m.Differs(c.origin, "HTTPS to the backend", "hactl's proxy speaks plain HTTP to its backends.")
		case "disabled":
			be.Weight = 0
			st.m.Translated(c.origin, "Disabled", "The backend is kept with weight 0.")
		default:
			st.m.Unsupported(c.origin, c.key, "Not a backend directive the import knows; translate it by hand.")
		}
	}
	if !be.Addr.IsValid() && be.Host == "" {
		st.m.Invalid(b.origin, "Backend without an Address", "Give the backend an Address.")
		return nil
	}
	if be.Port == 80 {
		be.Port = 0 // hactl's default
	}
	return be
}

var sessionTypes = map[string]string{"IP": "ip", "COOKIE": "cookie", "HEADER": "header", "URL": "url", "BASIC": "basic"}

func (st *state) session(sv *importer.ProxyService, b *block) {
	se := &importer.Session{}
	for _, c := range b.children {
		switch c.key {
		case "type":
			t, ok := sessionTypes[strings.ToUpper(arg(c, 0))]
			if !ok {
				st.m.Differs(c.origin, "Session Type "+arg(c, 0), "hactl's sessions are ip, cookie, header, url or basic; the service is left without stickiness.")
				return
			}
			se.Type = t
		case "id":
			se.Name = arg(c, 0)
		case "ttl":
			se.TTL = st.seconds(c)
		default:
			st.m.Unsupported(c.origin, c.key, "Not a Session directive the import knows.")
		}
	}
	if se.Type == "" {
		st.m.Invalid(b.origin, "Session without a Type", "Give the session a Type (IP, COOKIE, HEADER, URL, BASIC).")
		return
	}
	sv.Session = se
}
