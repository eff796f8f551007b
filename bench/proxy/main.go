// Command proxy measures the proxy role against HAProxy (HTTP mode) and
// nginx as a reverse proxy, in one lab of network namespaces: the three
// run on the same node (lb) in front of the same two nginx backends, with
// keep-alive to the backends, and wrk in the lab's client namespace sends
// them HTTP and HTTPS requests for small (the backend's name) and 100 KiB
// responses. It prints requests/s and p99 latency of each, the ratios of
// hactl to HAProxy, and the memory each takes per 10,000 idle keep-alive
// client connections, and ends with one line "result: key=value …".
// Beside them it measures the ceiling of any proxy built on net/http's
// server here: that server answering by itself, with no backend (alone.go),
// and that server relaying each request to a backend with the least work a
// proxy can do (relay.go). For each run it prints the CPU time the peer's
// processes on lb took per request.
//
// Run as root from the repository root: go run ./bench/proxy [-d 10s]. It
// installs haproxy, nginx and wrk (Debian packages) when missing.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hactl/hactl/bench/internal/benchenv"
	"github.com/hactl/hactl/e2e/lab"
	"github.com/hactl/hactl/plan/config"
	_ "github.com/hactl/hactl/providers/all"
)

const (
	lbAddr   = "192.168.0.10"
	web1Addr = "192.168.0.21"
	web2Addr = "192.168.0.22"
	backPort = 8081
	// idle connections are opened to measure memory, and reported per
	// 10,000: the lab's hard limit of open files (20,000 here) keeps
	// HAProxy, which needs two per connection, below 10,000.
	idle = 8000
)

const clusterHCL = `cluster "bench" {
  key_file = "cluster.key"
}
network "lan" {
  cidr = "192.168.0.0/24"
}
node "lb" {
  interface "eth0" {
    network = network.lan
    address = "` + lbAddr + `"
  }
}
node "web1" {
  interface "eth0" {
    network = network.lan
    address = "` + web1Addr + `"
  }
}
node "web2" {
  interface "eth0" {
    network = network.lan
    address = "` + web2Addr + `"
  }
}
proxy "bench" {
  nodes           = [node.lb]
  client_timeout  = "120s"
  allowed_methods = ["GET"]
  access_log      = false # as HAProxy and nginx here, which log no request
  listener "http" {
    port = 80
  }
  listener "https" {
    protocol  = "https"
    port      = 443
    cert_file = "tls/bench.pem"
    key_file  = "tls/bench.key"
  }
  service "all" {
    backend "web1" {
      node = node.web1
      port = 8081
    }
    backend "web2" {
      node = node.web2
      port = 8081
    }
  }
}
`

// backendNginx serves /small (the node's name) and /big (100 KiB).
const backendNginx = `daemon on;
worker_processes 1;
pid /run/nginx-bench.pid;
error_log stderr;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 8081;
    location = /small { default_type text/plain; return 200 "%s"; }
    location = /big { root /tmp/bench; }
  }
}
`

const haproxyCfg = `global
  maxconn 9000
  nbthread 2
defaults
  mode http
  timeout connect 5s
  timeout client 120s
  timeout server 30s
  timeout http-keep-alive 120s
  option http-keep-alive
frontend f
  bind :81
  bind :444 ssl crt /tmp/bench/haproxy.pem alpn h2,http/1.1
  default_backend b
backend b
  balance roundrobin
  http-reuse always
  server web1 ` + web1Addr + `:8081
  server web2 ` + web2Addr + `:8081
`

const proxyNginx = `daemon on;
worker_processes 2;
worker_rlimit_nofile 20000;
pid /run/nginx-bench.pid;
error_log stderr;
events { worker_connections 19000; }
http {
  access_log off;
  keepalive_timeout 120s;
  keepalive_requests 1000000;
  upstream b {
    server ` + web1Addr + `:8081;
    server ` + web2Addr + `:8081;
    keepalive 128;
  }
  server {
    listen 82;
    listen 445 ssl http2;
    ssl_certificate /tmp/bench/bench.pem;
    ssl_certificate_key /tmp/bench/bench.key;
    location / {
      proxy_pass http://b;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`

