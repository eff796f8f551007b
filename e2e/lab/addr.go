package lab

import (
	"fmt"
	"net/netip"
)

// CtlAddress is the ctl namespace's address on a network: a stable
// neighbour every node can ping, like the default gateway that real
// two-node clusters use as a quorum tie-breaker.
func (l *Lab) CtlAddress(network string) (netip.Addr, error) {
	for _, i := range l.st.Ctl.Ifaces {
		if i.Network == network {
			return i.Address.Addr(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("ctl is not on network %q", network)
}

// InNetns runs fn on a thread in a target's network namespace (a node,
// Ctl or Client): sockets fn opens live there.
func (l *Lab) InNetns(target string, fn func() error) error {
	ns, err := l.netnsOf(target)
	if err != nil {
		return err
	}
	return inNetns(ns, fn)
}
