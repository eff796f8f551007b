// Package spec is the contract between hactl and its agent: the desired
// state of one node, as JSON. hactl compiles it from the topology; the agent
// reads it, checks it, and converges the host to it. It depends on the
// standard library only, so that the agent stays small and static.
//
// A spec is versioned (FormatVersion) and identified by the SHA-256 of its
// canonical JSON (Hash): two specs with the same hash ask for the same
// thing. Secrets never appear in it: it names files on the host (mode 0600)
// and carries only a digest of their content, so that a changed secret
// changes the spec without revealing it.
package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/hactl/hactl/agentbin/layout"
)

// FormatVersion is the version of the spec format this code reads and
// writes. The agent refuses a spec with a newer version.
const FormatVersion = 1

// Spec is the desired state of one node.
type Spec struct {
	FormatVersion int    `json:"format_version"`
	Cluster       string `json:"cluster"`
	Node          string `json:"node"`
	// Secrets are the files hactl uploads next to the spec.
	Secrets         []Secret         `json:"secrets,omitempty"`
	Heartbeat       *Heartbeat       `json:"heartbeat,omitempty"`
	Quorum          *Quorum          `json:"quorum,omitempty"`
	Groups          []Group          `json:"groups,omitempty"`
	VirtualServices []VirtualService `json:"virtual_services,omitempty"`
	Proxies         []Proxy          `json:"proxies,omitempty"`
	Syncs           []Sync           `json:"syncs,omitempty"`
	// SyncReceives are the syncs this node is a target of: the keys
	// their sources log in with, each restricted to its target path.
	SyncReceives []SyncReceive `json:"sync_receives,omitempty"`
	Monitor      *Monitor      `json:"monitor,omitempty"`
	Notifies     []Notify      `json:"notifies,omitempty"`
}

// Secret is a file with secret content on the node.
type Secret struct {
	Name string `json:"name"` // what it is for, e.g. "cluster-key"
	Path string `json:"path"` // where it lives on the node
	// Digest is SecretDigest of the content, never the content nor a
	// plain hash of it.
	Digest string `json:"digest"`
}

// Heartbeat is the membership configuration of a member node.
type Heartbeat struct {
	IntervalMS int      `json:"interval_ms"`
	WarntimeMS int      `json:"warntime_ms"`
	DeadtimeMS int      `json:"deadtime_ms"`
	InitdeadMS int      `json:"initdead_ms"`
	Port       int      `json:"port"`
	KeyPath    string   `json:"key_path"`
	OldKeyPath string   `json:"old_key_path,omitempty"`
	Links      []Link   `json:"links"`
	Peers      []Peer   `json:"peers"`
	Members    []string `json:"members"` // every member, this node included
}

// Link is a heartbeat path as this node uses it.
type Link struct {
	Name      string `json:"name"`
	Interface string `json:"interface"`
	Local     string `json:"local"` // this node's address on the link
	Mode      string `json:"mode"`  // unicast, multicast, broadcast
	Group     string `json:"group,omitempty"`
	Broadcast string `json:"broadcast,omitempty"` // the network's broadcast address, for mode broadcast
	TTL       int    `json:"ttl,omitempty"`
}

// Peer is another member and its address on each link.
type Peer struct {
	Name      string            `json:"name"`
	Addresses map[string]string `json:"addresses"` // link name → address
	Fences    []Fence           `json:"fences,omitempty"`
}

// Fence is how to fence a peer.
type Fence struct {
	Type         string `json:"type"`
	Address      string `json:"address,omitempty"`
	User         string `json:"user,omitempty"`
	PasswordPath string `json:"password_path,omitempty"`
	Command      string `json:"command,omitempty"`
	Action       string `json:"action"`
	TimeoutMS    int    `json:"timeout_ms"`
}

// Quorum is the quorum policy.
type Quorum struct {
	Policy     string `json:"policy"`
	TieBreaker string `json:"tie_breaker,omitempty"`
}