func main() {
	d := flag.Duration("d", 10*time.Second, "each wrk run")
	conns := flag.Int("c", 64, "wrk connections")
	alone := flag.String("alone", "", "cert,key: serve as the ceiling on lb (the bench runs this itself)")
	only := flag.String("only", "", "peer/test,…: run these alone (e.g. hactl/http_small,relay/http_small), for quick comparisons; no memory, no result line")
	flag.Parse()
	if *alone != "" {
		cert, key, err := aloneFlag(*alone)
		if err == nil {
			err = serveAlone(cert, key)
		}
		fmt.Fprintln(os.Stderr, "bench: alone:", err)
		os.Exit(1)
	}
	if err := run(*d, *conns, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// peer is a system under test: its ports and its processes on lb.
type peer struct {
	name              string
	httpPort, tlsPort int
	procs             string // regexp on the process names whose memory and CPU count
}

// peers are the proxies measured; bounds, beside them, are net/http's
// server relaying (relay.go) and answering by itself (alone.go).
var (
	peers = []peer{
		{name: "hactl", httpPort: 80, tlsPort: 443, procs: `^hactl-agent`},
		{name: "haproxy", httpPort: 81, tlsPort: 444, procs: `^haproxy$`},
		{name: "nginx", httpPort: 82, tlsPort: 445, procs: `^nginx$`},
	}
	bounds = []peer{
		{name: "relay", httpPort: relayHTTPPort, tlsPort: relayTLSPort, procs: `^alone$`},
		{name: "alone", httpPort: aloneHTTPPort, tlsPort: aloneTLSPort, procs: `^alone$`},
	}
	tests = []struct{ name, scheme, path string }{
		{"http_small", "http", "/small"}, {"http_100k", "http", "/big"},
		{"https_small", "https", "/small"}, {"https_100k", "https", "/big"},
	}
)

// chooseRuns reads -only's peer/test pairs; none means all.
func chooseRuns(only string) (map[string]bool, error) {
	var peerNames, testNames []string
	for _, p := range append(peers[:len(peers):len(peers)], bounds...) {
		peerNames = append(peerNames, p.name)
	}
	for _, tc := range tests {
		testNames = append(testNames, tc.name)
	}
	chosen := map[string]bool{}
	for _, pt := range strings.Split(only, ",") {
		if pt == "" {
			continue
		}
		name, test, _ := strings.Cut(pt, "/")
		if !slices.Contains(peerNames, name) || !slices.Contains(testNames, test) {
			return nil, fmt.Errorf("-only: no peer/test %q (peers %s; tests %s)", pt, strings.Join(peerNames, ", "), strings.Join(testNames, ", "))
		}
		chosen[pt] = true
	}
	return chosen, nil
}

func run(d time.Duration, conns int, only string) error {
	chosen, err := chooseRuns(only)
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("run as root: the lab builds network namespaces")
	}
	if err := benchenv.Install("haproxy", "nginx", "wrk"); err != nil {
		return err
	}
	// Go raised the soft limit of open files to the hard one at start.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < idle+1000 {
		return fmt.Errorf("open files limit %d: %d idle connections need more (ulimit -Hn)", lim.Cur, idle)
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hactl-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	hactl, err := benchenv.Build(dir)
	if err != nil {
		return err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	certPEM, keyPEM, err := selfSigned("bench.example")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		"cluster.key": []byte(base64.StdEncoding.EncodeToString(key)), "cluster.hcl": []byte(clusterHCL),
		"tls/bench.pem": certPEM, "tls/bench.key": keyPEM,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	res, diags := config.Load(dir, config.Options{})
	if diags.HasErrors() {
		return diags
	}
	l, err := lab.Up(ctx, res.Topology, lab.Options{Name: "bench-proxy", Replace: true})
	if err != nil {
		return err
	}
	defer l.Down(context.Background())
	sh := func(node, script string) error {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		out, err := l.Exec(ctx, node, "sh", "-c", script)
		if err != nil {
			return fmt.Errorf("%s: %s: %v\n%s", node, script, err, out)
		}
		return nil
	}
	// The backends: the lab's nginx gives way to one with a 100 KiB file.
	for node, name := range map[string]string{"web1": "web1", "web2": "web2"} {
		script := fmt.Sprintf("kill $(cat /run/nginx-lab.pid) 2>/dev/null; sleep 0.3; mkdir -p /tmp/bench && head -c 102400 /dev/zero | tr '\\0' x > /tmp/bench/big && cat > /tmp/bench/nginx.conf <<'EOF'\n%sEOF\nnginx -e stderr -c /tmp/bench/nginx.conf </dev/null >/dev/null 2>&1", fmt.Sprintf(backendNginx, name))
		if err := sh(node, script); err != nil {
			return err
		}
	}
	// The peers on lb, on their own ports.
	setup := fmt.Sprintf("mkdir -p /tmp/bench && cat > /tmp/bench/bench.pem <<'EOF'\n%sEOF\ncat > /tmp/bench/bench.key <<'EOF'\n%sEOF\ncat /tmp/bench/bench.pem /tmp/bench/bench.key > /tmp/bench/haproxy.pem\n"+
		"cat > /tmp/bench/haproxy.cfg <<'EOF'\n%sEOF\ncat > /tmp/bench/nginx.conf <<'EOF'\n%sEOF\n"+
		"ulimit -n 20000; haproxy -D -f /tmp/bench/haproxy.cfg </dev/null >/tmp/bench/haproxy.log 2>&1 || { cat /tmp/bench/haproxy.log; exit 1; }\n"+
		"nginx -e stderr -c /tmp/bench/nginx.conf </dev/null >/tmp/bench/nginx.log 2>&1 || { cat /tmp/bench/nginx.log; exit 1; }",
		certPEM, keyPEM, haproxyCfg, proxyNginx)
	if err := sh("lb", setup); err != nil {
		return err
	}
	applyCmd, err := l.Command(ctx, lab.Ctl, hactl, "apply", "--auto-approve", "-f", dir)
	if err != nil {
		return err
	}
	if out, err := applyCmd.CombinedOutput(); err != nil {
		return fmt.Errorf("hactl apply: %v\n%s", err, out)
	}
	aloneCtx, stopAlone := context.WithCancel(ctx)
	defer stopAlone()
	if err := startAlone(aloneCtx, l); err != nil {
		return err
	}
	targets := append(peers[:len(peers):len(peers)], bounds...)
	out, err := l.Exec(ctx, "lb", "readlink", "/proc/self/ns/net")
	if err != nil {
		return fmt.Errorf("lb's network namespace: %v\n%s", err, out)
	}
	lbNetns := strings.TrimSpace(string(out))
	for _, p := range targets {
		if err := waitServes(l, p.httpPort); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	type cell struct{ peer, test string }
	rps, p99, cpu := map[cell]float64{}, map[cell]float64{}, map[cell]float64{}
	for _, tc := range tests {
		for _, p := range targets {
			if len(chosen) > 0 && !chosen[p.name+"/"+tc.name] {
				continue
			}
			port := p.httpPort
			if tc.scheme == "https" {
				port = p.tlsPort
			}
			url := fmt.Sprintf("%s://%s:%d%s", tc.scheme, lbAddr, port, tc.path)
			procs := regexp.MustCompile(p.procs)
			before, err := cpuTime(procs, lbNetns)
			if err != nil {
				return err
			}
			r, lat, err := wrk(ctx, l, url, conns, d)
			if err != nil {
				return fmt.Errorf("%s %s: %w", p.name, tc.name, err)
			}
			after, err := cpuTime(procs, lbNetns)
			if err != nil {
				return err
			}
			used := after - before
			c := cell{p.name, tc.name}
			rps[c], p99[c], cpu[c] = r, lat, used.Seconds()*1e6/(r*d.Seconds())
			fmt.Printf("%-8s %-12s %10.0f req/s  p99 %7.2f ms  %5.1f µs CPU/req\n", p.name, tc.name, r, lat, cpu[c])
		}
	}
	if len(chosen) > 0 {
		fmt.Println("a part of the runs (-only): no memory, no result line")
		return nil
	}
	mem := map[string]float64{}
	for _, p := range peers {
		mib, err := idleMemory(l, p)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		mem[p.name] = mib * 10000 / idle
		fmt.Printf("%-8s %d idle keep-alive connections: %.1f MiB (%.1f MiB per 10,000)\n", p.name, idle, mib, mem[p.name])
	}
	var b strings.Builder
	b.WriteString("result:")
	for _, tc := range tests {
		h, ha, n, a, rl := cell{"hactl", tc.name}, cell{"haproxy", tc.name}, cell{"nginx", tc.name}, cell{"alone", tc.name}, cell{"relay", tc.name}
		fmt.Fprintf(&b, " %s_alone_rps=%.0f %s_alone_vs_haproxy=%.2f %s_hactl_vs_alone=%.2f", tc.name, rps[a], tc.name, rps[a]/rps[ha], tc.name, rps[h]/rps[a])
		fmt.Fprintf(&b, " %s_relay_rps=%.0f %s_relay_vs_haproxy=%.2f %s_relay_p99_vs_haproxy=%.2f %s_hactl_vs_relay=%.2f",
			tc.name, rps[rl], tc.name, rps[rl]/rps[ha], tc.name, p99[rl]/p99[ha], tc.name, rps[h]/rps[rl])
		fmt.Fprintf(&b, " %s_cpu_us_per_req_hactl=%.1f %s_cpu_us_per_req_haproxy=%.1f %s_cpu_us_per_req_relay=%.1f", tc.name, cpu[h], tc.name, cpu[ha], tc.name, cpu[rl])
		fmt.Fprintf(&b, " %s_hactl_rps=%.0f %s_haproxy_rps=%.0f %s_nginx_rps=%.0f %s_hactl_p99_ms=%.2f %s_haproxy_p99_ms=%.2f %s_nginx_p99_ms=%.2f %s_rps_vs_haproxy=%.2f %s_p99_vs_haproxy=%.2f",
			tc.name, rps[h], tc.name, rps[ha], tc.name, rps[n], tc.name, p99[h], tc.name, p99[ha], tc.name, p99[n],
			tc.name, rps[h]/rps[ha], tc.name, p99[h]/p99[ha])
	}
	fmt.Fprintf(&b, " idle10k_hactl_mib=%.1f idle10k_haproxy_mib=%.1f idle10k_nginx_mib=%.1f", mem["hactl"], mem["haproxy"], mem["nginx"])
	fmt.Println(b.String())
	return nil
}

func waitServes(l *lab.Lab, port int) error {
	c := l.HTTPClient(lab.Client)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Get(fmt.Sprintf("http://%s:%d/small", lbAddr, port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("port %d does not serve: %w", port, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var (
	rpsLine = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p99Line = regexp.MustCompile(`(?m)^\s+99%\s+([0-9.]+)(us|ms|s)`)
)

// wrk runs wrk from the client and returns requests/s and p99 in ms.
func wrk(ctx context.Context, l *lab.Lab, url string, conns int, d time.Duration) (float64, float64, error) {
	ctx, cancel := context.WithTimeout(ctx, d+time.Minute)
	defer cancel()
	cmd, err := l.Command(ctx, lab.Client, "wrk", "-t2", "-c"+strconv.Itoa(conns), "-d"+d.String(), "--latency", url)
	if err != nil {
		return 0, 0, err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "Non-2xx") || strings.Contains(string(out), "Socket errors") {
		return 0, 0, fmt.Errorf("requests failed:\n%s", out)
	}
	r, l99 := rpsLine.FindSubmatch(out), p99Line.FindSubmatch(out)
	if r == nil || l99 == nil {
		return 0, 0, fmt.Errorf("no figures in wrk's output:\n%s", out)
	}
	rps, _ := strconv.ParseFloat(string(r[1]), 64)
	lat, _ := strconv.ParseFloat(string(l99[1]), 64)
	switch string(l99[2]) {
	case "us":
		lat /= 1000
	case "s":
		lat *= 1000
	}
	return rps, lat, nil
}

// idleMemory opens idle keep-alive connections to a peer (each after one
// request) and returns how much the peer's resident memory grew, in MiB.
func idleMemory(l *lab.Lab, p peer) (float64, error) {
	before, err := rss(l, p.procs)
	if err != nil {
		return 0, err
	}
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	req := []byte("GET /small HTTP/1.1\r\nHost: bench\r\n\r\n")
	for range idle {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := l.Dial(ctx, lab.Client, "tcp", fmt.Sprintf("%s:%d", lbAddr, p.httpPort))
		cancel()
		if err != nil {
			return 0, err
		}
		open = append(open, c)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(req); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0, fmt.Errorf("connection %d: %w", len(open), err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	time.Sleep(time.Second)
	after, err := rss(l, p.procs)
	if err != nil {
		return 0, err
	}
	return float64(after-before) / 1024, nil
}

// cpuTime sums the CPU time (user and system) taken so far by the
// processes in the network namespace netns (as /proc/PID/ns/net reads)
// whose name matches procs. The lab shares this PID namespace, so lb's
// processes are this machine's; the backends' nginx, named alike, are in
// namespaces of their own.
func cpuTime(procs *regexp.Regexp, netns string) (time.Duration, error) {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var ticks, found int64
	for _, dir := range dirs {
		if ns, err := os.Readlink(dir + "/ns/net"); err != nil || ns != netns {
			continue
		}
		stat, err := os.ReadFile(dir + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses.
		open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || end < open || !procs.Match(stat[open+1:end]) {
			continue
		}
		f := strings.Fields(string(stat[end+1:]))
		if len(f) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += utime + stime
		found++
	}
	if found == 0 {
		return 0, fmt.Errorf("no process matching %s in %s", procs, netns)
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's
// times: 100 on every Linux architecture Go supports.
const clockTicks = 100

// rss sums the resident memory, in KiB, of lb's processes whose name
// matches procs.
func rss(l *lab.Lab, procs string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := l.Exec(ctx, "lb", "ps", "-eo", "rss=,comm=")
	if err != nil {
		return 0, fmt.Errorf("ps on lb: %v\n%s", err, out)
	}
	re := regexp.MustCompile(procs)
	var sum int64
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && re.MatchString(f[1]) {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			sum += n
		}
	}
	if sum == 0 {
		return 0, fmt.Errorf("no process matching %s on lb", procs)
	}
	return sum, nil
}

func selfSigned(host string) ([]byte, []byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}
