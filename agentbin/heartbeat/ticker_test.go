package heartbeat

import (
	"testing"
	"time"
)

// The ticker ticks at its interval, never faster however long a tick
// waits to be taken, and stops.
func TestTicker(t *testing.T) {
	const d = 5 * time.Millisecond
	tk := newTicker(d)
	// Not taken for many intervals: one tick waits, not a backlog that
	// would then come all at once.
	time.Sleep(20 * d)
	start := time.Now()
	for range 10 {
		select {
		case <-tk.C:
		case <-time.After(time.Second):
			t.Fatal("no tick within a second")
		}
	}
	if took := time.Since(start); took < 8*d {
		t.Errorf("10 ticks of %s taken in %s: ticks piled up", d, took)
	}
	tk.Stop()
	time.Sleep(2 * d)
	select {
	case <-tk.C: // one may have been waiting when it stopped
	default:
	}
	select {
	case <-tk.C:
		t.Error("a tick after Stop")
	case <-time.After(5 * d):
	}
}
