package collect

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/hactl/hactl/agentbin/monitor/metric"
)

// NodeCollectors are the node's collectors, by the names the monitor
// block's collectors take.
var NodeCollectors = []string{"cpu", "load", "memory", "disk", "filesystem", "network", "processes"}

// userHZ is the unit of /proc/stat's times: fixed at 100 by the kernel's
// ABI, whatever the kernel's own tick.
const userHZ = 100

// Node collects the node's figures from its /proc and /sys.
type Node struct {
	proc, sys string
	on        map[string]bool
	r         reader
	f         [][]byte
	names     map[string]string
	// realFS are the filesystem types that need a block device (not
	// "nodev" in /proc/filesystems): the ones whose usage is the node's
	// disks', not memory's or another host's.
	realFS map[string]bool
	// diskSkip remembers which devices are partitions or loop devices.
	diskSkip map[string]bool
	// memNames are meminfo keys' metric names and helps.
	memNames map[string][2]string
}

// NewNode returns a collector of the given collectors (NodeCollectors'
// names; others are ignored) reading proc and sys ("/proc" and "/sys" on a
// host, fixtures in tests).
func NewNode(proc, sys string, collectors []string) *Node {
	n := &Node{proc: proc, sys: sys, on: map[string]bool{}, names: map[string]string{}, diskSkip: map[string]bool{}, memNames: map[string][2]string{}}
	for _, c := range collectors {
		n.on[c] = true
	}
	return n
}

// Collect appends the node's samples to dst. A file that cannot be read
// leaves its samples out and is named in the error; the rest are given.
func (n *Node) Collect(dst []metric.Sample) ([]metric.Sample, error) {
	o := out{dst}
	var errs []string
	read := func(rel string, parse func(*Node, *out, []byte)) {
		data, err := n.r.read(filepath.Join(n.proc, rel))
		if err != nil {
			errs = append(errs, err.Error())
			return
		}
		parse(n, &o, data)
	}
	if n.on["cpu"] || n.on["processes"] {
		read("stat", (*Node).parseStat)
	}
	if n.on["load"] || n.on["processes"] {
		read("loadavg", (*Node).parseLoadavg)
	}
	if n.on["processes"] {
		if err := n.countPIDs(&o); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if n.on["memory"] {
		read("meminfo", (*Node).parseMeminfo)
	}
	if n.on["disk"] {
		read("diskstats", (*Node).parseDiskstats)
	}
	if n.on["network"] {
		read("net/dev", (*Node).parseNetDev)
	}
	if n.on["filesystem"] {
		if err := n.filesystems(&o); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return o.s, fmt.Errorf("collecting node metrics: %s", strings.Join(errs, "; "))
	}
	return o.s, nil
}

// out accumulates samples.
type out struct{ s []metric.Sample }

func (o *out) add(name, help string, kind metric.Kind, v float64, labels ...metric.Label) {
	o.s = append(o.s, metric.Sample{Name: name, Help: help, Kind: kind, Labels: labels, Value: v})
}

// intern returns b as a string, the same one every interval: device and
// CPU names repeat, and the collector keeps them instead of allocating.
func (n *Node) intern(b []byte) string {
	if s, ok := n.names[string(b)]; ok {
		return s
	}
	if len(n.names) > 4096 {
		clear(n.names)
	}
	s := string(b)
	n.names[s] = s
	return s
}

var cpuModes = []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}

func (n *Node) parseStat(o *out, data []byte) {
	lines(data, func(line []byte) {
		n.f = fields(n.f, line)
		f := n.f
		if len(f) < 2 {
			return
		}
		key := f[0]
		switch {
		case len(key) > 3 && bytes.HasPrefix(key, []byte("cpu")):
			if !n.on["cpu"] {
				return
			}
			cpu := n.intern(key[3:])
			for i, mode := range cpuModes {
				if i+1 < len(f) {
					o.add("node_cpu_seconds_total", "Seconds the CPUs spent in each mode.", metric.Counter, num(f[i+1])/userHZ,
						metric.Label{Name: "cpu", Value: cpu}, metric.Label{Name: "mode", Value: mode})
				}
			}
		case string(key) == "intr" && n.on["cpu"]:
			o.add("node_intr_total", "Interrupts serviced.", metric.Counter, num(f[1]))
		case string(key) == "ctxt" && n.on["cpu"]:
			o.add("node_context_switches_total", "Context switches.", metric.Counter, num(f[1]))
		case string(key) == "btime" && n.on["cpu"]:
			o.add("node_boot_time_seconds", "Node boot time, in Unix time.", metric.Gauge, num(f[1]))
		case string(key) == "processes" && n.on["processes"]:
			o.add("node_forks_total", "Processes and threads created.", metric.Counter, num(f[1]))
		case string(key) == "procs_running" && n.on["processes"]:
			o.add("node_procs_running", "Processes in runnable state.", metric.Gauge, num(f[1]))
		case string(key) == "procs_blocked" && n.on["processes"]:
			o.add("node_procs_blocked", "Processes blocked waiting for I/O.", metric.Gauge, num(f[1]))
		}
	})
}

