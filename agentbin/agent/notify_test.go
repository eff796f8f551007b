package agent

import (
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

func TestNotifyCommandsRunForTheirEventsWithTheEventInTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	script := filepath.Join(dir, "notify.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$1 $HACTL_EVENT $HACTL_NODE $HACTL_GROUP $HACTL_DETAIL\" >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	logger := log.New(io.Discard, "", 0)
	notifies := []spec.Notify{
		{Name: "oncall", Command: script + " page", Events: []string{"node_dead"}, TimeoutMS: 5000},
		{Name: "all", Command: script + " log", TimeoutMS: 5000},
	}
	runNotifies(logger, notifies, status.Event{Kind: status.NodeDead, Node: "h2g", Detail: "silent"})
	runNotifies(logger, notifies, status.Event{Kind: status.GroupStarted, Node: "c2g", Group: "web"})
	want := []string{"page node_dead h2g  silent", "log node_dead h2g  silent", "log group_started c2g web "}
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(out)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) == len(want) {
			for _, w := range want {
				if !strings.Contains(string(data), w+"\n") {
					t.Errorf("notify output lacks %q:\n%s", w, data)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("notify output after 10s:\n%s\nwant %d lines", data, len(want))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
