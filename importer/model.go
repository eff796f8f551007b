package importer

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// MaxFileSize is the largest input file read: the largest real
// configuration of these tools is a few hundred kilobytes, so a bigger
// file is a mistake (a log, a core dump) and reading it would only waste
// memory.
const MaxFileSize = 4 << 20

// MaxLines and MaxLineLength bound the statements a file can hold: the
// importers look names up by scanning what they built so far, so their
// work grows with the square of the statements.
const (
	MaxLines      = 50_000
	MaxLineLength = 64 << 10
)

// MaxNetworks bounds the networks an import makes: every address is
// looked up in them.
const MaxNetworks = 256

// Origin is where a block or directive came from.
type Origin struct {
	File string
	Line int
}

func (o Origin) String() string {
	if o.Line == 0 {
		return o.File
	}
	return fmt.Sprintf("%s:%d", o.File, o.Line)
}

// Source is one input file, kept for its diagnostics' snippets.
type Source struct {
	Name  string
	Bytes []byte
	lines []int // byte offset of each line's start
}

// NewSource wraps content read from name. It refuses binary data, which
// no configuration of these tools is, so that parsers see only text.
func NewSource(name string, data []byte) (*Source, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d a configuration file can be; is it the right file?", name, len(data), MaxFileSize)
	}
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		return nil, fmt.Errorf("%s: binary data (NUL bytes or invalid UTF-8), not a configuration file", name)
	}
	s := &Source{Name: name, Bytes: data, lines: []int{0}}
	for i, b := range data {
		if b != '\n' {
			continue
		}
		if i+1-s.lines[len(s.lines)-1] > MaxLineLength {
			return nil, fmt.Errorf("%s: line %d is longer than %d bytes; not a configuration file", name, len(s.lines), MaxLineLength)
		}
		s.lines = append(s.lines, i+1)
		if len(s.lines) > MaxLines {
			return nil, fmt.Errorf("%s: more than %d lines; split it, or import only the part hactl should run", name, MaxLines)
		}
	}
	if len(data)-s.lines[len(s.lines)-1] > MaxLineLength {
		return nil, fmt.Errorf("%s: line %d is longer than %d bytes; not a configuration file", name, len(s.lines), MaxLineLength)
	}
	return s, nil
}

// ReadSource reads a file, at most MaxFileSize bytes of it: a larger
// one is refused without being read whole.
func ReadSource(path string) (*Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return NewSource(path, data)
}

// Lines returns the file's lines without their line ends.
func (s *Source) Lines() []string {
	return strings.Split(strings.ReplaceAll(string(s.Bytes), "\r\n", "\n"), "\n")
}

// Range is the whole of line (from 1) as an HCL range, for diagnostics.
func (s *Source) Range(line int) *hcl.Range {
	if line < 1 || line > len(s.lines) {
		return &hcl.Range{Filename: s.Name, Start: hcl.InitialPos, End: hcl.InitialPos}
	}
	start := s.lines[line-1]
	end := len(s.Bytes)
	if line < len(s.lines) {
		end = s.lines[line] - 1
	}
	text := strings.TrimRight(string(s.Bytes[start:end]), "\r")
	return &hcl.Range{Filename: s.Name,
		Start: hcl.Pos{Line: line, Column: 1, Byte: start},
		End:   hcl.Pos{Line: line, Column: utf8.RuneCountInString(text) + 1, Byte: start + len(text)}}
}

// Options are what the operator adds to the input files.
type Options struct {
	// Nodes are --node NAME=ADDRESS[/PREFIX][@DEVICE] values, in order.
	Nodes []string
	// AcceptDifferences turns the errors for directives whose behaviour
	// hactl cannot reproduce into warnings.
	AcceptDifferences bool
	// ClusterName names the cluster; default: the first group's name.
	ClusterName string
}

