package wire

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Version is the newest envelope version this package writes and reads.
// Version 2 added the heard generations (Packet.Heard) and binds a packet
// to its link; version 3 carries the state in a binary form instead of
// JSON. MinVersion is the oldest it reads and writes: a node sends
// version 2 while a peer of version 2 is in the cluster (see the package
// documentation).
const (
	Version    byte = 3
	MinVersion byte = 2
)

// MaxPacket is the largest packet Encode writes and Decode reads.
const MaxPacket = 8 << 10

// MaxName is the longest cluster, node or link name in a packet.
const MaxName = 255

// MaxHeard is the most peers a packet can name in Packet.Heard.
const MaxHeard = 255

// Key ids: which key signed a packet.
const (
	KeyCurrent  byte = 0
	KeyPrevious byte = 1
)

const (
	magic   = "HACTL"
	macSize = sha256.Size
	// minPacket is a packet with empty names, nothing heard and an
	// empty state (as version 3 writes it).
	minPacket = len(magic) + 1 + 1 + 1 + 1 + 3*8 + 1 + 1 + macSize
)

// Reasons a packet is refused. Decode, Check and Receiver.Accept wrap
// them with details; test with errors.Is.
var (
	ErrShort     = errors.New("packet too short")
	ErrTooBig    = errors.New("packet too big")
	ErrMagic     = errors.New("not a hactl heartbeat")
	ErrVersion   = errors.New("unsupported heartbeat version")
	ErrAuth      = errors.New("heartbeat authentication failed")
	ErrMalformed = errors.New("malformed heartbeat")
)

// Packet is one heartbeat.
type Packet struct {
	Cluster string // cluster name
	From    string // sender's node name
	// Generation numbers the sender agent's starts: larger after every
	// restart, reboot included (see NextGeneration).
	Generation uint64
	// Seq numbers the sender's packets from 1 within a generation, across
	// all links.
	Seq uint64
	// SentUnixNano is the sender's clock when it sent the packet: a
	// receiver refuses it when that is more than MaxSkew from its own
	// clock, and echoes it back for round-trip times.
	SentUnixNano int64
	// Link is the link the sender sent it on: a receiver refuses it on
	// any other.
	Link string
	// Heard is, per peer, the newest generation the sender has heard of
	// it, sorted by node: the answer to each peer's challenge (see
	// Answers).
	Heard []Heard
	State State
	// KeyID is, after Decode, which of the receiver's keys authenticated
	// the packet: KeyCurrent or KeyPrevious. Encode ignores it.
	KeyID byte
	// SenderKeyID is, after Decode, the key id the sender wrote: which of
	// its keys it signed with. Encode ignores it.
	SenderKeyID byte
	// Version is the envelope's: after Decode, the one the packet had;
	// for Encode, the one to write, from MinVersion to Version (zero:
	// Version).
	Version byte
	// Speaks is the newest version the sender reads. Decode makes it at
	// least the packet's Version; Encode writes it where it is more than
	// that (an agent that reads version 3 sending version 2 to an older
	// peer says so), and a sender sets it to Version.
	Speaks byte
}

// Heard is a peer's generation as the sender of a packet last heard it.
type Heard struct {
	Node       string
	Generation uint64
}

// Answers reports whether p's sender had heard node's generation gen when
// it sent p: proof that p was made after that agent of node started,
// which no packet captured before could give.
func (p *Packet) Answers(node string, gen uint64) bool {
	for _, h := range p.Heard {
		if h.Node == node {
			return h.Generation == gen
		}
	}
	return false
}

// SenderKnowsCurrentKey reports whether p's sender can verify packets
// signed with the receiver's current key: it signed p with that key, or
// it signed with its own previous key, so it is in a key rotation too and
// its current key is the new one. See Keys.Signing.
func (p *Packet) SenderKnowsCurrentKey() bool {
	return p.KeyID == KeyCurrent || p.SenderKeyID == KeyPrevious
}

