package wire

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Each start gets a larger generation than the last, restart after
// restart, whatever the clock says; the record is on disk before the
// generation is used.
func TestNextGenerationPersistsAcrossRestarts(t *testing.T) {
	clock := uint64(t0.UnixNano())
	for _, tc := range []struct {
		name  string
		file  string        // the record before the start; "-": none
		now   time.Duration // the clock, from t0
		want  uint64
		fails bool
	}{
		{name: "first start: the clock", file: "-", want: clock},
		{name: "restart: one more than the last", file: strconv.FormatUint(clock+100, 10) + "\n", want: clock + 101},
		{name: "restart with the clock ahead of the record", file: strconv.FormatUint(clock-100, 10), want: clock},
		{name: "reboot with the clock stepped back an hour", file: strconv.FormatUint(clock, 10), now: -time.Hour, want: clock + 1},
		{name: "a clock before 1970 and no record", file: "-", now: -t0.Sub(time.Unix(0, 0)) - time.Hour, want: 1},
		{name: "a damaged record", file: "garbage", fails: true},
		{name: "a record at the end of the numbers", file: "18446744073709551615", fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state", "generation")
			if tc.file != "-" {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := NextGeneration(path, t0.Add(tc.now))
			if tc.fails {
				if err == nil || !strings.Contains(err.Error(), path) {
					t.Fatalf("NextGeneration = %d, %v; want an error naming %s", got, err, path)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("NextGeneration = %d, %v; want %d", got, err, tc.want)
			}
			// The next start, at the same instant, gets a larger one.
			again, err := NextGeneration(path, t0.Add(tc.now))
			if err != nil || again != got+1 {
				t.Errorf("the start after: %d, %v; want %d", again, err, got+1)
			}
		})
	}
}

func TestNextGenerationUnwritable(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The state directory cannot be made: a file is in its way.
	if g, err := NextGeneration(filepath.Join(blocker, "generation"), t0); err == nil {
		t.Fatalf("NextGeneration = %d with nowhere to record it; want an error", g)
	}
}