// Model is the cluster the inputs describe, in terms of hactl's blocks.
type Model struct {
	Opts  Options
	Diags hcl.Diagnostics
	Files map[string]*hcl.File

	ClusterName string
	// KeyOrigin is where the input's shared secret (authkeys, VRRP
	// auth_pass) is, which the new cluster key replaces.
	KeyOrigin Origin
	// TakesOver is the HA daemon that runs the input's cluster today
	// (keepalived, heartbeat), which hactl apply takes over from.
	TakesOver string

	Networks        []*Network
	Nodes           []*Node
	Heartbeat       *Heartbeat
	Groups          []*Group
	VirtualServices []*VirtualService
	Proxies         []*Proxy
	Syncs           []*Sync
	Monitor         *Monitor
	Notifies        []*Notify
	Variables       []*Variable

	// Secrets are files to write beside the HCL (mode 0600), by path
	// relative to it.
	Secrets map[string][]byte

	sources map[string]*Source
	base    string // directory left out of origin comments

	// Indices, so that large inputs cost time in proportion to their size.
	names   map[string]bool // scope + "\x00" + name
	nodeIdx map[string]*Node
	vipIdx  map[netip.Addr]*Resource
	vipNets []vipNet
}

// NewModel returns an empty model.
func NewModel(opts Options) *Model {
	return &Model{Opts: opts, Files: map[string]*hcl.File{}, Secrets: map[string][]byte{}, sources: map[string]*Source{},
		names: map[string]bool{}, nodeIdx: map[string]*Node{}, vipIdx: map[netip.Addr]*Resource{}}
}

// AddSource registers an input file for diagnostics.
func (m *Model) AddSource(s *Source) {
	m.sources[s.Name] = s
	m.Files[s.Name] = &hcl.File{Bytes: s.Bytes}
}

func (m *Model) subject(o Origin) *hcl.Range {
	if s := m.sources[o.File]; s != nil {
		return s.Range(o.Line)
	}
	return &hcl.Range{Filename: o.File, Start: hcl.Pos{Line: o.Line, Column: 1}, End: hcl.Pos{Line: o.Line, Column: 1}}
}

// Unsupported reports a directive that has no counterpart in hactl and
// changes nothing hactl's behaviour depends on: a warning saying what
// hactl does instead.
func (m *Model) Unsupported(o Origin, directive, instead string) {
	m.Diags = append(m.Diags, &hcl.Diagnostic{Severity: hcl.DiagWarning,
		Summary: fmt.Sprintf("%s not imported", directive), Detail: instead, Subject: m.subject(o)})
}

// Translated reports a directive translated with a difference the
// operator should know of, as a warning.
func (m *Model) Translated(o Origin, directive, how string) {
	m.Diags = append(m.Diags, &hcl.Diagnostic{Severity: hcl.DiagWarning,
		Summary: fmt.Sprintf("%s translated with a difference", directive), Detail: how, Subject: m.subject(o)})
}

// Differs reports a directive whose behaviour hactl cannot reproduce: an
// error unless the operator accepted the differences.
func (m *Model) Differs(o Origin, directive, why string) {
	sev := hcl.DiagError
	detail := why + " Run again with --accept-differences to import it anyway."
	if m.Opts.AcceptDifferences {
		sev, detail = hcl.DiagWarning, why+" (accepted with --accept-differences)"
	}
	m.Diags = append(m.Diags, &hcl.Diagnostic{Severity: sev,
		Summary: fmt.Sprintf("%s behaves differently in hactl", directive), Detail: detail, Subject: m.subject(o)})
}

// Invalid reports input that cannot be read: a syntax error, a value of
// the wrong form.
func (m *Model) Invalid(o Origin, summary, detail string) {
	m.Diags = append(m.Diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: m.subject(o)})
}

// Network is a network block.
type Network struct {
	Name   string
	Prefix netip.Prefix
	Origin Origin
}

// Node is a node block.
type Node struct {
	Name       string
	Origin     Origin
	Interfaces []*Interface
}

// Interface is a node's interface; Var, when set, names the variable
// that stands for an address the inputs do not give.
type Interface struct {
	Device  string
	Network *Network
	Addr    netip.Addr
	Var     string
}

// Heartbeat is the heartbeat block; durations are HCL duration strings,
// empty for the default.
type Heartbeat struct {
	Interval, Warntime, Deadtime, Initdead string
	Port                                   int
	Links                                  []*Link
	Origin                                 Origin
}

// Link is a heartbeat link. Device is the input's interface name, used
// to find the network when Network is nil.
type Link struct {
	Name    string
	Network *Network
	Device  string
	Peer    netip.Addr // ucast's peer, to find the network by address
	Mode    string
	Group   string
	TTL     int
	Origin  Origin
}

