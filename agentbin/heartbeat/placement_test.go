package heartbeat

import (
	"testing"
	"time"
)

func TestPlace(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	web := GroupPlan{Name: "web", Locations: []Location{{"h2g", 200}, {"c2g", 100}}, Failback: true}
	sticky := web
	sticky.Failback = false
	delayed := web
	delayed.FailbackDelay = time.Minute
	alive := func(nodes ...string) map[string]time.Time {
		m := map[string]time.Time{}
		for _, n := range nodes {
			m[n] = now.Add(-time.Hour)
		}
		return m
	}
	tests := []struct {
		name string
		g    GroupPlan
		v    View
		want string
	}{
		{"both alive, nobody holds: the preferred node", web, View{AliveSince: alive("h2g", "c2g")}, "h2g"},
		{"preferred node dead: the next", web, View{AliveSince: alive("c2g")}, "c2g"},
		{"nobody alive that may run it", web, View{AliveSince: alive("f400")}, ""},
		{"preferred node in standby", web, View{AliveSince: alive("h2g", "c2g"), Standby: map[string]bool{"h2g": true}}, "c2g"},
		{"failback: the preferred node returns and takes it back", web,
			View{AliveSince: alive("h2g", "c2g"), Holders: map[string][]string{"web": {"c2g"}}}, "h2g"},
		{"no failback: the group stays where it runs", sticky,
			View{AliveSince: alive("h2g", "c2g"), Holders: map[string][]string{"web": {"c2g"}}}, "c2g"},
		{"failback delay not over: stays", delayed,
			View{AliveSince: map[string]time.Time{"h2g": now.Add(-10 * time.Second), "c2g": now.Add(-time.Hour)}, Holders: map[string][]string{"web": {"c2g"}}, Now: now}, "c2g"},
		{"failback delay over: moves back", delayed,
			View{AliveSince: map[string]time.Time{"h2g": now.Add(-2 * time.Minute), "c2g": now.Add(-time.Hour)}, Holders: map[string][]string{"web": {"c2g"}}, Now: now}, "h2g"},
		{"manual move wins over failback", web,
			View{AliveSince: alive("h2g", "c2g"), Holders: map[string][]string{"web": {"h2g"}}, Moves: map[string]Move{"web": {To: "c2g", Epoch: 1}}}, "c2g"},
		{"manual move to a dead node is ignored", web,
			View{AliveSince: alive("h2g"), Moves: map[string]Move{"web": {To: "c2g", Epoch: 1}}}, "h2g"},
		{"an expired move no longer places: failback does", web,
			View{AliveSince: alive("h2g", "c2g"), Holders: map[string][]string{"web": {"c2g"}}, Moves: map[string]Move{"web": {To: "c2g", Epoch: 1, Until: now.Add(-time.Second)}}}, "h2g"},
		{"a move not expired yet holds", web,
			View{AliveSince: alive("h2g", "c2g"), Holders: map[string][]string{"web": {"c2g"}}, Moves: map[string]Move{"web": {To: "c2g", Epoch: 1, Until: now.Add(time.Second)}}}, "c2g"},
		{"an ended move places nothing: no failback keeps it where it runs", sticky,
			View{AliveSince: alive("h2g", "c2g"), Holders: map[string][]string{"web": {"c2g"}}, Moves: map[string]Move{"web": {Epoch: 2}}}, "c2g"},
		{"an ended move places nothing: failback waits for its delay", delayed,
			View{AliveSince: map[string]time.Time{"h2g": now.Add(-10 * time.Second), "c2g": now.Add(-time.Hour)}, Holders: map[string][]string{"web": {"c2g"}}, Moves: map[string]Move{"web": {Epoch: 2}}, Now: now}, "c2g"},
		{"two holders after a partition: the better placed keeps it (no failback)", sticky,
			View{AliveSince: alive("h2g", "c2g"), Holders: map[string][]string{"web": {"c2g", "h2g"}}}, "h2g"},
		{"holder cannot serve: the group moves to a node that can", sticky,
			View{AliveSince: alive("h2g", "c2g"), Holders: map[string][]string{"web": {"h2g"}}, CannotServe: map[string][]string{"h2g": {"web"}}}, "c2g"},
		{"preferred node cannot serve: nobody holds, the next that can", web,
			View{AliveSince: alive("h2g", "c2g"), CannotServe: map[string][]string{"h2g": {"web"}}}, "c2g"},
		{"failback waits while the preferred node cannot serve", web,
			View{AliveSince: alive("h2g", "c2g"), Holders: map[string][]string{"web": {"c2g"}}, CannotServe: map[string][]string{"h2g": {"web"}}}, "c2g"},
		{"nobody can serve: placement as if all could", sticky,
			View{AliveSince: alive("h2g", "c2g"), Holders: map[string][]string{"web": {"c2g"}}, CannotServe: map[string][]string{"h2g": {"web"}, "c2g": {"web"}}}, "c2g"},
		{"cannot serve another group: no effect", web,
			View{AliveSince: alive("h2g", "c2g"), Holders: map[string][]string{"web": {"h2g"}}, CannotServe: map[string][]string{"h2g": {"db"}}}, "h2g"},
		{"a manual move to a node that cannot serve waits", web,
			View{AliveSince: alive("h2g", "c2g"), Moves: map[string]Move{"web": {To: "c2g", Epoch: 1}}, CannotServe: map[string][]string{"c2g": {"web"}}}, "h2g"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.v.Now.IsZero() {
				tt.v.Now = now
			}
			if got := Place(tt.g, tt.v); got != tt.want {
				t.Errorf("Place = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMoveEnd(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	web := GroupPlan{Name: "web", Locations: []Location{{"h2g", 200}, {"c2g", 100}}}
	onlyH2g := GroupPlan{Name: "web", Locations: []Location{{"h2g", 200}}}
	alive := map[string]time.Time{"h2g": now, "c2g": now}
	toC2g := map[string]Move{"web": {To: "c2g", Epoch: 7}}
	tests := []struct {
		name string
		g    GroupPlan
		v    View
		want string
	}{
		{"no move", web, View{AliveSince: alive}, ""},
		{"an ended move stays ended", web, View{AliveSince: alive, Moves: map[string]Move{"web": {Epoch: 8}}}, ""},
		{"target alive and online: holds", web, View{AliveSince: alive, Moves: toC2g}, ""},
		{"target not heard yet since this node started: holds", web,
			View{AliveSince: map[string]time.Time{"h2g": now}, Moves: toC2g}, ""},
		{"target died", web, View{AliveSince: map[string]time.Time{"h2g": now}, Dead: map[string]bool{"c2g": true}, Moves: toC2g}, "c2g died"},
		{"target in standby", web, View{AliveSince: alive, Standby: map[string]bool{"c2g": true}, Moves: toC2g}, "c2g is in standby"},
		{"target failed the group", onlyH2g, View{AliveSince: alive, Moves: toC2g}, "c2g may no longer run it"},
		{"expiry passed", web, View{AliveSince: alive, Moves: map[string]Move{"web": {To: "c2g", Epoch: 7, Until: now}}}, "expired"},
		{"expiry ahead", web, View{AliveSince: alive, Moves: map[string]Move{"web": {To: "c2g", Epoch: 7, Until: now.Add(time.Minute)}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.v.Now = now
			if got := MoveEnd(tt.g, tt.v); got != tt.want {
				t.Errorf("MoveEnd = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMoveSupersedes(t *testing.T) {
	toC2g := Move{To: "c2g", Epoch: 7}
	tests := []struct {
		name     string
		new, old Move
		want     bool
	}{
		{"the first move of a group", toC2g, Move{}, true},
		{"a newer move", Move{To: "h2g", Epoch: 8}, toC2g, true},
		{"an older move", Move{To: "h2g", Epoch: 6}, toC2g, false},
		{"the same move again", toC2g, toC2g, false},
		{"its end", toC2g.Ended(), toC2g, true},
		{"the move after its end (a peer that missed the end)", toC2g, toC2g.Ended(), false},
		{"an end and a move of the same epoch: the end", Move{Epoch: 7}, toC2g, true},
		{"a move and an end of the same epoch: the end stays", toC2g, Move{Epoch: 7}, false},
		{"two moves of the same epoch: the same winner on both sides", Move{To: "h2g", Epoch: 7}, toC2g, true},
		{"two moves of the same epoch, the other way", toC2g, Move{To: "h2g", Epoch: 7}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.new.Supersedes(tt.old); got != tt.want {
				t.Errorf("Supersedes = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNextEpochIsLaterThanEveryKnownMove(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		cur  Move
		want uint64
	}{
		{"no move yet: the clock", Move{}, uint64(now.UnixNano())},
		{"an older move: the clock", Move{Epoch: 7}, uint64(now.UnixNano())},
		{"a move from a clock ahead: one more", Move{Epoch: uint64(now.UnixNano()) + 10}, uint64(now.UnixNano()) + 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NextEpoch(tt.cur, now); got != tt.want {
				t.Errorf("NextEpoch = %d, want %d", got, tt.want)
			}
		})
	}
}
