package history

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/monitor/metric"
)

// t0 is midnight UTC, so every archive's slots start on it.
var t0 = time.Unix(1_800_000_000-1_800_000_000%86400, 0)

func nan() float64 { return math.NaN() }

func open(t *testing.T, dir string, step time.Duration) *Store {
	t.Helper()
	s, err := Open(dir, step)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t *testing.T, s *Store, at time.Time, samples ...metric.Sample) {
	t.Helper()
	if err := s.Record(at, samples); err != nil {
		t.Fatal(err)
	}
}

// point finds the point of the slot starting at start.
func point(t *testing.T, points []Point, start time.Time) Point {
	t.Helper()
	for _, p := range points {
		if p.Unix == start.Unix() {
			return p
		}
	}
	t.Fatalf("no point at %v", start)
	return Point{}
}

func same(a, b float64) bool {
	return (math.IsNaN(a) && math.IsNaN(b)) || math.Abs(a-b) < 1e-9
}

func TestConsolidation(t *testing.T) {
	type in struct {
		at time.Duration
		v  float64
	}
	for _, c := range []struct {
		name    string
		step    time.Duration
		kind    metric.Kind
		in      []in
		span    Span
		now     time.Duration
		slot    time.Duration // the slot looked at
		avg     float64
		max     float64
		allSize int // points returned
	}{
		{"gauge average and maximum of a full minute", 10 * time.Second, metric.Gauge,
			[]in{{0, 1}, {10 * time.Second, 2}, {20 * time.Second, 3}, {30 * time.Second, 4}, {40 * time.Second, 5}, {50 * time.Second, 9}},
			Day, 2 * time.Minute, 0, 4, 9, 1440},
		{"finished minute with half its points known", 10 * time.Second, metric.Gauge,
			[]in{{0, 1}, {10 * time.Second, 3}, {20 * time.Second, 5}},
			Day, 2 * time.Minute, 0, 3, 5, 1440},
		{"finished minute with less than half known is unknown", 10 * time.Second, metric.Gauge,
			[]in{{0, 1}, {10 * time.Second, 3}},
			Day, 2 * time.Minute, 0, nan(), nan(), 1440},
		{"the minute in progress shows what it has", 10 * time.Second, metric.Gauge,
			[]in{{0, 7}},
			Day, 5 * time.Second, 0, 7, 7, 1440},
		{"a slot never written is unknown", 10 * time.Second, metric.Gauge,
			[]in{{0, 7}},
			Day, 10 * time.Minute, 5 * time.Minute, nan(), nan(), 1440},
		{"five-minute point consolidates thirty primary points", 10 * time.Second, metric.Gauge,
			func() []in {
				var r []in
				for i := range 30 {
					r = append(r, in{time.Duration(i) * 10 * time.Second, float64(i)})
				}
				return r
			}(),
			Week, time.Hour, 0, 14.5, 29, 2016},
		{"counter becomes a per-second rate", 10 * time.Second, metric.Counter,
			[]in{{0, 1000}, {10 * time.Second, 1100}, {20 * time.Second, 1300}, {30 * time.Second, 1400}},
			Day, 30 * time.Second, 0, (10.0 + 20 + 10) / 3, 20, 1440},
		{"counter reset gives unknown, not a spike", 10 * time.Second, metric.Counter,
			[]in{{0, 1000}, {10 * time.Second, 1100}, {20 * time.Second, 5}, {30 * time.Second, 105}},
			Day, 30 * time.Second, 0, 10, 10, 1440},
		{"64-bit counter wrap gives unknown, not a spike", 10 * time.Second, metric.Counter,
			[]in{{0, math.MaxUint64 - 100}, {10 * time.Second, 50}},
			Day, 30 * time.Second, 0, nan(), nan(), 1440},
		{"counter across a long outage is not averaged over it", 10 * time.Second, metric.Counter,
			[]in{{0, 0}, {10 * time.Second, 100}, {10 * time.Minute, 100000}, {10*time.Minute + 10*time.Second, 100100}},
			Day, 10*time.Minute + 10*time.Second, 10 * time.Minute, 10, 10, 1440},
		{"day slot of a year archive", 6 * time.Hour, metric.Gauge,
			[]in{{0, 1}, {12 * time.Hour, 3}},
			Year, 24 * time.Hour, 0, 2, 3, 730},
		{"step longer than a slot fills every slot it covers", 5 * time.Minute, metric.Gauge,
			[]in{{5 * time.Minute, 4}, {10 * time.Minute, 6}},
			Day, 20 * time.Minute, 7 * time.Minute, 6, 6, 1440},
		{"thirty-minute archive holds a month", 10 * time.Second, metric.Gauge,
			[]in{{0, 2}},
			Month, 10 * time.Second, 0, 2, 2, 1488},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := open(t, t.TempDir(), c.step)
			defer s.Close()
			for _, i := range c.in {
				put(t, s, t0.Add(i.at), metric.Sample{Name: "x", Kind: c.kind, Value: i.v})
			}
			points, err := s.Fetch("x", c.span, t0.Add(c.now))
			if err != nil {
				t.Fatal(err)
			}
			if len(points) != c.allSize {
				t.Fatalf("%d points, want %d", len(points), c.allSize)
			}
			if last := points[len(points)-1].Unix; last > t0.Add(c.now).Unix() || points[0].Unix >= last {
				t.Errorf("points not oldest first ending at now: first %d last %d", points[0].Unix, last)
			}
			p := point(t, points, t0.Add(c.slot))
			if !same(p.Avg, c.avg) || !same(p.Max, c.max) {
				t.Errorf("slot at +%v: avg %v max %v, want avg %v max %v", c.slot, p.Avg, p.Max, c.avg, c.max)
			}
		})
	}
}

