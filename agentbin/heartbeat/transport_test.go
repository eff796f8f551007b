package heartbeat

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/hactl/hactl/agentbin/heartbeat/wire"
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/agentbin/status"
)

// The transport tests send over a real link: a veth pair in a network
// namespace of the test's own, whose far end is down, as when the cable is
// dead. The kernel then queues what is sent to a peer waiting for ARP,
// charged to the link's socket, until resolution fails 3 s later.

// netnsEnv names the test that a child test process runs in a network
// namespace of its own.
const netnsEnv = "HACTL_HEARTBEAT_TEST_IN_NETNS"

// inOwnNetns runs the calling top-level test in a child process with a
// network namespace of its own. It reports whether the caller is that
// child; in the parent it returns false once the child passed.
func inOwnNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsEnv) == t.Name() {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and a veth pair")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsEnv+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	out, err := cmd.CombinedOutput()
	switch {
	case err != nil:
		t.Fatalf("in its own network namespace: %v\n%s", err, out)
	case !bytes.Contains(out, []byte("--- PASS: "+t.Name())):
		t.Fatalf("in its own network namespace, the test did not run:\n%s", out)
	}
	t.Logf("in its own network namespace:\n%s", out)
	return false
}

// loopbackUp brings up the loopback of the test's own network namespace.
func loopbackUp(t *testing.T) {
	t.Helper()
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
}

// deadLink makes hb0 (192.0.2.1/24), up but without carrier: its veth
// peer is down. 192.0.2.2 and .3 are peers whose ARP never answers.
func deadLink(t *testing.T) *spec.Heartbeat {
	t.Helper()
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "hb0"}, PeerName: "hb0-far"}); err != nil {
		t.Fatalf("creating a veth pair: %v", err)
	}
	link, err := netlink.LinkByName("hb0")
	if err != nil {
		t.Fatal(err)
	}
	addr, err := netlink.ParseAddr("192.0.2.1/24")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.AddrAdd(link, addr); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	return &spec.Heartbeat{IntervalMS: 20, Port: 694, Links: []spec.Link{{Name: "direct", Interface: "hb0", Local: "192.0.2.1", Mode: "unicast"}},
		Peers: []spec.Peer{
			{Name: "b", Addresses: map[string]string{"direct": "192.0.2.2"}},
			{Name: "c", Addresses: map[string]string{"direct": "192.0.2.3"}},
		}}
}

// listenOnDeadLink opens the transport on deadLink in a network
// namespace of the test's own. It returns nil in the parent process,
// which has nothing left to do once the child passed.
func listenOnDeadLink(t *testing.T) (*udpTransport, *spec.Heartbeat) {
	t.Helper()
	if !inOwnNetns(t) {
		return nil, nil
	}
	hb := deadLink(t)
	tr, err := listenUDP(hb, func(string, []byte, time.Time) time.Duration { return 0 })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.close() })
	return tr, hb
}

// blast sends n heartbeat-sized packets to each peer of the link, as the
// engine does every interval, and returns the errors and the longest
// send.
func blast(t *testing.T, tr *udpTransport, hb *spec.Heartbeat, n int) (errs []error, longest time.Duration) {
	t.Helper()
	pkt := make([]byte, 700)
	for range n {
		for _, to := range destinations(hb.Links[0], hb.Peers, hb.Port) {
			start := time.Now()
			if err := tr.send("direct", to, pkt); err != nil {
				errs = append(errs, err)
			}
			longest = max(longest, time.Since(start))
		}
	}
	return errs, longest
}

func TestDeadLinkNeverHoldsUpTheSenderNorFillsItsBuffer(t *testing.T) {
	tr, hb := listenOnDeadLink(t)
	if tr == nil {
		return
	}
	// 2×500 packets of 700 bytes are far more than the two peers' ARP
	// queues and the kernel's default buffer hold: sent with a blocking
	// write, the second peer's queue fills the buffer and the send waits
	// until ARP fails, 3 s later.
	errs, longest := blast(t, tr, hb, 500)
	if longest > 100*time.Millisecond {
		t.Errorf("a send on the dead link took %s: it waited for the socket to drain", longest)
	}
	// The buffer has room for every peer's unresolved queue: the link
	// refuses nothing, so a live peer on it would get every heartbeat.
	if len(errs) > 0 {
		t.Errorf("the link refused %d of 1000 packets although its buffer holds every peer's ARP queue; first: %v", len(errs), errs[0])
	}
}