// State is what a node tells its peers about itself. See the package
// documentation before adding a field.
type State struct {
	Standby     bool     `json:"standby,omitempty"`
	Maintenance bool     `json:"maintenance,omitempty"`
	Quorate     bool     `json:"quorate,omitempty"`
	Held        []string `json:"held,omitempty"`     // groups this node runs
	Starting    []string `json:"starting,omitempty"` // groups it is starting
	Stopping    []string `json:"stopping,omitempty"` // groups it is stopping
	Failed      []string `json:"failed,omitempty"`   // groups that failed there and must not return
	Moves       []Move   `json:"moves,omitempty"`    // manual placements it knows
	Echo        []Echo   `json:"echo,omitempty"`     // last packet heard from each peer
	// CannotServe lists the groups this node may run but cannot serve
	// now (a VIP's interface without carrier), sorted. Older agents send
	// none: they are taken to serve every group they may run.
	CannotServe []string `json:"cannot_serve,omitempty"`
	// Uptime is how long the sender's agent has been running.
	Uptime time.Duration `json:"uptime,omitempty"`
	// Leaving says that the sender's agent is stopping (a restart, an
	// upgrade, a changed spec): it keeps the groups it lists in Held
	// running, and a new agent takes them over as its own. Peers neither
	// count it dead nor fence it while it restarts (see the heartbeat
	// package). Older agents send none, and stop silently.
	Leaving bool `json:"leaving,omitempty"`
}

// Move is a manual placement of a group (hactl failover); the highest
// Epoch per group wins. A move that ended (cleared, expired, its target
// gone) travels on with an empty To, so that it ends everywhere.
type Move struct {
	Group string `json:"group"`
	To    string `json:"to"`
	Epoch uint64 `json:"epoch"`
	// UntilUnixNano is when the move expires (hactl failover --for), the
	// sender's clock; zero: no expiry.
	UntilUnixNano int64 `json:"until,omitempty"`
}

// Echo returns to a peer the last packet heard from it, so the peer can
// measure the round trip with its own clock (see RTT).
type Echo struct {
	Peer string `json:"peer"`
	// Link is the link the echoed packet arrived on, so round-trip times
	// can be kept per link.
	Link         string `json:"link,omitempty"`
	Seq          uint64 `json:"seq"`
	RecvUnixNano int64  `json:"recv"` // when this node received it, its clock
	SentUnixNano int64  `json:"sent"` // the echoed packet's SentUnixNano, the peer's clock
}

// RTT is the round-trip time e measures, for the node that sent the
// echoed packet, on receiving p that carries e at now: the time since it
// sent the original less the time the peer held it before answering.
// Each difference is taken on one clock, so clock offsets cancel.
func RTT(p *Packet, e Echo, now time.Time) time.Duration {
	rtt := (now.UnixNano() - e.SentUnixNano) - (p.SentUnixNano - e.RecvUnixNano)
	return time.Duration(max(rtt, 0))
}

// Encode makes the packet for p, signed with key; keyID says which of the
// sender's keys that is (KeyCurrent or KeyPrevious).
func Encode(p *Packet, key []byte, keyID byte) ([]byte, error) {
	return AppendEncode(make([]byte, 0, 512), p, key, keyID)
}

// AppendEncode is Encode appending the packet to dst, so that a sender
// can use one buffer for all its packets.
func AppendEncode(dst []byte, p *Packet, key []byte, keyID byte) ([]byte, error) {
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("encoding heartbeat: key of %d bytes, need at least %d", len(key), MinKeySize)
	}
	if keyID != KeyCurrent && keyID != KeyPrevious {
		return nil, fmt.Errorf("encoding heartbeat: key id %d is neither current (0) nor previous (1)", keyID)
	}
	version := p.Version
	if version == 0 {
		version = Version
	}
	if version < MinVersion || version > Version {
		return nil, fmt.Errorf("encoding heartbeat: %w %d, this agent writes %d to %d", ErrVersion, version, MinVersion, Version)
	}
	if err := checkHeader(p); err != nil {
		return nil, fmt.Errorf("encoding heartbeat: %w", err)
	}
	start := len(dst)
	b := append(dst, magic...)
	b = append(b, version, keyID)
	b = appendName(b, p.Cluster)
	b = appendName(b, p.From)
	b = binary.BigEndian.AppendUint64(b, p.Generation)
	b = binary.BigEndian.AppendUint64(b, p.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(p.SentUnixNano))
	b = appendName(b, p.Link)
	b = append(b, byte(len(p.Heard)))
	for _, h := range p.Heard {
		b = appendName(b, h.Node)
		b = binary.BigEndian.AppendUint64(b, h.Generation)
	}
	if version == 2 {
		var err error
		if b, err = appendJSONState(b, &p.State, p.Speaks); err != nil {
			return nil, err
		}
	} else {
		b = appendState(b, &p.State, p.Speaks)
	}
	if size := len(b) - start + macSize; size > MaxPacket {
		return nil, fmt.Errorf("encoding heartbeat: %w: %d bytes, the most is %d", ErrTooBig, size, MaxPacket)
	}
	return appendMAC(b, b[start:], key), nil
}

