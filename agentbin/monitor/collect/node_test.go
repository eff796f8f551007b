package collect

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/monitor/metric"
)

func bySeries(samples []metric.Sample) map[string]metric.Sample {
	m := map[string]metric.Sample{}
	for _, s := range samples {
		m[s.Series()] = s
	}
	return m
}

// The fixtures under testdata are real /proc and /sys text, cut short.
func TestNodeCollectorsReadProcFormats(t *testing.T) {
	for _, c := range []struct {
		collector string
		want      map[string]float64 // series → value
		absent    []string
		kinds     map[string]metric.Kind
	}{
		{collector: "cpu", want: map[string]float64{
			`node_cpu_seconds_total{cpu="0",mode="user"}`:   8632.73,
			`node_cpu_seconds_total{cpu="0",mode="nice"}`:   0.12,
			`node_cpu_seconds_total{cpu="1",mode="irq"}`:    0.05,
			`node_cpu_seconds_total{cpu="1",mode="steal"}`:  973.11,
			`node_cpu_seconds_total{cpu="0",mode="iowait"}`: 89.76,
			`node_intr_total`:             90624851,
			`node_context_switches_total`: 225169689,
			`node_boot_time_seconds`:      1796162813,
		}, absent: []string{`node_cpu_seconds_total{cpu="",mode="user"}`, "node_procs_running", "node_load1"},
			kinds: map[string]metric.Kind{`node_cpu_seconds_total{cpu="0",mode="user"}`: metric.Counter, "node_boot_time_seconds": metric.Gauge}},
		{collector: "load", want: map[string]float64{"node_load1": 2.52, "node_load5": 1.03, "node_load15": 0.97},
			absent: []string{"node_processes_threads"}},
		{collector: "processes", want: map[string]float64{
			"node_procs_running": 16, "node_procs_blocked": 2, "node_forks_total": 1218718,
			"node_processes_threads": 229, "node_processes_pids": 2,
		}, absent: []string{"node_load1", `node_cpu_seconds_total{cpu="0",mode="user"}`}},
		{collector: "memory", want: map[string]float64{
			"node_memory_MemTotal_bytes":     24683584 * 1024,
			"node_memory_MemAvailable_bytes": 23966880 * 1024,
			"node_memory_Active_anon_bytes":  712356 * 1024,
			"node_memory_SwapTotal_bytes":    2097148 * 1024,
			"node_memory_SwapFree_bytes":     2097000 * 1024,
			"node_memory_HugePages_Total":    0,
		}, kinds: map[string]metric.Kind{"node_memory_MemFree_bytes": metric.Gauge}},
		{collector: "disk", want: map[string]float64{
			`node_disk_reads_completed_total{device="vda"}`:          38529,
			`node_disk_read_bytes_total{device="vda"}`:               3168846 * 512,
			`node_disk_written_bytes_total{device="vda"}`:            31040712 * 512,
			`node_disk_write_time_seconds_total{device="vda"}`:       1163.914,
			`node_disk_io_time_seconds_total{device="vda"}`:          1097.568,
			`node_disk_io_time_weighted_seconds_total{device="vda"}`: 1223.72,
			`node_disk_io_now{device="nvme0n1"}`:                     1,
		}, absent: []string{`node_disk_reads_completed_total{device="vda1"}`, `node_disk_reads_completed_total{device="loop0"}`, `node_disk_reads_completed_total{device="nvme0n1p1"}`}},
		{collector: "network", want: map[string]float64{
			`node_network_receive_bytes_total{device="eth0"}`:    9876543210,
			`node_network_receive_packets_total{device="eth0"}`:  1234567,
			`node_network_receive_errs_total{device="eth0"}`:     3,
			`node_network_receive_drop_total{device="eth0"}`:     4,
			`node_network_transmit_bytes_total{device="eth0"}`:   123456789,
			`node_network_transmit_packets_total{device="eth0"}`: 654321,
			`node_network_transmit_errs_total{device="eth0"}`:    5,
			`node_network_transmit_drop_total{device="eth0"}`:    6,
			`node_network_receive_bytes_total{device="lo"}`:      156671978,
			`node_network_up{device="eth0"}`:                     1,
			`node_network_up{device="lo"}`:                       0,
		}},
	} {
		t.Run(c.collector, func(t *testing.T) {
			n := NewNode("testdata/proc", "testdata/sys", []string{c.collector})
			// Twice: the second collection reuses the buffers and
			// caches the first filled.
			var got []metric.Sample
			for range 2 {
				var err error
				got, err = n.Collect(got[:0])
				if err != nil {
					t.Fatal(err)
				}
			}
			m := bySeries(got)
			for series, want := range c.want {
				s, ok := m[series]
				if !ok {
					t.Errorf("%s missing", series)
					continue
				}
				if diff := s.Value - want; diff > 1e-6 || diff < -1e-6 {
					t.Errorf("%s = %v, want %v", series, s.Value, want)
				}
				if s.Help == "" {
					t.Errorf("%s has no help", series)
				}
			}
			for _, series := range c.absent {
				if _, ok := m[series]; ok {
					t.Errorf("%s given, want it left out", series)
				}
			}
			for series, kind := range c.kinds {
				if m[series].Kind != kind {
					t.Errorf("%s kind %v, want %v", series, m[series].Kind, kind)
				}
			}
			for _, s := range got {
				if strings.HasSuffix(s.Name, "_total") != (s.Kind == metric.Counter) {
					t.Errorf("%s: kind %v, but counters (and only they) end in _total", s.Name, s.Kind)
				}
			}
		})
	}
}

