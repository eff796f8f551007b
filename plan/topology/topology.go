// Package topology is hactl's canonical, typed model of a cluster: what the
// operator's HCL says, after variables, functions and references have been
// resolved. It knows nothing of HCL; the loader in package config fills it,
// the providers validate it, and later stages compile it into one agent spec
// per node. Every element keeps the source Range it came from so that checks
// made on the model can still point at the operator's file.
package topology

import (
	"net/netip"
	"time"
)

// Pos is a position in a source file. Line and Column start at 1.
type Pos struct {
	Line, Column, Byte int
}

// Range is a span of source text, the model's HCL-independent twin of
// hcl.Range.
type Range struct {
	Filename   string
	Start, End Pos
}

// Topology is a whole cluster.
type Topology struct {
	Cluster         Cluster
	Networks        []*Network
	Nodes           []*Node
	Heartbeat       *Heartbeat // nil when the file has no heartbeat block
	Quorum          *Quorum    // nil means the default policy
	Groups          []*Group
	VirtualServices []*VirtualService
	Proxies         []*Proxy
	SyncModules     []*SyncModule
	Monitor         *Monitor // nil when the file has no monitor block
	Notifies        []*Notify
}

// Cluster holds the cluster-wide settings.
type Cluster struct {
	Name    string
	KeyFile string // heartbeat HMAC key, uploaded to every node
	// PreviousKeyFile is still accepted during a key rotation.
	PreviousKeyFile string
	// TakesOver names the HA daemon the hosts run today (keepalived,
	// heartbeat), which apply takes over from node by node; "" for none.
	TakesOver string
	SSH       SSH
	Range     Range
}

// SSH is how hactl reaches a node. Node-level values override the cluster's.
type SSH struct {
	User           string
	Port           int
	IdentityFile   string
	KnownHostsFile string
	JumpHosts      []string // user@host:port, outermost first
	Become         bool
	BecomeMethod   string // "sudo" or "doas"
	ConnectTimeout time.Duration
	// Defaulted says which of the settings above hold the built-in
	// default rather than a value an ssh block wrote: for those, the
	// operator's ~/.ssh/config comes first, as for ssh and Ansible.
	Defaulted SSHDefaulted
}

// SSHDefaulted marks the SSH settings that ~/.ssh/config may also set and
// that no ssh block wrote.
type SSHDefaulted struct {
	User, Port, KnownHostsFile bool
}

// Network is an L2/L3 segment nodes share.
type Network struct {
	Name   string
	Prefix netip.Prefix
	Range  Range
}

// Node is one host of the cluster.
type Node struct {
	Name       string
	Address    string // SSH address (host name or IP)
	SSH        SSH    // effective settings: cluster defaults with this node's overrides
	Interfaces []*Interface
	Labels     map[string]string
	Fences     []*Fence
	Range      Range
}

// Interface attaches a node to a network under a device name.
type Interface struct {
	Name    string // device, e.g. eth0
	Network *Network
	Address netip.Prefix // node address with the network's prefix length
	Range   Range
}

// InterfaceOn returns the node's interface on the network, or nil.
func (n *Node) InterfaceOn(net *Network) *Interface {
	for _, i := range n.Interfaces {
		if i.Network == net {
			return i
		}
	}
	return nil
}

// FenceType names a fencing (STONITH) method.
type FenceType string

// The fencing methods hactl knows.
const (
	FenceSSH     FenceType = "ssh"
	FenceCommand FenceType = "command"
	FenceIPMI    FenceType = "ipmi"
	FenceRedfish FenceType = "redfish"
	FenceLab     FenceType = "lab"
)

// Fence is a device that can power off or reset one node.
type Fence struct {
	Type         FenceType
	Address      string // ssh/ipmi/redfish endpoint
	User         string
	Password     string // inline; it reaches the node only as a secret file
	PasswordFile string
	Command      string // for FenceCommand: run with the node name as $1
	Action       string // "off" or "reboot"
	Timeout      time.Duration
	Range        Range
}

// LinkMode is how heartbeats travel on a link.
type LinkMode string

// Heartbeat link modes, as in ha.cf's ucast / mcast / bcast.
const (
	LinkUnicast   LinkMode = "unicast"
	LinkMulticast LinkMode = "multicast"
	LinkBroadcast LinkMode = "broadcast"
)

// Heartbeat is the membership layer's timing and links.
type Heartbeat struct {
	Interval time.Duration // ha.cf keepalive
	Warntime time.Duration
	Deadtime time.Duration
	Initdead time.Duration
	Port     int
	Links    []*Link
	Range    Range
	// DeadtimeRange points at the deadtime attribute, for the checks on it.
	DeadtimeRange Range
}

// Link is one path heartbeats take.
type Link struct {
	Name    string
	Network *Network
	Mode    LinkMode
	Group   netip.Addr // multicast group
	TTL     int
	Range   Range
}

