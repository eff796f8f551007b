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
