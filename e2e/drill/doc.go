// Package drill runs randomized fault drills: a cluster in the lab (package
// e2e/lab) under a client's steady requests to every VIP, put through a
// random sequence of faults for a given time, with invariants checked
// after each, the way Pacemaker's Cluster Test Suite and Jepsen do. It is
// `hactl lab drill` and the e2e test TestDrill…; it lives beside the lab,
// not in it, because the lab is a mechanism (namespaces, links, power)
// that knows nothing of groups, quorum or fencing, while a drill is a
// policy over it with a model of what the cluster owes its clients.
//
// # A run
//
// The configuration's directory is copied to a work directory (the drill
// edits it for its apply faults; the lab's nodes run no systemd, so a
// `service` resource stands in as OCF's Dummy agent, as scripts/demo does),
// a lab of its own name ("drill" by default, never the test suite's "e2e")
// is built from it, and hactl applies it from the lab's ctl namespace over
// real SSH. The client namespace then asks every group's first VIP for
// http://VIP/ every 20ms (lab.Prober: the lab's web servers answer with
// their node's name), and asks the network who holds every VIP every
// 150ms (lab.ARPAsker: ARP probes from the client's switch port).
//
// Faults follow one another until the duration is spent. Each is drawn
// from a random source seeded with the run's seed and from nothing else
// (not from what the cluster did), so the same seed and configuration give
// the same sequence of faults, with the same targets and hold times: a run
// is replayed with --seed. A step is:
//
//  1. the fault, held for its hold time (the outage bound plus one to
//     three seconds, or as long as an apply takes);
//  2. the heal: the fault undone (cables plugged back, partition and loss
//     ended, the node thawed or powered on, a move cleared), then every
//     node that is off or down (fenced) powered on;
//  3. the settle: the drill waits until every node is up, every agent
//     sees every member alive and able to serve (a node fit again waits
//     out a hold before a failback) and no group waiting to start or stop,
//     every VIP answers from one holder, and the holders have not changed
//     for two seconds. (A group's failback_delay is not seen: the drill
//     suits clusters without one, as the examples are.)
//
// A node the cluster fences between steps, once settled, is a false death
// (a member silent past deadtime on a busy machine): no invariant forbids
// it, the report lists it apart, and the cluster settles again before the
// next fault.
//
// The kinds of fault: cut (a pulled cable: one of a node's links, or all),
// cut-port (a dead switch port, carrier up), partition (the nodes split in
// two sides), loss (10 to 40% of a node's packets dropped each way), kill
// (every process of a node SIGKILLed), agent-kill (the agent alone
// SIGKILLed; its supervisor restarts it), agent-restart (the agent's init
// script's restart), freeze (SIGSTOP, then SIGCONT at the heal), power (the
// power switch off, on at the heal), apply (the file changed — a group's
// failback flipped, or a notify added or removed — and hactl apply run)
// and move (hactl failover GROUP --to NODE, cleared at the heal).
//
// # Invariants
//
// The drill judges the cluster from the lab's vantage points, never from
// the agents' word: who answers ARP for a VIP at the client's switch port,
// who answers the client's HTTP requests, and the power switch's log.
// Agents' events are printed with a violation, to explain it.
//
// A node is live when the lab shows it up (not frozen, killed or off) and,
// during an agent fault on it, its agent is not the one faulted. Two live
// nodes are connected when no partition separates them and they share a
// heartbeat link's network on which neither's cable is pulled nor its
// switch port dead (loss leaves them connected). A set of connected live
// nodes is quorate when it holds more than half of the members (three or
// more members, quorum policy stop or freeze), when it is the only set
// with a live node (two members: the other was fenced or is down), or
// always (policy ignore). A group can run when a quorate set holds a node
// of the group whose link on the VIP's network works.
//
//   - Never two holders. No ARP question is answered for a VIP by two
//     machines at once. A group whose every node can be fenced gets no
//     exception. A group some node of which cannot be fenced may have two
//     holders while a fault separates them (a two-node cluster without
//     fencing cannot tell a dead peer from a cut cable; that is what
//     fencing is for), and not from the settle on.
//   - Running when it can. At the end of a fault's hold, a group that can
//     run (by the model, on the lab's state at that moment) answers the
//     client: its longest outage during the hold, counting one still open
//     at the end, is within the bound.
//   - Bounded outages. The bound is the heartbeat's deadtime plus a margin
//     (2s by default: fencing through the power switch, starting the group,
//     and a busy machine). The heal's outage (a failback, say) is bounded
//     too, when the VIP answered as the heal began.
//   - No takeover without fencing. When the ARP holder of a VIP changes
//     from X to Y during a fault that leaves X not live or not connected
//     to Y, and X has a fence device, the power switch's log shows X
//     powered off (or rebooted) after the fault began and before Y was
//     first seen holding it (the log line is written as the switch
//     answers, so it may trail Y by up to 250ms), or the fault was the
//     drill powering X off itself.
//   - Only a quorate side fences. With three members or more (and a
//     quorum policy other than ignore), a fencing asked during a fault
//     (the power switch's log names who asked) comes from a quorate set:
//     a member cut off alone must not power off the majority.
//   - Settles. After the heal the cluster settles within two minutes;
//     otherwise the drill stops there.
//   - Commands work. The command a fault runs (hactl apply or failover,
//     the agent's restart, the lab's own) succeeds, unless the cluster
//     fenced a node while it ran (the step then carries a note).
//   - Nothing left. When the drill takes its lab down, no network
//     namespace, mount, process or file of it remains.
//
// What the drill does not count: the client's own requests that a fault
// drops (loss on, or a dead switch port of, the holder's link on the VIP's
// network: the cluster cannot see a dead client-side port without
// ping_targets, and lost requests are no outage of the cluster's making);
// those groups are marked unchecked for that step.
//
// On a violation the report carries the seed, the fault sequence up to
// it, the agents' events and the power switch's log.
package drill
