package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hactl/hactl/plan"
	"github.com/hactl/hactl/plan/config"
	"github.com/hactl/hactl/plan/golden"
	"github.com/hactl/hactl/providers"
)

// statusCase is the input of a status golden case: the specs the nodes
// should run and what each host reported.
type statusCase struct {
	Desired []struct {
		Node     string `json:"node"`
		SpecHash string `json:"spec_hash"`
	} `json:"desired"`
	Observed map[string]*plan.Observed `json:"observed"`
}

// TestStatusTextGolden renders testdata/status/NAME.json as hactl status
// prints it and compares the result with NAME.golden.
func TestStatusTextGolden(t *testing.T) {
	cases, _ := filepath.Glob("testdata/status/*.json")
	if len(cases) == 0 {
		t.Fatal("no golden cases in testdata/status")
	}
	for _, path := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".json"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var c statusCase
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c); err != nil {
				t.Fatal(err)
			}
			var desired []*plan.Desired
			for _, d := range c.Desired {
				desired = append(desired, &plan.Desired{Node: d.Node, SpecHash: d.SpecHash})
			}
			var buf bytes.Buffer
			if err := newStatusReport(desired, c.Observed).writeText(&buf); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, strings.TrimSuffix(path, ".json")+".golden", buf.String())
		})
	}
}

// TestExampleSpecsGolden compiles every example into the spec of each of
// its nodes, as apply would upload them, and compares them with
// testdata/examples/NAME.golden. The key files the examples name are the
// fixed stand-ins of testdata/example-secrets, so the secrets' digests are
// stable; their contents never enter a spec.
func TestExampleSpecsGolden(t *testing.T) {
	examples, _ := filepath.Glob("../../examples/*/cluster.hcl")
	if len(examples) < 5 {
		t.Fatalf("want the five examples of the guide's scenarios, found %v", examples)
	}
	for _, example := range examples {
		name := filepath.Base(filepath.Dir(example))
		t.Run(name, func(t *testing.T) {
			secrets := exampleDir(t, example)
			path := filepath.Join(secrets, "cluster.hcl")
			res, diags := config.Load(path, config.Options{Environ: []string{}})
			if diags.HasErrors() {
				t.Fatalf("%s does not load: %v", path, diags)
			}
			var buf bytes.Buffer
			for _, n := range res.Topology.Nodes {
				sp, files, diags := providers.CompileNode(res.Topology, n, secrets)
				if diags.HasErrors() {
					t.Fatalf("%s: %v", n.Name, diags)
				}
				data, err := sp.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				for remotePath, content := range files {
					if bytes.Contains(data, bytes.TrimSpace(content)) {
						t.Errorf("%s: the content of %s is in its spec", n.Name, remotePath)
					}
				}
				buf.WriteString("# node " + n.Name + "\n")
				buf.Write(data)
				if !bytes.HasSuffix(data, []byte("\n")) {
					buf.WriteByte('\n')
				}
			}
			golden.Check(t, filepath.Join("testdata/examples", name+".golden"), buf.String())
		})
	}
}

// A member reports a group's resources as they are on itself: on the
// standby they are stopped by design. status shows them as the node that
// runs the group reports them, so a running VIP never reads as down.
func TestStatusShowsResourcesWhereTheGroupRuns(t *testing.T) {
	data, err := os.ReadFile("testdata/status/seen_from_the_standby.json")
	if err != nil {
		t.Fatal(err)
	}
	var c statusCase
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	desired := []*plan.Desired{{Node: "h2g", SpecHash: "s1"}, {Node: "c2g", SpecHash: "s1"}}
	r := newStatusReport(desired, c.Observed)
	if r.SeenBy != "c2g" {
		t.Fatalf("the view is %s's; this case needs the standby's", r.SeenBy)
	}
	var buf bytes.Buffer
	if err := r.writeText(&buf); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "web  running on h2g  vip www running; service apache2 running") || strings.Contains(out, "stopped") {
		t.Errorf("status reads as if the running group were down:\n%s", out)
	}
}

// A failed group, one that would not stop and a resource in error each
// make their node unhealthy, and so hactl status exit 2; the JSON carries
// them per node with the modes and the move.
func TestStatusFailuresMakeNodesUnhealthy(t *testing.T) {
	data, err := os.ReadFile("testdata/status/failures_maintenance_and_a_move.json")
	if err != nil {
		t.Fatal(err)
	}
	var c statusCase
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	desired := []*plan.Desired{{Node: "a", SpecHash: "s1"}, {Node: "b", SpecHash: "s1"}, {Node: "c", SpecHash: "s1"}}
	r := newStatusReport(desired, c.Observed)
	if r.healthy() {
		t.Error("a cluster with failed groups reads as healthy: hactl status would exit 0")
	}
	for _, tc := range []struct {
		node, failure        string
		standby, maintenance bool
	}{
		{"a", "group db: service postgresql: service postgresql is not running", false, false},
		{"b", "group web failed: starting vip www: address 192.168.0.33 in use", false, true},
		{"c", "group lb stop-failed: stopping service nginx: systemctl stop nginx: exit status 1", true, false},
	} {
		var n NodeStatus
		for _, row := range r.Nodes {
			if row.Node == tc.node {
				n = row
			}
		}
		if n.Healthy || n.LastError != tc.failure || len(n.Failures) != 1 || n.Standby != tc.standby || n.Maintenance != tc.maintenance {
			t.Errorf("%s: %+v, want unhealthy with failure %q, standby %v, maintenance %v", tc.node, n, tc.failure, tc.standby, tc.maintenance)
		}
	}
	var buf bytes.Buffer
	if err := r.writeJSON(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"failures": [`, `"maintenance": true`, `"moved_to": "a"`, `"move_until": "2026-12-01T12:00:00Z"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("status --json lacks %s:\n%s", want, buf.String())
		}
	}
}
