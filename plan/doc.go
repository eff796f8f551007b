// Package plan computes what hactl will do to the hosts: a pure function of
// the desired state (one agent spec per node, compiled from the topology)
// and the observed state (what each host reports), returning a Plan value
// with one typed action per change. Apply executes only a Plan; a saved plan
// records the fingerprints of what it observed, so that it is refused when a
// host changed since.
//
// Loading the configuration lives in plan/config, the typed model in
// plan/topology.
package plan
