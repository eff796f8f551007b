package resource

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

func vipRes(name, addr string) spec.Resource {
	return spec.Resource{Kind: "vip", Name: name, Address: addr, Interface: "eth0", MonitorIntervalMS: 1000}
}

func TestLeftoversAreWhatNoResourceOfTheSpecIs(t *testing.T) {
	web := vipRes("web-ip", "192.0.2.100/24")
	db := vipRes("db-ip", "192.0.2.200/24")
	nginx := spec.Resource{Kind: "service", Name: "nginx", Unit: "nginx.service"}
	ocf := spec.Resource{Kind: "ocf", Name: "fs", OCFProvider: "heartbeat", OCFType: "Filesystem", Params: map[string]string{"device": "/dev/sdb1"}}
	recorded := []Started{{"web", web}, {"web", nginx}, {"db", db}, {"db", ocf}}
	group := func(rs ...spec.Resource) []spec.Group { return []spec.Group{{Name: "g", Resources: rs}} }
	renamed := web
	renamed.Name, renamed.MonitorIntervalMS, renamed.GARPCount = "front-ip", 5000, 3
	moved := web
	moved.Address = "192.0.2.110/24"
	otherIf := web
	otherIf.Interface = "eth1"
	otherParams := ocf
	otherParams.Params = map[string]string{"device": "/dev/sdc1"}
	for _, tt := range []struct {
		name   string
		groups []spec.Group
		want   []string // names, newest first
	}{
		{"everything still wanted", group(web, nginx, db, ocf), nil},
		{"no groups: all of it", nil, []string{"fs", "db-ip", "nginx", "web-ip"}},
		{"renamed, other monitoring: the same thing", group(renamed, nginx, db, ocf), nil},
		{"address changed", group(moved, nginx, db, ocf), []string{"web-ip"}},
		{"interface changed", group(otherIf, nginx, db, ocf), []string{"web-ip"}},
		{"group removed", group(web, nginx), []string{"fs", "db-ip"}},
		{"ocf parameters changed", group(web, nginx, db, otherParams), []string{"fs"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &Record{entries: recorded}
			var got []string
			for _, s := range rec.Leftovers(tt.groups) {
				got = append(got, s.Resource.Name)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("leftovers %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRecordSurvivesOnDiskAndReleaseDropsWhatStopped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "started.json")
	rec, err := LoadRecord(path)
	if err != nil || len(rec.Entries()) != 0 {
		t.Fatalf("a missing record: %v, %v", rec.Entries(), err)
	}
	web, db := vipRes("web-ip", "192.0.2.100/24"), vipRes("db-ip", "192.0.2.200/24")
	for _, r := range []spec.Resource{web, db, web} {
		if err := rec.Add("g", r); err != nil {
			t.Fatal(err)
		}
	}
	again, err := LoadRecord(path)
	if err != nil || len(again.Entries()) != 2 {
		t.Fatalf("record read back: %v, %v; want web-ip and db-ip once each", again.Entries(), err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("record file: %v, %v; want mode 0600", fi, err)
	}

	stopped := map[string]bool{}
	factory := func(r spec.Resource, _ Env) (Resource, error) {
		return fakeStop{name: r.Name, stopped: stopped, fail: r.Name == "db-ip"}, nil
	}
	err = again.Release(context.Background(), nil, factory, Env{})
	if err == nil || !strings.Contains(err.Error(), "releasing vip 192.0.2.200/24 on eth0 (group g)") {
		t.Fatalf("Release: %v, want the failure of db-ip named", err)
	}
	if !stopped["web-ip"] {
		t.Error("web-ip not stopped")
	}
	last, _ := LoadRecord(path)
	if got := last.Entries(); len(got) != 1 || got[0].Resource.Name != "db-ip" {
		t.Errorf("after Release the record holds %v, want only db-ip, which did not stop", got)
	}
}

func TestADamagedRecordIsAnErrorNamingTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "started.json")
	if err := os.WriteFile(path, []byte("{half"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec, err := LoadRecord(path)
	if err == nil || !strings.Contains(err.Error(), path) || len(rec.Entries()) != 0 {
		t.Fatalf("LoadRecord of a damaged file: %v, %v", rec.Entries(), err)
	}
}

type fakeStop struct {
	name    string
	stopped map[string]bool
	fail    bool
}

func (f fakeStop) Name() string                { return f.name }
func (f fakeStop) Start(context.Context) error { return nil }
func (f fakeStop) Stop(context.Context) error {
	if f.fail {
		return os.ErrPermission
	}
	f.stopped[f.name] = true
	return nil
}
func (f fakeStop) Monitor(context.Context) (bool, error) { return !f.stopped[f.name], nil }

// A VIP started by one agent is released by the next, which reads the
// record from disk, once the spec no longer has it.
func TestReleaseRemovesARecordedVIPFromTheInterface(t *testing.T) {
	if !isolated(t) {
		return
	}
	newLab(t)
	path := filepath.Join(t.TempDir(), "started.json")
	old := spec.Resource{Kind: "vip", Name: "web-ip", Address: "192.0.2.100/24", Interface: "node0", GARPCount: 1}
	kept := spec.Resource{Kind: "vip", Name: "web-ip", Address: "192.0.2.110/24", Interface: "node0", GARPCount: 1}
	rec, _ := LoadRecord(path)
	for _, r := range []spec.Resource{old, kept} {
		if err := rec.Add("web", r); err != nil {
			t.Fatal(err)
		}
		v, err := New(r, Env{})
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		v.(Detacher).Detach()
	}

	next, err := LoadRecord(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := next.Release(ctx, []spec.Group{{Name: "web", Resources: []spec.Resource{kept}}}, New, Env{}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		addr string
		want bool
	}{{"192.0.2.100/24", false}, {"192.0.2.110/24", true}} {
		if has, err := (netlinkKernel{}).HasAddr("node0", netip.MustParsePrefix(tt.addr)); has != tt.want || err != nil {
			t.Errorf("%s on node0: %v (%v), want %v", tt.addr, has, err, tt.want)
		}
	}
	if got := next.Entries(); len(got) != 1 || got[0].Resource.Address != "192.0.2.110/24" {
		t.Errorf("record after the release: %v", got)
	}
}
