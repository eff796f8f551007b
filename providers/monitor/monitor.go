// Package monitor is the provider of the monitor block: resource monitoring
// of the nodes (CPU, load, memory, disks, interface traffic) and of SNMP
// devices, kept in fixed-size round-robin archives (a day, a week, a month
// and two years) and shown as graphs in a browser (the Net-SNMP + MRTG /
// RRDtool / Cacti system of the guide).
package monitor

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/hactl/hactl/agentbin/monitor/metric"
	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
	"github.com/hactl/hactl/providers/network"
	"github.com/hactl/hactl/providers/node"
)

// Provider decodes the monitor block.
type Provider struct{}

var _ providers.Provider = Provider{}

// Collectors are what the agent can collect: the node's figures and the
// cluster roles' (agentbin/monitor/collect has one collector per name).
var Collectors = []string{"cpu", "load", "memory", "disk", "filesystem", "network", "processes", "heartbeat", "lvs", "proxy", "sync"}

// retentionDetail is why retention is deprecated. It was the one length
// of all history; the history became RRDtool's archives instead, those
// the dashboard draws its day, week, month and year graphs from, each
// file made once at its full size: sizing the archives from retention
// would need each file to say its own layout, every file made again when
// retention changes (RRDtool's resize), and the old default, 14 days,
// would have left the month and year graphs empty.
const retentionDetail = "History is kept in fixed round-robin archives, 1-minute points for a day, 5-minute for a week, " +
	"30-minute for a month and 1-day for two years, 185 KiB per series from the start, whatever retention says."

// DefaultPort is the port /metrics is served on when listen is not given.
const DefaultPort = 9694

