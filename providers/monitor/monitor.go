// Package monitor is the provider of the monitor block: resource monitoring
// of the nodes (CPU, load, memory, disks, interface traffic) and of SNMP
// devices, kept for a retention period and shown as graphs in a browser
// (the Net-SNMP + MRTG / RRDtool / Cacti system of the guide).
package monitor

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
	"github.com/hactl/hactl/providers/node"
)

// Provider decodes the monitor block.
type Provider struct{}

var _ providers.Provider = Provider{}

// Collectors are the node metrics the agent can collect.
var Collectors = []string{"cpu", "load", "memory", "disk", "network", "heartbeat", "lvs", "proxy", "sync"}

// Schema implements providers.Provider.
func (Provider) Schema() *providers.Block {
	return &providers.Block{
		Type:   "monitor",
		Role:   "monitor",
		Single: true,
		Doc:    "Monitoring: every monitored node's agent collects metrics, keeps them for retention, serves them (Prometheus text format and a dashboard with graphs) on listen, and polls the SNMP devices.",
		Attrs: []*providers.Attr{
			{Name: "listen", Type: providers.String, Default: `":9694"`, Doc: "Address and port of the dashboard and metrics endpoint on each node."},
			{Name: "nodes", Type: providers.RefList, RefKind: "node", Doc: "Nodes to monitor. Default: every node.", Example: "[node.h2g, node.c2g]"},
			{Name: "collectors", Type: providers.StringList, Default: `["cpu", "load", "memory", "disk", "network"]`, Doc: "What to collect on the nodes; any of " + providers.EnumDoc(Collectors) + "."},
			{Name: "interval", Type: providers.Duration, Default: `"10s"`, Doc: "Time between samples (MRTG's 5 minutes is far too coarse to see a failover)."},
			{Name: "retention", Type: providers.Duration, Default: `"14d"`, Doc: "How long samples are kept."},
		},
		Blocks: []*providers.Block{{
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
		Collectors: c.Strings("collectors"),
		Interval:   c.Duration("interval"),
		Retention:  c.Duration("retention"),
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
	if m.Retention > 0 && m.Interval > 0 && m.Retention < m.Interval {
		d.Error(c.Range("retention"), "Retention shorter than interval", "retention must be longer than interval, or no sample would be kept.")
	}
	refs := c.Refs("nodes")
	d.Later(func() {
		for _, r := range refs {
			if n, ok := providers.Lookup(d, "node", r.Name, r.Range, node.ByName(d.Topology)); ok {
				m.Nodes = append(m.Nodes, n)
			}
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
