package providers

import (
	"flag"
	"strings"
	"testing"
	"time"
)

// update is accepted so that go test ./providers/... -update works in
// every package; this one has no golden file.
var _ = flag.Bool("update", false, "rewrite golden files")

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "2s", want: 2 * time.Second},
		{in: "1m30s", want: 90 * time.Second},
		{in: "0s", want: 0},
		{in: "1h", want: time.Hour},
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "2w", want: 14 * 24 * time.Hour},
		{in: "0d", want: 0},
		{in: "", wantErr: `cannot read "" as a duration`},
		{in: "2", wantErr: `cannot read "2" as a duration`},
		{in: "100 ms", wantErr: "cannot read"},
		{in: "-5s", wantErr: "negative"},
		{in: "1.5d", wantErr: `"1.5" is not a whole number of days`},
		{in: "-1d", wantErr: "not a whole number of days"},
		{in: "d", wantErr: `"" is not a whole number of days`},
		{in: "3x", wantErr: "cannot read"},
		{in: "1d12h", wantErr: "cannot read"},
		{in: "200000d", wantErr: "too long"},
		{in: "100000w", wantErr: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDuration(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "0", want: 0},
		{in: "1024", want: 1024},
		{in: "512K", want: 512 << 10},
		{in: "10M", want: 10 << 20},
		{in: "10m", want: 10 << 20},
		{in: "1G", want: 1 << 30},
		{in: " 2G ", want: 2 << 30},
		{in: "4611686018427387904", want: 1 << 62}, // the largest size
		{in: "4611686018427387905", wantErr: true},
		{in: "4294967297G", wantErr: true},
		{in: "", wantErr: true},
		{in: "K", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "-1M", wantErr: true},
		{in: "1.5M", wantErr: true},
		{in: "10Q", wantErr: true},
		{in: "10MB", wantErr: true},
		{in: "1T", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseSize(%q) = %d; want an error", tt.in, got)
				}
				if !strings.Contains(err.Error(), "as a size") {
					t.Errorf("error %q does not say what is wrong", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	schedulers := []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh"}
	tests := []struct {
		in         string
		candidates []string
		want       string
	}{
		{"wrrr", schedulers, "wrr"},
		{"lblcrr", schedulers, "lblcr"},
		{"c2h", []string{"h2g", "c2g"}, "c2g"},
		{"h2g", []string{"h2g", "c2g"}, "h2g"},                     // exact match is closest
		{"roundrobin", schedulers, ""},                             // too far from every one
		{"masq", []string{"nat", "dr", "tunnel"}, ""},              // three edits away: no guess
		{"lan", nil, ""},                                           // nothing to suggest
		{"", []string{"a"}, "a"},                                   // empty input, one edit
		{"hearbeat", []string{"heartbeat", "quorum"}, "heartbeat"}, // a dropped letter
	}
	for _, tt := range tests {
		if got := Suggest(tt.in, tt.candidates); got != tt.want {
			t.Errorf("Suggest(%q, %v) = %q; want %q", tt.in, tt.candidates, got, tt.want)
		}
	}
}

func TestTypeNames(t *testing.T) {
	seen := map[string]Type{}
	for typ := String; typ <= RefList; typ++ {
		name := typ.Name()
		if name == "unknown" {
			t.Errorf("type %d has no name", typ)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("types %d and %d are both documented as %q", other, typ, name)
		}
		seen[name] = typ
	}
	if got := Type(99).Name(); got != "unknown" {
		t.Errorf("Type(99).Name() = %q", got)
	}
}

func TestWalkPaths(t *testing.T) {
	b := &Block{Type: "proxy", Blocks: []*Block{
		{Type: "listener"},
		{Type: "service", Blocks: []*Block{{Type: "backend"}}},
	}}
	var paths []string
	b.Walk(func(path string, _ *Block) { paths = append(paths, path) })
	want := "proxy proxy.listener proxy.service proxy.service.backend"
	if got := strings.Join(paths, " "); got != want {
		t.Errorf("Walk visited %q; want %q", got, want)
	}
}