// Group is a group block. Locations with scores win over Nodes.
type Group struct {
	Name        string
	Origin      Origin
	Nodes       []string
	Locations   []Location
	Failback    *bool
	PingTargets []string
	Resources   []*Resource
}

// Location is a node with a score.
type Location struct {
	Node   string
	Score  int
	Origin Origin
}

// Resource kinds, as the block types of a group.
const (
	KindVIP     = "vip"
	KindService = "service"
	KindLSB     = "lsb"
	KindOCF     = "ocf"
)

// Resource is a vip, service, lsb or ocf block of a group.
type Resource struct {
	Kind      string
	Name      string
	Origin    Origin
	Address   netip.Prefix // vip; Bits -1: no prefix length given
	Interface string       // vip
	Unit      string       // service
	Script    string       // lsb
	Provider  string       // ocf
	Type      string       // ocf
	Params    map[string]string
	Monitor   string // monitor_interval
	Timeout   string // monitor_timeout
	OnFail    string
}

// VirtualService is a virtual_service block; VIP is resolved by address.
type VirtualService struct {
	Name        string
	Origin      Origin
	VIPAddr     netip.Addr
	Protocol    string
	Port        int
	Scheduler   string
	Forwarding  string
	Quiescent   bool
	SorryServer string
	Persistence *Persistence
	Health      *HealthCheck
	Reals       []*RealServer
}

// Persistence is ipvsadm -p / -M.
type Persistence struct {
	Timeout string
	Netmask string
}

// HealthCheck is a health_check block; zero fields take hactl's defaults.
type HealthCheck struct {
	Type         string
	Interval     string
	Timeout      string
	Rise, Fall   int
	Path         string
	Host         string
	ExpectStatus []int
	BodyRegex    string
	Command      string
}

// RealServer is a real_server (or a proxy backend), a node when its
// address is one.
type RealServer struct {
	Name   string
	Addr   netip.Addr
	Host   string // a host name, for proxy backends that name one
	Port   int
	Weight int // -1: default
	Kind   string
	URL    string
	Origin Origin
}

// Proxy is a proxy block.
type Proxy struct {
	Name           string
	Origin         Origin
	VIPAddr        netip.Addr
	AllowedMethods []string
	MaxBody        string
	ClientTimeout  string
	BackendTimeout string
	NoAccessLog    bool // pound's LogLevel 0
	// NoRewriteLocation is pound's RewriteLocation 0.
	NoRewriteLocation bool
	Listeners         []*Listener
	Services          []*ProxyService
}

// Listener is a proxy listener.
type Listener struct {
	Name     string
	Protocol string
	Address  string
	Port     int
	CertFile string
	KeyFile  string
	// Certificates are further ones, chosen by SNI.
	Certificates  []*Certificate
	TLSMinVersion string
	ClientCAFile  string
	Methods       []string
	Origin        Origin
}

// Certificate is a further certificate of an https listener.
type Certificate struct {
	Name     string
	CertFile string
	KeyFile  string
	Origin   Origin
}

// ProxyService is a proxy's service.
type ProxyService struct {
	Name     string
	Origin   Origin
	Host     string
	Path     string
	Headers  map[string]string
	Session  *Session
	Health   *HealthCheck
	Backends []*RealServer
}

// Session is a proxy service's session.
type Session struct {
	Type, Name, TTL string
}

// Sync is a sync block; the nodes are found by address or name.
type Sync struct {
	Name       string
	Origin     Origin
	SourceHost string
	SourcePath string
	TargetHost string
	TargetPath string
	Delete     bool
	Excludes   []string
	Trigger    string
	Interval   string
	Bwlimit    string
	Checksum   bool
}

// Monitor is the monitor block.
type Monitor struct {
	Origin  Origin
	Devices []*SNMPDevice
}

// SNMPDevice is an snmp_device block.
type SNMPDevice struct {
	Name          string
	Origin        Origin
	Address       string
	Port          int
	Version       string // "" (2c) or "3"
	CommunityFile string
	V3            *SNMPv3
	Interfaces    []string
	OIDs          []string
}

