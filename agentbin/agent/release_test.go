package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hactl/hactl/agentbin/heartbeat"
	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/resource"
	"github.com/hactl/hactl/agentbin/spec"
)

// A node whose spec no longer makes it a member (no heartbeat section)
// releases what an earlier agent started there: the agent reads the
// record left on disk and stops each resource.
func TestANodeNoLongerAMemberReleasesWhatItStarted(t *testing.T) {
	a, specPath, _ := startAgent(t, heartbeat.Kind{})
	dir := filepath.Dir(specPath)
	stopped := filepath.Join(dir, "stopped")
	script := filepath.Join(dir, "web")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = stop ] && touch "+stopped+"\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	recordPath := filepath.Join(a.cfg.StateDir, filepath.Base(layout.StartedPath))
	rec, err := resource.LoadRecord(recordPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Add("web", spec.Resource{Kind: "lsb", Name: "web", Script: script}); err != nil {
		t.Fatal(err)
	}
	writeSpec(t, specPath, baseSpec())
	waitFor(t, "the recorded script to be stopped", func() bool {
		_, err := os.Stat(stopped)
		return err == nil
	})
	waitFor(t, "the record to be emptied", func() bool {
		rec, err := resource.LoadRecord(recordPath)
		return err == nil && len(rec.Entries()) == 0
	})
}