func (n *Node) parseLoadavg(o *out, data []byte) {
	n.f = fields(n.f, bytes.TrimSpace(data))
	f := n.f
	if len(f) < 4 {
		return
	}
	if n.on["load"] {
		o.add("node_load1", "1m load average.", metric.Gauge, num(f[0]))
		o.add("node_load5", "5m load average.", metric.Gauge, num(f[1]))
		o.add("node_load15", "15m load average.", metric.Gauge, num(f[2]))
	}
	if _, total, ok := bytes.Cut(f[3], []byte("/")); ok && n.on["processes"] {
		o.add("node_processes_threads", "Threads (scheduling entities) on the node.", metric.Gauge, num(total))
	}
}

// countPIDs counts the processes: the numeric entries of /proc.
func (n *Node) countPIDs(o *out) error {
	d, err := os.Open(n.proc)
	if err != nil {
		return err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("listing %s: %w", n.proc, err)
	}
	count := 0
	for _, name := range names {
		if name != "" && strings.Trim(name, "0123456789") == "" {
			count++
		}
	}
	o.add("node_processes_pids", "Processes on the node.", metric.Gauge, float64(count))
	return nil
}

// parseMeminfo gives each line of /proc/meminfo as node_exporter does:
// Active(anon) in kB becomes node_memory_Active_anon_bytes; a line
// without a unit (HugePages_Total) keeps its count.
func (n *Node) parseMeminfo(o *out, data []byte) {
	lines(data, func(line []byte) {
		n.f = fields(n.f, line)
		f := n.f
		if len(f) < 2 || !bytes.HasSuffix(f[0], []byte(":")) {
			return
		}
		kB := len(f) == 3 && string(f[2]) == "kB"
		mn, ok := n.memNames[string(f[0])]
		if !ok {
			key := strings.TrimSuffix(string(f[0]), ":")
			mn = [2]string{"node_memory_" + strings.NewReplacer("(", "_", ")", "").Replace(key), "Memory information field " + key + "."}
			if kB {
				mn[0] += "_bytes"
			}
			n.memNames[string(f[0])] = mn
		}
		v := num(f[1])
		if kB {
			v *= 1024
		}
		o.add(mn[0], mn[1], metric.Gauge, v)
	})
}

// diskIgnored is node_exporter's default: partitions, RAM and loop
// devices are left out (a whole disk counts its partitions' I/O).
var diskIgnored = regexp.MustCompile(`^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`)

var diskFields = []struct {
	name, help string
	kind       metric.Kind
	scale      float64
}{
	{"node_disk_reads_completed_total", "Reads completed.", metric.Counter, 1},
	{"node_disk_reads_merged_total", "Reads merged.", metric.Counter, 1},
	{"node_disk_read_bytes_total", "Bytes read.", metric.Counter, 512},
	{"node_disk_read_time_seconds_total", "Seconds spent by all reads.", metric.Counter, 0.001},
	{"node_disk_writes_completed_total", "Writes completed.", metric.Counter, 1},
	{"node_disk_writes_merged_total", "Writes merged.", metric.Counter, 1},
	{"node_disk_written_bytes_total", "Bytes written.", metric.Counter, 512},
	{"node_disk_write_time_seconds_total", "Seconds spent by all writes.", metric.Counter, 0.001},
	{"node_disk_io_now", "I/Os in progress.", metric.Gauge, 1},
	{"node_disk_io_time_seconds_total", "Seconds spent doing I/Os.", metric.Counter, 0.001},
	{"node_disk_io_time_weighted_seconds_total", "Weighted seconds spent doing I/Os.", metric.Counter, 0.001},
}

func (n *Node) parseDiskstats(o *out, data []byte) {
	lines(data, func(line []byte) {
		n.f = fields(n.f, line)
		f := n.f
		if len(f) < 3+len(diskFields) {
			return
		}
		dev := n.intern(f[2])
		skip, known := n.diskSkip[dev]
		if !known {
			skip = diskIgnored.MatchString(dev)
			n.diskSkip[dev] = skip
		}
		if skip {
			return
		}
		for i, df := range diskFields {
			o.add(df.name, df.help, df.kind, num(f[3+i])*df.scale, metric.Label{Name: "device", Value: dev})
		}
	})
}

var netFields = []struct {
	col        int
	name, help string
}{
	{0, "node_network_receive_bytes_total", "Bytes received."},
	{1, "node_network_receive_packets_total", "Packets received."},
	{2, "node_network_receive_errs_total", "Receive errors."},
	{3, "node_network_receive_drop_total", "Received packets dropped."},
	{8, "node_network_transmit_bytes_total", "Bytes sent."},
	{9, "node_network_transmit_packets_total", "Packets sent."},
	{10, "node_network_transmit_errs_total", "Transmit errors."},
	{11, "node_network_transmit_drop_total", "Packets dropped on transmit."},
}

