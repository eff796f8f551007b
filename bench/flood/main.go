// Command flood measures what forged heartbeats cost a cluster and what
// the heartbeat role costs a node.
//
// First, in a two-node lab cluster with hactl's default timing (20ms
// heartbeats, deadtime 100ms) on two links, it reads each agent's CPU time
// from /proc/PID/stat over a quiet period. Then a flooder in the lab's ctl
// namespace sends forged heartbeats (the cluster's and a member's names,
// signed with a wrong key) to the standby node's address on the
// heartbeat-only link, at increasing rates, each for a while, with a
// client asking the VIP every 10ms. After each rate it checks for a false
// failover: a member declared dead, a group started or stopped, quorum
// lost, or the VIP answering from another node. The absorbed rate is the
// highest rate with none. Last, it builds clusters of 8 and 16 nodes and
// reads their agents' CPU time the same way. With -cpu-only it sends no
// forged heartbeats and measures only the CPU time. With -pair it
// measures only the heartbeat role of a two-node pair, without the lab
// (pair.go); with -floor, the least a tick can cost (floor.go).
//
// It prints a line per step and ends with one line "result: key=value …".
// The machine is shared: the figures are noisy, the CPU ones most.
//
// Run as root from the repository root, under the lab lock:
// flock /tmp/hactl-lab.lock go run ./bench/flood
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/hactl/hactl/agentbin/heartbeat/wire"
	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/status"
	"github.com/hactl/hactl/e2e/gencluster"
	"github.com/hactl/hactl/e2e/lab"
	"github.com/hactl/hactl/plan/apply"
	"github.com/hactl/hactl/plan/config"
	_ "github.com/hactl/hactl/providers/all"
)

func main() {
	rates := flag.String("rates", "1000,10000,50000,100000,200000,400000,700000,1000000", "forged packets per second, in order")
	step := flag.Duration("step", 10*time.Second, "how long each rate is sent")
	window := flag.Duration("cpu-window", 30*time.Second, "how long agents' CPU time is measured")
	sizes := flag.String("nodes", "8,16", "the larger clusters whose CPU time is measured, after the two-node one")
	cpuOnly := flag.Bool("cpu-only", false, "only measure the agents' CPU time; send no forged heartbeats")
	pair := flag.Bool("pair", false, "only measure the heartbeat role's CPU time in a two-node pair, without the lab")
	pairNode := flag.String("pair-node", "", "run the heartbeat role of this spec file (the pair's child)")
	pairState := flag.String("pair-state", "", "the state directory of -pair-node")
	floor := flag.Bool("floor", false, "only measure the least a tick costs here, in Go and in C: its wake-up and system calls, no engine (floor.go, cfloor/floor.c)")
	flag.Parse()
	switch {
	case *floor:
		measureFloors(*window)
		return
	case *pairNode != "":
		if err := runPairNode(*pairNode, *pairState); err != nil {
			fmt.Fprintln(os.Stderr, "bench: pair node:", err)
			os.Exit(1)
		}
		return
	case *pair:
		measureOnly("pair", pairCPU, *window)
		return
	}
	var rs []int
	for _, s := range strings.Split(*rates, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || r <= 0 {
			fmt.Fprintf(os.Stderr, "bench: -rates: %q is not a positive number\n", s)
			os.Exit(2)
		}
		rs = append(rs, r)
	}
	if *cpuOnly {
		rs = nil
	}
	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 2 || n > gencluster.MaxNodes {
			fmt.Fprintf(os.Stderr, "bench: -nodes: %q is not a number of nodes from 2 to %d\n", s, gencluster.MaxNodes)
			os.Exit(2)
		}
		ns = append(ns, n)
	}
	if err := run(rs, *step, *window, ns); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// measureOnly runs one CPU measure (the pair) and prints its result
// line.
func measureOnly(name string, measure func(time.Duration) (float64, error), window time.Duration) {
	cpu, err := measure(window)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s: %v\n", name, err)
		os.Exit(1)
	}
	fmt.Printf("\nresult: cpu_s_per_min_%s=%.3f cpu_pct_%s=%.2f\n", name, cpu, name, cpu/60*100)
}

