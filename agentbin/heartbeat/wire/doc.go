// Package wire is the heartbeat packet of hactl-agent: its format, its
// authentication and the checks that reject forged, replayed and stale
// packets before the membership engine sees them.
//
// # The packet
//
// A packet is a small binary envelope followed by an HMAC:
//
//	"HACTL"          5 bytes  magic
//	version          1 byte   Version (2)
//	key id           1 byte   KeyCurrent (0) or KeyPrevious (1): the key the sender signed with
//	cluster          1 byte length + bytes
//	from             1 byte length + bytes
//	generation       8 bytes  big-endian
//	seq              8 bytes  big-endian
//	sent             8 bytes  big-endian, sender's clock, Unix nanoseconds
//	link             1 byte length + bytes
//	heard            1 byte count, then per peer: 1 byte length + name, 8 bytes generation
//	state            the rest up to the HMAC: JSON of State
//	hmac             32 bytes HMAC-SHA-256 with the cluster key over everything before it
//
// A packet is at most MaxPacket bytes. Decode checks, in this order, the
// size, the magic, the version and the HMAC (with hmac.Equal), and only
// then parses the header and the payload, so unauthenticated bytes reach
// no parser. Every refusal is one of the typed errors below (ErrShort,
// ErrTooBig, ErrMagic, ErrVersion, ErrAuth, ErrMalformed), wrapped with a
// detail; the engine counts drops by reason with Counters.Count.
//
// # Why the state is JSON
//
// The header is fixed binary because every packet needs it and the
// receiver checks it before anything else. The state is JSON because it
// is what changes from one release to the next: an older agent ignores
// fields it does not know and a newer one sees the zero value of fields
// an older peer does not send, so a rolling upgrade needs no new envelope
// version. A typical packet is a few hundred bytes (325 for the tests'
// one) and takes about 2 µs to encode and 7 µs to authenticate and decode
// (see the benchmarks), far below any heartbeat interval. A compact binary
// payload would be faster but would need a version bump or a
// tag-length-value scheme for every new field.
//
// To extend State: add a field with a json tag and omitempty whose zero
// value means "what older agents did". Never rename or retype a field —
// add a new one. Changes to the envelope itself bump Version, and agents
// of two versions do not hear each other (ErrVersion): version 2 added
// the heard generations and the link binding, so agents of version 1 and
// 2 must not be mixed — upgrade every member in one apply.
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
