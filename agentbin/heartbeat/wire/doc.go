// Package wire is the heartbeat packet of hactl-agent: its format, its
// authentication and the checks that reject forged, replayed and stale
// packets before the membership engine sees them.
//
// # The packet
//
// A packet is a small binary envelope followed by an HMAC:
//
//	"HACTL"          5 bytes  magic
//	version          1 byte   3 (Version), or 2 to a cluster with a member of version 2
//	key id           1 byte   KeyCurrent (0) or KeyPrevious (1): the key the sender signed with
//	cluster          1 byte length + bytes
//	from             1 byte length + bytes
//	generation       8 bytes  big-endian
//	seq              8 bytes  big-endian
//	sent             8 bytes  big-endian, sender's clock, Unix nanoseconds
//	link             1 byte length + bytes
//	heard            1 byte count, then per peer: 1 byte length + name, 8 bytes generation
//	state            the rest up to the HMAC: State, binary in version 3, JSON in version 2
//	hmac             32 bytes HMAC-SHA-256 with the cluster key over everything before it
//
// A packet is at most MaxPacket bytes. Decode checks, in this order, the
// size, the magic, the version and the HMAC (with hmac.Equal), and only
// then parses the header and the payload, so unauthenticated bytes reach
// no parser. Every refusal is one of the typed errors below (ErrShort,
// ErrTooBig, ErrMagic, ErrVersion, ErrAuth, ErrMalformed), wrapped with a
// detail; the engine counts drops by reason with Counters.Count.
//
// # The state
//
// Version 3 carries the state as a list of fields, each a tag byte, the
// value's length (uvarint) and the value: the flags as bits of one byte,
// the uptime as a varint, each list of groups as names (a uvarint length
// and the bytes), each manual move and each echo as a field of its own
// (state.go). Fields come in the order of their tags; a reader skips
// tags it does not know and the bytes of a move or an echo past those it
// reads, and refuses anything else that does not parse exactly (a length
// past the end, a name past its field, a field out of order or twice,
// an empty list). Version 2 carried the state as JSON, which was a fifth
// of the heartbeat role's CPU time at the default 20 ms: with the binary
// state a packet takes a quarter of the time to authenticate and decode
// and under half to encode (BenchmarkDecode 17 → 4 µs, BenchmarkEncode
// 3.9 → 1.6 µs on the project's machine). It is never longer than the
// JSON, so that the bounds of size.go, computed for JSON, hold for both
// versions and hactl validate need not know which one a node sends.
//
// Every packet carries the whole state, not only when it changed with a
// bare "alive" packet in between: a peer takes each packet's lists of
// groups as the sender's whole truth (see the heartbeat package's
// state.go), so a peer that missed the one full packet after a change
// would act on the old lists until the next, and a lost packet would
// matter more than a late one. It would also save little: decoding the
// state is now a few microseconds of a tick that costs, in system calls
// and wake-ups, tens of times more.
//
// To extend State: add a tag, written only when the field is not its zero
// value, whose zero value means "what older agents did"; or append to
// the value of a move or an echo. Never reuse a tag or change what one
// holds. An older agent ignores what it does not know and a newer one
// sees the zero value of what an older peer does not send, so a rolling
// upgrade needs no new version. Changes to the envelope, or to the
// state's encoding, bump Version.
//
// # Versions and upgrades
//
// hactl apply upgrades a cluster one node at a time where nodes share a
// group, each node's new agent healthy before the next (plan/apply's
// Order): for a while, some members run the older release. They must
// hear each other throughout, or a node would be counted dead, fenced, or
// its groups started twice. So an agent reads versions MinVersion (2) to
// Version (3) and sends the newest version that every peer it has heard
// reads (ReplayGuard.Speaks): version 3 in a cluster of this release,
// version 2 while a member of version 2 is heard. A packet says which
// versions its sender reads (Packet.Speaks): version 3 implies 3, and
// this release's version-2 packets carry it in a JSON field that agents
// of version 2 ignore. A peer's newest generation counts from its first
// packet that passes the replay window, before that packet answers the
// challenge: an agent of version 2 that just started cannot read version
// 3, so it can only answer once this node has switched to version 2. The
// switch takes one interval, well within a peer's initdead and the grace
// of a restarting agent (State.Leaving). A member of version 2 heard once
// keeps its peers on version 2 until it is heard on version 3 or is
// fenced; an agent that restarts starts again on version 3.
//
// Packets of a version outside MinVersion to Version are refused
// (ErrVersion) and counted as "version" in status, and the agent logs
// them (the first, then every thousandth per link): the sender cannot hear
// this node either. Version 2 added the heard generations and the link
// binding; agents of version 1 hear no one of version 2 or 3, so a
// cluster still on version 1 must be upgraded to version 2 first, or in
// one apply while its groups can stop.
//
// # Keys and rotation
//
// LoadKey reads the cluster key file (base64 of at least 32 random bytes,
// as `head -c 32 /dev/urandom | base64` makes, or at least 32 raw bytes)
// and refuses short keys and files open to group or others. Keys holds
// the current key and, during a rotation, the previous one; Decode
// accepts a packet signed with either and says which one in
// Packet.KeyID. The key id in the packet is only a hint of which to try
// first: during a rotation nodes disagree on which key is "current",
// so Decode tries the other key too. A rotation is two applies: the first
// adds the new key as current and the old as previous, the second removes
// the old. Keys.Signing picks the key to sign with so that no node goes
// unheard while the applies reach one node after another: the previous
// key while some peer may not know the new one, the new key once every
// peer has shown it does (Packet.SenderKnowsCurrentKey).
//
// # Generations
//
// An agent numbers its starts: NextGeneration takes one more than the
// last generation recorded in the state directory, or the clock in Unix
// nanoseconds when that is larger, and records it, synced to disk,
// before the first packet carries it (as Heartbeat's hb_generation). A
// restart, a reboot or a new spec that restarts the role thus always has
// a larger generation than any before it, whatever the clock did: a node
// rebooted with its clock behind is heard at once. Only a node that lost
// its state directory and whose clock is behind its last start has a
// smaller one; its peers take it for a stale agent until they restart,
// as they must not take an older generation for a restart.
//
// # Replays, delays and stale packets
//
// Three checks, all after authentication, keep an old packet from
// passing for a live member:
//
//   - Link binding. A packet names the link it was sent on, under the
//     HMAC; a receiver refuses it on any other (ErrWrongLink). A packet
//     captured on a working link and played on a dead one cannot make the
//     dead one look up.
//   - Freshness. A receiver refuses a packet sent more than MaxSkew
//     (10 s) before or after its own clock (ErrLate, ErrFuture). This
//     bounds how long any capture can be played, and is why the members'
//     clocks must agree within MaxSkew (NTP keeps them within
//     milliseconds; a member whose clock is further off hears no one and
//     is heard by no one, and status counts its packets as late or
//     future).
//   - The challenge. Every packet carries, per peer, the newest generation
//     its sender heard of that peer (Packet.Heard). A receiver counts a
//     packet only if it answers the receiver's current generation
//     (ErrUnproven otherwise): its sender heard this very start of the
//     receiver, so the packet was made after it. A receiver that
//     restarted remembers nothing of its peers, and the challenge is what
//     makes that safe: no packet captured before the restart answers the
//     new generation. The price is one interval at start-up: a packet
//     refused only as unproven still passes the replay window, so its
//     sender's generation goes into the receiver's next packets, and the
//     sender's next packet answers them. A generation is public (it is in
//     every packet in the clear); what cannot be had without the key is a
//     packet that names it.
//
// Then ReplayGuard remembers, per peer, the newest generation heard, and
// per link a 64-packet sliding window of sequence numbers (as IPsec and
// WireGuard do): a packet delayed within the window is accepted once,
// anything older, or of an older generation on any link, is stale
// (ErrStale), and a packet accepted already is a replay (ErrReplay). A
// member numbers its packets from 1 across all its links, and the copies
// of one round differ only in their link, so each link's window sees each
// number once.
//
// # What an attacker on a link can do
//
// An attacker who can read, drop and inject frames on one heartbeat link
// but does not hold the cluster key:
//
//   - Forge: no. Every packet is authenticated with HMAC-SHA-256 before a
//     byte of it is parsed; forgeries are counted (forged) and dropped.
//   - Replay: to no effect. A copy of a packet the receiver accepted is a
//     replay; a packet from before the receiver's current start does not
//     answer its challenge; a packet from another link is refused there;
//     and nothing older than MaxSkew passes. What is left is a packet the
//     receiver never got, played within MaxSkew on its own link: a delay.
//   - Delay: at most MaxSkew. By holding a link's packets back a little
//     more each time (never a deadtime at once, which would look like a
//     death), an attacker can build a backlog and keep that link — on
//     every link, the member — looking alive for up to MaxSkew after it
//     died, and no longer: older packets are late. A tighter bound would
//     need each packet to echo the receiver's latest send time, which
//     would make a member whose packets get through one way only look
//     dead; MaxSkew trades that for a bound set by the clocks.
//   - Delay a member's last words: a stopping agent's packets say it
//     leaves (State.Leaving), and its peers then wait for a new agent of
//     it before they count it dead. Held back and played within MaxSkew,
//     they keep a member that stopped its agent and then died from being
//     counted dead for at most MaxSkew more than without the attacker;
//     they cannot make a running agent look as if it left, as its next
//     packet says it did not.
//   - Drop: the link looks dead, as a pulled cable does; with every link
//     dropped, the member looks dead, which is why fencing and quorum
//     exist. Nothing in a packet helps against an attacker on every link.
//   - Flood: forged or replayed packets cost the receiver an HMAC each and
//     are dropped; each link has its own receive queue (see the heartbeat
//     package's transport), so a flood on one link does not crowd the
//     others' heartbeats out.
//
// An attacker who holds the cluster key is a member: it can say anything.
// Rotate the key (above) when a node that held it is retired.
//
// Receiver.Accept chains it all for one received datagram: decode and
// authenticate, the cluster name, the sender (a member, not this node),
// the link, the sent time, the replay window, then the challenge; it
// counts the outcome in Counters, whose Snapshot is for status.
package wire
