package heartbeat

import (
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/status"
)

func TestRuntimeDriftReportsStoppedAndRestartedResources(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	hb := &status.Heartbeat{Groups: []status.Group{
		{Name: "web", State: "running", Resources: []status.Resource{
			{Name: "www", Kind: "vip", Running: true, Restarts: 1, LastRestart: now.Add(-time.Minute)},
			{Name: "old", Kind: "vip", Running: true, Restarts: 2, LastRestart: now.Add(-time.Hour)},
			{Name: "apache", Kind: "ocf", Running: false},
			{Name: "ok", Kind: "ocf", Running: true},
		}},
		{Name: "db", State: "stopped", Resources: []status.Resource{{Name: "pg", Kind: "service"}}},
	}}
	got := runtimeDrift(hb, now)
	want := []string{
		"group web: vip www was found stopped and restarted at 11:59:00",
		"group web: ocf apache is not running",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("runtimeDrift = %q, want %q", got, want)
	}
}

func TestParseRequestReadsTheOperatorsWords(t *testing.T) {
	for _, tc := range []struct {
		op   string
		args []string
		want Request
		err  bool
	}{
		{op: "standby", want: Request{Op: "standby"}},
		{op: "online", want: Request{Op: "online"}},
		{op: "maintenance", args: []string{"on"}, want: Request{Op: "maintenance", On: true}},
		{op: "maintenance", args: []string{"off"}, want: Request{Op: "maintenance"}},
		{op: "move", args: []string{"web"}, want: Request{Op: "move", Group: "web"}},
		{op: "move", args: []string{"web", "c2g"}, want: Request{Op: "move", Group: "web", To: "c2g"}},
		{op: "move", args: []string{"web", "c2g", "for=30m"}, want: Request{Op: "move", Group: "web", To: "c2g", For: 30 * time.Minute}},
		{op: "move", args: []string{"web", "for=2h"}, want: Request{Op: "move", Group: "web", For: 2 * time.Hour}},
		{op: "unmove", args: []string{"web"}, want: Request{Op: "unmove", Group: "web"}},
		{op: "move", args: []string{"web", "for=2h", "c2g"}, err: true},
		{op: "move", args: []string{"web", "c2g", "h2g"}, err: true},
		{op: "unmove", err: true},
		{op: "standby", args: []string{"now"}, err: true},
		{op: "maintenance", args: []string{"yes"}, err: true},
		{op: "move", err: true},
		{op: "move", args: []string{"a", "b", "c", "d"}, err: true},
		{op: "reboot", err: true},
	} {
		got, err := ParseRequest(tc.op, tc.args)
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), RequestUsage) {
				t.Errorf("ParseRequest(%q, %q) = %+v, %v; want an error naming the requests taken", tc.op, tc.args, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseRequest(%q, %q) = %+v, %v; want %+v", tc.op, tc.args, got, err, tc.want)
		}
	}
}
