package monitor

import (
	"fmt"
	"slices"

	"github.com/hactl/hactl/agentbin/spec"
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
	nodes := m.Nodes
	if len(nodes) == 0 {
		nodes = c.Topology.Nodes
	}
	if !slices.Contains(nodes, c.Node) {
		return
	}
	sm := &spec.Monitor{Listen: m.Listen, Collectors: m.Collectors, IntervalMS: providers.MS(m.Interval), RetentionMS: m.Retention.Milliseconds()}
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
