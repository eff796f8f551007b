package history

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hactl/hactl/agentbin/monitor/metric"
)

// ErrNoSeries is returned by Fetch for a series never recorded.
var ErrNoSeries = errors.New("no such series")

// xff is RRDtool's xfiles factor: a finished slot with fewer than this
// share of its primary points known is unknown.
const xff = 0.5

// Store is a directory of series files. Its methods are safe for
// concurrent use.
type Store struct {
	dir  string
	step time.Duration

	mu     sync.Mutex
	series map[string]*series
	closed bool
}

// writeEvery is how often, in seconds, what a series' file lacks (the
// slots being filled, a counter's last reading) is written: at the
// first collection a minute after the last write, when a slot ends, and
// on Close. A crash of the agent costs at most a minute's points (as
// rrdcached, which RRDtool users put in front of their files, costs up
// to five); the store's reads see every point.
const writeEvery = 60

// series is one open file and what is cached of it: the slot each
// archive is filling now, and a counter's last reading.
type series struct {
	f     *os.File
	slots [len(archives)]record
	// loaded tells which slots hold at least what the file holds, and
	// unwritten which hold more.
	loaded    [len(archives)]bool
	unwritten [len(archives)]bool
	// written is when the file last got what it lacked (Unix seconds).
	written  int64
	state    counterState
	hasState bool
	// stateUnwritten tells the state is newer than the file's; nextState
	// is the slot it goes to, the other holding the previous one.
	stateUnwritten bool
	nextState      int
	// buf is where a record or the state is encoded or read: the store's
	// lock serializes its use, and a collection writes a few per series.
	buf [max(recordSize, stateSize)]byte
}

// Open opens (making it 0700 if missing) the store in dir. step is the
// interval between collections: it sets how many primary points a slot
// expects and how old a counter's previous reading may be.
func Open(dir string, step time.Duration) (*Store, error) {
	if step <= 0 {
		return nil, fmt.Errorf("opening history in %s: step %v is not positive", dir, step)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("opening history: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("opening history: %w", err)
	}
	s := &Store{dir: dir, step: step, series: map[string]*series{}}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ext+".tmp"):
			// A creation a crash interrupted; the series is made again
			// when next recorded.
			os.Remove(filepath.Join(dir, name))
		case strings.HasSuffix(name, ext):
			// A file that cannot be read is left for createFile to
			// replace: one bad file must not stop the others.
			if key, sr, err := openFile(filepath.Join(dir, name)); err == nil {
				s.series[key] = sr
			}
		}
	}
	return s, nil
}

func openFile(path string) (string, *series, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return "", nil, err
	}
	buf := make([]byte, archiveOff)
	st, err := f.Stat()
	if err == nil && st.Size() != fileSize {
		err = fmt.Errorf("size %d, want %d", st.Size(), fileSize)
	}
	if err == nil {
		_, err = f.ReadAt(buf, 0)
	}
	var key string
	if err == nil {
		key, err = decodeHeader(buf)
	}
	if err == nil && fileName(key) != filepath.Base(path) {
		err = errors.New("file name does not match its series")
	}
	if err != nil {
		f.Close()
		return "", nil, fmt.Errorf("history file %s: %w", path, err)
	}
	sr := &series{f: f}
	var slot int
	sr.state, slot, sr.hasState = newestState(buf[stateOff : stateOff+2*stateSize])
	sr.nextState = 1 - slot
	return key, sr, nil
}

