package resource

import (
	"bytes"
	"context"
	"errors"
	"log"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// recorder is a kernel that records what a VIP asks of it.
type recorder struct {
	mu          sync.Mutex
	calls       []string
	at          []time.Time
	addrs       map[string]bool
	addErr      error
	announceErr error
}

func (r *recorder) record(call string) {
	r.calls = append(r.calls, call)
	r.at = append(r.at, time.Now())
}

func (r *recorder) AddAddr(ifname string, p netip.Prefix) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record("add " + ifname + " " + p.String())
	if r.addErr != nil {
		return r.addErr
	}
	r.addrs[ifname+" "+p.String()] = true
	return nil
}

func (r *recorder) DelAddr(ifname string, p netip.Prefix) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record("del " + ifname + " " + p.String())
	delete(r.addrs, ifname+" "+p.String())
	return nil
}

func (r *recorder) HasAddr(ifname string, p netip.Prefix) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addrs[ifname+" "+p.String()], nil
}

func (r *recorder) Announce(ifname string, a netip.Addr) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record("announce " + ifname + " " + a.String())
	return r.announceErr
}

// snapshot returns the calls so far and when they came.
func (r *recorder) snapshot() ([]string, []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls), slices.Clone(r.at)
}

// announcements counts the announcements so far.
func (r *recorder) announcements() int {
	calls, _ := r.snapshot()
	n := 0
	for _, c := range calls {
		if strings.HasPrefix(c, "announce ") {
			n++
		}
	}
	return n
}

// waitFor waits until cond holds, or fails the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// testVIP is a VIP on a recorder, announcing 20 ms apart.
func testVIP(t *testing.T, address string, count, refreshMS int) (*vip, *recorder, *bytes.Buffer) {
	t.Helper()
	rec := &recorder{addrs: map[string]bool{}}
	logs := &bytes.Buffer{}
	r, err := newVIP(spec.Resource{Kind: "vip", Name: "web-ip", Address: address, Interface: "eth0", GARPCount: count, GARPRefreshMS: refreshMS},
		Env{Logger: log.New(logs, "", 0)}, rec)
	if err != nil {
		t.Fatal(err)
	}
	v := r.(*vip)
	v.gap = 20 * time.Millisecond
	return v, rec, logs
}

func TestVIPAnnouncesAtOnceThenCountTimesApart(t *testing.T) {
	for _, address := range []string{"192.0.2.33/24", "2001:db8::33/64"} {
		t.Run(address, func(t *testing.T) {
			v, rec, _ := testVIP(t, address, 3, 0)
			ctx := context.Background()
			if err := v.Start(ctx); err != nil {
				t.Fatal(err)
			}
			ip := netip.MustParsePrefix(address).Addr().String()
			calls, _ := rec.snapshot()
			if want := []string{"add eth0 " + address, "announce eth0 " + ip}; !slices.Equal(calls, want) {
				t.Fatalf("when Start returned: %q, want %q", calls, want)
			}
			waitFor(t, "3 announcements", func() bool { return rec.announcements() == 3 })
			time.Sleep(5 * v.gap)
			calls, at := rec.snapshot()
			if len(calls) != 4 {
				t.Fatalf("without refresh, more than 3 announcements: %q", calls)
			}
			for i := 2; i < 4; i++ {
				if gap := at[i].Sub(at[i-1]); gap < v.gap {
					t.Errorf("announcements %d and %d %v apart, want %v at least", i-1, i, gap, v.gap)
				}
			}
			if running, err := v.Monitor(ctx); !running || err != nil {
				t.Fatalf("Monitor after Start: %v, %v", running, err)
			}
			if err := v.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if running, err := v.Monitor(ctx); running || err != nil {
				t.Fatalf("Monitor after Stop: %v, %v", running, err)
			}
			calls, _ = rec.snapshot()
			if calls[len(calls)-1] != "del eth0 "+address {
				t.Errorf("Stop did not remove the address: %q", calls)
			}
		})
	}
}

func TestVIPRefreshesUntilStop(t *testing.T) {
	v, rec, _ := testVIP(t, "192.0.2.33/24", 1, 20)
	ctx := context.Background()
	if err := v.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "refreshed announcements", func() bool { return rec.announcements() >= 4 })
	if err := v.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	calls, _ := rec.snapshot()
	time.Sleep(100 * time.Millisecond)
	after, _ := rec.snapshot()
	if !slices.Equal(calls, after) || after[len(after)-1] != "del eth0 192.0.2.33/24" {
		t.Errorf("announced after Stop, or Stop did not end with removing the address: %q", after)
	}
}

func TestVIPStartAgainRestartsTheAnnouncer(t *testing.T) {
	v, rec, _ := testVIP(t, "192.0.2.33/24", 2, 20)
	ctx := context.Background()
	for range 3 {
		if err := v.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "announcements", func() bool { return rec.announcements() >= 6 })
	if err := v.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	n := rec.announcements()
	time.Sleep(100 * time.Millisecond)
	if rec.announcements() != n {
		t.Error("an announcer of an earlier Start survived Stop")
	}
	calls, _ := rec.snapshot()
	if calls[0] != "add eth0 192.0.2.33/24" || calls[1] != "announce eth0 192.0.2.33" || calls[2] != "add eth0 192.0.2.33/24" {
		t.Errorf("each Start adds the address and announces it at once: %q", calls)
	}
}

func TestVIPWithoutAnnouncementsOnlyAddsTheAddress(t *testing.T) {
	v, rec, _ := testVIP(t, "192.0.2.33/32", 0, 0)
	if err := v.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if calls, _ := rec.snapshot(); !slices.Equal(calls, []string{"add eth0 192.0.2.33/32"}) {
		t.Errorf("calls %q", calls)
	}
	if v.endAnnouncer != nil {
		t.Error("an announcer runs with nothing to announce")
	}
}

func TestVIPFailures(t *testing.T) {
	v, rec, logs := testVIP(t, "192.0.2.33/24", 1, 0)
	rec.addErr = errors.New("Link not found")
	err := v.Start(context.Background())
	if err == nil || err.Error() != `resource "web-ip": adding 192.0.2.33/24 to eth0: Link not found; check that eth0 exists on this node and is the interface the configuration names` {
		t.Errorf("Start: %v", err)
	}
	if rec.announcements() != 0 {
		t.Error("announced an address it could not add")
	}

	rec.addErr, rec.announceErr = nil, errors.New("network is down")
	if err := v.Start(context.Background()); err != nil {
		t.Fatalf("a failed announcement failed Start: %v", err)
	}
	if want := `resource "web-ip": announcing 192.0.2.33 on eth0: network is down (neighbours learn it when they next ask)`; !strings.Contains(logs.String(), want) {
		t.Errorf("log %q, want %q", logs, want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := v.Stop(ctx); err == nil || !strings.Contains(err.Error(), `resource "web-ip": not removing 192.0.2.33/24: context canceled`) {
		t.Errorf("Stop with a cancelled context: %v", err)
	}
}
