package plan

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hactl/hactl/plan/golden"
)

// eachCase runs render on every testdata/DIR/NAME.json and compares what it
// prints with NAME.golden; -update rewrites the golden files, to be read
// before they are committed.
func eachCase(t *testing.T, dir string, render func(t *testing.T, name string, input []byte) string) {
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
			golden.Check(t, strings.TrimSuffix(path, ".json")+".golden", render(t, name, input))
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
	eachCase(t, "plan", func(t *testing.T, name string, input []byte) string {
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
	eachCase(t, "drift", func(t *testing.T, _ string, input []byte) string {
		var items []DriftItem
		strictJSON(t, input, &items)
		var buf bytes.Buffer
		WriteDriftText(&buf, items, Styles{})
		buf.WriteString("\n--- markdown\n")
		WriteDriftMarkdown(&buf, items)
		return buf.String()
	})
}