// measureFloors runs the floor in Go, then in C, and prints their result
// line.
func measureFloors(window time.Duration) {
	goCPU, err := floorCPU(window)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: floor: %v\n", err)
		os.Exit(1)
	}
	cCPU, err := floorCCPU(window)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: floor in C: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("\nresult: cpu_s_per_min_floor=%.3f cpu_pct_floor=%.2f cpu_s_per_min_floor_c=%.3f cpu_pct_floor_c=%.2f go_vs_c=%.2f\n",
		goCPU, goCPU/60*100, cCPU, cCPU/60*100, goCPU/cCPU)
}

// bench is the binaries and the configuration directory of one run.
type bench struct {
	dir, hactl string
}

func run(rates []int, step, window time.Duration, sizes []int) error {
	if os.Geteuid() != 0 {
		return errors.New("run as root: the lab builds network namespaces")
	}
	dir, err := os.MkdirTemp("", "hactl-bench-flood-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &bench{dir: dir, hactl: filepath.Join(dir, "hactl")}
	// hactl takes the agent from beside its executable.
	agent := filepath.Join(dir, apply.AgentFileName(runtime.GOARCH))
	for _, args := range [][]string{{"-o", b.hactl, "./cmd/hactl"}, {"-o", agent, "./agentbin"}} {
		cmd := exec.Command("go", append([]string{"build"}, args...)...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s: %v\n%s", args[len(args)-1], err, out)
		}
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(filepath.Join(dir, "cluster.key"), []byte(base64.StdEncoding.EncodeToString(key)), 0o600); err != nil {
		return err
	}

	ctx := context.Background()
	cpu := map[int]float64{}
	fmt.Println("== two nodes, two links, default timing")
	l, err := b.up(ctx, 2)
	if err != nil {
		return err
	}
	p := l.StartProber("http://"+gencluster.VIP(0)+"/", 10*time.Millisecond)
	absorbed, maxSent, err := func() (int, int, error) {
		defer p.Stop()
		if err := p.WaitFor(gencluster.NodeName(0), 30, time.Minute); err != nil {
			return 0, 0, err
		}
		if cpu[2], err = agentCPU(ctx, l, window); err != nil {
			return 0, 0, err
		}
		return flood(ctx, l, p, rates, step)
	}()
	if derr := l.Down(context.Background()); derr != nil {
		err = errors.Join(err, derr)
	}
	if err != nil {
		return err
	}
	for _, n := range sizes {
		fmt.Printf("\n== %d nodes, two links, default timing\n", n)
		l, err := b.up(ctx, n)
		if err != nil {
			return err
		}
		// Let the members find each other and the groups settle.
		time.Sleep(15 * time.Second)
		cpu[n], err = agentCPU(ctx, l, window)
		if derr := l.Down(context.Background()); derr != nil {
			err = errors.Join(err, derr)
		}
		if err != nil {
			return err
		}
	}
	fmt.Printf("\nresult: absorbed_pps=%d max_sent_pps=%d", absorbed, maxSent)
	for _, n := range slices.Sorted(func(yield func(int) bool) {
		for n := range cpu {
			if !yield(n) {
				return
			}
		}
	}) {
		fmt.Printf(" cpu_s_per_min_%d=%.3f cpu_pct_%d=%.2f", n, cpu[n], n, cpu[n]/60*100)
	}
	fmt.Println()
	return nil
}

// up builds a lab of n nodes, one group each (two for a two-node
// cluster's one group), and applies.
func (b *bench) up(ctx context.Context, n int) (*lab.Lab, error) {
	groups, locs := n, 3
	if n == 2 {
		groups, locs = 1, 2
	}
	src, err := gencluster.HCL(gencluster.Options{Cluster: "flood", Nodes: n, Groups: groups, Locations: locs})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(b.dir, "cluster.hcl"), []byte(src), 0o644); err != nil {
		return nil, err
	}
	res, diags := config.Load(b.dir, config.Options{})
	if diags.HasErrors() {
		return nil, diags
	}
	l, err := lab.Up(ctx, res.Topology, lab.Options{Name: "bench", Replace: true, BootTimeout: 3 * time.Minute})
	if err != nil {
		return nil, err
	}
	cmd, err := l.Command(ctx, lab.Ctl, b.hactl, "apply", "--auto-approve", "-f", b.dir)
	if err == nil {
		var out []byte
		if out, err = cmd.CombinedOutput(); err != nil {
			err = fmt.Errorf("hactl apply: %v\n%s", err, out)
		}
	}
	if err != nil {
		return nil, errors.Join(err, l.Down(context.Background()))
	}
	return l, nil
}

// agentStatus reads a node's agent status.
func agentStatus(ctx context.Context, l *lab.Lab, node string) (*status.Status, error) {
	out, err := l.Exec(ctx, node, "cat", layout.StatusPath)
	if err != nil {
		return nil, fmt.Errorf("%s: reading its agent's status: %v\n%s", node, err, out)
	}
	var st status.Status
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("%s: its agent's status: %w", node, err)
	}
	return &st, nil
}