// Schema implements providers.Provider.
func (Provider) Schema() *providers.Block {
	return &providers.Block{
		Type:   "monitor",
		Role:   "monitor",
		Single: true,
		Doc:    "Monitoring: every monitored node's agent collects metrics, keeps their history on disk, serves them in the Prometheus text format at /metrics on a management address, and polls the SNMP devices; thresholds emit events for notify blocks. `hactl dashboard` shows the graphs through the SSH connections, never on the network.",
		Attrs: []*providers.Attr{
			{Name: "listen", Type: providers.String, Doc: "Address and port /metrics is served on, the same on every node (\":9694\" for all addresses). Default: each node's address on network, or the address hactl reaches it on over SSH (its management address), with port; never all addresses unless asked.", Example: `"127.0.0.1:9694"`},
			{Name: "network", Type: providers.Ref, RefKind: "network", Doc: "The management network: each node serves /metrics on its address there, with port.", Example: "network.lan"},
			{Name: "port", Type: providers.Port, Default: "9694", Doc: "Port of /metrics when listen is not given."},
			{Name: "nodes", Type: providers.RefList, RefKind: "node", Doc: "Nodes to monitor. Default: every node.", Example: "[node.h2g, node.c2g]"},
			{Name: "collectors", Type: providers.StringList, Default: `["cpu", "load", "memory", "disk", "filesystem", "network", "processes", "heartbeat", "lvs", "proxy", "sync"]`, Doc: "What to collect on the nodes; any of " + providers.EnumDoc(Collectors) + ". The cluster's collectors (heartbeat, lvs, proxy, sync) give what the node's roles report."},
			{Name: "interval", Type: providers.Duration, Default: `"10s"`, Doc: "Time between samples (MRTG's 5 minutes is far too coarse to see a failover)."},
			{Name: "retention", Type: providers.Duration, Doc: "Deprecated, decides nothing (a warning says so). " + retentionDetail},
		},
		Blocks: []*providers.Block{{
			Type:   "basic_auth",
			Single: true,
			Doc:    "HTTP basic authentication asked of every scrape of /metrics.",
			Attrs: []*providers.Attr{
				{Name: "user", Type: providers.String, Required: true, Doc: "User name.", Example: `"prometheus"`},
				{Name: "password", Type: providers.String, Secret: true, SecretFile: "password_file", Doc: "Password, inline; uploaded like the content of password_file."},
				{Name: "password_file", Type: providers.String, Doc: "File holding the password.", Example: `"secrets/metrics-password"`},
			},
		}, {
			Type:   "tls",
			Single: true,
			Doc:    "Serve /metrics over HTTPS.",
			Attrs: []*providers.Attr{
				{Name: "cert_file", Type: providers.String, Required: true, Doc: "PEM certificate chain.", Example: `"tls/metrics.pem"`},
				{Name: "key_file", Type: providers.String, Required: true, Doc: "PEM private key; uploaded with mode 0600.", Example: `"tls/metrics.key"`},
			},
		}, {
			Type:   "threshold",
			Labels: []string{"name"},
			Doc:    "A limit on a metric, checked at every collection on every monitored node: a gauge's value, a counter's per-second rate (none after a counter reset, so never a spike). When the value stays beyond the limit for `for`, the node emits a threshold_exceeded event, and threshold_cleared when it is back; notify blocks subscribe to them.",
			Attrs: []*providers.Attr{
				{Name: "metric", Type: providers.String, Required: true, Doc: "Series, as /metrics names them; labels given in braces must match, others may be anything (each matching series is watched on its own).", Example: `"node_network_receive_bytes_total{device=\"eth0\"}"`},
				{Name: "above", Type: providers.Real, Doc: "Exceeded while the value is above this.", Example: "4"},
				{Name: "below", Type: providers.Real, Doc: "Exceeded while the value is below this.", Example: "1e8"},
				{Name: "for", Type: providers.Duration, Default: `"0s"`, Doc: "How long the value must stay beyond the limit before the event."},
			},
		}, {
			Type:   "snmp_device",
			Labels: []string{"name"},
			Doc:    "A network device (router, switch, UPS) polled over SNMP by the first monitored node.",
			Attrs: []*providers.Attr{
				{Name: "address", Type: providers.String, Required: true, Doc: "Host name or address.", Example: `"192.168.0.1"`},
				{Name: "port", Type: providers.Port, Default: `161`, Doc: "UDP port."},
				{Name: "version", Type: providers.String, Default: `"2c"`, Enum: []string{"2c", "3"}, Doc: "SNMP version."},
				{Name: "community", Type: providers.String, Secret: true, SecretFile: "community_file", Doc: "v2c community, inline; uploaded like the content of community_file."},
				{Name: "community_file", Type: providers.String, Doc: "File holding the v2c community.", Example: `"secrets/snmp-community"`},
				{Name: "oids", Type: providers.StringList, Doc: "Numeric OIDs to poll in addition to the interfaces.", Example: `["1.3.6.1.2.1.1.3.0"]`},
				{Name: "interfaces", Type: providers.StringList, Doc: "Interface names (ifName / ifDescr) whose traffic, errors and status are polled.", Example: `["ge-0/0/0", "ge-0/0/1"]`},
				{Name: "interval", Type: providers.Duration, Default: `"30s"`, Doc: "Time between polls."},
			},
			Blocks: []*providers.Block{{
				Type:   "v3",
				Single: true,
				Doc:    "SNMPv3 user-based security, for version = \"3\".",
				Attrs: []*providers.Attr{
					{Name: "user", Type: providers.String, Required: true, Doc: "Security name.", Example: `"monitor"`},
					{Name: "security_level", Type: providers.String, Default: `"authPriv"`, Enum: []string{"noAuthNoPriv", "authNoPriv", "authPriv"}, Doc: "Authentication and privacy."},
					{Name: "auth_protocol", Type: providers.String, Default: `"SHA256"`, Enum: []string{"MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"}, Doc: "Authentication protocol."},
					{Name: "auth_password_file", Type: providers.String, Doc: "File holding the authentication passphrase.", Example: `"secrets/snmp-auth"`},
					{Name: "priv_protocol", Type: providers.String, Default: `"AES"`, Enum: []string{"DES", "AES", "AES192", "AES256"}, Doc: "Privacy (encryption) protocol."},
					{Name: "priv_password_file", Type: providers.String, Doc: "File holding the privacy passphrase.", Example: `"secrets/snmp-priv"`},
				},
			}},
		}},
		Example: `monitor {
  interval = "10s"
  network  = network.lan
  threshold "load" {
    metric = "node_load1"
    above  = 4
    for    = "2m"
  }
  snmp_device "router" {
    address        = "192.168.0.1"
    community_file = "secrets/snmp-community"
    interfaces     = ["eth0", "eth1"]
  }
}`,
	}
}