// Decode authenticates b with keys and returns its packet. It never
// parses a byte of header or payload before the HMAC is verified.
func Decode(b []byte, keys Keys) (*Packet, error) {
	switch {
	case len(b) > MaxPacket:
		return nil, fmt.Errorf("%w: %d bytes, the most is %d", ErrTooBig, len(b), MaxPacket)
	case len(b) < minPacket:
		return nil, fmt.Errorf("%w: %d bytes, the least is %d", ErrShort, len(b), minPacket)
	case string(b[:len(magic)]) != magic:
		return nil, ErrMagic
	case b[len(magic)] < MinVersion || b[len(magic)] > Version:
		return nil, fmt.Errorf("%w %d, this agent reads %d to %d: every member must run a release that reads the others' (upgrade the older ones)", ErrVersion, b[len(magic)], MinVersion, Version)
	}
	body, mac := b[:len(b)-macSize], b[len(b)-macSize:]
	senderKeyID := body[len(magic)+1]
	keyID, err := keys.verify(body, mac, senderKeyID)
	if err != nil {
		return nil, err
	}
	r := reader{b: body[len(magic)+2:]}
	p := &Packet{
		Cluster:      r.name(),
		From:         r.name(),
		Generation:   r.uint64(),
		Seq:          r.uint64(),
		SentUnixNano: int64(r.uint64()),
		Link:         r.name(),
		KeyID:        keyID,
		SenderKeyID:  senderKeyID,
		Version:      b[len(magic)],
	}
	if n := r.take(1); n != nil && n[0] > 0 {
		p.Heard = make([]Heard, n[0])
		for i := range p.Heard {
			p.Heard[i] = Heard{Node: r.name(), Generation: r.uint64()}
		}
	}
	if r.short {
		return nil, fmt.Errorf("%w: header cut short", ErrMalformed)
	}
	if err := checkHeader(p); err != nil {
		return nil, err
	}
	parse := parseState
	if p.Version == 2 {
		parse = parseJSONState
	}
	speaks, err := parse(r.b, &p.State)
	if err != nil {
		return nil, err
	}
	p.Speaks = max(speaks, p.Version)
	return p, nil
}

// checkHeader checks the fields the envelope carries.
func checkHeader(p *Packet) error {
	for _, f := range []struct{ what, v string }{{"cluster", p.Cluster}, {"from", p.From}, {"link", p.Link}} {
		if err := checkName(f.what, f.v); err != nil {
			return err
		}
	}
	if p.Generation == 0 || p.Seq == 0 {
		return fmt.Errorf("%w: generation and seq start at 1", ErrMalformed)
	}
	if len(p.Heard) > MaxHeard {
		return fmt.Errorf("%w: %d peers heard, the most is %d", ErrMalformed, len(p.Heard), MaxHeard)
	}
	for _, h := range p.Heard {
		if err := checkName("heard node", h.Node); err != nil {
			return err
		}
	}
	return nil
}

// checkName checks a name of the header; only a link may be empty.
func checkName(what, v string) error {
	switch {
	case v == "" && what != "link":
		return fmt.Errorf("%w: empty %s name", ErrMalformed, what)
	case len(v) > MaxName:
		return fmt.Errorf("%w: %s name of %d bytes, the most is %d", ErrMalformed, what, len(v), MaxName)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: %s name is not UTF-8", ErrMalformed, what)
	}
	return nil
}

func appendName(b []byte, s string) []byte {
	return append(append(b, byte(len(s))), s...)
}

// reader takes header fields off b; short records that b ran out.
type reader struct {
	b     []byte
	short bool
}

func (r *reader) take(n int) []byte {
	if len(r.b) < n {
		r.short = true
		r.b = nil
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) name() string {
	n := r.take(1)
	if n == nil {
		return ""
	}
	return string(r.take(int(n[0])))
}

func (r *reader) uint64() uint64 {
	v := r.take(8)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}
