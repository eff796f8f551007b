package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hactl/hactl/agentbin/heartbeat"
	"github.com/hactl/hactl/agentbin/spec"
)

// The pair is the heartbeat role alone, without the lab: two processes of
// this program, each running one node's role as the agent does (one P),
// in two network namespaces of their own joined by two veth pairs (the
// links), with hactl's default timing and one group with a VIP. It
// measures what the role costs, without the rest of the agent, sshd or
// the lab's bridges, and does not need the lab (nor its lock): the
// namespaces have names of their own and no link to any other.

// pairNS are the namespaces of the pair's two nodes.
var pairNS = [2]string{"hbcpu-pair-a", "hbcpu-pair-b"}

// pairSpec is node i's spec (0: a, 1: b).
func pairSpec(i int, keyPath string) *spec.Spec {
	names := [2]string{"a", "b"}
	addr := func(link, node int) string { return fmt.Sprintf("10.77.%d.%d", link, node+1) }
	var links []spec.Link
	peer := spec.Peer{Name: names[1-i], Addresses: map[string]string{}}
	for l, name := range []string{"lan", "direct"} {
		links = append(links, spec.Link{Name: name, Interface: fmt.Sprintf("hb%d", l), Local: addr(l, i), Mode: "unicast"})
		peer.Addresses[name] = addr(l, 1-i)
	}
	return &spec.Spec{FormatVersion: spec.FormatVersion, Cluster: "pair", Node: names[i], Quorum: &spec.Quorum{Policy: "stop"},
		Heartbeat: &spec.Heartbeat{IntervalMS: 20, WarntimeMS: 60, DeadtimeMS: 100, InitdeadMS: 2000, Port: 694, KeyPath: keyPath,
			Links: links, Members: names[:], Peers: []spec.Peer{peer}},
		Groups: []spec.Group{{Name: "web", Failback: true,
			Locations: []spec.Location{{Node: "a", Score: 200}, {Node: "b", Score: 100}},
			Resources: []spec.Resource{{Kind: "vip", Name: "web-ip", Address: "10.77.0.33/24", Interface: "hb0", MonitorIntervalMS: 10000}}}}}
}

// runPairNode runs the role of the spec at specPath until SIGTERM: the
// pair's child.
func runPairNode(specPath, stateDir string) error {
	runtime.GOMAXPROCS(min(2, runtime.NumCPU())) // as the agent runs the heartbeat (agentbin's procsFor)
	data, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	var sp spec.Spec
	if err := json.Unmarshal(data, &sp); err != nil {
		return fmt.Errorf("%s: %w", specPath, err)
	}
	e, err := heartbeat.New(heartbeat.Config{Spec: &sp, StateDir: stateDir, Logger: log.New(os.Stderr, sp.Node+": ", 0)})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return e.Run(ctx)
}

// pairCPU builds the pair, lets it settle, and measures both nodes' CPU
// time over window; it returns the mean in seconds per minute.
func pairCPU(window time.Duration) (float64, error) {
	if os.Geteuid() != 0 {
		return 0, errors.New("run as root: the pair builds network namespaces")
	}
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "hactl-bench-pair-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keyPath := filepath.Join(dir, "cluster.key")
	if err := os.WriteFile(keyPath, []byte(base64.StdEncoding.EncodeToString(key)), 0o600); err != nil {
		return 0, err
	}
	pairDown()
	defer pairDown()
	cmds := [][]string{{"netns", "add", pairNS[0]}, {"netns", "add", pairNS[1]}}
	for l := range 2 {
		dev := fmt.Sprintf("hb%d", l)
		cmds = append(cmds, []string{"-n", pairNS[0], "link", "add", dev, "type", "veth", "peer", "name", dev, "netns", pairNS[1]})
		for i, ns := range pairNS {
			cmds = append(cmds, []string{"-n", ns, "addr", "add", fmt.Sprintf("10.77.%d.%d/24", l, i+1), "dev", dev},
				[]string{"-n", ns, "link", "set", dev, "up"})
		}
	}
	for _, ns := range pairNS {
		cmds = append(cmds, []string{"-n", ns, "link", "set", "lo", "up"})
	}
	for _, args := range cmds {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return 0, fmt.Errorf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
			_ = p.Wait()
		}
	}()
	for i, ns := range pairNS {
		specPath := filepath.Join(dir, fmt.Sprintf("spec-%d.json", i))
		state := filepath.Join(dir, fmt.Sprintf("state-%d", i))
		data, err := json.Marshal(pairSpec(i, keyPath))
		if err != nil {
			return 0, err
		}
		if err := errors.Join(os.WriteFile(specPath, data, 0o600), os.Mkdir(state, 0o700)); err != nil {
			return 0, err
		}
		cmd := exec.Command("ip", "netns", "exec", ns, self, "-pair-node", specPath, "-pair-state", state)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		procs = append(procs, cmd)
	}
	// Past initdead: the members have heard each other and the group runs.
	time.Sleep(5 * time.Second)
	ticks := func() ([]int, error) {
		var out []int
		for _, p := range procs {
			t, err := procTicks(p.Process.Pid)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
		return out, nil
	}
	before, err := ticks()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	time.Sleep(window)
	took := time.Since(start)
	after, err := ticks()
	if err != nil {
		return 0, err
	}
	var total float64
	var per []string
	for i := range procs {
		s := float64(after[i]-before[i]) / 100 / took.Minutes()
		total += s
		per = append(per, fmt.Sprintf("%s %.3f", []string{"a", "b"}[i], s))
	}
	mean := total / 2
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("heartbeat role CPU, 2 nodes, no lab: %.3f s per minute (%.2f %% of a core) on average; per node: %s; load %s\n",
		mean, mean/60*100, strings.Join(per, ", "), strings.Join(strings.Fields(string(load))[:3], " "))
	return mean, nil
}

// pairDown removes the pair's namespaces, with their links.
func pairDown() {
	for _, ns := range pairNS {
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
}

// procTicks is process pid's CPU time so far, user and system, in clock
// ticks (USER_HZ, 100 a second).
func procTicks(pid int) (int, error) {
	out, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return statTicks(string(out))
}

// statTicks is utime + stime of a /proc/PID/stat line.
func statTicks(s string) (int, error) {
	// The fields after the command name, which may hold spaces: state is
	// the first, utime (14th of the line) the 12th, stime the 13th.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/PID/stat is short: %s", s)
	}
	utime, err1 := strconv.Atoi(f[11])
	stime, err2 := strconv.Atoi(f[12])
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/PID/stat: %w", err)
	}
	return utime + stime, nil
}