// Record adds one collection's samples taken at t. A sample that cannot
// be kept does not stop the others; their errors are joined.
func (s *Store) Record(t time.Time, samples []metric.Sample) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("recording history: store is closed")
	}
	var errs []error
	for _, smp := range samples {
		key := smp.Series()
		if err := s.record(key, smp, t); err != nil {
			errs = append(errs, fmt.Errorf("recording %s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Store) record(key string, smp metric.Sample, t time.Time) error {
	sr, ok := s.series[key]
	if !ok {
		f, err := createFile(s.dir, key)
		if err != nil {
			return err
		}
		sr = &series{f: f}
		s.series[key] = sr
	}
	v := smp.Value
	if smp.Kind == metric.Counter {
		v = sr.rate(t, smp.Value, 2*s.step)
		sr.stateUnwritten = true
	}
	if !math.IsNaN(v) && !math.IsInf(v, 0) {
		for span, a := range archives {
			first, last := slotsCovered(a.slot, t.Unix(), int64(s.step/time.Second))
			for start := first; start <= last; start += a.slot {
				if err := sr.add(Span(span), start, v); err != nil {
					return err
				}
			}
		}
	}
	if now := t.Unix(); now-sr.written >= writeEvery || now < sr.written {
		if err := sr.flush(); err != nil {
			return err
		}
		sr.written = now
	}
	return nil
}

// flush writes what the file lacks.
func (sr *series) flush() error {
	for span := range archives {
		if err := sr.write(Span(span)); err != nil {
			return err
		}
	}
	if !sr.stateUnwritten {
		return nil
	}
	if _, err := sr.f.WriteAt(sr.state.encode(sr.buf[:]), stateOff+int64(sr.nextState)*stateSize); err != nil {
		return err
	}
	sr.stateUnwritten, sr.nextState = false, 1-sr.nextState
	return nil
}

// rate turns a counter's reading into a per-second rate since the
// previous one and remembers it. Unknown (NaN) when there is no previous
// reading, when it is older than heartbeat (a long gap is not averaged
// over), when time went backwards, and when the counter went down — a
// reset or a wrap, which must not show as a spike.
func (sr *series) rate(t time.Time, value float64, heartbeat time.Duration) float64 {
	r := math.NaN()
	if sr.hasState {
		dt := t.UnixNano() - sr.state.nanos
		if dt > 0 && dt <= int64(heartbeat) && value >= sr.state.value {
			r = (value - sr.state.value) / (float64(dt) / float64(time.Second))
		}
	}
	sr.state = counterState{seq: sr.state.seq + 1, nanos: t.UnixNano(), value: value}
	sr.hasState = true
	return r
}

// slotsCovered is the starts of the slots a primary point at t fills,
// from first to last a slot apart: the one holding t, and when a step is
// longer than a slot, the others whose start lies in the step the point
// stands for, so that a slow collection does not leave most of the
// finest archive unknown.
func slotsCovered(slot, t, stepSec int64) (first, last int64) {
	last = floorDiv(t, slot) * slot
	if stepSec <= slot {
		return last, last
	}
	return (floorDiv(t-stepSec, slot) + 1) * slot, last
}

// add folds v into the slot starting at start; the slot it leaves, if
// any, is written first.
func (sr *series) add(span Span, start int64, v float64) error {
	r := &sr.slots[span]
	if !sr.loaded[span] || r.start != start {
		if err := sr.write(span); err != nil {
			return err
		}
		// The slot may have been partly filled before a restart, or
		// before the clock went back: continue it, as the file has it.
		got, err := sr.read(span, start)
		if err != nil {
			return err
		}
		*r, sr.loaded[span] = got, true
	}
	r.n++
	r.avg += (v - r.avg) / float64(r.n)
	if r.n == 1 || v > r.max {
		r.max = v
	}
	sr.unwritten[span] = true
	return nil
}

// write puts the slot the archive is filling into the file, if the file
// does not hold it yet.
func (sr *series) write(span Span) error {
	if !sr.unwritten[span] {
		return nil
	}
	r := sr.slots[span]
	if _, err := sr.f.WriteAt(r.encode(sr.buf[:]), recordOffset(span, r.start)); err != nil {
		return err
	}
	sr.unwritten[span] = false
	return nil
}

// read is the record of the slot starting at start, empty when the file
// holds none for it (never written, an older lap of the ring, or torn).
func (sr *series) read(span Span, start int64) (record, error) {
	b := sr.buf[:recordSize]
	if _, err := sr.f.ReadAt(b, recordOffset(span, start)); err != nil {
		return record{}, err
	}
	if r, ok := decodeRecord(b); ok && r.start == start {
		return r, nil
	}
	return record{start: start}, nil
}

// Series is the keys of every series kept, sorted.
func (s *Store) Series() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.series))
}

// Fetch returns the span's archive for the series as of now, oldest
// first: one point per slot, the last the slot holding now.
func (s *Store) Fetch(key string, span Span, now time.Time) ([]Point, error) {
	if span < Day || span > Year {
		return nil, fmt.Errorf("fetching %s: unknown span %d", key, span)
	}
	a := archives[span]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("fetching history: store is closed")
	}
	sr, ok := s.series[key]
	if !ok {
		return nil, fmt.Errorf("fetching %s: %w", key, ErrNoSeries)
	}
	buf := make([]byte, a.rows*recordSize)
	if _, err := sr.f.ReadAt(buf, recordOffset(span, 0)); err != nil {
		return nil, fmt.Errorf("fetching %s: %w", key, err)
	}
	if sr.unwritten[span] {
		r := sr.slots[span]
		off := recordOffset(span, r.start) - recordOffset(span, 0)
		r.encode(buf[off : off+recordSize])
	}
	// A step longer than the slot gives each slot one point (slotsCovered).
	expected := max(1, float64(a.slot)/s.step.Seconds())
	nowUnix := now.Unix()
	last := floorDiv(nowUnix, a.slot) * a.slot
	points := make([]Point, a.rows)
	for i := range points {
		start := last - (a.rows-1-int64(i))*a.slot
		p := Point{Unix: start, Avg: math.NaN(), Max: math.NaN()}
		off := recordOffset(span, start) - recordOffset(span, 0)
		if r, ok := decodeRecord(buf[off : off+recordSize]); ok && r.start == start && r.n > 0 {
			finished := start+a.slot <= nowUnix
			if !finished || float64(r.n) >= xff*expected {
				p.Avg, p.Max = r.avg, r.max
			}
		}
		points[i] = p
	}
	return points, nil
}

// Size is the bytes the store's files take, fixed once each series'
// file is made.
func (s *Store) Size() (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var total int64
	for key, sr := range s.series {
		st, err := sr.f.Stat()
		if err != nil {
			return 0, fmt.Errorf("sizing history of %s: %w", key, err)
		}
		total += st.Size()
	}
	return total, nil
}

// Close syncs and closes every file: what the page cache held reaches
// the disk.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for key, sr := range s.series {
		if err := sr.flush(); err != nil {
			errs = append(errs, fmt.Errorf("writing history of %s: %w", key, err))
		}
		if err := sr.f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("syncing history of %s: %w", key, err))
		}
		if err := sr.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing history of %s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}
