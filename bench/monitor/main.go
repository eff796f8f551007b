// Command monitor measures what the monitor role costs on an idle lab
// node against what the guide and Prometheus users run instead, all on
// the same node (n1) of one lab:
//
//   - hactl's agent collecting every 10 s, keeping its round-robin
//     history and serving /metrics, scraped every 10 s from ctl;
//   - prometheus-node-exporter (Debian's, default collectors) scraped
//     every 10 s from ctl: it collects on each scrape and keeps nothing;
//   - snmpd with MRTG polling the same figures (interface traffic and
//     errors, CPU, load, memory, swap). MRTG runs from cron every 5
//     minutes; its cost per run (MRTG itself, and snmpd's share of the
//     run) is measured over several runs and scaled to one run every
//     10 s, the rate of the other two.
//
// Each side is a process tree, counted whole: the agent's supervisor (on
// a node without systemd, the init script's shell) with the agent under
// it; node_exporter. It reports CPU seconds over the window (-d, 60 s),
// memory at its end — the proportional set size (PSS) summed over each
// side's processes (a page n processes share counts 1/n in each, so a
// program's pages that its processes share count once), and the resident
// set (RSS) summed beside it — the
// median time of a /metrics scrape of the agent and of
// node_exporter, and the size of the agent's history files at the start
// and the end of the window (their growth: none is the goal), and ends
// with one line "result: key=value …".
//
// Run as root from the repository root: go run ./bench/monitor [-d 60s].
// It installs prometheus-node-exporter, snmpd and mrtg (Debian
// packages) when missing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/monitor/snmp/snmptest"
	"github.com/hactl/hactl/bench/internal/benchenv"
	"github.com/hactl/hactl/e2e/lab"
	"github.com/hactl/hactl/plan/config"
	_ "github.com/hactl/hactl/providers/all"
)

const (
	node     = "n1"
	nodeAddr = "192.168.0.10"
	mrtgDir  = "/tmp/bench-mrtg"
	snmpDir  = "/tmp/bench-snmp"
)

const clusterHCL = `cluster "bench" {
  key_file = "cluster.key"
}
network "lan" {
  cidr = "192.168.0.0/24"
}
node "` + node + `" {
  interface "eth0" {
    network = network.lan
    address = "` + nodeAddr + `"
  }
}
monitor {
  nodes      = [node.` + node + `]
  collectors = ["cpu", "load", "memory", "disk", "filesystem", "network", "processes"]
  interval   = "10s"
  network    = network.lan
}
`

// mrtgTargets are what an MRTG setup of the guide draws: eth0's traffic
// (found by its ifDescr) and errors, CPU (UCD ssCpuRaw*), load
// (laLoadInt), real memory and swap.
var mrtgTargets = []struct{ name, oids, maxBytes, options string }{
	{"eth0", "#eth0", "125000000", ""},
	{"eth0err", "1.3.6.1.2.1.2.2.1.14.2&1.3.6.1.2.1.2.2.1.20.2", "1000000", ""},
	{"cpu", "1.3.6.1.4.1.2021.11.50.0&1.3.6.1.4.1.2021.11.52.0", "100000", ""},
	{"load", "1.3.6.1.4.1.2021.10.1.5.1&1.3.6.1.4.1.2021.10.1.5.2", "10000", "gauge, "},
	{"mem", "1.3.6.1.4.1.2021.4.6.0&1.3.6.1.4.1.2021.4.5.0", "100000000000", "gauge, "},
	{"swap", "1.3.6.1.4.1.2021.4.4.0&1.3.6.1.4.1.2021.4.3.0", "100000000000", "gauge, "},
}

// mrtgCfg is mrtg.cfg for the targets: MRTG refuses a target without a
// title and a page top.
func mrtgCfg() string {
	var b strings.Builder
	fmt.Fprintf(&b, "WorkDir: %s/www\n", mrtgDir)
	for _, t := range mrtgTargets {
		fmt.Fprintf(&b, "Target[%s]: %s:%s@%s\nMaxBytes[%s]: %s\nTitle[%s]: %s\nPageTop[%s]: <h1>%s</h1>\nOptions[%s]: %sgrowright\n",
			t.name, t.oids, snmptest.Community, nodeAddr, t.name, t.maxBytes, t.name, t.name, t.name, t.name, t.name, t.options)
	}
	return b.String()
}