// Decode implements providers.Provider.
func (Provider) Decode(d *providers.Decoder, c *providers.Content) {
	m := &topology.Monitor{
		Listen:     c.String("listen"),
		Port:       c.Port("port"),
		Collectors: c.Strings("collectors"),
		Interval:   c.Duration("interval"),
		Range:      c.BlockRange(),
	}
	d.Topology.Monitor = m
	for _, col := range m.Collectors {
		if !slices.Contains(Collectors, col) {
			detail := fmt.Sprintf("collectors may contain %s.", providers.EnumDoc(Collectors))
			if s := providers.Suggest(col, Collectors); s != "" {
				detail += fmt.Sprintf(" Did you mean %q?", s)
			}
			d.Error(c.Range("collectors"), fmt.Sprintf("Unknown collector %q", col), detail)
		}
	}
	if c.Has("retention") {
		c.Duration("retention")
		d.Warn(c.Range("retention"), "retention decides nothing", retentionDetail+" Remove the attribute.")
	}
	if m.Listen != "" {
		if _, port, err := net.SplitHostPort(m.Listen); err != nil || !validPort(port) {
			d.Error(c.Range("listen"), "Invalid listen address", fmt.Sprintf("%q is not host:port with a port from 1 to 65535, like \"192.168.0.18:9694\" (or \":9694\" for every address).", m.Listen))
		}
		if c.Has("network") {
			d.Error(c.Range("network"), "Both listen and network", "Give listen (one address for every node) or network (each node's address on it), not both.")
		}
	}
	decodeSecurity(d, c, m)
	decodeThresholds(d, c, m)
	refs := c.Refs("nodes")
	netName, netRange := c.Ref("network")
	d.Later(func() {
		for _, r := range refs {
			if n, ok := providers.Lookup(d, "node", r.Name, r.Range, node.ByName(d.Topology)); ok {
				m.Nodes = append(m.Nodes, n)
			}
		}
		if netName != "" {
			m.Network, _ = providers.Lookup(d, "network", netName, netRange, network.ByName(d.Topology))
		}
	})
	for _, dc := range c.Blocks("snmp_device") {
		dev := &topology.SNMPDevice{
			Name:          dc.Label(0),
			Address:       dc.String("address"),
			Port:          dc.Port("port"),
			Version:       dc.String("version"),
			Community:     dc.String("community"),
			CommunityFile: dc.String("community_file"),
			OIDs:          dc.Strings("oids"),
			Interfaces:    dc.Strings("interfaces"),
			Interval:      dc.Duration("interval"),
			Range:         dc.BlockRange(),
		}
		if !d.Declare("snmp_device", dev.Name, dc.DefRange) {
			continue
		}
		m.Devices = append(m.Devices, dev)
		for _, oid := range dev.OIDs {
			if !validOID(oid) {
				d.Error(dc.Range("oids"), "Invalid OID", fmt.Sprintf("%q is not a numeric OID like \"1.3.6.1.2.1.1.3.0\".", oid))
			}
		}
		v3 := dc.Block("v3")
		switch {
		case dev.Version == "3" && v3 == nil:
			d.Error(dc.DefRange, "SNMPv3 without a v3 block", `version = "3" needs a v3 { user = "..." } block.`)
		case dev.Version == "2c" && v3 != nil:
			d.Error(v3.DefRange, "v3 block on an SNMPv2c device", `Set version = "3" or remove the v3 block.`)
		case dev.Version == "2c" && !dc.Has("community") && !dc.Has("community_file"):
			d.Error(dc.DefRange, "SNMPv2c without a community", `Give community_file = "..." (a file holding the community string), or community = var.NAME.`)
		case v3 != nil:
			dev.V3 = &topology.SNMPv3{
				User:             v3.String("user"),
				SecurityLevel:    v3.String("security_level"),
				AuthProtocol:     v3.String("auth_protocol"),
				AuthPasswordFile: v3.String("auth_password_file"),
				PrivProtocol:     v3.String("priv_protocol"),
				PrivPasswordFile: v3.String("priv_password_file"),
			}
			if dev.V3.SecurityLevel != "noAuthNoPriv" && dev.V3.AuthPasswordFile == "" {
				d.Error(v3.DefRange, "Missing auth_password_file", fmt.Sprintf("security_level %q needs auth_password_file.", dev.V3.SecurityLevel))
			}
			if dev.V3.SecurityLevel == "authPriv" && dev.V3.PrivPasswordFile == "" {
				d.Error(v3.DefRange, "Missing priv_password_file", `security_level "authPriv" needs priv_password_file.`)
			}
		}
	}
}