// Group is a resource group this node may run.
type Group struct {
	Name            string     `json:"name"`
	Locations       []Location `json:"locations"` // highest score first
	Failback        bool       `json:"failback"`
	FailbackDelayMS int        `json:"failback_delay_ms"`
	// PingTargets are addresses this node must reach to serve the group.
	PingTargets []string   `json:"ping_targets,omitempty"`
	Resources   []Resource `json:"resources"`
}

// Location is a node allowed to run a group.
type Location struct {
	Node  string `json:"node"`
	Score int    `json:"score"`
}

// Resource is one member of a group.
type Resource struct {
	Kind              string            `json:"kind"` // vip, service, lsb, ocf
	Name              string            `json:"name"`
	MonitorIntervalMS int               `json:"monitor_interval_ms"`
	MonitorTimeoutMS  int               `json:"monitor_timeout_ms"`
	OnFail            string            `json:"on_fail"`
	MaxRestarts       int               `json:"max_restarts"`
	Address           string            `json:"address,omitempty"`   // vip: CIDR
	Interface         string            `json:"interface,omitempty"` // vip: device on this node
	GARPCount         int               `json:"garp_count,omitempty"`
	GARPRefreshMS     int               `json:"garp_refresh_ms,omitempty"`
	Unit              string            `json:"unit,omitempty"`   // service
	Script            string            `json:"script,omitempty"` // lsb
	OCFProvider       string            `json:"ocf_provider,omitempty"`
	OCFType           string            `json:"ocf_type,omitempty"`
	Params            map[string]string `json:"params,omitempty"`
	// SecretParams are the agent's sensitive parameters: name → the
	// secret file holding the value, which the agent reads at each action
	// and passes as OCF_RESKEY_<name>. The value is never in the spec.
	SecretParams map[string]string `json:"secret_params,omitempty"`
}

// VirtualService is an L4 service this node runs when it holds the VIP.
type VirtualService struct {
	Name     string `json:"name"`
	VIP      string `json:"vip"` // VIP resource name
	Address  string `json:"address"`
	Protocol string `json:"protocol"`
	Port     int    `json:"port"`
	// FWMark makes a firewall-mark service (Port 0); Mark, when set,
	// says which packets the datapath marks itself.
	FWMark     uint32 `json:"fwmark,omitempty"`
	Mark       *Mark  `json:"mark,omitempty"`
	Scheduler  string `json:"scheduler"`
	Forwarding string `json:"forwarding"`
	Datapath   string `json:"datapath"`
	// SyncInterface is this director's interface for the IPVS
	// connection-sync daemon: the one on the network it shares with the
	// real servers (and the other directors).
	SyncInterface string       `json:"sync_interface,omitempty"`
	PersistenceMS int          `json:"persistence_ms,omitempty"`
	PersistMask   string       `json:"persistence_netmask,omitempty"`
	Quiescent     bool         `json:"quiescent,omitempty"`
	SorryServer   string       `json:"sorry_server,omitempty"`
	HealthCheck   *HealthCheck `json:"health_check,omitempty"`
	RealServers   []RealServer `json:"real_servers"`
}

// Mark is which packets a firewall-mark service's datapath marks: those
// of the service's protocol to one of Addresses and one of Ports.
type Mark struct {
	Addresses []string `json:"addresses"`
	Ports     []int    `json:"ports"`
}

// HealthCheck is how backends are probed.
type HealthCheck struct {
	Type         string `json:"type"`
	IntervalMS   int    `json:"interval_ms"`
	TimeoutMS    int    `json:"timeout_ms"`
	Rise         int    `json:"rise"`
	Fall         int    `json:"fall"`
	Path         string `json:"path,omitempty"`
	Host         string `json:"host,omitempty"`
	ExpectStatus []int  `json:"expect_status,omitempty"`
	BodyRegex    string `json:"body_regex,omitempty"`
	Command      string `json:"command,omitempty"`
	VerifyTLS    bool   `json:"verify_tls,omitempty"`
}