func main() {
	window := flag.Duration("d", 60*time.Second, "measurement window")
	flag.Parse()
	if err := run(*window); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// bench is the lab and what runs in it.
type bench struct {
	l   *lab.Lab
	ctx context.Context
}

func run(window time.Duration) error {
	const interval = 10 * time.Second
	if os.Geteuid() != 0 {
		return errors.New("run as root: the lab builds network namespaces")
	}
	if err := benchenv.Install("prometheus-node-exporter", "snmpd", "mrtg"); err != nil {
		return err
	}
	dir, hactl, err := benchenv.Prepare(clusterHCL)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	res, diags := config.Load(dir, config.Options{})
	if diags.HasErrors() {
		return diags
	}
	ctx := context.Background()
	l, err := lab.Up(ctx, res.Topology, lab.Options{Name: "bench-monitor", Replace: true})
	if err != nil {
		return err
	}
	defer l.Down(context.Background())
	b := &bench{l: l, ctx: ctx}
	applyCmd, err := l.Command(ctx, lab.Ctl, hactl, "apply", "--auto-approve", "-f", dir)
	if err != nil {
		return err
	}
	if out, err := applyCmd.CombinedOutput(); err != nil {
		return fmt.Errorf("hactl apply: %v\n%s", err, out)
	}
	agentURL := "http://" + nodeAddr + ":9694/metrics"
	neURL := "http://" + nodeAddr + ":9100/metrics"
	if err := b.sh(fmt.Sprintf("setsid prometheus-node-exporter --web.listen-address=%s:9100 </dev/null >/tmp/node-exporter.log 2>&1 &", nodeAddr)); err != nil {
		return err
	}
	if err := b.sh(fmt.Sprintf("mkdir -p %s %s/www && cat > %s/snmpd.conf <<'EOF'\n%sEOF\ncat > %s/mrtg.cfg <<'EOF'\n%sEOF\nsetsid %s </dev/null >%s/log 2>&1 &",
		snmpDir, mrtgDir, snmpDir, snmptest.Config("udp:"+nodeAddr+":161"), mrtgDir, mrtgCfg(), strings.Join(snmptest.Command(snmpDir), " "), snmpDir)); err != nil {
		return err
	}
	for _, u := range []string{agentURL, neURL} {
		if err := b.waitServes(u); err != nil {
			return err
		}
	}

	// hactl's agent and node_exporter, each scraped every interval. Each
	// side is every process of its tree: the agent's supervisor (the init
	// script's shell, whose pid file names it) and the agent under it;
	// node_exporter and whatever it would start.
	agentPID, err := b.tree(`cat ` + layout.PidFile)
	if err != nil {
		return err
	}
	nePID, err := b.tree(`pgrep -x prometheus-node`)
	if err != nil {
		return err
	}
	histBefore, err := b.historyBytes()
	if err != nil {
		return err
	}
	agentCPU0, err := b.cpu(agentPID)
	if err != nil {
		return err
	}
	neCPU0, err := b.cpu(nePID)
	if err != nil {
		return err
	}
	scrapes := int(window / interval)
	start := time.Now()
	for i := range scrapes {
		for _, u := range []string{agentURL, neURL} {
			if _, err := b.scrape(u); err != nil {
				return err
			}
		}
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * interval)))
	}
	// A process that came or went during the window (the agent
	// restarted) would make the sums compare different things.
	for _, side := range []struct {
		root string
		pids []int
	}{{`cat ` + layout.PidFile, agentPID}, {`pgrep -x prometheus-node`, nePID}} {
		now, err := b.tree(side.root)
		if err != nil {
			return err
		}
		if !slices.Equal(now, side.pids) {
			return fmt.Errorf("the processes of %q changed during the window: %v, then %v", side.root, side.pids, now)
		}
	}
	agentCPU1, err := b.cpu(agentPID)
	if err != nil {
		return err
	}
	neCPU1, err := b.cpu(nePID)
	if err != nil {
		return err
	}
	agentRSS, err := b.rss(agentPID)
	if err != nil {
		return err
	}
	neRSS, err := b.rss(nePID)
	if err != nil {
		return err
	}
	agentPSS, err := b.pss(agentPID)
	if err != nil {
		return err
	}
	nePSS, err := b.pss(nePID)
	if err != nil {
		return err
	}
	histAfter, err := b.historyBytes()
	if err != nil {
		return err
	}
	agentCPU, neCPU := agentCPU1-agentCPU0, neCPU1-neCPU0
	for _, pid := range agentPID {
		rss, err := b.rss([]int{pid})
		if err != nil {
			return err
		}
		pss, err := b.pss([]int{pid})
		if err != nil {
			return err
		}
		cmd, _ := b.out(fmt.Sprintf("tr '\\0' ' ' < /proc/%d/cmdline | cut -c1-60", pid))
		fmt.Printf("  agent process %d (%s): RSS %.1f MiB, PSS %.1f MiB\n", pid, strings.TrimSpace(cmd), rss, pss)
	}
	fmt.Printf("hactl agent     %v of collection every %v, scraped every %v: CPU %.2f s, PSS %.1f MiB (RSS summed %.1f)\n", window, interval, interval, agentCPU, agentPSS, agentRSS)
	fmt.Printf("node_exporter   %v scraped every %v: CPU %.2f s, PSS %.1f MiB (RSS %.1f)\n", window, interval, neCPU, nePSS, neRSS)
	fmt.Printf("history         %d bytes at the start, %d at the end\n", histBefore, histAfter)

	// snmpd + MRTG: the cost of one run, scaled to a run every interval.
	mrtgCPU, mrtgRSS, err := b.mrtg(scrapes)
	if err != nil {
		return err
	}
	fmt.Printf("snmpd + MRTG    one run every %v for %v (cron: every 5 min): CPU %.2f s, RSS %.1f MiB\n", interval, window, mrtgCPU, mrtgRSS)

	// Scrape time, alternating so that neither gets a warmer node.
	var agentTimes, neTimes []float64
	for range 20 {
		for _, t := range []struct {
			url   string
			times *[]float64
		}{{agentURL, &agentTimes}, {neURL, &neTimes}} {
			d, err := b.scrape(t.url)
			if err != nil {
				return err
			}
			*t.times = append(*t.times, d)
		}
	}
	agentScrape, neScrape := median(agentTimes), median(neTimes)
	fmt.Printf("/metrics scrape median of 20: hactl %.2f ms, node_exporter %.2f ms\n", agentScrape, neScrape)
	fmt.Printf("result: agent_cpu_s=%.3f node_exporter_cpu_s=%.3f mrtg_snmpd_cpu_s=%.3f cpu_vs_node_exporter=%.2f cpu_vs_mrtg=%.2f"+
		" agent_pss_mib=%.1f node_exporter_pss_mib=%.1f pss_vs_node_exporter=%.2f"+
		" agent_rss_mib=%.1f node_exporter_rss_mib=%.1f mrtg_snmpd_rss_mib=%.1f rss_vs_node_exporter=%.2f"+
		" agent_scrape_ms=%.2f node_exporter_scrape_ms=%.2f scrape_vs_node_exporter=%.2f history_bytes=%d history_growth_bytes=%d"+
		" agent_processes=%d node_exporter_processes=%d\n",
		agentCPU, neCPU, mrtgCPU, ratio(agentCPU, neCPU), ratio(agentCPU, mrtgCPU),
		agentPSS, nePSS, ratio(agentPSS, nePSS),
		agentRSS, neRSS, mrtgRSS, ratio(agentRSS, neRSS),
		agentScrape, neScrape, ratio(agentScrape, neScrape), histAfter, histAfter-histBefore, len(agentPID), len(nePID))
	return nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

