package wire

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// The state of a version-3 packet is a list of fields, each a tag byte,
// the length of its value (uvarint) and the value. Tags go up through the
// list; only moves and echoes repeat (one field each). A reader skips the
// tags it does not know and the bytes past what it reads of a field's
// value, so that a later release can add a tag, or append to a move or an
// echo, without a new version (see the package documentation).
const (
	tagFlags       = 1 // one byte of flag bits, below
	tagUptime      = 2 // varint, nanoseconds
	tagHeld        = 3 // names: each a uvarint length and the bytes
	tagStarting    = 4
	tagStopping    = 5
	tagFailed      = 6
	tagCannotServe = 7
	tagMove        = 8  // group, to (names), epoch (uvarint), until (varint)
	tagEcho        = 9  // peer, link (names), seq (uvarint), recv, sent (varints)
	tagSpeaks      = 10 // one byte: the newest version the sender reads
)

const (
	flagStandby = 1 << iota
	flagMaintenance
	flagQuorate
	flagLeaving
)

// appendState appends st in the binary form, with speaks when it is more
// than the envelope's version (which implies it).
func appendState(b []byte, st *State, speaks byte) []byte {
	var flags byte
	for _, f := range []struct {
		on  bool
		bit byte
	}{{st.Standby, flagStandby}, {st.Maintenance, flagMaintenance}, {st.Quorate, flagQuorate}, {st.Leaving, flagLeaving}} {
		if f.on {
			flags |= f.bit
		}
	}
	if flags != 0 {
		b = append(b, tagFlags, 1, flags)
	}
	if st.Uptime != 0 {
		b = append(b, tagUptime, byte(varintLen(int64(st.Uptime))))
		b = binary.AppendVarint(b, int64(st.Uptime))
	}
	for _, l := range []struct {
		tag   byte
		names []string
	}{{tagHeld, st.Held}, {tagStarting, st.Starting}, {tagStopping, st.Stopping}, {tagFailed, st.Failed}, {tagCannotServe, st.CannotServe}} {
		if len(l.names) == 0 {
			continue
		}
		n := 0
		for _, s := range l.names {
			n += nameLen(s)
		}
		b = binary.AppendUvarint(append(b, l.tag), uint64(n))
		for _, s := range l.names {
			b = appendStateName(b, s)
		}
	}
	for _, m := range st.Moves {
		n := nameLen(m.Group) + nameLen(m.To) + uvarintLen(m.Epoch) + varintLen(m.UntilUnixNano)
		b = binary.AppendUvarint(append(b, tagMove), uint64(n))
		b = appendStateName(appendStateName(b, m.Group), m.To)
		b = binary.AppendVarint(binary.AppendUvarint(b, m.Epoch), m.UntilUnixNano)
	}
	for _, e := range st.Echo {
		n := nameLen(e.Peer) + nameLen(e.Link) + uvarintLen(e.Seq) + varintLen(e.RecvUnixNano) + varintLen(e.SentUnixNano)
		b = binary.AppendUvarint(append(b, tagEcho), uint64(n))
		b = appendStateName(appendStateName(b, e.Peer), e.Link)
		b = binary.AppendUvarint(b, e.Seq)
		b = binary.AppendVarint(binary.AppendVarint(b, e.RecvUnixNano), e.SentUnixNano)
	}
	if speaks > 3 {
		b = append(b, tagSpeaks, 1, speaks)
	}
	return b
}