// RealServer is a backend of a virtual service.
type RealServer struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Port    int    `json:"port"`
	Weight  int    `json:"weight"`
}

// Proxy is an HTTP proxy this node runs.
type Proxy struct {
	Name string `json:"name"`
	VIP  string `json:"vip,omitempty"` // run only while holding it
	// Group is the VIP's group: the proxy serves where it runs.
	Group            string         `json:"group,omitempty"`
	Listeners        []Listener     `json:"listeners"`
	Services         []ProxyService `json:"services"`
	AllowedMethods   []string       `json:"allowed_methods"`
	MaxRequestBody   int64          `json:"max_request_body"`
	ClientTimeoutMS  int            `json:"client_timeout_ms"`
	BackendTimeoutMS int            `json:"backend_timeout_ms"`
	// MaxURI and MaxHeader bound the request target (414) and the
	// request's header section (431), in bytes; 0 takes the role's default.
	MaxURI    int `json:"max_uri,omitempty"`
	MaxHeader int `json:"max_header,omitempty"`
	// TrustedProxies are the prefixes whose X-Forwarded-* and Forwarded
	// headers are kept and appended to; from anyone else they are replaced.
	TrustedProxies []string `json:"trusted_proxies,omitempty"`
	// Body503 is the body of the 503 answered when no backend can serve.
	Body503 string `json:"body_503,omitempty"`
	// RewriteLocation rewrites a backend's redirects to itself into the
	// listener's scheme and host (Pound's RewriteLocation).
	RewriteLocation bool `json:"rewrite_location,omitempty"`
	// NoAccessLog turns the per-request log lines off (the HCL's
	// access_log = false); absent, they are written.
	NoAccessLog bool `json:"no_access_log,omitempty"`
}

// Listener is a proxy listener.
type Listener struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Address  string `json:"address"`
	Port     int    `json:"port"`
	CertPath string `json:"cert_path,omitempty"`
	KeyPath  string `json:"key_path,omitempty"`
	// Certs are further certificates, chosen by SNI.
	Certs []CertPair `json:"certs,omitempty"`
	// TLSMinVersion is "1.2" or "1.3" ("" for 1.2).
	TLSMinVersion string `json:"tls_min_version,omitempty"`
	// ClientCAPath, when set, requires client certificates signed by it.
	ClientCAPath string `json:"client_ca_path,omitempty"`
	// Methods, when set, are the methods this listener accepts instead
	// of the proxy's AllowedMethods (Pound's xHTTP, set per listener).
	Methods []string `json:"methods,omitempty"`
}

// CertPair is a certificate chain and its key, as secret files.
type CertPair struct {
	CertPath string `json:"cert_path"`
	KeyPath  string `json:"key_path"`
}