// sh runs a shell script on the node.
func (b *bench) sh(script string) error {
	_, err := b.out(script)
	return err
}

func (b *bench) out(script string) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	out, err := b.l.Exec(ctx, node, "sh", "-c", script)
	if err != nil {
		return "", fmt.Errorf("%s: %v\n%s", node, err, out)
	}
	return string(out), nil
}

func (b *bench) waitServes(url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := b.scrape(url)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not serve: %w", url, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// scrape gets url from ctl, as Prometheus would, and returns the time
// it took in ms.
func (b *bench) scrape(url string) (float64, error) {
	c := b.l.HTTPClient(lab.Ctl)
	start := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK || n == 0 {
		return 0, fmt.Errorf("%s: status %d, %d bytes", url, resp.StatusCode, n)
	}
	return float64(time.Since(start).Microseconds()) / 1000, nil
}

// pid is the node's processes whose names match re.
func (b *bench) pid(re string) ([]int, error) {
	out, err := b.out("ps -eo pid=,comm=")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && regexp.MustCompile(re).MatchString(f[1]) {
			p, _ := strconv.Atoi(f[0])
			pids = append(pids, p)
		}
	}
	if len(pids) == 0 {
		return nil, fmt.Errorf("no process matches %s on %s:\n%s", re, node, out)
	}
	return pids, nil
}

