// Command sync measures file sync from f400 to dgx in one lab: hactl's
// sync role against lsyncd (Debian package; its default delay of 15s, and
// tuned to 0.2s), both driving rsync over the same SSH, and plain rsync run
// once after the same writes as the floor of bytes sent.
//
// Each system gets the same stream of writes on the source: small new
// files at a steady rate, and now and then a small edit inside one of a
// few large files. It reports the propagation lag of the small files
// (median and p99, from the write on the source to the file present on
// the target: rsync renames a file into place only once complete), the
// bytes f400 sent per byte changed (its interface's counter, so SSH is
// counted for everyone alike), checks that the trees end identical, and
// ends with one line "result: key=value …".
//
// Like with like: the floor runs rsync once with the options of the
// role's runs (-az --numeric-ids), and lsyncd's rsync compresses too.
// Everything f400 sends in a window counts, for every system: hactl's
// SSH keepalives between runs are part of its cost (they are how it
// notices a cut target), as the handshake of its one connection is part
// of the floor's. The rate f400 sends at while idle, before each window,
// is printed beside, and no process of a former system may still run.
//
// Run as root from the repository root: go run ./bench/sync. It installs
// rsync and lsyncd (Debian packages) when missing.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/status"
	"github.com/hactl/hactl/bench/internal/benchenv"
	"github.com/hactl/hactl/e2e/lab"
	"github.com/hactl/hactl/plan/config"
	_ "github.com/hactl/hactl/providers/all"
)

const (
	dir    = "/srv/bench"
	target = "192.168.0.27"
)

const clusterHCL = `cluster "bench" {
  key_file = "cluster.key"
}
network "inside" {
  cidr = "192.168.0.0/24"
}
node "f400" {
  interface "eth0" {
    network = network.inside
    address = "192.168.0.3"
  }
}
node "dgx" {
  interface "eth0" {
    network = network.inside
    address = "192.168.0.27"
  }
}
sync "bench" {
  source {
    node = node.f400
    path = "/srv/bench/"
  }
  target {
    node = node.dgx
    path = "/srv/bench/"
  }
  delete = true
}
`

// lsyncdConf is lsyncd's configuration; %s is its delay in seconds. Its
// rsync compresses, like hactl's.
const lsyncdConf = `settings { nodaemon = true, insist = true }
sync {
  default.rsync,
  source = "/srv/bench/",
  target = "root@192.168.0.27:/srv/bench/",
  delay = %s,
  delete = true,
  rsync = {
    archive = true,
    compress = true,
    rsh = "/usr/bin/ssh -i /root/bench_key -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/root/bench_known_hosts",
  },
}
`

// transferOptions are the options of the sync role's rsync runs
// (agentbin/sync/rsync.go), which plain rsync uses too: the floor is the
// same transfer, run once.
const transferOptions = "-az --numeric-ids"

// The peers' SSH: their own key, unrestricted, dgx's host key checked.
const peerSSH = "ssh -i /root/bench_key -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/root/bench_known_hosts"

func main() {
	files := flag.Int("files", 100, "small files written per system")
	rate := flag.Float64("rate", 10, "small files written per second")
	only := flag.String("systems", "hactl,lsyncd_default,lsyncd_tuned,rsync", "the systems measured, comma-separated (the result line needs all four)")
	flag.Parse()
	if err := run(*files, *rate, strings.Split(*only, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "bench/sync:", err)
		os.Exit(1)
	}
}

type result struct {
	lags                   []time.Duration
	bytesPerByte           float64
	identical              bool
	sent, packets, changed int64
	window                 time.Duration
}