func TestFilesNeverGrow(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 10*time.Second)
	defer s.Close()
	samples := []metric.Sample{
		{Name: "node_load1", Value: 1},
		{Name: "node_network_receive_bytes_total", Kind: metric.Counter, Labels: []metric.Label{{Name: "device", Value: "eth0"}}},
	}
	const days = 3 * 365
	var size int64
	// Three years of a reading a day lap every ring, the two-year one
	// included; a burst of readings each day laps the finer ones too.
	for d := range days {
		for i := range 4 {
			samples[0].Value = float64(d % 7)
			samples[1].Value += float64(d)
			put(t, s, t0.Add(time.Duration(d)*24*time.Hour+time.Duration(i)*10*time.Second), samples...)
		}
		if d == 0 {
			var err error
			if size, err = s.Size(); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := s.Size()
	if err != nil {
		t.Fatal(err)
	}
	if got != size || got != 2*fileSize {
		t.Errorf("size after three years: %d, after the first update %d, want %d", got, size, 2*fileSize)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%d files in the store, want 2", len(entries))
	}
	for _, e := range entries {
		info, _ := e.Info()
		if info.Size() != fileSize {
			t.Errorf("%s is %d bytes, want %d", e.Name(), info.Size(), fileSize)
		}
	}
	// The year ring holds exactly the last two years: every row a day
	// of them, whole, once the store is closed (the slot being filled is
	// written at most once a minute while it runs).
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, 10*time.Second)
	defer s.Close()
	b, err := os.ReadFile(filepath.Join(dir, fileName("node_load1")))
	if err != nil {
		t.Fatal(err)
	}
	last := t0.Add((days - 1) * 24 * time.Hour).Unix()
	for row := range archives[Year].rows {
		off := recordOffset(Year, 0) + row*recordSize
		r, ok := decodeRecord(b[off : off+recordSize])
		if !ok || r.start > last || r.start <= last-archives[Year].rows*86400 || r.n != 4 {
			t.Fatalf("year row %d: %+v valid %v, want a day of the last two years with 4 points", row, r, ok)
		}
	}
	points, err := s.Fetch("node_load1", Year, time.Unix(last, 0))
	if err != nil {
		t.Fatal(err)
	}
	if p := points[len(points)-1]; p.Avg != float64((days-1)%7) {
		t.Errorf("today's point %+v, want %d", p, (days-1)%7)
	}
}

func TestSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 10*time.Second)
	ctr := metric.Sample{Name: "c_total", Kind: metric.Counter, Value: 100}
	for i := range 3 {
		ctr.Value += 50
		put(t, s, t0.Add(time.Duration(i)*10*time.Second), metric.Sample{Name: "g", Value: float64(i)}, ctr)
	}
	before, err := s.Fetch("g", Day, t0.Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir, 10*time.Second)
	defer s.Close()
	if got := s.Series(); fmt.Sprint(got) != "[c_total g]" {
		t.Fatalf("series after reopening: %v", got)
	}
	after, err := s.Fetch("g", Day, t0.Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if p, q := point(t, before, t0), point(t, after, t0); p != q || p.Avg != 1 {
		t.Errorf("after a restart: %+v, before %+v", q, p)
	}
	// The counter's last value survived: its rate goes on with the
	// next reading, and the minute goes on being averaged.
	ctr.Value += 150
	put(t, s, t0.Add(30*time.Second), ctr, metric.Sample{Name: "g", Value: 5})
	points, err := s.Fetch("c_total", Day, t0.Add(40*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if p := point(t, points, t0); !same(p.Avg, (5+5+15)/3.0) || p.Max != 15 {
		t.Errorf("counter after a restart: avg %v max %v, want %v and 15", p.Avg, p.Max, (5+5+15)/3.0)
	}
	points, _ = s.Fetch("g", Day, t0.Add(40*time.Second))
	if p := point(t, points, t0); !same(p.Avg, 2) {
		t.Errorf("gauge minute continued after a restart: avg %v, want 2", p.Avg)
	}
}

// TestACrashCostsAMinuteAtMost: what a file lacks reaches it once a
// minute and when a slot ends, so a crash of the agent (a second store
// opened on the files the first never closed) loses at most the last
// minute's points, while the running store's reads see every point.
func TestACrashCostsAMinuteAtMost(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 10*time.Second)
	defer s.Close()
	// 4 min 50 s of points, 0 to 29: one week slot, five day slots.
	for i := range 30 {
		put(t, s, t0.Add(time.Duration(i)*10*time.Second), metric.Sample{Name: "g", Value: float64(i)})
	}
	now := t0.Add(290 * time.Second)
	running, err := s.Fetch("g", Week, now)
	if err != nil {
		t.Fatal(err)
	}
	if p := point(t, running, t0); p.Avg != 14.5 || p.Max != 29 {
		t.Errorf("week slot as the running store reads it: %+v, want avg 14.5 max 29", p)
	}
	running, err = s.Fetch("g", Day, now)
	if err != nil {
		t.Fatal(err)
	}
	if p := point(t, running, t0.Add(4*time.Minute)); p.Avg != 26.5 {
		t.Errorf("last minute as the running store reads it: %+v, want avg 26.5", p)
	}

	crashed := open(t, dir, 10*time.Second)
	defer crashed.Close()
	b := make([]byte, recordSize)
	if _, err := crashed.series["g"].f.ReadAt(b, recordOffset(Week, t0.Unix())); err != nil {
		t.Fatal(err)
	}
	r, ok := decodeRecord(b)
	if !ok || r.start != t0.Unix() || r.n < 30-6 {
		t.Errorf("week slot on disk: %+v valid %v, want at least 24 of the 30 points", r, ok)
	}
	day, err := crashed.Fetch("g", Day, now)
	if err != nil {
		t.Fatal(err)
	}
	for m := range 4 {
		want := float64(6*m) + 2.5
		if p := point(t, day, t0.Add(time.Duration(m)*time.Minute)); p.Avg != want {
			t.Errorf("minute %d on disk: %+v, want avg %v", m, p, want)
		}
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	closed, err := crashed.Fetch("g", Week, now)
	if err != nil {
		t.Fatal(err)
	}
	if p := point(t, closed, t0); p.Avg != 14.5 || p.Max != 29 {
		t.Errorf("week slot on disk after Close: %+v, want avg 14.5 max 29", p)
	}
}

func TestTimeGoingBackwards(t *testing.T) {
	s := open(t, t.TempDir(), 10*time.Second)
	defer s.Close()
	ctr := metric.Sample{Name: "c_total", Kind: metric.Counter}
	for i := range 12 {
		ctr.Value += 100
		put(t, s, t0.Add(time.Duration(i)*10*time.Second), ctr)
	}
	// The clock is stepped back an hour; the counter keeps counting.
	for i := range 6 {
		ctr.Value += 100
		put(t, s, t0.Add(-time.Hour+time.Duration(i)*10*time.Second), ctr)
	}
	points, err := s.Fetch("c_total", Day, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range points {
		if !math.IsNaN(p.Max) && p.Max != 10 {
			t.Errorf("slot %v: max %v: a clock step made a spike", time.Unix(p.Unix, 0), p.Max)
		}
	}
	if p := point(t, points, t0.Add(-time.Hour)); p.Avg != 10 {
		t.Errorf("after the clock went back the rate is %v, want 10", p.Avg)
	}
	if p := point(t, points, t0.Add(time.Minute)); p.Avg != 10 {
		t.Errorf("the minute before the step: %v, want 10", p.Avg)
	}
}

func TestTornWritesCostOnlyTheirRecord(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, 10*time.Second)
	ctr := metric.Sample{Name: "c", Kind: metric.Counter}
	for i := range 18 {
		ctr.Value += 10
		put(t, s, t0.Add(time.Duration(i)*10*time.Second), metric.Sample{Name: "g", Value: 3}, ctr)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash tore the second minute's record of g and the newer of
	// c's two state slots.
	g := filepath.Join(dir, fileName("g"))
	f, err := os.OpenFile(g, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff}, recordOffset(Day, t0.Add(time.Minute).Unix())+8); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c := filepath.Join(dir, fileName("c"))
	f, err = os.OpenFile(c, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// 18 updates, the state written at 0, 60 and 120 s and on Close:
	// seq 18 (value 180 at +170 s) is in slot 1, seq 13 (130 at +120 s)
	// in slot 0. The newer is torn.
	if _, err := f.WriteAt([]byte{0xff}, stateOff+stateSize+3); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s = open(t, dir, 10*time.Second)
	defer s.Close()
	points, err := s.Fetch("g", Day, t0.Add(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if p := point(t, points, t0); p.Avg != 3 {
		t.Errorf("minute before the torn one: %v, want 3", p.Avg)
	}
	if p := point(t, points, t0.Add(time.Minute)); !math.IsNaN(p.Avg) {
		t.Errorf("torn minute: %v, want unknown", p.Avg)
	}
	if p := point(t, points, t0.Add(2*time.Minute)); p.Avg != 3 {
		t.Errorf("minute after the torn one: %v, want 3", p.Avg)
	}
	// The older state is used.
	if st := s.series["c"].state; st.seq != 13 || st.value != 130 || st.nanos != t0.Add(120*time.Second).UnixNano() {
		t.Errorf("state after the newer slot was torn: %+v, want seq 13, 130 at +120 s", st)
	}
}

func TestUnreadableFileIsReplaced(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, fileName("g"))
	if err := os.WriteFile(bad, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad+".tmp", []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir, 10*time.Second)
	defer s.Close()
	if got := s.Series(); len(got) != 0 {
		t.Fatalf("series from garbage: %v", got)
	}
	put(t, s, t0, metric.Sample{Name: "g", Value: 1})
	if st, err := os.Stat(bad); err != nil || st.Size() != fileSize {
		t.Fatalf("file not replaced: %v %v", st, err)
	}
	if _, err := os.Stat(bad + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("leftover temporary file: %v", err)
	}
	if _, err := s.Fetch("nope", Day, t0); !errors.Is(err, ErrNoSeries) {
		t.Errorf("unknown series: %v, want ErrNoSeries", err)
	}
}

func TestFileNamesAreSafe(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	s := open(t, store, 10*time.Second)
	defer s.Close()
	if st, err := os.Stat(store); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("store directory: %v %v, want mode 0700", st, err)
	}
	hostile := []metric.Sample{
		{Name: "x", Labels: []metric.Label{{Name: "device", Value: "../../../etc/passwd"}}},
		{Name: "x", Labels: []metric.Label{{Name: "device", Value: "a/b\x00c\"}{"}}},
		{Name: "../x"},
	}
	put(t, s, t0, hostile...)
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("files outside the store: %v %v", entries, err)
	}
	entries, _ = os.ReadDir(store)
	hex := regexp.MustCompile(`^[0-9a-f]{32}\.rrd$`)
	for _, e := range entries {
		if !hex.MatchString(e.Name()) {
			t.Errorf("file name %q", e.Name())
		}
	}
	if len(entries) != len(hostile) || len(s.Series()) != len(hostile) {
		t.Errorf("%d files, %d series, want %d", len(entries), len(s.Series()), len(hostile))
	}
	if err := s.Record(t0, []metric.Sample{{Name: string(make([]byte, maxName+1))}}); err == nil {
		t.Error("a series name longer than the header holds was accepted")
	}
}

func TestConcurrentRecordAndFetch(t *testing.T) {
	s := open(t, t.TempDir(), time.Second)
	defer s.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 200 {
			if err := s.Record(t0.Add(time.Duration(i)*time.Second), []metric.Sample{{Name: "g", Value: 1}}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		for range 200 {
			for _, k := range s.Series() {
				if _, err := s.Fetch(k, Day, t0); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	wg.Wait()
}

func TestPointJSONHasNullForUnknown(t *testing.T) {
	b, err := json.Marshal([]Point{{Unix: 60, Avg: 1.5, Max: 2}, {Unix: 120, Avg: nan(), Max: nan()}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"t":60,"avg":1.5,"max":2},{"t":120,"avg":null,"max":null}]`; string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
	var back []Point
	if err := json.Unmarshal(b, &back); err != nil || back[0].Avg != 1.5 || !math.IsNaN(back[1].Max) {
		t.Errorf("decoded %+v %v", back, err)
	}
}

func TestSpanNames(t *testing.T) {
	for _, sp := range []Span{Day, Week, Month, Year} {
		got, err := ParseSpan(sp.String())
		if err != nil || got != sp {
			t.Errorf("ParseSpan(%q) = %v, %v", sp.String(), got, err)
		}
	}
	if _, err := ParseSpan("hour"); err == nil {
		t.Error("ParseSpan(hour) accepted")
	}
}

// BenchmarkRecord is one collection of ~300 series, what a node with a
// few interfaces and disks gives, every one a counter (the costlier kind).
func BenchmarkRecord(b *testing.B) {
	s, err := Open(b.TempDir(), 10*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	samples := make([]metric.Sample, 300)
	for i := range samples {
		samples[i] = metric.Sample{Name: "node_x_total", Kind: metric.Counter,
			Labels: []metric.Label{{Name: "device", Value: fmt.Sprintf("dev%d", i)}, {Name: "mode", Value: "user"}}}
	}
	// The files are made once, at the first collection; what is
	// measured is every collection after it.
	if err := s.Record(t0, samples); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 1
	for b.Loop() {
		for j := range samples {
			samples[j].Value += float64(j)
		}
		if err := s.Record(t0.Add(time.Duration(i)*10*time.Second), samples); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