// tree is the process whose pid the shell command root prints and all
// its descendants, sorted: one side of the comparison, whatever its
// processes are named.
func (b *bench) tree(root string) ([]int, error) {
	out, err := b.out(root + "; echo; ps -eo pid=,ppid=")
	if err != nil {
		return nil, err
	}
	first, table, _ := strings.Cut(out, "\n\n")
	top, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return nil, fmt.Errorf("%q on %s gives no pid: %q", root, node, first)
	}
	children := map[int][]int{}
	for _, line := range strings.Split(table, "\n") {
		var pid, ppid int
		if _, err := fmt.Sscan(line, &pid, &ppid); err == nil {
			children[ppid] = append(children[ppid], pid)
		}
	}
	pids := []int{top}
	for i := 0; i < len(pids); i++ {
		pids = append(pids, children[pids[i]]...)
	}
	slices.Sort(pids)
	return pids, nil
}

// cpu is the time the processes' threads have run on a CPU so far, in
// seconds: the scheduler's account (/proc/PID/task/*/schedstat, in ns),
// finer than /proc/PID/stat's 10 ms ticks, which a minute of an idle
// collector spends only a few of.
func (b *bench) cpu(pids []int) (float64, error) {
	var total float64
	for _, pid := range pids {
		out, err := b.out(fmt.Sprintf("cat /proc/%d/task/*/schedstat", pid))
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			if len(f) != 3 {
				return 0, fmt.Errorf("odd schedstat line of %d: %q", pid, line)
			}
			ns, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				return 0, err
			}
			total += ns / 1e9
		}
	}
	return total, nil
}

// rss is the processes' resident memory in MiB, summed.
func (b *bench) rss(pids []int) (float64, error) {
	return b.memory(pids, "/proc/%d/status", "VmRSS:")
}

// pss is the processes' proportional set size in MiB, summed: a page
// shared by n processes counts 1/n in each. The agent's supervisor and
// agent run one binary, whose pages the kernel keeps once; summing their
// RSS would count those pages twice. Summed PSS is what they take.
func (b *bench) pss(pids []int) (float64, error) {
	return b.memory(pids, "/proc/%d/smaps_rollup", "Pss:")
}

// memory sums a kB figure that the file of each process gives on the
// line starting with key.
func (b *bench) memory(pids []int, file, key string) (float64, error) {
	var total float64
	for _, pid := range pids {
		out, err := b.out(fmt.Sprintf("grep '^%s' "+file, key, pid))
		if err != nil {
			return 0, err
		}
		f := strings.Fields(out)
		if len(f) < 2 {
			return 0, fmt.Errorf("odd %s line %q in %s", key, out, fmt.Sprintf(file, pid))
		}
		kib, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return 0, err
		}
		total += kib / 1024
	}
	return total, nil
}

// historyBytes is the size of the agent's history files.
func (b *bench) historyBytes() (int64, error) {
	out, err := b.out("du -sb /var/lib/hactl/monitor | cut -f1")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(out), 10, 64)
}

// mrtg runs MRTG a few times to warm up (its first runs make its logs),
// then measures runs: MRTG's CPU and peak RSS from the kernel's
// accounting of the process tree, snmpd's CPU from its /proc. It returns
// the CPU of n runs and the memory of snmpd and one MRTG run.
func (b *bench) mrtg(n int) (float64, float64, error) {
	snmpdPID, err := b.pid(`^snmpd$`)
	if err != nil {
		return 0, 0, err
	}
	run := func() (float64, float64, error) {
		ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
		defer cancel()
		cmd, err := b.l.Command(ctx, node, "env", "LANG=C", "mrtg", mrtgDir+"/mrtg.cfg")
		if err != nil {
			return 0, 0, err
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return 0, 0, fmt.Errorf("mrtg: %v\n%s", err, out)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		return cpu, float64(ru.Maxrss) / 1024, nil
	}
	for range 3 {
		if _, _, err := run(); err != nil {
			return 0, 0, err
		}
	}
	const runs = 5
	snmpd0, err := b.cpu(snmpdPID)
	if err != nil {
		return 0, 0, err
	}
	var cpu, rss float64
	for range runs {
		c, r, err := run()
		if err != nil {
			return 0, 0, err
		}
		cpu += c
		rss = max(rss, r)
	}
	snmpd1, err := b.cpu(snmpdPID)
	if err != nil {
		return 0, 0, err
	}
	snmpdRSS, err := b.rss(snmpdPID)
	if err != nil {
		return 0, 0, err
	}
	perRun := (cpu + snmpd1 - snmpd0) / runs
	return perRun * float64(n), rss + snmpdRSS, nil
}