func run(files int, rate float64, only []string) error {
	if os.Geteuid() != 0 {
		return errors.New("run as root: the lab builds network namespaces")
	}
	if err := benchenv.Install("rsync", "lsyncd"); err != nil {
		return err
	}
	ctx := context.Background()
	work, err := os.MkdirTemp("", "hactl-bench-sync-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	hactl, err := benchenv.Build(work)
	if err != nil {
		return err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(filepath.Join(work, "cluster.key"), []byte(base64.StdEncoding.EncodeToString(key)), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "cluster.hcl"), []byte(clusterHCL), 0o644); err != nil {
		return err
	}
	res, diags := config.Load(work, config.Options{})
	if diags.HasErrors() {
		return diags
	}
	l, err := lab.Up(ctx, res.Topology, lab.Options{Name: "bench-sync", Replace: true})
	if err != nil {
		return err
	}
	defer l.Down(context.Background())
	sh := func(node, script string) (string, error) {
		out, err := l.Exec(ctx, node, "bash", "-c", script)
		if err != nil {
			return string(out), fmt.Errorf("%s: %s: %v\n%s", node, script, err, out)
		}
		return string(out), nil
	}
	// The peers' key and dgx's host key, on f400.
	hostKey, err := sh("dgx", "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub")
	if err != nil {
		return err
	}
	pub, err := sh("f400", "ssh-keygen -q -t ed25519 -N '' -f /root/bench_key <<<y >/dev/null; echo '"+target+" "+strings.TrimSpace(hostKey)+"' > /root/bench_known_hosts; cat /root/bench_key.pub")
	if err != nil {
		return err
	}
	if _, err := sh("dgx", "mkdir -p /root/.ssh && echo '"+strings.TrimSpace(pub)+"' >> /root/.ssh/authorized_keys"); err != nil {
		return err
	}
	inCtl := func(args ...string) error {
		cmd, err := l.Command(ctx, lab.Ctl, append([]string{hactl}, args...)...)
		if err != nil {
			return err
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("hactl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	var lsyncd *exec.Cmd
	startLsyncd := func(delay string) func() error {
		return func() error {
			conf := fmt.Sprintf(lsyncdConf, delay)
			if _, err := sh("f400", "cat > /root/lsyncd.lua <<'EOF'\n"+conf+"EOF"); err != nil {
				return err
			}
			// Its PID in f400, to stop it (lsyncd writes no pidfile when
			// it does not daemonize).
			cmd, err := l.Command(ctx, "f400", "bash", "-c", "echo $$ > /run/lsyncd.pid && exec lsyncd /root/lsyncd.lua")
			if err != nil {
				return err
			}
			lsyncd = cmd
			return cmd.Start()
		}
	}
	// lsyncd runs under nsenter, which forks into f400's PID namespace:
	// killing nsenter would leave lsyncd running, syncing the next
	// system's writes and counted in its bytes.
	stopLsyncd := func() {
		if lsyncd == nil {
			return
		}
		if _, err := sh("f400", "kill $(cat /run/lsyncd.pid)"); err != nil {
			fmt.Println("stopping lsyncd:", err)
		}
		_ = lsyncd.Wait()
		lsyncd = nil
	}
	systems := []struct {
		name  string
		start func() error
		stop  func()
		// after runs once the writes are done (plain rsync).
		after func() error
		// runs are the rsync runs made and rsync's own count of the
		// bytes they sent, where the system says.
		runs func() (n uint64, sent int64, err error)
	}{
		{name: "hactl", start: func() error { return inCtl("apply", "--auto-approve", "-f", work) },
			stop: func() { _ = inCtl("destroy", "--auto-approve", "-f", work) },
			runs: func() (uint64, int64, error) {
				out, err := sh("f400", "cat "+layout.StatusPath)
				if err != nil {
					return 0, 0, err
				}
				var st status.Status
				if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Syncs) != 1 || len(st.Syncs[0].Targets) != 1 {
					return 0, 0, fmt.Errorf("f400's status: %v\n%s", err, out)
				}
				return st.Syncs[0].Targets[0].Runs, st.Syncs[0].Targets[0].BytesSent, nil
			}},
		{name: "lsyncd_default", start: startLsyncd("15"), stop: stopLsyncd},
		{name: "lsyncd_tuned", start: startLsyncd("0.2"), stop: stopLsyncd},
		{name: "rsync", start: func() error { return nil }, stop: func() {},
			after: func() error {
				_, err := sh("f400", "rsync "+transferOptions+" --delete -e '"+peerSSH+"' "+dir+"/ root@"+target+":"+dir+"/")
				return err
			}},
	}
	results := map[string]*result{}
	for _, s := range systems {
		if !slices.Contains(only, s.name) {
			continue
		}
		fmt.Printf("\n== %s\n", s.name)
		// The same starting point for everyone: the large files on both.
		if _, err := sh("f400", "rm -rf "+dir+" && mkdir -p "+dir+" && for i in 1 2 3; do head -c 4000000 /dev/urandom > "+dir+"/large-$i; done && rsync -a --delete -e '"+peerSSH+"' "+dir+"/ root@"+target+":"+dir+"/"); err != nil {
			return err
		}
		// What of a former system still ran on f400 would be counted.
		if err := quiet(sh); err != nil {
			return fmt.Errorf("before %s: %w", s.name, err)
		}
		if err := s.start(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		time.Sleep(2 * time.Second) // the first full comparison, lsyncd's startup rsync
		idle, err := idleRate(sh)
		if err != nil {
			return err
		}
		var runsBefore uint64
		var sentBefore int64
		if s.runs != nil {
			if runsBefore, sentBefore, err = s.runs(); err != nil {
				return err
			}
		}
		r, err := measure(ctx, l, sh, files, rate, s.after)
		if err == nil && s.runs != nil {
			time.Sleep(time.Second) // the status file's next turn
			n, sent, err := s.runs()
			if err != nil {
				return err
			}
			// The runs share one SSH connection, opened by the first full
			// comparison before the window (ControlMaster).
			masters, err := sh("f400", "ps -e -o etimes=,args= | grep '[m]ux' || true")
			if err != nil {
				return err
			}
			fmt.Printf("%s: %d runs in the window, %d bytes sent by rsync's count; SSH masters (age in s): %s\n", s.name, n-runsBefore, sent-sentBefore, strings.TrimSpace(masters))
		}
		s.stop()
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		results[s.name] = r
		med, p99 := quantile(r.lags, 0.5), quantile(r.lags, 0.99)
		fmt.Printf("%s: lag median %.3fs p99 %.3fs over %d files; %d bytes in %d packets sent over %.1fs for %d changed (%.3f per byte); %.0f bytes/s sent while idle before; trees identical: %v\n",
			s.name, med, p99, len(r.lags), r.sent, r.packets, r.window.Seconds(), r.changed, r.bytesPerByte, idle, r.identical)
	}
	fmt.Println()
	fmt.Println(resultLine(results))
	return nil
}

// resultLine is the figures of the systems measured, with the ratios
// between those present.
func resultLine(results map[string]*result) string {
	var kv []string
	add := func(k string, v float64) { kv = append(kv, fmt.Sprintf("%s=%.3f", k, v)) }
	identical := true
	for _, name := range []string{"hactl", "lsyncd_default", "lsyncd_tuned"} {
		if r := results[name]; r != nil {
			add(name+"_lag_median_s", quantile(r.lags, 0.5))
			add(name+"_lag_p99_s", quantile(r.lags, 0.99))
		}
	}
	for _, name := range []string{"hactl", "lsyncd_default", "lsyncd_tuned", "rsync"} {
		if r := results[name]; r != nil {
			add(name+"_bytes_per_byte", r.bytesPerByte)
			identical = identical && r.identical
		}
	}
	h := results["hactl"]
	for _, name := range []string{"lsyncd_default", "lsyncd_tuned"} {
		if r := results[name]; h != nil && r != nil {
			add("lag_ratio_vs_"+name, quantile(h.lags, 0.5)/quantile(r.lags, 0.5))
		}
	}
	if p := results["rsync"]; h != nil && p != nil {
		add("bytes_ratio_vs_rsync", h.bytesPerByte/p.bytesPerByte)
	}
	return "result: " + strings.Join(kv, " ") + fmt.Sprintf(" identical=%v", identical)
}

// quiet waits until no process of a system measured runs on f400.
func quiet(sh func(node, script string) (string, error)) error {
	var out string
	for range 50 {
		var err error
		if out, err = sh("f400", "ps -e -o pid=,args= | grep -E 'rsync|ssh|lsyncd|hactl-agent' | grep -v -E 'grep|sshd' || true"); err != nil {
			return err
		}
		if strings.TrimSpace(out) == "" {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("still running on f400 after 10s:\n%s", out)
}

// idleRate is what f400 sends per second while no file is written: the
// background of the system just started (SSH keepalives), counted in its
// figures like the rest.
func idleRate(sh func(node, script string) (string, error)) (float64, error) {
	before, _, err := txCounters(sh)
	if err != nil {
		return 0, err
	}
	const d = 2 * time.Second
	time.Sleep(d)
	after, _, err := txCounters(sh)
	return float64(after-before) / d.Seconds(), err
}

// measure writes the stream on f400 and watches dgx for each file.
func measure(ctx context.Context, l *lab.Lab, sh func(node, script string) (string, error), files int, rate float64, after func() error) (*result, error) {
	txBefore, pktBefore, err := txCounters(sh)
	if err != nil {
		return nil, err
	}
	began := time.Now()
	const small, edit = 4096, 4096
	written := make([]time.Time, files)
	arrived := make([]time.Time, files)
	var mu sync.Mutex
	done := make(chan struct{})
	pollErr := make(chan error, 1)
	go func() {
		defer close(pollErr)
		for {
			select {
			case <-done:
				return
			default:
			}
			out, err := l.Exec(ctx, "dgx", "ls", dir)
			if err != nil {
				pollErr <- err
				return
			}
			now := time.Now()
			mu.Lock()
			for _, name := range strings.Fields(string(out)) {
				if i, err := strconv.Atoi(strings.TrimPrefix(name, "small-")); err == nil && strings.HasPrefix(name, "small-") && i < files && arrived[i].IsZero() {
					arrived[i] = now
				}
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var changed int64
	period := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	for i := 0; i < files; i++ {
		time.Sleep(time.Until(next))
		next = next.Add(period)
		script := fmt.Sprintf("head -c %d /dev/urandom > %s/small-%d", small, dir, i)
		changed += small
		if i%10 == 5 {
			script += fmt.Sprintf(" && dd if=/dev/urandom of=%s/large-%d bs=%d count=1 seek=%d conv=notrunc status=none", dir, 1+i%3, edit, (i*37)%900)
			changed += edit
		}
		// Taken before the write: the lag is never flattered.
		mu.Lock()
		written[i] = time.Now()
		mu.Unlock()
		if _, err := sh("f400", script); err != nil {
			close(done)
			return nil, err
		}
	}
	if after != nil {
		if err := after(); err != nil {
			close(done)
			return nil, err
		}
	}
	// Wait for everything, lsyncd's default delay included.
	deadline := time.Now().Add(90 * time.Second)
	identical := false
	for time.Now().Before(deadline) {
		a, errA := sh("f400", "cd "+dir+" && sha256sum * | sha256sum")
		b, errB := sh("dgx", "cd "+dir+" && sha256sum * | sha256sum")
		if errA == nil && errB == nil && a == b {
			identical = true
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // the poller's last look
	close(done)
	if err := <-pollErr; err != nil {
		return nil, err
	}
	txAfter, pktAfter, err := txCounters(sh)
	if err != nil {
		return nil, err
	}
	r := &result{identical: identical, changed: changed, sent: txAfter - txBefore, packets: pktAfter - pktBefore, window: time.Since(began)}
	r.bytesPerByte = float64(r.sent) / float64(changed)
	mu.Lock()
	defer mu.Unlock()
	for i := range files {
		if !arrived[i].IsZero() {
			r.lags = append(r.lags, max(arrived[i].Sub(written[i]), 0))
		}
	}
	if len(r.lags) < files {
		return r, fmt.Errorf("%d of %d files never reached dgx", files-len(r.lags), files)
	}
	return r, nil
}

// txCounters are the bytes and packets f400 has sent on its interface.
func txCounters(sh func(node, script string) (string, error)) (bytes, packets int64, err error) {
	out, err := sh("f400", "cat /sys/class/net/eth0/statistics/tx_bytes /sys/class/net/eth0/statistics/tx_packets")
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(out)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("f400's eth0 counters: %q", out)
	}
	if bytes, err = strconv.ParseInt(f[0], 10, 64); err != nil {
		return 0, 0, err
	}
	packets, err = strconv.ParseInt(f[1], 10, 64)
	return bytes, packets, err
}

// quantile is the q-quantile of ds in seconds (nearest rank).
func quantile(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	i = min(max(i, 0), len(s)-1)
	return s[i].Seconds()
}