// QuorumPolicy says what a partition without quorum does.
type QuorumPolicy string

// Quorum policies, after Pacemaker's no-quorum-policy.
const (
	QuorumStop   QuorumPolicy = "stop"   // stop every group
	QuorumFreeze QuorumPolicy = "freeze" // keep what runs, start nothing new
	QuorumIgnore QuorumPolicy = "ignore" // act as if quorate
)

// Quorum is the cluster's quorum policy.
type Quorum struct {
	Policy QuorumPolicy
	// TieBreaker is an address both halves of a two-node cluster can ping;
	// the half that reaches it keeps quorum.
	TieBreaker string
	Range      Range
}

// Group is a set of resources that run together on one node at a time.
type Group struct {
	Name          string
	Locations     []Location // highest score first
	Failback      bool
	FailbackDelay time.Duration
	// PingTargets are addresses a node must reach to serve the group.
	PingTargets []netip.Addr
	Resources   []*Resource
	Range       Range
}

// Location is a node a group may run on, with its preference.
type Location struct {
	Node  *Node
	Score int
	Range Range
}

// ResourceKind is the kind of a group resource.
type ResourceKind string

// Resource kinds.
const (
	ResourceVIP     ResourceKind = "vip"
	ResourceSystemd ResourceKind = "service"
	ResourceLSB     ResourceKind = "lsb"
	ResourceOCF     ResourceKind = "ocf"
)

// OnFail is what the agent does when a resource's monitor fails.
type OnFail string

// Failure policies.
const (
	OnFailRestart OnFail = "restart" // restart in place up to MaxRestarts, then move
	OnFailMove    OnFail = "move"    // move the group at once
	OnFailFence   OnFail = "fence"   // fence the node
	OnFailIgnore  OnFail = "ignore"  // log only
)

// Resource is one member of a group, started in order and stopped in reverse.
type Resource struct {
	Kind            ResourceKind
	Name            string
	MonitorInterval time.Duration
	MonitorTimeout  time.Duration
	OnFail          OnFail
	MaxRestarts     int
	VIP             *VIP   // Kind == ResourceVIP
	Unit            string // systemd unit (ResourceSystemd)
	Script          string // init script path (ResourceLSB)
	OCF             *OCF   // Kind == ResourceOCF
	Range           Range
}

// VIP is a virtual IP address a group carries.
type VIP struct {
	Name        string
	Address     netip.Prefix
	Interface   string // device on the holding node; empty: the one on the VIP's network
	GARPCount   int    // gratuitous ARPs / unsolicited NAs sent when taking it
	GARPRefresh time.Duration
	Group       *Group
	Range       Range
	// AddressRange points at the address attribute, for the checks on it.
	AddressRange Range
}

// OCF is an Open Cluster Framework resource agent.
type OCF struct {
	Provider string // e.g. heartbeat
	Type     string // e.g. IPaddr2
	Params   map[string]string
	// SecretParams are the sensitive parameters (providers.Sensitive):
	// they reach the node only as secret files.
	SecretParams map[string]string
	// ParamsRange points at the params attribute.
	ParamsRange Range
}

// VirtualService is an L4 load-balanced service (LVS).
type VirtualService struct {
	Name     string
	VIP      *VIP
	Protocol string // tcp, udp, sctp
	Port     int
	// FWMark makes a firewall-mark service (Port 0): it takes the
	// packets with the mark; hactl marks those to MarkAddresses (the
	// VIP's when empty) on MarkPorts, and none when MarkPorts is empty.
	FWMark        uint32
	MarkAddresses []netip.Addr
	MarkPorts     []int
	Scheduler     string
	Forwarding    string // nat, dr, tunnel
	Datapath      string // auto, ipvs, nftables
	Persistence   *Persistence
	HealthCheck   *HealthCheck
	Quiescent     bool   // keep a failed server with weight 0 instead of removing it
	SorryServer   string // host:port used when no real server is alive
	RealServers   []*RealServer
	Range         Range
}

// Persistence makes a client stick to one real server.
type Persistence struct {
	Timeout time.Duration
	Netmask netip.Addr
}

// HealthCheck probes real servers or backends.
type HealthCheck struct {
	Type         string // tcp, http, https, command
	Interval     time.Duration
	Timeout      time.Duration
	Rise, Fall   int
	Path         string
	Host         string
	ExpectStatus []int
	BodyRegex    string
	Command      string
	VerifyTLS    bool // https: verify the backend's certificate
	Range        Range
}

// RealServer is a backend of a virtual service.
type RealServer struct {
	Name    string
	Node    *Node // set when the real server is a node of the cluster
	Address netip.Addr
	Port    int
	Weight  int
	Range   Range
}

