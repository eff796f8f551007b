package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/e2e/drill"
)

// Short randomized fault drills (package e2e/drill) on the two- and
// three-node examples, as written: any broken invariant fails the test
// with the drill's report — the seed, the faults and the events. The
// seed changes from run to run; HACTL_DRILL_SEED replays one.

func TestDrillTwoNodeWeb(t *testing.T) { runDrill(t, "two-node-web") }

func TestDrillThreeNode(t *testing.T) { runDrill(t, "three-node") }

// drillDuration is how long each drill applies faults.
const drillDuration = 75 * time.Second

func runDrill(t *testing.T, example string) {
	needRoot(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("HACTL_DRILL_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("HACTL_DRILL_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (HACTL_DRILL_SEED=%d replays it)", seed, seed)
	var progress strings.Builder
	report, err := drill.Run(t.Context(), drill.Options{
		Config:   copyExample(t, example),
		Duration: drillDuration,
		Seed:     seed,
		Name:     "drill",
		Replace:  true,
		Hactl:    hactlBin,
		Progress: &progress,
	})
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatalf("drill of %s: %v", example, err)
	}
	var out strings.Builder
	if err := report.Write(&out); err != nil {
		t.Fatal(err)
	}
	if len(report.Violations) > 0 || report.Stopped != "" {
		t.Fatalf("drill of %s:\n%s", example, out.String())
	}
	t.Logf("drill of %s:\n%s", example, out.String())
	if len(report.Steps) < 3 {
		t.Errorf("the drill applied only %d faults in %s", len(report.Steps), drillDuration)
	}
}