func TestMissingFileIsNamedAndTheRestCollected(t *testing.T) {
	n := NewNode(t.TempDir(), "testdata/sys", []string{"load"})
	_, err := n.Collect(nil)
	if err == nil || !strings.Contains(err.Error(), "loadavg") {
		t.Fatalf("error %v, want one naming loadavg", err)
	}
	// Memory is collected though the load is not.
	proc := t.TempDir()
	data, err := os.ReadFile("testdata/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(proc+"/meminfo", data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := NewNode(proc, "testdata/sys", []string{"load", "memory"}).Collect(nil)
	if err == nil || bySeries(got)["node_memory_MemTotal_bytes"].Value == 0 {
		t.Fatalf("collect = %d samples, %v; want meminfo's and an error", len(got), err)
	}
}

func TestRealMountsKeepsBlockFilesystemsOnce(t *testing.T) {
	mounts, err := os.ReadFile("testdata/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	fss, err := os.ReadFile("testdata/proc/filesystems")
	if err != nil {
		t.Fatal(err)
	}
	got := realMounts(mounts, blockFilesystems(fss))
	want := []mount{
		{device: "/dev/vda", point: "/", fstype: "ext4"},
		{device: "/dev/vdb", point: "/var/lib/my data", fstype: "xfs", readOnly: true},
	}
	if len(got) != len(want) {
		t.Fatalf("mounts %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mount %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`: "/plain", `/a\040b`: "/a b", `/tab\011x`: "/tab\tx", `/bad\09`: `/bad\09`, `/end\04`: `/end\04`, `/back\134slash`: `/back\slash`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

// procField reads one whitespace-separated field of a line of a /proc file.
func procField(t *testing.T, path, prefix string, field int) float64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for line := range bytes.Lines(data) {
		f := strings.Fields(string(line))
		if len(f) > field && strings.HasPrefix(string(line), prefix) {
			v, err := strconv.ParseFloat(f[field], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("%s has no line %q", path, prefix)
	return 0
}

// This machine's own /proc, read by the collector and by hand.
func TestNodeCollectorOnThisMachine(t *testing.T) {
	n := NewNode("/proc", "/sys", NodeCollectors)
	before := procField(t, "/proc/net/dev", "    lo:", 1)
	start := time.Now()
	got, err := n.Collect(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d samples in %v", len(got), time.Since(start))
	m := bySeries(got)
	memTotal := procField(t, "/proc/meminfo", "MemTotal:", 1) * 1024
	if v := m["node_memory_MemTotal_bytes"].Value; v != memTotal {
		t.Errorf("MemTotal %v, /proc says %v", v, memTotal)
	}
	load := procField(t, "/proc/loadavg", "", 0)
	if v := m["node_load1"].Value; v < load-2 || v > load+2 {
		t.Errorf("node_load1 %v, /proc/loadavg says %v", v, load)
	}
	after := procField(t, "/proc/net/dev", "    lo:", 1)
	if v := m[`node_network_receive_bytes_total{device="lo"}`].Value; v < before || v > after {
		t.Errorf("lo received %v bytes, /proc/net/dev said %v before and %v after", v, before, after)
	}
	cpus := 0
	for _, s := range got {
		if s.Name == "node_cpu_seconds_total" && s.Labels[1].Value == "idle" {
			cpus++
		}
	}
	if cpus == 0 {
		t.Error("no CPU's idle time")
	}
	if _, ok := m["node_procs_running"]; !ok {
		t.Error("no node_procs_running")
	}
	if m["node_processes_pids"].Value < 1 {
		t.Error("no processes counted")
	}
	root := false
	for _, s := range got {
		if s.Name == "node_filesystem_size_bytes" {
			root = root || s.Value > 0
		}
	}
	if !root {
		t.Error("no filesystem with a size")
	}
}
