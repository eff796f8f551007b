// Package importer turns the configuration files of the tools hactl
// replaces — Heartbeat (ha.cf, haresources, authkeys, cib.xml), keepalived,
// ldirectord, Pound, ipvsadm (with the mon.cf that watches its real
// servers), rsync and MRTG — into one hactl cluster.hcl.
//
// Each input kind has its own sub-package that parses its files into the
// shared Model: nodes, networks, heartbeat links, groups with their VIPs
// and services, virtual services, proxies, sync modules and SNMP devices.
// Several kinds fill one Model, so Heartbeat's cib.xml and an ipvsadm
// script make one cluster whose virtual services point at the cib's VIPs.
// Finish then resolves what the inputs left open (node addresses from
// --node, VIPs by address, real servers that are nodes) and Write renders
// the Model as canonical HCL with hclwrite, each block preceded by a
// comment naming the file and line it came from.
//
// Nothing is dropped silently: every directive is translated or reported
// as a diagnostic (file, line, directive, why, what hactl does instead).
// A directive whose behaviour hactl cannot reproduce is an error unless
// the operator accepts the difference (Options.AcceptDifferences).
// Secrets (authkeys, VRRP passwords, SNMP communities) never enter the
// HCL: they become files written beside it with mode 0600.
//
// Inputs are untrusted: files are size-limited, binary data is refused,
// include depth and loops are bounded, and no parser recurses on input.
package importer
