package wire

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hactl/hactl/agentbin/status"
)

// NextGeneration is the generation of an agent starting at now: one more
// than the last one recorded in the file at path, or now in Unix
// nanoseconds when that is larger. It records the new one in the file,
// synced to disk, before returning it, so that no two starts of the
// agent share a generation and the next is larger, whatever the clock
// did in between (Heartbeat's hb_generation does the same). The clock
// covers a file that was lost with its disk.
func NextGeneration(path string, now time.Time) (uint64, error) {
	var last uint64
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return 0, fmt.Errorf("reading the heartbeat generation: %w", err)
	default:
		if last, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err != nil || last == ^uint64(0) {
			return 0, fmt.Errorf("heartbeat generation file %s holds %q, not a generation number; remove it and restart the agent (the next generation then comes from the clock)", path, b)
		}
	}
	gen := max(last+1, uint64(max(now.UnixNano(), 1)))
	if err := writeSynced(path, []byte(strconv.FormatUint(gen, 10)+"\n")); err != nil {
		return 0, fmt.Errorf("recording the heartbeat generation: %w", err)
	}
	return gen, nil
}

// writeSynced replaces the file at path with data, and syncs its folder
// too: a rename not yet on disk would let the next start after a crash
// read the old generation and repeat the new one.
func writeSynced(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := status.WriteFileAtomic(path, data, 0o644); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