func TestFullLinkRefusesAtOnce(t *testing.T) {
	tr, hb := listenOnDeadLink(t)
	if tr == nil {
		return
	}
	// A buffer smaller than one peer's ARP queue: it fills, and stays
	// full until resolution fails.
	if err := unix.SetsockoptInt(tr.links["direct"].fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 16*1024); err != nil {
		t.Fatal(err)
	}
	errs, longest := blast(t, tr, hb, 100)
	if longest > 100*time.Millisecond {
		t.Errorf("a send on the full link took %s: it waited for the socket to drain", longest)
	}
	if len(errs) == 0 {
		t.Fatal("the full link took every packet: the test did not fill its buffer")
	}
	if !errors.Is(errs[0], unix.EAGAIN) {
		t.Errorf("a full link refuses with %v, want EAGAIN", errs[0])
	}
}

// refusingTransport refuses every packet on one link and takes the rest.
type refusingTransport struct{ dead string }

func (r refusingTransport) send(link string, _ netip.AddrPort, _ []byte) error {
	if link == r.dead {
		return unix.EAGAIN
	}
	return nil
}

func (refusingTransport) poll()        {}
func (refusingTransport) close() error { return nil }

func TestRefusedHeartbeatsAreCountedPerLink(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte(base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))), 0o600); err != nil {
		t.Fatal(err)
	}
	hb := &spec.Heartbeat{IntervalMS: 20, WarntimeMS: 60, DeadtimeMS: 120, InitdeadMS: 400, Port: 694, KeyPath: key,
		Members: []string{"a", "b", "c"},
		Links: []spec.Link{
			{Name: "lan", Interface: "eth0", Local: "10.0.0.1", Mode: "unicast"},
			{Name: "direct", Interface: "eth1", Local: "10.0.1.1", Mode: "unicast"},
		},
		Peers: []spec.Peer{
			{Name: "b", Addresses: map[string]string{"lan": "10.0.0.2", "direct": "10.0.1.2"}},
			{Name: "c", Addresses: map[string]string{"lan": "10.0.0.3", "direct": "10.0.1.3"}},
		}}
	e, err := New(Config{Spec: &spec.Spec{FormatVersion: spec.FormatVersion, Cluster: "test", Node: "a", Heartbeat: hb}, StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e.tr = refusingTransport{dead: "direct"}
	for range 3 {
		e.sendHeartbeat(time.Now())
	}
	e.publish(time.Now())
	got := e.Status().SendDrops
	if len(got) != 1 || got["direct"] != 6 {
		t.Errorf("send drops %v, want direct: 6 (3 heartbeats to 2 peers) and nothing for lan", got)
	}
}

// A flood of forged packets on one link — as fast as two goroutines can
// hand them in, as a link's reader would — neither drops nor delays the
// heartbeats on the other: each link authenticates in its own reader and
// has its own queue. Before, every link shared one queue, which the
// engine drained while running every HMAC: a flood on one link dropped
// the heartbeats of all and the peer was declared dead.
func TestAFloodOnOneLinkSparesTheOther(t *testing.T) {
	var mu sync.Mutex
	var bad []Event
	e := twoLinkEngine(t, func(ev Event) {
		if ev.Node == "b" && (ev.Kind == status.NodeDead || ev.Kind == status.NodeLate || ev.Kind == status.LinkDown) {
			mu.Lock()
			bad = append(bad, ev)
			mu.Unlock()
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := e.run(ctx, discardTransport{}); err != nil {
			t.Error(err)
		}
	}()
	defer func() { cancel(); <-done }()

	const beats = 75 // 1.5 s of heartbeats at 20 ms
	pkts := peerPackets(t, beats, e.gen)
	forged, err := wire.Encode(&wire.Packet{Cluster: "test", From: "b", Generation: uint64(time.Now().UnixNano()), Seq: 1,
		SentUnixNano: time.Now().UnixNano(), Link: "lan"}, []byte(strings.Repeat("x", 32)), wire.KeyCurrent)
	if err != nil {
		t.Fatal(err)
	}
	var flood sync.WaitGroup
	stop := make(chan struct{})
	start := time.Now()
	for range 2 {
		flood.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					if pause := e.deliver("lan", forged, time.Now()); pause > 0 {
						time.Sleep(pause)
					}
				}
			}
		})
	}
	tick := time.NewTicker(20 * time.Millisecond)
	for i := range beats {
		<-tick.C
		e.deliver("direct", pkts[2*i+1], time.Now())
	}
	tick.Stop()
	close(stop)
	flood.Wait()
	took := time.Since(start)

	direct, lan := e.inboxes["direct"], e.inboxes["lan"]
	for deadline := time.Now().Add(2 * time.Second); len(direct.q) > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if n := lan.counts.Forged.Load() + lan.unverified.Load(); n < 10*beats {
		t.Fatalf("only %d forged packets in %s: no flood", n, took)
	}
	if got := direct.counts.Accepted.Load(); got != beats || direct.full.Load() != 0 {
		t.Errorf("link direct accepted %d of %d heartbeats, %d dropped with its queue full", got, beats, direct.full.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("b was late or dead during the flood: %v", bad)
	}
	// The flood costs at most the link's budget of HMACs.
	if n, most := lan.counts.Forged.Load(), uint64(took.Seconds()*lan.budget.rate+lan.budget.burst); n > most {
		t.Errorf("%d forged packets authenticated in %s, more than the budget of %d", n, took, most)
	}
	t.Logf("%d forged packets on lan (%d authenticated), %d heartbeats on direct", lan.counts.Forged.Load()+lan.unverified.Load(), lan.counts.Forged.Load(), direct.counts.Accepted.Load())
}