// SNMPv3 is an snmp_device's v3 block; the passwords are secret files.
type SNMPv3 struct {
	User             string
	SecurityLevel    string
	AuthProtocol     string
	AuthPasswordFile string
	PrivProtocol     string
	PrivPasswordFile string
}

// Notify is a notify block.
type Notify struct {
	Name    string
	Origin  Origin
	Command string
	Events  []string
}

// Variable is a variable block standing for a value the inputs lack.
type Variable struct {
	Name        string
	Description string
}

// Node returns the node named name, adding it when new.
func (m *Model) Node(name string, o Origin) *Node {
	if n := m.nodeIdx[name]; n != nil {
		return n
	}
	n := &Node{Name: name, Origin: o}
	m.nodeIdx[name] = n
	m.Nodes = append(m.Nodes, n)
	return n
}

// Unique returns base as a label unused in scope (a block kind, or a
// block's children), or with _2, _3… added, and marks it used.
func (m *Model) Unique(scope, base string) string {
	name := Label(base)
	for i := 2; m.names[scope+"\x00"+name]; i++ {
		name = Label(fmt.Sprintf("%s_%d", base, i))
	}
	m.names[scope+"\x00"+name] = true
	return name
}

// AddResource appends r to g, indexing VIPs by address.
func (m *Model) AddResource(g *Group, r *Resource) {
	g.Resources = append(g.Resources, r)
	if r.Kind == KindVIP {
		if _, ok := m.vipIdx[r.Address.Addr()]; !ok {
			m.vipIdx[r.Address.Addr()] = r
		}
	}
}

// NetworkFor returns the network containing addr, adding one of the
// given prefix length when none does.
func (m *Model) NetworkFor(addr netip.Addr, bits int, o Origin) *Network {
	for _, n := range m.Networks {
		if n.Prefix.Contains(addr) {
			return n
		}
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return nil
	}
	if len(m.Networks) >= MaxNetworks {
		if len(m.Networks) == MaxNetworks {
			m.Invalid(o, "Too many networks", fmt.Sprintf("The input's addresses make more than %d networks; a cluster has a few. Check the prefix lengths.", MaxNetworks))
		}
		return m.Networks[0]
	}
	n := &Network{Name: m.uniqueNetworkName(p), Prefix: p, Origin: o}
	m.Networks = append(m.Networks, n)
	return n
}

func (m *Model) uniqueNetworkName(p netip.Prefix) string {
	base := strings.TrimRight("net_"+strings.NewReplacer(".", "_", ":", "_").Replace(p.Addr().String()), "_")
	if p.Bits() != 24 && p.Addr().Is4() || p.Bits() != 64 && p.Addr().Is6() {
		base = fmt.Sprintf("%s_%d", base, p.Bits())
	}
	return m.Unique("network", base)
}

// FindVIP returns the VIP resource with address addr.
func (m *Model) FindVIP(addr netip.Addr) *Resource {
	return m.vipIdx[addr]
}

// NodeByAddr returns the node with an interface address addr.
func (m *Model) NodeByAddr(addr netip.Addr) *Node {
	for _, n := range m.Nodes {
		for _, i := range n.Interfaces {
			if i.Addr == addr {
				return n
			}
		}
	}
	return nil
}

// Label turns s into a valid hactl label that a reference can name:
// letters, digits, _ and -,
// starting with a letter or _, at most 63 characters.
func Label(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out == "" || !(out[0] == '_' || out[0] >= 'a' && out[0] <= 'z' || out[0] >= 'A' && out[0] <= 'Z') {
		out = "_" + out
	}
	if len(out) > 63 {
		out = out[:63]
	}
	return out
}

// NodeByAddrString is NodeByAddr for a string that may be an address.
func (m *Model) NodeByAddrString(s string) *Node {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return nil
	}
	return m.NodeByAddr(a)
}

// MaskSecret hides secret in the copy of file that diagnostics quote,
// keeping its length so that columns stay right.
func (m *Model) MaskSecret(file, secret string) {
	f := m.Files[file]
	if f == nil || secret == "" {
		return
	}
	f.Bytes = bytes.ReplaceAll(f.Bytes, []byte(secret), bytes.Repeat([]byte("*"), len(secret)))
}
