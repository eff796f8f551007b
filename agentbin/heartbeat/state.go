package heartbeat

import "github.com/hactl/hactl/agentbin/heartbeat/wire"

// The state a node sends must fit one packet (wire.MaxPacket), or the
// node falls silent on every link and is fenced. Its parts differ:
//
//   - the flags and the lists of groups (held, starting, stopping,
//     failed, cannot serve) are the sender's whole truth, which a peer
//     takes from each packet as it is: they go whole in every packet;
//     hactl validate checks that they fit for every node (wire.WorstSize);
//   - manual moves are gossip that a peer merges (the newest per group
//     wins), and echoes only measure round trips: a packet carries as
//     many as fit, up to maxMovesPerPacket moves, and the next packets
//     carry the others in turn.
//
// A node only keeps moves of the groups it may run (mergeMoves), so its
// moves are at most one per group, and every member that may run a group
// hears the others directly. If the lists themselves ever did not fit (a
// configuration that bypassed validate), the packet still goes, with the
// lists cut short, logged and counted in status: a node that cannot tell
// all it runs is better heard than fenced.

// maxMovesPerPacket bounds the moves in one packet: ended moves are kept
// for good (so that a peer that missed the end cannot bring a move back)
// and would otherwise make every packet longer to decode.
const maxMovesPerPacket = 8

// fitState is the state of one packet of room bytes: core's flags and
// lists, then as many echoes and moves as fit, each in a circle from the
// echoTurn-th echo and the moveTurn-th move on, at most
// maxMovesPerPacket moves; the sender moves the turns on by as many as
// went. trimmed says that core's lists did not fit whole and were cut
// short.
func fitState(core wire.State, echoes []wire.Echo, echoTurn int, moves []wire.Move, moveTurn int, room int) (st wire.State, trimmed bool) {
	st = core
	st.Echo, st.Moves = nil, nil
	if st.Size() > room {
		st, trimmed = trimLists(core, room), true
	}
	size := st.Size()
	for i := range echoes {
		e := echoes[(echoTurn+i)%len(echoes)]
		n := wire.EchoSize(e.Peer, e.Link)
		if len(st.Echo) == 0 {
			n += len(`"echo":[],`)
		}
		if size+n > room {
			break
		}
		st.Echo, size = append(st.Echo, e), size+n
	}
	for i := range min(len(moves), maxMovesPerPacket) {
		m := moves[(moveTurn+i)%len(moves)]
		n := wire.MoveSize(m.Group, m.To)
		if len(st.Moves) == 0 {
			n += len(`"moves":[],`)
		}
		if size+n > room {
			break
		}
		st.Moves, size = append(st.Moves, m), size+n
	}
	return st, trimmed
}

// trimLists cuts core's lists to room, keeping first what matters most to
// the peers: the groups it holds (so that nobody else starts them), then
// those it stops and starts, then the others.
func trimLists(core wire.State, room int) wire.State {
	st := wire.State{Standby: core.Standby, Maintenance: core.Maintenance, Quorate: core.Quorate, Uptime: core.Uptime, Leaving: core.Leaving}
	for _, l := range []struct {
		from []string
		to   *[]string
	}{{core.Held, &st.Held}, {core.Stopping, &st.Stopping}, {core.Starting, &st.Starting}, {core.Failed, &st.Failed}, {core.CannotServe, &st.CannotServe}} {
		for _, name := range l.from {
			*l.to = append(*l.to, name)
			if st.Size() > room {
				*l.to = (*l.to)[:len(*l.to)-1]
				return st
			}
		}
	}
	return st
}
