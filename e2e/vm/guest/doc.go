// Package guest holds the tests that run inside the VM that package e2e/vm
// boots: its test binary is the VM's init. They need a kernel with IPVS,
// which the machines running hactl's tests lack; outside the VM they skip.
// The VM's network namespaces stand for the guide's LVS-NAT hosts: a
// client on the outside network, the directors h2g and c2g on both
// networks, the real servers f400 and dgx on the inside one.
package guest
