package plan

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// golden runs render on every testdata/DIR/NAME.json and compares what it
// prints with NAME.golden; -update rewrites the golden files, to be read
// before they are committed.
func golden(t *testing.T, dir string, render func(t *testing.T, name string, input []byte) string) {
	t.Helper()
	cases, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatalf("no golden cases in testdata/%s", dir)
	}
	for _, path := range cases {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			input, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := render(t, name, input)
			goldenPath := strings.TrimSuffix(path, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(goldenPath, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatalf("%v; run go test ./plan -update", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (run with -update after checking):\n--- got\n%s\n--- want\n%s", goldenPath, got, want)
			}
		})
	}
}

func strictJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestPlanTextGolden prints plan values as hactl plan does without a
// terminal; cases named destroy_* as hactl destroy does.
func TestPlanTextGolden(t *testing.T) {
	golden(t, "plan", func(t *testing.T, name string, input []byte) string {
		var p Plan
		strictJSON(t, input, &p)
		var buf bytes.Buffer
		if strings.HasPrefix(name, "destroy_") {
			p.WriteDestroyText(&buf, Styles{})
		} else {
			p.WriteText(&buf, Styles{})
		}
		return buf.String()
	})
}

// TestDriftTextGolden prints drift findings as hactl drift does, as text
// and as Markdown.
func TestDriftTextGolden(t *testing.T) {
	golden(t, "drift", func(t *testing.T, _ string, input []byte) string {
		var items []DriftItem
		strictJSON(t, input, &items)
		var buf bytes.Buffer
		WriteDriftText(&buf, items, Styles{})
		buf.WriteString("\n--- markdown\n")
		WriteDriftMarkdown(&buf, items)
		return buf.String()
	})
}