// parseState reads a binary state into st and returns the version the
// sender says it reads (0 if it says nothing). Every length is checked
// against what is left, so that no input makes it read past b or
// allocate more than b's size.
func parseState(b []byte, st *State) (speaks byte, err error) {
	last := 0
	for len(b) > 0 {
		tag := int(b[0])
		n, k := binary.Uvarint(b[1:])
		if k <= 0 || n > uint64(len(b)-1-k) {
			return 0, fmt.Errorf("%w: state field %d: length cut short or past the end", ErrMalformed, tag)
		}
		v := b[1+k : 1+k+int(n)]
		b = b[1+k+int(n):]
		if tag < last || tag == last && tag != tagMove && tag != tagEcho {
			return 0, fmt.Errorf("%w: state field %d after field %d", ErrMalformed, tag, last)
		}
		last = tag
		r := stateReader{b: v}
		switch tag {
		case tagFlags:
			f := r.byte()
			st.Standby, st.Maintenance = f&flagStandby != 0, f&flagMaintenance != 0
			st.Quorate, st.Leaving = f&flagQuorate != 0, f&flagLeaving != 0
		case tagUptime:
			st.Uptime = time.Duration(r.varint())
		case tagHeld, tagStarting, tagStopping, tagFailed, tagCannotServe:
			list := []*[]string{&st.Held, &st.Starting, &st.Stopping, &st.Failed, &st.CannotServe}[tag-tagHeld]
			if len(v) == 0 {
				return 0, fmt.Errorf("%w: state field %d is empty", ErrMalformed, tag)
			}
			for len(r.b) > 0 && !r.short {
				*list = append(*list, r.name())
			}
		case tagMove:
			st.Moves = append(st.Moves, Move{Group: r.name(), To: r.name(), Epoch: r.uvarint(), UntilUnixNano: r.varint()})
		case tagEcho:
			st.Echo = append(st.Echo, Echo{Peer: r.name(), Link: r.name(), Seq: r.uvarint(), RecvUnixNano: r.varint(), SentUnixNano: r.varint()})
		case tagSpeaks:
			speaks = r.byte()
		}
		if r.short {
			return 0, fmt.Errorf("%w: state field %d cut short", ErrMalformed, tag)
		}
	}
	return speaks, nil
}

// jsonState is a version-2 packet's state: State's JSON with the version
// its sender reads, which agents of version 2 ignore.
type jsonState struct {
	*State
	Speaks byte `json:"speaks,omitempty"`
}

func appendJSONState(b []byte, st *State, speaks byte) ([]byte, error) {
	js := jsonState{State: st}
	if speaks > 2 {
		js.Speaks = speaks
	}
	payload, err := json.Marshal(&js)
	if err != nil {
		return nil, fmt.Errorf("encoding heartbeat state: %w", err)
	}
	return append(b, payload...), nil
}

func parseJSONState(b []byte, st *State) (speaks byte, err error) {
	// Encode always writes an object; refuse "null" and the like.
	if len(b) == 0 || b[0] != '{' {
		return 0, fmt.Errorf("%w: state is not a JSON object", ErrMalformed)
	}
	js := jsonState{State: st}
	if err := json.Unmarshal(b, &js); err != nil {
		return 0, fmt.Errorf("%w: state: %v", ErrMalformed, err)
	}
	return js.Speaks, nil
}

func appendStateName(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func nameLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// varintLen is the length of binary.AppendVarint's v (zig-zag encoded).
func varintLen(v int64) int { return uvarintLen(uint64(v<<1) ^ uint64(v>>63)) }

// stateReader takes the parts of one state field's value off b; short
// records that b ran out or a number was not a valid varint.
type stateReader struct {
	b     []byte
	short bool
}

func (r *stateReader) byte() byte {
	if len(r.b) == 0 {
		r.short = true
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *stateReader) uvarint() uint64 { return number(r, binary.Uvarint) }

func (r *stateReader) varint() int64 { return number(r, binary.Varint) }

// number takes a number off r with read (binary.Uvarint or Varint).
func number[T uint64 | int64](r *stateReader, read func([]byte) (T, int)) T {
	v, k := read(r.b)
	if k <= 0 {
		r.short, r.b = true, nil
		return 0
	}
	r.b = r.b[k:]
	return v
}

func (r *stateReader) name() string {
	n := r.uvarint()
	if r.short || n > uint64(len(r.b)) {
		r.short, r.b = true, nil
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