// Proxy is a Pound-style HTTP/HTTPS reverse proxy.
type Proxy struct {
	Name           string
	Nodes          []*Node // where it runs; with VIP set, where the VIP's group runs
	VIP            *VIP
	Listeners      []*Listener
	Services       []*ProxyService
	AllowedMethods []string
	MaxRequestBody int64
	ClientTimeout  time.Duration
	BackendTimeout time.Duration
	MaxURI         int64
	MaxHeader      int64
	TrustedProxies []string
	Error503       string
	// RewriteLocation rewrites backends' redirects to themselves.
	RewriteLocation bool
	// AccessLog logs each request.
	AccessLog bool
	Range     Range
}

// Listener is an address the proxy accepts connections on.
type Listener struct {
	Name     string
	Protocol string // http, https
	Address  string
	Port     int
	CertFile string
	KeyFile  string
	// Certificates are further certificates chosen by SNI.
	Certificates  []*Certificate
	TLSMinVersion string
	ClientCAFile  string
	Methods       []string // the methods it accepts; the proxy's AllowedMethods when empty
	Range         Range
}

// Certificate is a certificate chain and key file of an https listener.
type Certificate struct {
	Name     string
	CertFile string
	KeyFile  string
	Range    Range
}

// ProxyService routes matching requests to its backends.
type ProxyService struct {
	Name           string
	Host           string // regular expression on the Host header
	Path           string // regular expression on the URL path
	Headers        map[string]string
	DenyHeaders    map[string]string // headers that must not match
	Methods        []string          // the methods the service takes; all when empty
	RedirectCode   int
	RedirectAppend bool
	Session        *Session
	HealthCheck    *HealthCheck
	Backends       []*Backend
	Range          Range
}

// Session is session stickiness for a proxy service.
type Session struct {
	Type string // ip, cookie, proxy_cookie, header, url, basic
	Name string // cookie, header or URL parameter name
	TTL  time.Duration
}

// Backend is where a proxy service sends requests.
type Backend struct {
	Name        string
	Kind        string // regular, redirect, emergency
	Node        *Node
	Address     string
	Port        int
	Weight      int
	RedirectURL string
	Range       Range
}

// SyncModule keeps a path identical on several nodes (rsync over SSH).
type SyncModule struct {
	Name       string
	Source     SyncEndpoint
	Targets    []SyncEndpoint
	Delete     bool
	Excludes   []string
	Trigger    string // change, interval
	Interval   time.Duration
	BWLimitKBs int
	Checksum   bool
	// Delay is how long changes are gathered before they are sent.
	Delay time.Duration
	// Atomic makes changed files appear on a target together (rsync
	// --delay-updates).
	Atomic bool
	// MaxDeletePercent stops a run that would delete more than this share
	// of a target's files until the operator confirms; 0 is no limit.
	MaxDeletePercent int
	Range            Range
}

// SyncEndpoint is a path on a node. A source may name a group instead:
// whichever of its locations runs it pushes to the others.
type SyncEndpoint struct {
	Node  *Node
	Group *Group
	Path  string
	Range Range
}

// Monitor is resource monitoring and its dashboard.
type Monitor struct {
	// Listen is the address /metrics is served on, as written; empty:
	// each node's address on Network, or its SSH address, and Port.
	Listen     string
	Network    *Network
	Port       int
	BasicAuth  *BasicAuth
	TLS        *MonitorTLS
	Nodes      []*Node // empty: every node
	Collectors []string
	Interval   time.Duration
	Devices    []*SNMPDevice
	Thresholds []*Threshold
	Range      Range
}

// BasicAuth is the user and password a scraper of /metrics must give.
type BasicAuth struct {
	User         string
	Password     string // inline; it reaches the node only as a secret file
	PasswordFile string
	Range        Range
}

// MonitorTLS is the certificate /metrics is served with over HTTPS.
type MonitorTLS struct {
	CertFile, KeyFile string
	Range             Range
}

// Threshold emits an event when a metric stays beyond a limit.
type Threshold struct {
	Name   string
	Metric string
	Above  *float64
	Below  *float64
	For    time.Duration
	Range  Range
}

// SNMPDevice is a network device polled over SNMP.
type SNMPDevice struct {
	Name          string
	Address       string
	Port          int
	Version       string // 2c, 3
	Community     string // inline; it reaches the node only as a secret file
	CommunityFile string
	V3            *SNMPv3
	OIDs          []string
	Interfaces    []string
	Interval      time.Duration
	Range         Range
}

// SNMPv3 is the user-based security of SNMPv3.
type SNMPv3 struct {
	User             string
	SecurityLevel    string // noAuthNoPriv, authNoPriv, authPriv
	AuthProtocol     string
	AuthPasswordFile string
	PrivProtocol     string
	PrivPasswordFile string
}

// Notify is a command run when cluster events happen.
type Notify struct {
	Name    string
	Command string
	Events  []string
	Timeout time.Duration
	Range   Range
}
