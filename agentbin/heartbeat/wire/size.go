package wire

import "unicode/utf8"

// The sizes below are upper bounds of the state Encode writes, in either
// version: of its JSON (version 2, with the versions its sender reads),
// which the binary state of version 3 never exceeds. They are computed
// without encoding it, so that a sender can fit its state to a packet (the
// engine sends what must go in every packet and spreads manual moves and
// echoes over several) and hactl validate can compute a configuration's
// worst case. They never undercount (a test checks them against both
// encodings) and overcount only numbers, counted at their longest.

// StateRoom is how many bytes of state fit in a packet with these names
// and heard generations in its header.
func StateRoom(cluster, from, link string, heard []Heard) int {
	header := minPacket + len(cluster) + len(from) + len(link)
	for _, h := range heard {
		header += heardSize(h.Node)
	}
	return MaxPacket - header
}

// heardSize is the length of one heard generation in the header: the
// node's name with its length byte, and the generation.
func heardSize(node string) int { return 1 + len(node) + 8 }

// maxNumber is the longest decimal number State carries: an int64 or
// uint64, with sign.
const maxNumber = 20

// QuotedSize is the length of s as a JSON string, quotes included, as
// encoding/json writes it: HTML characters, U+2028, U+2029, invalid UTF-8
// and control characters escaped as \uXXXX (counted so even where a
// shorter escape exists).
func QuotedSize(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			case c == '"' || c == '\\':
				n += 2
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			n += 6
		} else {
			n += size
		}
		i += size
	}
	return n
}

// MoveSize bounds a move of group to node to in a state's moves, with the
// comma that separates it from the next.
func MoveSize(group, to string) int {
	return len(`{"group":,"to":,"epoch":,"until":},`) + QuotedSize(group) + QuotedSize(to) + 2*maxNumber
}

// EchoSize bounds an echo to peer on link in a state's echoes, with the
// comma that separates it from the next.
func EchoSize(peer, link string) int {
	return len(`{"peer":,"link":,"seq":,"recv":,"sent":},`) + QuotedSize(peer) + QuotedSize(link) + 3*maxNumber
}

// listSize bounds a list of names with its key, as in `"held":[...],`.
func listSize(key string, names []string) int {
	if len(names) == 0 {
		return 0
	}
	n := len(`"":[],`) + len(key)
	for _, s := range names {
		n += QuotedSize(s) + 1
	}
	return n
}

// fixedSize bounds the flags, the uptime, the version spoken and the
// braces.
var fixedSize = len(`{"standby":true,"maintenance":true,"quorate":true,"uptime":,"leaving":true,"speaks":255}`) + maxNumber

// Size bounds the length of s's JSON.
func (s *State) Size() int {
	n := fixedSize + s.CoreSize()
	if len(s.Moves) > 0 {
		n += len(`"moves":[],`)
		for _, m := range s.Moves {
			n += MoveSize(m.Group, m.To)
		}
	}
	if len(s.Echo) > 0 {
		n += len(`"echo":[],`)
		for _, e := range s.Echo {
			n += EchoSize(e.Peer, e.Link)
		}
	}
	return n
}

// CoreSize bounds the lists of groups in s, which every packet carries
// whole: a peer takes each packet's lists as the sender's whole truth.
func (s *State) CoreSize() int {
	return listSize("held", s.Held) + listSize("starting", s.Starting) + listSize("stopping", s.Stopping) +
		listSize("failed", s.Failed) + listSize("cannot_serve", s.CannotServe)
}

// WorstSize bounds the state of a node that may run groups, talks to
// peers over links, carries at least one manual move and one echo in
// each packet (the rest wait for later packets) and at most all of them:
// every group in the longest of the lists a group can be in and in
// CannotServe, every flag set. It is what hactl validate checks against
// StateRoom. minimal is the bound with one move and one echo, full with
// a move per group and an echo per peer on one link.
func WorstSize(groups, nodes, links []string) (minimal, full int) {
	longest := func(names []string) string {
		l := ""
		for _, s := range names {
			if QuotedSize(s) > QuotedSize(l) {
				l = s
			}
		}
		return l
	}
	// A group is in one of held, starting, stopping or failed; counting
	// every group in one list and each list's key once is the worst.
	core := fixedSize + listSize("cannot_serve", groups) + listSize("stopping", groups) +
		len(`"held":[],"starting":[],"failed":[],`)
	moves := len(`"moves":[],`)
	echoes := len(`"echo":[],`)
	move, echo := MoveSize(longest(groups), longest(nodes)), EchoSize(longest(nodes), longest(links))
	minimal = core + moves + move + echoes + echo
	full = core + moves + len(groups)*move + echoes + max(len(nodes)-1, 1)*echo
	return minimal, full
}