// parseNetDev reads /proc/net/dev, and each interface's operstate from
// /sys/class/net.
func (n *Node) parseNetDev(o *out, data []byte) {
	var devs []string
	lines(data, func(line []byte) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return
		}
		n.f = fields(n.f, rest)
		f := n.f
		if len(f) < 16 {
			return
		}
		dev := n.intern(bytes.TrimSpace(name))
		devs = append(devs, dev)
		for _, nf := range netFields {
			o.add(nf.name, nf.help, metric.Counter, num(f[nf.col]), metric.Label{Name: "device", Value: dev})
		}
	})
	// The operstate files are read after /proc/net/dev: the reader's
	// buffer holds one file at a time.
	for _, dev := range devs {
		up := 0.0
		if state, err := n.r.read(filepath.Join(n.sys, "class/net", dev, "operstate")); err == nil && string(bytes.TrimSpace(state)) == "up" {
			up = 1
		}
		o.add("node_network_up", "1 when the interface's operational state is up.", metric.Gauge, up, metric.Label{Name: "device", Value: dev})
	}
}

// mount is a line of /proc/self/mounts.
type mount struct {
	device, point, fstype string
	readOnly              bool
}

// unwantedFS are block filesystems that hold no data of the node's:
// read-only images.
var unwantedFS = []string{"squashfs", "erofs", "iso9660"}

// realMounts picks, from /proc/self/mounts, the filesystems worth
// watching: those on a block device (realFS), once per device and mount
// point, outside the kernel's own trees. Network filesystems are left out
// on purpose: statfs on a dead NFS server would hang the collection.
func realMounts(data []byte, realFS map[string]bool) []mount {
	var out []mount
	lines(data, func(line []byte) {
		f := strings.Fields(string(line))
		if len(f) < 4 || !realFS[f[2]] || slices.Contains(unwantedFS, f[2]) {
			return
		}
		m := mount{device: unescapeMount(f[0]), point: unescapeMount(f[1]), fstype: f[2]}
		for _, p := range []string{"/proc", "/sys", "/dev"} {
			if m.point == p || strings.HasPrefix(m.point, p+"/") {
				return
			}
		}
		m.readOnly = slices.Contains(strings.Split(f[3], ","), "ro")
		for _, seen := range out {
			if seen.device == m.device && seen.point == m.point {
				return
			}
		}
		out = append(out, m)
	})
	return out
}

// unescapeMount undoes the octal escapes of /proc/self/mounts (\040 for
// a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, ok := octal(s[i+1 : i+4]); ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal(s string) (byte, bool) {
	if len(s) != 3 {
		return 0, false
	}
	var v int
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, false
		}
		v = v*8 + int(c-'0')
	}
	return byte(v), v < 256
}

// blockFilesystems reads /proc/filesystems: the types not marked nodev.
func blockFilesystems(data []byte) map[string]bool {
	out := map[string]bool{}
	lines(data, func(line []byte) {
		f := strings.Fields(string(line))
		if len(f) == 1 {
			out[f[0]] = true
		}
	})
	return out
}

func (n *Node) filesystems(o *out) error {
	if n.realFS == nil {
		data, err := n.r.read(filepath.Join(n.proc, "filesystems"))
		if err != nil {
			return err
		}
		n.realFS = blockFilesystems(data)
	}
	data, err := n.r.read(filepath.Join(n.proc, "self/mounts"))
	if err != nil {
		return err
	}
	var errs []string
	for _, m := range realMounts(data, n.realFS) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(m.point, &st); err != nil {
			errs = append(errs, fmt.Sprintf("statfs %s: %v", m.point, err))
			continue
		}
		labels := []metric.Label{{Name: "device", Value: m.device}, {Name: "fstype", Value: m.fstype}, {Name: "mountpoint", Value: m.point}}
		bs := float64(st.Bsize)
		ro := 0.0
		if m.readOnly {
			ro = 1
		}
		o.add("node_filesystem_size_bytes", "Filesystem size in bytes.", metric.Gauge, float64(st.Blocks)*bs, labels...)
		o.add("node_filesystem_free_bytes", "Filesystem free space in bytes.", metric.Gauge, float64(st.Bfree)*bs, labels...)
		o.add("node_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes.", metric.Gauge, float64(st.Bavail)*bs, labels...)
		o.add("node_filesystem_files", "Filesystem total file nodes.", metric.Gauge, float64(st.Files), labels...)
		o.add("node_filesystem_files_free", "Filesystem free file nodes.", metric.Gauge, float64(st.Ffree), labels...)
		o.add("node_filesystem_readonly", "1 when the filesystem is mounted read-only.", metric.Gauge, ro, labels...)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
