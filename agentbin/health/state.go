package health

import (
	"fmt"
	"strings"
)

// State is a target's health.
type State int

// The states. The zero value is Unknown: a target not probed yet.
const (
	Unknown State = iota
	Up
	Down
)

func (s State) String() string {
	switch s {
	case Up:
		return "up"
	case Down:
		return "down"
	default:
		return "unknown"
	}
}

// MarshalText writes the state as its name, for status JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a state's name, so that status JSON reads back.
func (s *State) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "up":
		*s = Up
	case "down":
		*s = Down
	case "unknown":
		*s = Unknown
	default:
		return fmt.Errorf("health state %q: want up, down or unknown", b)
	}
	return nil
}

// tally is a target's state and its runs of results: the rise/fall rule,
// kept apart from timers and I/O so that it can be tested as a table.
type tally struct {
	state     State
	successes int // in a row
	failures  int // in a row
}

// record counts one probe's result and reports whether the state changed.
// The first result of an Unknown target decides at once; after that it
// takes fall failures in a row to go down and rise successes to come up.
func (t *tally) record(ok bool, rise, fall int) bool {
	if ok {
		t.successes++
		t.failures = 0
	} else {
		t.failures++
		t.successes = 0
	}
	prev := t.state
	switch {
	case t.state == Unknown && ok, t.state == Down && t.successes >= rise:
		t.state = Up
	case t.state == Unknown && !ok, t.state == Up && t.failures >= fall:
		t.state = Down
	}
	return t.state != prev
}

// markDown takes the target down at once, whatever its runs: a failed real
// connection outweighs the probes that passed before it. It reports
// whether the state changed.
func (t *tally) markDown() bool {
	prev := t.state
	t.state = Down
	t.successes = 0
	t.failures++
	return prev != Down
}
