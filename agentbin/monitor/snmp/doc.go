// Package snmp polls the SNMP devices the HCL lists — routers, switches,
// hosts running Net-SNMP — for what MRTG polls: interface traffic from
// the IF-MIB's 64-bit counters, errors and operational status, load and
// memory from the UCD-SNMP MIB (or HOST-RESOURCES when a device has no
// UCD), and the extra OIDs the HCL names. It speaks v2c and v3 (USM with
// the authentication and privacy protocols the HCL offers) through
// github.com/gosnmp/gosnmp, one client per device.
//
// A device is a peer the agent does not control: every value is checked
// for the type the MIB gives it, a table longer than 4096 rows is refused
// rather than walked forever, and a reply of the wrong shape is an error
// naming the OID and the device, never a panic or a made-up number.
// Counters are returned as counters: the history turns them into rates,
// where a device restart (a counter going down) gives a gap, not a spike.
//
// The community and the v3 passphrases are read from the secret files
// the spec names and kept only in the client; no error or log line
// carries them.
package snmp
