// Package wire is the heartbeat packet of hactl-agent: its format, its
// authentication and the checks that reject forged, replayed and stale
// packets before the membership engine sees them.
//
// # The packet
//
// A packet is a small binary envelope followed by an HMAC:
//
//	"HACTL"          5 bytes  magic
//	version          1 byte   Version (1)
//	key id           1 byte   KeyCurrent (0) or KeyPrevious (1): the key the sender signed with
//	cluster          1 byte length + bytes
//	from             1 byte length + bytes
//	generation       8 bytes  big-endian
//	seq              8 bytes  big-endian
//	sent             8 bytes  big-endian, sender's clock, Unix nanoseconds
//	link             1 byte length + bytes
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
// version. A typical packet is a few hundred bytes (286 for the tests'
// one) and takes about 2 µs to encode and 7 µs to authenticate and decode
// (see the benchmarks), far below any heartbeat interval. A compact binary
// payload would be faster but would need a version bump or a
// tag-length-value scheme for every new field.
//
// To extend State: add a field with a json tag and omitempty whose zero
// value means "what older agents did". Never rename or retype a field —
// add a new one. Changes to the envelope itself bump Version.
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
// # Replays and stale packets
//
// Each agent picks its Generation as its start time in Unix nanoseconds
// (NewGeneration), so a restarted agent has a larger one, and numbers its
// packets from 1 across all its links. ReplayGuard remembers, per peer,
// the newest generation and a 64-packet sliding window of sequence
// numbers (as IPsec and WireGuard do): the same packet arriving on two
// links counts once, a packet delayed within the window is accepted once,
// anything older or from an older generation is stale. A generation more
// than MaxFuture ahead of the receiver's clock is refused (ErrFuture): a
// peer with a clock far ahead would otherwise lock out its own next
// start, whose generation would be smaller. Clocks must therefore agree
// within MaxFuture, and an agent restarted after its clock was stepped
// back is heard again once its new generation passes the old one — at
// most MaxFuture later.
//
// Receiver.Accept chains it all for one received datagram: decode and
// authenticate, the cluster name, the sender (a member, not this node),
// then the replay window; it counts the outcome in Counters, whose
// Snapshot is for status.
package wire
