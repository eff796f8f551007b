package monitor

import (
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
)

var _ providers.Compiler = Provider{}

// Compile implements providers.Compiler: every monitored node collects its
// own metrics; the first monitored node also polls the SNMP devices.
func (Provider) Compile(c *providers.CompileContext) {
	m := c.Topology.Monitor
	if m == nil {
		return
	}
	nodes := Monitored(c.Topology)
	if !slices.Contains(nodes, c.Node) {
		return
	}
	sm := &spec.Monitor{Listen: listenAddress(m, c.Node), Collectors: m.Collectors, IntervalMS: providers.MS(m.Interval)}
	if a := m.BasicAuth; a != nil {
		sm.BasicAuth = &spec.BasicAuth{User: a.User, PasswordPath: c.SecretFrom("monitor-password", a.Password, a.PasswordFile, a.Range)}
	}
	if t := m.TLS; t != nil {
		sm.TLS = &spec.CertPair{CertPath: c.Secret("monitor.crt", t.CertFile, t.Range), KeyPath: c.Secret("monitor.key", t.KeyFile, t.Range)}
	}
	for _, t := range m.Thresholds {
		sm.Thresholds = append(sm.Thresholds, spec.Threshold{Name: t.Name, Metric: t.Metric, Above: t.Above, Below: t.Below, ForMS: t.For.Milliseconds()})
	}
	if nodes[0] == c.Node {
		for _, d := range m.Devices {
			sd := spec.SNMPDevice{
				Name: d.Name, Address: d.Address, Port: d.Port, Version: d.Version,
				CommunityPath: c.SecretFrom(fmt.Sprintf("snmp-%s-community", d.Name), d.Community, d.CommunityFile, d.Range),
				OIDs:          d.OIDs, Interfaces: d.Interfaces, IntervalMS: providers.MS(d.Interval),
			}
			if v3 := d.V3; v3 != nil {
				sd.User, sd.SecurityLevel, sd.AuthProtocol, sd.PrivProtocol = v3.User, v3.SecurityLevel, v3.AuthProtocol, v3.PrivProtocol
				sd.AuthPasswordPath = c.Secret(fmt.Sprintf("snmp-%s-auth", d.Name), v3.AuthPasswordFile, d.Range)
				sd.PrivPasswordPath = c.Secret(fmt.Sprintf("snmp-%s-priv", d.Name), v3.PrivPasswordFile, d.Range)
			}
			sm.Devices = append(sm.Devices, sd)
		}
	}
	c.Spec.Monitor = sm
}

// listenAddress is where the node serves /metrics: listen as written;
// else its address on the management network; else the address hactl
// reaches it on over SSH. Metrics tell an attacker what runs where and
// when it fails over, so they are not served on every address (a public
// or client-facing one) unless the operator asks for that.
func listenAddress(m *topology.Monitor, n *topology.Node) string {
	if m.Listen != "" {
		return m.Listen
	}
	host := n.Address
	if m.Network != nil {
		if i := n.InterfaceOn(m.Network); i != nil {
			host = i.Address.Addr().String()
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(m.Port))
}