func validPort(s string) bool {
	p, err := strconv.Atoi(s)
	return err == nil && p >= 1 && p <= 65535
}

var _ providers.Validator = Provider{}

// Validate implements providers.Validator: with network, every monitored
// node needs an address there.
func (Provider) Validate(d *providers.Decoder) {
	m := d.Topology.Monitor
	if m == nil || m.Network == nil || m.Listen != "" {
		return
	}
	for _, n := range Monitored(d.Topology) {
		if n.InterfaceOn(m.Network) == nil {
			d.Error(providers.FromTopo(m.Range), "Monitored node off the management network",
				fmt.Sprintf("Node %q has no interface on network %q, where /metrics is served: give it one, leave it out of nodes, or drop network to use its SSH address.", n.Name, m.Network.Name))
		}
	}
}

// Monitored are the nodes the monitor block monitors, in its order.
func Monitored(t *topology.Topology) []*topology.Node {
	if t.Monitor == nil {
		return nil
	}
	if len(t.Monitor.Nodes) > 0 {
		return t.Monitor.Nodes
	}
	return t.Nodes
}

// decodeSecurity reads basic_auth and tls.
func decodeSecurity(d *providers.Decoder, c *providers.Content, m *topology.Monitor) {
	if a := c.Block("basic_auth"); a != nil {
		m.BasicAuth = &topology.BasicAuth{User: a.String("user"), Password: a.String("password"), PasswordFile: a.String("password_file"), Range: a.BlockRange()}
		if !a.Has("password") && !a.Has("password_file") {
			d.Error(a.DefRange, "basic_auth without a password", `Give password_file = "..." (a file holding the password), or password = var.NAME.`)
		}
		if strings.Contains(m.BasicAuth.User, ":") {
			d.Error(a.Range("user"), "Invalid user", "A basic-auth user name cannot contain a colon.")
		}
	}
	if t := c.Block("tls"); t != nil {
		m.TLS = &topology.MonitorTLS{CertFile: t.String("cert_file"), KeyFile: t.String("key_file"), Range: t.BlockRange()}
	}
}

func decodeThresholds(d *providers.Decoder, c *providers.Content, m *topology.Monitor) {
	for _, tc := range c.Blocks("threshold") {
		th := &topology.Threshold{Name: tc.Label(0), Metric: tc.String("metric"), Above: tc.Float("above"), Below: tc.Float("below"), For: tc.Duration("for"), Range: tc.BlockRange()}
		if !d.Declare("threshold", th.Name, tc.DefRange) {
			continue
		}
		m.Thresholds = append(m.Thresholds, th)
		if _, err := metric.ParseSelector(th.Metric); th.Metric != "" && err != nil {
			d.Error(tc.Range("metric"), "Invalid metric", err.Error()+`. Write a series as /metrics shows it, like node_load1 or node_network_receive_bytes_total{device="eth0"}.`)
		}
		switch {
		case th.Above == nil && th.Below == nil:
			d.Error(tc.DefRange, "Threshold without a limit", "Give above, below or both.")
		case th.Above != nil && th.Below != nil && *th.Below > *th.Above:
			// With both, the value must stay between them.
			d.Error(tc.Range("below"), "Empty band", fmt.Sprintf("below (%g) is more than above (%g): the value would always be beyond one of them.", *th.Below, *th.Above))
		}
	}
}

func validOID(oid string) bool {
	parts := strings.Split(strings.TrimPrefix(oid, "."), ".")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}