func TestBudget(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		takes  int           // tokens taken at t0
		after  time.Duration // then one more taken this much later
		paused bool          // whether that one is refused
	}{
		{"within the burst", 99, 0, false},
		{"past the burst", 100, 0, true},
		{"refilled at the rate", 100, 2 * time.Millisecond, false},
		{"not refilled yet", 100, 500 * time.Microsecond, true},
		{"refilled to the burst only", 100, time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBudget(1000) // burst 100
			for i := range tc.takes {
				if p := b.take(t0); p != 0 {
					t.Fatalf("take %d within the burst paused %s", i, p)
				}
			}
			p := b.take(t0.Add(tc.after))
			if (p > 0) != tc.paused || p > 0 && p < minPause {
				t.Errorf("take after %s: pause %s, want paused %v (at least %s)", tc.after, p, tc.paused, minPause)
			}
		})
	}
}

// The links are read at the ticks, not when a datagram arrives: a
// datagram that waited in the socket is handed on with the kernel's time
// of arrival, not the time it was read, and a link over its budget is
// left until the next poll with the rest still in its socket.
func TestPollHandsOnWhatWaitedWithItsArrivalTime(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	loopbackUp(t)
	for _, local := range []string{"127.0.0.1", "::1"} {
		t.Run(local, func(t *testing.T) { pollWhatWaited(t, local) })
	}
}

func pollWhatWaited(t *testing.T, local string) {
	type got struct {
		b  string
		at time.Time
	}
	var gots []got
	pauseAfter := 0
	hb := &spec.Heartbeat{IntervalMS: 20, Port: 694, Links: []spec.Link{{Name: "lan", Interface: "lo", Local: local, Mode: "unicast"}}}
	tr, err := listenUDP(hb, func(link string, b []byte, at time.Time) time.Duration {
		gots = append(gots, got{string(b), at})
		if pauseAfter > 0 && len(gots) >= pauseAfter {
			return minPause
		}
		return 0
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.close()
	to := netip.AddrPortFrom(netip.MustParseAddr(local), 694)
	sent := time.Now()
	for _, s := range []string{"one", "two", "three"} {
		if err := tr.send("lan", to, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	pauseAfter = 2
	tr.poll()
	if len(gots) != 2 || gots[0].b != "one" || gots[1].b != "two" {
		t.Fatalf("the first poll, paused after two, handed on %v", gots)
	}
	for _, g := range gots {
		if d := g.at.Sub(sent); d < 0 || d > 20*time.Millisecond {
			t.Errorf("%q arrived %s after it was sent by its time stamp, want the kernel's arrival, not the read 50ms later", g.b, d)
		}
	}
	pauseAfter = 0
	tr.poll()
	if len(gots) != 3 || gots[2].b != "three" {
		t.Errorf("the next poll handed on %v, want the third datagram", gots[2:])
	}
	tr.poll()
	if len(gots) != 3 {
		t.Errorf("a poll of an empty socket handed on %v", gots[3:])
	}
}
