package proxy

import (
	"fmt"
	"slices"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
	"github.com/hactl/hactl/providers/check"
	"github.com/hactl/hactl/providers/group"
	"github.com/hactl/hactl/providers/node"
)

var _ providers.Compiler = Provider{}

// Compile implements providers.Compiler: a node gets the proxies that run on
// it, or that run where their VIP is and it may hold that VIP.
func (Provider) Compile(c *providers.CompileContext) {
	for _, p := range c.Topology.Proxies {
		runs := slices.Contains(p.Nodes, c.Node) || (p.VIP != nil && group.MayRun(p.VIP.Group, c.Node))
		if !runs {
			continue
		}
		sp := spec.Proxy{
			Name: p.Name, AllowedMethods: p.AllowedMethods, MaxRequestBody: p.MaxRequestBody,
			ClientTimeoutMS: providers.MS(p.ClientTimeout), BackendTimeoutMS: providers.MS(p.BackendTimeout),
			MaxURI: int(p.MaxURI), MaxHeader: int(p.MaxHeader), TrustedProxies: p.TrustedProxies,
			Body503: p.Error503, RewriteLocation: p.RewriteLocation, NoAccessLog: !p.AccessLog,
		}
		if p.VIP != nil {
			sp.VIP, sp.Group = p.VIP.Name, p.VIP.Group.Name
		}
		for _, l := range p.Listeners {
			addr := l.Address
			if addr == "" && p.VIP != nil {
				addr = p.VIP.Address.Addr().String()
			}
			sl := spec.Listener{
				Name: l.Name, Protocol: l.Protocol, Address: addr, Port: l.Port,
				CertPath:      c.Secret(fmt.Sprintf("proxy-%s-%s.crt", p.Name, l.Name), l.CertFile, l.Range),
				KeyPath:       c.Secret(fmt.Sprintf("proxy-%s-%s.key", p.Name, l.Name), l.KeyFile, l.Range),
				ClientCAPath:  c.Secret(fmt.Sprintf("proxy-%s-%s-client-ca.crt", p.Name, l.Name), l.ClientCAFile, l.Range),
				TLSMinVersion: l.TLSMinVersion,
				Methods:       l.Methods,
			}
			if l.Protocol != "https" {
				sl.TLSMinVersion = ""
			}
			for _, cert := range l.Certificates {
				sl.Certs = append(sl.Certs, spec.CertPair{
					CertPath: c.Secret(fmt.Sprintf("proxy-%s-%s-%s.crt", p.Name, l.Name, cert.Name), cert.CertFile, cert.Range),
					KeyPath:  c.Secret(fmt.Sprintf("proxy-%s-%s-%s.key", p.Name, l.Name, cert.Name), cert.KeyFile, cert.Range),
				})
			}
			sp.Listeners = append(sp.Listeners, sl)
		}
		for _, s := range p.Services {
			ss := spec.ProxyService{Name: s.Name, Host: s.Host, Path: s.Path, Headers: s.Headers, DenyHeaders: s.DenyHeaders,
				Methods: s.Methods, HealthCheck: check.Compile(s.HealthCheck)}
			if slices.ContainsFunc(s.Backends, func(b *topology.Backend) bool { return b.Kind == "redirect" }) {
				ss.RedirectCode, ss.RedirectAppend = s.RedirectCode, s.RedirectAppend
			}
			if s.Session != nil {
				ss.SessionType, ss.SessionName, ss.SessionTTLMS = s.Session.Type, s.Session.Name, providers.MS(s.Session.TTL)
			}
			for _, b := range s.Backends {
				addr := b.Address
				if b.Node != nil {
					addr = node.AddressFrom(b.Node, c.Node)
				}
				ss.Backends = append(ss.Backends, spec.Backend{Name: b.Name, Kind: b.Kind, Address: addr, Port: b.Port, Weight: b.Weight, RedirectURL: b.RedirectURL})
			}
			sp.Services = append(sp.Services, ss)
		}
		c.Spec.Proxies = append(c.Spec.Proxies, sp)
	}
}