// ProxyService is a proxy's routing rule and its backends.
type ProxyService struct {
	Name    string            `json:"name"`
	Host    string            `json:"host,omitempty"`
	Path    string            `json:"path,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// DenyHeaders are headers that must not match (Pound's HeadDeny).
	DenyHeaders map[string]string `json:"deny_headers,omitempty"`
	// Methods, when set, are the only methods the service takes.
	Methods []string `json:"methods,omitempty"`
	// RedirectAppend appends the request's path to a redirect backend's URL.
	RedirectAppend bool `json:"redirect_append,omitempty"`
	// RedirectCode is the redirects' status (301, 302, 303, 307, 308).
	RedirectCode int          `json:"redirect_code,omitempty"`
	SessionType  string       `json:"session_type,omitempty"`
	SessionName  string       `json:"session_name,omitempty"`
	SessionTTLMS int          `json:"session_ttl_ms,omitempty"`
	HealthCheck  *HealthCheck `json:"health_check,omitempty"`
	Backends     []Backend    `json:"backends"`
}

// Backend is a proxy backend.
type Backend struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Address     string `json:"address,omitempty"`
	Port        int    `json:"port,omitempty"`
	Weight      int    `json:"weight,omitempty"`
	RedirectURL string `json:"redirect_url,omitempty"`
}

// Sync is a directory this node pushes to others.
type Sync struct {
	Name       string       `json:"name"`
	Path       string       `json:"path"`
	Targets    []SyncTarget `json:"targets"`
	Delete     bool         `json:"delete"`
	Excludes   []string     `json:"excludes,omitempty"`
	Trigger    string       `json:"trigger"`
	IntervalMS int          `json:"interval_ms"`
	BWLimitKBs int          `json:"bwlimit_kbs,omitempty"`
	Checksum   bool         `json:"checksum,omitempty"`
	// KeyPath is the secret file holding the sync's SSH private key
	// (OpenSSH format), which its targets accept for this transfer only.
	KeyPath string `json:"key_path,omitempty"`
	// DelayMS is how long changes are gathered before a run sends them.
	DelayMS int `json:"delay_ms,omitempty"`
	// Atomic asks for rsync's --delay-updates: changed files appear on a
	// target together at the end of a run.
	Atomic bool `json:"atomic,omitempty"`
	// MaxDeletePercent stops a run that would delete more than this share
	// of a target's files, until the operator confirms (0: no limit).
	MaxDeletePercent int `json:"max_delete_percent,omitempty"`
	// Group, when set, makes this node the source only while the group
	// runs here: every location of the group has the sync, and the others
	// are its targets.
	Group string `json:"group,omitempty"`
}

// SyncTarget is a destination of a sync.
type SyncTarget struct {
	Node    string `json:"node"`
	Address string `json:"address"`
	Path    string `json:"path"`
	// Port is the target's SSH port.
	Port int `json:"port,omitempty"`
	// HostKeys are the target's SSH host public keys ("ssh-ed25519
	// AAAA…"), the only ones the source accepts from it.
	HostKeys []string `json:"host_keys,omitempty"`
}

// SyncReceive is a sync this node is a target of.
type SyncReceive struct {
	Name string `json:"name"`
	// Source is the node that pushes, or the group whose node does.
	Source string `json:"source"`
	Path   string `json:"path"`
	// PublicKeys are the keys the source may log in with (the current
	// one and, during a cluster key rotation, the previous one).
	PublicKeys []string `json:"public_keys"`
}

// Monitor is this node's monitoring.
type Monitor struct {
	// Listen is the host:port /metrics is served on: the node's
	// management address unless the configuration says otherwise.
	Listen string `json:"listen"`
	// BasicAuth, when set, is asked of every scrape.
	BasicAuth *BasicAuth `json:"basic_auth,omitempty"`
	// TLS, when set, serves /metrics over HTTPS with this certificate.
	TLS        *CertPair `json:"tls,omitempty"`
	Collectors []string  `json:"collectors"`
	IntervalMS int       `json:"interval_ms"`
	// RetentionMS is no longer written: the history's archives are fixed
	// (agentbin/monitor/history). It is read so that a spec written by an
	// earlier hactl, which an upgraded agent may find at its start, parses.
	RetentionMS int64        `json:"retention_ms,omitempty"`
	Devices     []SNMPDevice `json:"snmp_devices,omitempty"`
	Thresholds  []Threshold  `json:"thresholds,omitempty"`
}

// BasicAuth is a user and the secret file holding its password.
type BasicAuth struct {
	User         string `json:"user"`
	PasswordPath string `json:"password_path"`
}

// Threshold watches the series a metric selector picks: a gauge's value,
// a counter's per-second rate. One that stays above Above or below Below
// for ForMS emits a threshold event, and another when it is back.
type Threshold struct {
	Name string `json:"name"`
	// Metric is a selector: a metric name and, in braces, labels that
	// must match (node_network_receive_bytes_total{device="eth0"}).
	Metric string   `json:"metric"`
	Above  *float64 `json:"above,omitempty"`
	Below  *float64 `json:"below,omitempty"`
	ForMS  int64    `json:"for_ms"`
}

// SNMPDevice is a device this node polls.
type SNMPDevice struct {
	Name             string   `json:"name"`
	Address          string   `json:"address"`
	Port             int      `json:"port"`
	Version          string   `json:"version"`
	CommunityPath    string   `json:"community_path,omitempty"`
	User             string   `json:"user,omitempty"`
	SecurityLevel    string   `json:"security_level,omitempty"`
	AuthProtocol     string   `json:"auth_protocol,omitempty"`
	AuthPasswordPath string   `json:"auth_password_path,omitempty"`
	PrivProtocol     string   `json:"priv_protocol,omitempty"`
	PrivPasswordPath string   `json:"priv_password_path,omitempty"`
	OIDs             []string `json:"oids,omitempty"`
	Interfaces       []string `json:"interfaces,omitempty"`
	IntervalMS       int      `json:"interval_ms"`
}

// Notify is a command run on events.
type Notify struct {
	Name      string   `json:"name"`
	Command   string   `json:"command"`
	Events    []string `json:"events"`
	TimeoutMS int      `json:"timeout_ms"`
}

// Marshal returns the canonical JSON of the spec: indented, fields in
// declaration order, map keys sorted (encoding/json sorts them).
func (s *Spec) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding spec of %s: %w", s.Node, err)
	}
	return append(b, '\n'), nil
}

// Hash is the SHA-256 of the canonical JSON, in hex.
func (s *Spec) Hash() (string, error) {
	b, err := s.Marshal()
	if err != nil {
		return "", err
	}
	return HashBytes(b), nil
}

// HashBytes is the hex SHA-256 of b.
func HashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Parse decodes and checks a spec. Unknown fields are refused: they mean a
// newer hactl wrote it.
func Parse(data []byte) (*Spec, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("decoding spec: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Validate checks what the agent relies on. hactl's loader already checked
// the operator's intent; this guards against a damaged or foreign file.
func (s *Spec) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.FormatVersion != FormatVersion {
		bad("format_version %d is not %d: this agent and the hactl that wrote the spec do not match; re-run hactl apply to upgrade the agent", s.FormatVersion, FormatVersion)
	}
	if s.Node == "" || s.Cluster == "" {
		bad("cluster and node must be set")
	}
	if hb := s.Heartbeat; hb != nil {
		if hb.IntervalMS > 0 && hb.DeadtimeMS <= 2*hb.IntervalMS {
			bad("heartbeat: deadtime_ms (%d) must be more than twice interval_ms (%d)", hb.DeadtimeMS, hb.IntervalMS)
		}
		if hb.Port < 1 || hb.Port > 65535 {
			bad("heartbeat: port %d out of range", hb.Port)
		}
		if hb.KeyPath == "" {
			bad("heartbeat: key_path is empty")
		}
		if len(hb.Links) == 0 {
			bad("heartbeat: no links")
		}
	}
	for _, d := range s.durations() {
		if d.ms < d.min || d.ms > d.max {
			bad("%s is %dms: it must be between %s and %s", d.field, d.ms, fmtMS(d.min), fmtMS(d.max))
		}
	}
	names := map[string]bool{}
	for _, g := range s.Groups {
		if names[g.Name] {
			bad("group %q appears twice", g.Name)
		}
		names[g.Name] = true
		for _, r := range g.Resources {
			if r.Kind == "vip" {
				if _, err := netip.ParsePrefix(r.Address); err != nil {
					bad("group %q: vip %q: %v", g.Name, r.Name, err)
				}
			}
			for _, k := range SortedKeys(r.SecretParams) {
				if _, plain := r.Params[k]; plain {
					bad("group %q: resource %q: parameter %q is both plain and secret", g.Name, r.Name, k)
				}
				if !InSecretsDir(r.SecretParams[k]) || !secretListed(s.Secrets, r.SecretParams[k]) {
					bad("group %q: resource %q: secret parameter %q must name a secret file of the spec", g.Name, r.Name, k)
				}
			}
		}
	}
	for _, sy := range s.Syncs {
		if sy.KeyPath != "" && (!InSecretsDir(sy.KeyPath) || !secretListed(s.Secrets, sy.KeyPath)) {
			bad("sync %q: key_path must name a secret file of the spec", sy.Name)
		}
		if !syncPathOK(sy.Path) {
			bad("sync %q: path %q must be absolute, without quotes, backslashes or control characters", sy.Name, sy.Path)
		}
		if sy.Group != "" && !names[sy.Group] {
			bad("sync %q: its source group %q is not one this node may run", sy.Name, sy.Group)
		}
		// Host keys become lines of the module's known_hosts.
		for _, t := range sy.Targets {
			if strings.ContainsAny(t.Address, " \t\n\r\x00,") || t.Address == "" {
				bad("sync %q: target %q: address %q is not a host address", sy.Name, t.Node, t.Address)
			}
			for _, k := range t.HostKeys {
				if !oneKey(k) {
					bad("sync %q: target %q: host key %q is not one \"type base64\" pair", sy.Name, t.Node, k)
				}
			}
		}
	}
	// A receive becomes a line of root's authorized_keys, its path part of
	// a forced command: anything that could end the line or the quoted
	// command would grant more than the transfer.
	for _, r := range s.SyncReceives {
		if !syncPathOK(r.Path) {
			bad("sync %q: target path %q must be absolute, without quotes, backslashes or control characters", r.Name, r.Path)
		}
		for _, k := range r.PublicKeys {
			if !oneKey(k) {
				bad("sync %q: public key %q is not one \"type base64\" pair", r.Name, k)
			}
		}
	}
	if m := s.Monitor; m != nil {
		errs = append(errs, m.validate(s.Secrets)...)
	}
	for _, sec := range s.Secrets {
		if !InSecretsDir(sec.Path) || len(sec.Digest) != 64 {
			bad("secret %q: path must be a file directly in %s and the digest 64 hex digits", sec.Name, layout.SecretsDir)
		}
	}
	return errors.Join(errs...)
}

// oneKey says whether k is one public key, "type base64", that cannot
// end an authorized_keys or known_hosts line nor a quoted option.
func oneKey(k string) bool {
	return !strings.ContainsAny(k, "\"\\\n\r\x00") && len(strings.Fields(k)) == 2
}

// syncPathOK says whether p can be a sync directory: absolute, and safe
// inside a quoted forced command.
func syncPathOK(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' {
			return false
		}
	}
	return true
}

func secretListed(secrets []Secret, path string) bool {
	for _, s := range secrets {
		if s.Path == path {
			return true
		}
	}
	return false
}

// Bounds of the durations a spec may hold, in milliseconds.
const (
	second = int64(1000)
	minute = 60 * second
	hour   = 60 * minute
	day    = 24 * hour
	year   = 365 * day
)

type durationField struct {
	field        string
	ms, min, max int64
}

// durations lists every duration of the spec with its bounds. The agent
// turns them into timers and tickers: a zero where a period is needed, or
// a value that overflows when multiplied into nanoseconds, would stop it,
// so each is bounded to what makes sense for its use. A new duration field
// must be listed here (a test checks that every *_ms field is).
func (s *Spec) durations() []durationField {
	var out []durationField
	add := func(field string, ms int64, min, max int64) {
		out = append(out, durationField{field, ms, min, max})
	}
	if hb := s.Heartbeat; hb != nil {
		add("heartbeat: interval_ms", int64(hb.IntervalMS), 1, minute)
		add("heartbeat: warntime_ms", int64(hb.WarntimeMS), 0, hour)
		add("heartbeat: deadtime_ms", int64(hb.DeadtimeMS), 1, hour)
		add("heartbeat: initdead_ms", int64(hb.InitdeadMS), 0, day)
		for _, p := range hb.Peers {
			for _, f := range p.Fences {
				add(fmt.Sprintf("heartbeat: peer %q: fence %s: timeout_ms", p.Name, f.Type), int64(f.TimeoutMS), 0, hour)
			}
		}
	}
	for _, g := range s.Groups {
		add(fmt.Sprintf("group %q: failback_delay_ms", g.Name), int64(g.FailbackDelayMS), 0, 30*day)
		for _, r := range g.Resources {
			where := fmt.Sprintf("group %q: %s %q: ", g.Name, r.Kind, r.Name)
			add(where+"monitor_interval_ms", int64(r.MonitorIntervalMS), 0, day)
			add(where+"monitor_timeout_ms", int64(r.MonitorTimeoutMS), 0, day)
			add(where+"garp_refresh_ms", int64(r.GARPRefreshMS), 0, day)
		}
	}
	check := func(where string, hc *HealthCheck) {
		if hc != nil {
			add(where+"health_check: interval_ms", int64(hc.IntervalMS), 1, day)
			add(where+"health_check: timeout_ms", int64(hc.TimeoutMS), 1, hour)
		}
	}
	for _, v := range s.VirtualServices {
		where := fmt.Sprintf("virtual_service %q: ", v.Name)
		add(where+"persistence_ms", int64(v.PersistenceMS), 0, 30*day)
		check(where, v.HealthCheck)
	}
	for _, p := range s.Proxies {
		where := fmt.Sprintf("proxy %q: ", p.Name)
		add(where+"client_timeout_ms", int64(p.ClientTimeoutMS), 0, day)
		add(where+"backend_timeout_ms", int64(p.BackendTimeoutMS), 0, day)
		for _, ps := range p.Services {
			add(fmt.Sprintf("%sservice %q: session_ttl_ms", where, ps.Name), int64(ps.SessionTTLMS), 0, 30*day)
			check(fmt.Sprintf("%sservice %q: ", where, ps.Name), ps.HealthCheck)
		}
	}
	for _, sy := range s.Syncs {
		add(fmt.Sprintf("sync %q: interval_ms", sy.Name), int64(sy.IntervalMS), 0, 30*day)
		add(fmt.Sprintf("sync %q: delay_ms", sy.Name), int64(sy.DelayMS), 0, hour)
	}
	if m := s.Monitor; m != nil {
		add("monitor: interval_ms", int64(m.IntervalMS), 1, day)
		add("monitor: retention_ms", m.RetentionMS, 0, 20*year)
		for _, d := range m.Devices {
			add(fmt.Sprintf("monitor: snmp_device %q: interval_ms", d.Name), int64(d.IntervalMS), 0, day)
		}
		for _, t := range m.Thresholds {
			add(fmt.Sprintf("monitor: threshold %q: for_ms", t.Name), t.ForMS, 0, 30*day)
		}
	}
	for _, n := range s.Notifies {
		add(fmt.Sprintf("notify %q: timeout_ms", n.Name), int64(n.TimeoutMS), 0, day)
	}
	return out
}

// fmtMS writes a bound the way an operator reads it.
func fmtMS(ms int64) string {
	for _, u := range []struct {
		name string
		ms   int64
	}{{"y", year}, {"d", day}, {"h", hour}, {"m", minute}, {"s", second}} {
		if ms >= u.ms && ms%u.ms == 0 {
			return fmt.Sprintf("%d%s", ms/u.ms, u.name)
		}
	}
	return fmt.Sprintf("%dms", ms)
}

// SortedKeys returns a map's keys in order, for deterministic output.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