// cpuTicks is a node's agent's CPU time so far, user and system, in clock
// ticks (USER_HZ, 100 a second).
func cpuTicks(ctx context.Context, l *lab.Lab, node string) (int, error) {
	st, err := agentStatus(ctx, l, node)
	if err != nil {
		return 0, err
	}
	out, err := l.Exec(ctx, node, "cat", fmt.Sprintf("/proc/%d/stat", st.PID))
	if err != nil {
		return 0, fmt.Errorf("%s: reading its agent's CPU time: %v\n%s", node, err, out)
	}
	t, err := statTicks(string(out))
	if err != nil {
		return 0, fmt.Errorf("%s: agent %d: %w", node, st.PID, err)
	}
	return t, nil
}

// agentCPU measures every agent's CPU time over window and prints it;
// it returns the mean, in seconds per minute.
func agentCPU(ctx context.Context, l *lab.Lab, window time.Duration) (float64, error) {
	nodes := l.Nodes()
	before := map[string]int{}
	for _, n := range nodes {
		t, err := cpuTicks(ctx, l, n)
		if err != nil {
			return 0, err
		}
		before[n] = t
	}
	start := time.Now()
	time.Sleep(window)
	took := time.Since(start)
	var total float64
	var per []string
	for _, n := range nodes {
		t, err := cpuTicks(ctx, l, n)
		if err != nil {
			return 0, err
		}
		s := float64(t-before[n]) / 100 / took.Minutes()
		total += s
		per = append(per, fmt.Sprintf("%s %.2f", n, s))
	}
	mean := total / float64(len(nodes))
	fmt.Printf("agent CPU, %d nodes: %.3f s per minute (%.2f %% of a core) on average; per node: %s\n", len(nodes), mean, mean/60*100, strings.Join(per, ", "))
	return mean, nil
}

// flood sends forged heartbeats to the standby's heartbeat-only link at
// each rate in turn and returns the highest with no false failover, and
// the highest rate the flooder reached.
func flood(ctx context.Context, l *lab.Lab, p *lab.Prober, rates []int, step time.Duration) (absorbed, maxSent int, err error) {
	active, standby := gencluster.NodeName(0), gencluster.NodeName(1)
	target := netip.AddrPortFrom(netip.MustParseAddr(gencluster.NodeAddress(1, 1)), 694)
	var conn *net.UDPConn
	if err := l.InNetns(lab.Ctl, func() error {
		var err error
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{})
		return err
	}); err != nil {
		return 0, 0, fmt.Errorf("the flooder's socket in ctl: %w", err)
	}
	defer conn.Close()
	batch, err := forgedBatch(target, active)
	if err != nil {
		return 0, 0, err
	}
	pc := ipv4.NewPacketConn(conn)
	for _, rate := range rates {
		before, err := linkDrops(ctx, l, standby)
		if err != nil {
			return 0, 0, err
		}
		start := time.Now()
		sent := send(pc, batch, rate, step)
		took := time.Since(start)
		// Let late consequences show: a member declared dead deadtime
		// after its last heartbeat, a group moved after that.
		time.Sleep(time.Second)
		after, err := linkDrops(ctx, l, standby)
		if err != nil {
			return 0, 0, err
		}
		sentRate := int(float64(sent) / took.Seconds())
		maxSent = max(maxSent, sentRate)
		why, err := falseFailover(ctx, l, p, start, active)
		if err != nil {
			return 0, 0, err
		}
		fmt.Printf("forged %7d/s asked, %7d/s sent: the standby's agent saw %d (authenticated %d, dropped unread %d) and accepted %d heartbeats on both links; %s\n",
			rate, sentRate, after.seen()-before.seen(), after.forged-before.forged, after.unverified-before.unverified, after.accepted-before.accepted, orNone(why))
		if why != "" {
			return absorbed, maxSent, nil
		}
		absorbed = sentRate
		if sentRate < rate*9/10 {
			fmt.Println("the flooder cannot send faster here: stopping")
			return absorbed, maxSent, nil
		}
	}
	return absorbed, maxSent, nil
}

