package health

import (
	"encoding/json"
	"testing"
)

// TestTallyRiseFall plays a run of results ('+' passed, '-' failed, 'm'
// MarkDown) and checks the state after each ('?' unknown, 'U' up, 'D' down).
func TestTallyRiseFall(t *testing.T) {
	tests := []struct {
		name       string
		rise, fall int
		from       State
		results    string
		want       string
	}{
		{"first success decides up", 2, 3, Unknown, "+", "U"},
		{"first failure decides down", 2, 3, Unknown, "-", "D"},
		{"up needs fall failures in a row", 2, 3, Up, "---", "UUD"},
		{"a success breaks the run of failures", 2, 3, Up, "--+--", "UUUUU"},
		{"down needs rise successes in a row", 2, 3, Down, "++", "DU"},
		{"a failure breaks the run of successes", 2, 3, Down, "+-+-++", "DDDDDU"},
		{"rise 1 fall 1 follows every result", 1, 1, Up, "-+-+", "DUDU"},
		{"down stays down on failures", 2, 3, Down, "----", "DDDD"},
		{"up stays up on successes", 2, 3, Up, "++++", "UUUU"},
		{"mark down is at once", 2, 3, Up, "m", "D"},
		{"after mark down rise successes bring it back", 3, 3, Up, "m+++", "DDDU"},
		{"mark down resets a run of successes", 2, 3, Down, "+m+", "DDD"},
		{"mark down on unknown", 2, 3, Unknown, "m++", "DDU"},
		{"long flap never goes down with fall 3", 2, 3, Up, "--+--+--+", "UUUUUUUUU"},
	}
	letter := map[State]byte{Unknown: '?', Up: 'U', Down: 'D'}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := tally{state: tt.from}
			got := make([]byte, 0, len(tt.results))
			for i := range len(tt.results) {
				prev := tl.state
				var changed bool
				switch tt.results[i] {
				case '+':
					changed = tl.record(true, tt.rise, tt.fall)
				case '-':
					changed = tl.record(false, tt.rise, tt.fall)
				case 'm':
					changed = tl.markDown()
				}
				if changed != (prev != tl.state) {
					t.Fatalf("step %d: changed=%v but state went %s -> %s", i, changed, prev, tl.state)
				}
				got = append(got, letter[tl.state])
			}
			if string(got) != tt.want {
				t.Errorf("results %q from %s: states %q, want %q", tt.results, tt.from, got, tt.want)
			}
		})
	}
}

func TestTallyCountsRuns(t *testing.T) {
	tl := tally{state: Up}
	for _, ok := range []bool{false, false, true, true, true, false} {
		tl.record(ok, 2, 3)
	}
	if tl.successes != 0 || tl.failures != 1 {
		t.Errorf("after --+++-: successes %d failures %d, want 0 and 1", tl.successes, tl.failures)
	}
	tl.markDown()
	if tl.successes != 0 || tl.failures != 2 {
		t.Errorf("after mark down: successes %d failures %d, want 0 and 2", tl.successes, tl.failures)
	}
}

func TestStateText(t *testing.T) {
	for _, s := range []State{Unknown, Up, Down} {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back State = -1
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("%s: marshalled %s, read back %v (%v)", s, b, back, err)
		}
	}
	var s State
	if err := json.Unmarshal([]byte(`"sideways"`), &s); err == nil {
		t.Error(`"sideways" was accepted as a state`)
	}
}