func orNone(why string) string {
	if why == "" {
		return "no false failover"
	}
	return "FALSE FAILOVER: " + why
}

// forgedBatch is a batch of forged heartbeats to target: from a member,
// of the cluster, on the link, with fresh sequence numbers, signed with a
// key that is not the cluster's.
func forgedBatch(target netip.AddrPort, from string) ([]ipv4.Message, error) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	gen := uint64(time.Now().UnixNano())
	var msgs []ipv4.Message
	for i := range 64 {
		b, err := wire.Encode(&wire.Packet{Cluster: "flood", From: from, Generation: gen, Seq: uint64(i + 1), SentUnixNano: time.Now().UnixNano(), Link: "direct",
			State: wire.State{Quorate: true, Uptime: time.Minute}}, key, wire.KeyCurrent)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, ipv4.Message{Buffers: [][]byte{b}, Addr: net.UDPAddrFromAddrPort(target)})
	}
	return msgs, nil
}

// send sends batch over and over at rate packets a second for d, as
// closely as it can, and returns how many it sent.
func send(pc *ipv4.PacketConn, batch []ipv4.Message, rate int, d time.Duration) int {
	start := time.Now()
	sent := 0
	for {
		elapsed := time.Since(start)
		if elapsed >= d {
			return sent
		}
		due := int(float64(rate)*elapsed.Seconds()) - sent
		if due <= 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		n, err := pc.WriteBatch(batch[:min(due, len(batch))], 0)
		if err != nil {
			// A full buffer: the kernel is behind, as a wire would be.
			time.Sleep(100 * time.Microsecond)
		}
		sent += max(n, 0)
	}
}

// drops are what a node's agent counted on the direct link.
type drops struct{ accepted, forged, unverified, other uint64 }

func (d drops) seen() uint64 { return d.forged + d.unverified + d.other }

func linkDrops(ctx context.Context, l *lab.Lab, node string) (drops, error) {
	st, err := agentStatus(ctx, l, node)
	if err != nil {
		return drops{}, err
	}
	if st.Heartbeat == nil {
		return drops{}, fmt.Errorf("%s: its agent runs no heartbeat role", node)
	}
	var d drops
	for reason, n := range st.Heartbeat.DroppedByLink["direct"] {
		switch reason {
		case "forged":
			d.forged = n
		case "unverified":
			d.unverified = n
		default:
			d.other += n
		}
	}
	// Accepted counts every link.
	d.accepted = st.Heartbeat.Accepted
	return d, nil
}

// falseFailover says what went wrong since start, or "": a member
// declared dead, a group started or stopped, quorum lost, the VIP
// answering from another node than active.
func falseFailover(ctx context.Context, l *lab.Lab, p *lab.Prober, start time.Time, active string) (string, error) {
	var whys []string
	for _, n := range l.Nodes() {
		st, err := agentStatus(ctx, l, n)
		if err != nil {
			return "", err
		}
		if st.Heartbeat == nil {
			continue
		}
		for _, ev := range st.Heartbeat.Events {
			if ev.Time.Before(start) {
				continue
			}
			switch ev.Kind {
			case status.NodeDead, status.GroupStarted, status.GroupStopped, status.QuorumLost, status.SplitBrain:
				whys = append(whys, fmt.Sprintf("%s: %s %s%s", n, ev.Kind, ev.Node, ev.Group))
			}
		}
	}
	for _, a := range p.Since(start) {
		if a.OK && a.From != active {
			whys = append(whys, fmt.Sprintf("the VIP answered from %s at %s", a.From, a.Sent.Format("15:04:05.000")))
			break
		}
	}
	return strings.Join(whys, "; "), nil
}
