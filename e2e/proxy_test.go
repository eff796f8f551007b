package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/status"
	"github.com/hactl/hactl/e2e/lab"
)

// The guide's Pound front end (examples/pound-proxy), run for real: the
// proxy role on the director holding the front VIP, nginx on the hidden
// web servers f400 and dgx, requests from the client namespace.

const frontVIP = "192.168.3.181"

// poundCluster starts the example's lab with LAN heartbeat timings, ctl as
// quorum tie-breaker, real certificates for www.example.com and (by SNI)
// api.example.com, and applies it.
func poundCluster(t *testing.T) *cluster {
	t.Helper()
	c := startCluster(t, "pound-proxy")
	gw, err := c.lab.CtlAddress("inside")
	if err != nil {
		t.Fatal(err)
	}
	c.editHCL(func(s string) string {
		s = strings.ReplaceAll(s, "  fence \"lab\" {}\n", "")
		s = strings.Replace(s, "heartbeat {\n", "heartbeat {\n  interval = \"50ms\"\n  warntime = \"150ms\"\n  deadtime = \"300ms\"\n  initdead = \"3s\"\n", 1)
		s = strings.Replace(s, `    key_file  = "tls/www.key"
`, `    key_file  = "tls/www.key"

    certificate "api" {
      cert_file = "tls/api.pem"
      key_file  = "tls/api.key"
    }
`, 1)
		s = strings.Replace(s, "  service \"default\" {\n", ownCookieService+"  service \"default\" {\n", 1)
		return s + fmt.Sprintf("\nquorum {\n  tie_breaker = %q\n}\n", gw) + proxyNotify
	})
	for _, n := range []string{"h2g", "c2g"} {
		c.onNode(n, "rm -f /tmp/proxy-events; printf '#!/bin/sh\\necho \"$HACTL_EVENT $HACTL_DETAIL\" >> /tmp/proxy-events\\n' > /usr/local/bin/proxy-events && chmod 755 /usr/local/bin/proxy-events")
	}
	writeCert(t, c.dir, "www", "www.example.com")
	writeCert(t, c.dir, "api", "api.example.com")
	c.mustHactl(0, "apply", "--auto-approve")
	c.waitProxyServes("h2g")
	return c
}

// ownCookieService keeps sessions by the proxy's own cookie.
const ownCookieService = `  service "own" {
    path = "^/own/"
    session {
      type = "proxy_cookie"
    }
    backend "f400" {
      node = node.f400
    }
    backend "dgx" {
      node = node.dgx
    }
  }

`

// proxyNotify subscribes a command to the proxy's events: it appends each
// to /tmp/proxy-events on the node that reports it.
const proxyNotify = `
notify "proxy-events" {
  command = "/usr/local/bin/proxy-events"
  events  = ["proxy_backend_down", "proxy_backend_up", "proxy_emergency", "proxy_service_down", "proxy_service_restored"]
}
`

// writeCert writes tls/NAME.pem and tls/NAME.key, self-signed for host.
func writeCert(t *testing.T, dir, name, host string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	for file, data := range map[string][]byte{
		name + ".pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		name + ".key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
	} {
		if err := os.WriteFile(filepath.Join(dir, "tls", file), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// proxyStatus reads the proxy role's section of a node's agent status.
func (c *cluster) proxyStatus(node string) *status.Proxy {
	c.t.Helper()
	var st status.Status
	if err := json.Unmarshal([]byte(c.onNode(node, "cat "+layout.StatusPath)), &st); err != nil {
		c.t.Fatalf("%s's status: %v", node, err)
	}
	for i := range st.Proxies {
		return &st.Proxies[i]
	}
	return nil
}

// backendRequests sums the requests the proxy on node relayed, by backend,
// as its status shows them once the agent rewrote it (every second).
func (c *cluster) backendRequests(node string) map[string]uint64 {
	time.Sleep(1500 * time.Millisecond)
	out := map[string]uint64{}
	if p := c.proxyStatus(node); p != nil {
		for _, s := range p.Services {
			for _, b := range s.Backends {
				out[s.Name+"/"+b.Name] += b.Requests
			}
		}
	}
	return out
}

// waitProxyServes waits until the proxy serves the VIP from node.
func (c *cluster) waitProxyServes(node string) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if p := c.proxyStatus(node); p != nil && p.Serving && len(p.Listeners) == 2 && p.Listeners[0].Serving && p.Listeners[1].Serving {
			if code, _ := c.front("GET", "/images/x", nil); code == 200 {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.t.Fatalf("the proxy never served from %s: %+v", node, c.proxyStatus(node))
}

// frontClient keeps connections alive, from the client namespace.
func (c *cluster) frontClient() *http.Client {
	return &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return c.lab.Dial(ctx, lab.Client, network, addr)
		}, MaxIdleConnsPerHost: 16},
	}
}

// front sends one request to http://VIP from the client and returns the
// status and body (the backend's name); status 0 when it failed.
func (c *cluster) front(method, path string, edit func(*http.Request)) (int, string) {
	req, err := http.NewRequest(method, "http://"+frontVIP+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := c.lab.HTTPClient(lab.Client).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// ownSession sends GET /own/x to the VIP from the client, with cookie
// when not nil, and returns the body (the backend's name) and the
// HACTL_SESSION cookie the answer set, nil for none.
func (c *cluster) ownSession(cookie *http.Cookie) (string, *http.Cookie) {
	c.t.Helper()
	req, err := http.NewRequest("GET", "http://"+frontVIP+"/own/x", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := c.lab.HTTPClient(lab.Client).Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := strings.TrimSpace(string(b))
	if resp.StatusCode != 200 {
		c.t.Fatalf("GET /own/x: %d %q", resp.StatusCode, body)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "HACTL_SESSION" {
			return body, ck
		}
	}
	return body, nil
}

func TestProxyPoundExample(t *testing.T) {
	c := poundCluster(t)

	t.Run("routing", func(t *testing.T) {
		hc := c.frontClient()
		req, _ := http.NewRequest("GET", "http://"+frontVIP+"/x", nil)
		req.Host = "example.com"
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || loc != "https://www.example.com" {
			t.Errorf("bare domain: %d to %q, want 302 to https://www.example.com", resp.StatusCode, loc)
		}
		before := c.backendRequests("h2g")
		for _, path := range []string{"/images/a", "/app/b", "/c"} {
			if code, body := c.front("GET", path, nil); code != 200 || (body != "f400" && body != "dgx") {
				t.Errorf("GET %s: %d %q", path, code, body)
			}
		}
		after := c.backendRequests("h2g")
		for _, svc := range []string{"images", "app", "default"} {
			if after[svc+"/f400"]+after[svc+"/dgx"] != before[svc+"/f400"]+before[svc+"/dgx"]+1 {
				t.Errorf("service %s did not relay exactly one request: before %v, after %v", svc, before, after)
			}
		}
	})

	t.Run("weights", func(t *testing.T) {
		n, got := 200, map[string]int{}
		for range n {
			_, body := c.front("GET", "/images/w", nil)
			got[body]++
		}
		if got["f400"] < n*3/10 || got["dgx"] < n*3/10 || got["f400"]+got["dgx"] != n {
			t.Errorf("equal weights shared %v", got)
		}
	})

	t.Run("sessions", func(t *testing.T) {
		first := ""
		for i := range 20 {
			_, body := c.front("GET", "/app/s", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: "abc"}) })
			if i == 0 {
				first = body
			} else if body != first {
				t.Fatalf("the JSESSIONID session went to %s, then %s", first, body)
			}
		}
	})

	t.Run("the proxy's own session cookie", func(t *testing.T) {
		first, cookie := c.ownSession(nil)
		if cookie == nil || strings.Contains(cookie.Value, "192.168.") || !cookie.HttpOnly {
			t.Fatalf("the first answer set cookie %+v, want an HttpOnly HACTL_SESSION naming no address", cookie)
		}
		for range 20 {
			if body, again := c.ownSession(cookie); body != first || again != nil {
				t.Fatalf("the HACTL_SESSION session went to %s, then %s (new cookie %+v)", first, body, again)
			}
		}
	})

	t.Run("sni", func(t *testing.T) {
		for _, name := range []string{"www.example.com", "api.example.com"} {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			out, err := c.lab.Exec(ctx, lab.Client, "sh", "-c",
				fmt.Sprintf("openssl s_client -connect %s:443 -servername %s </dev/null 2>/dev/null | openssl x509 -noout -subject", frontVIP, name))
			cancel()
			if err != nil || !strings.Contains(string(out), "CN = "+name) && !strings.Contains(string(out), "CN="+name) {
				t.Errorf("SNI %s: %v %s", name, err, out)
			}
		}
	})

	t.Run("smuggling", func(t *testing.T) {
		before := c.backendRequests("h2g")
		for _, tc := range []struct {
			raw  string
			want int
		}{
			{"POST /images/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
			{"POST /images/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400},
			{"POST /images/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", 400},
			{"POST /images/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400},
			{"POST /images/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
			{"POST /images/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400},
			{"GET /images/ HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400},
			{"GET /images/ HTTP/1.1\nHost: x\n\n", 400},
			{"GET /images/ HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400},
			{"GET /images/%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
			{"GET /images/?a=%z1 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
			{"DELETE /images/ HTTP/1.1\r\nHost: x\r\n\r\n", 405},
			{"GET /images/" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
			{"GET /images/ HTTP/1.1\r\nHost: x\r\nX-A: " + strings.Repeat("a", 40000) + "\r\n\r\n", 431},
		} {
			if got := c.rawStatus(tc.raw); got != tc.want {
				t.Errorf("%q: status %d, want %d", firstLine(tc.raw), got, tc.want)
			}
		}
		if after := c.backendRequests("h2g"); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("refused requests reached backends: before %v, after %v", before, after)
		}
	})

	t.Run("passive failure and rise", func(t *testing.T) {
		c.onNode("dgx", "kill $(cat /run/nginx-lab.pid); sleep 0.5")
		failed := 0
		for range 100 {
			if code, _ := c.front("GET", "/images/p", nil); code != 200 {
				failed++
			}
		}
		if failed > 0 {
			t.Errorf("%d of 100 requests failed after dgx stopped", failed)
		}
		served := c.backendRequests("h2g")["images/dgx"]
		for range 20 {
			if _, body := c.front("GET", "/images/p", nil); body != "f400" {
				t.Errorf("a request went to %s while dgx was down", body)
			}
		}
		if c.backendRequests("h2g")["images/dgx"] != served {
			t.Error("requests were sent to the stopped dgx")
		}
		c.startNginx("dgx")
		deadline := time.Now().Add(40 * time.Second)
		for time.Now().Before(deadline) {
			if _, body := c.front("GET", "/images/p", nil); body == "dgx" {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Error("dgx never came back after its web server restarted")
	})
	t.Run("backend events", func(t *testing.T) {
		c.waitEvent("h2g", status.ProxyBackendDown, "service images, backend dgx")
		c.waitEvent("h2g", status.ProxyBackendUp, "service images, backend dgx")
	})

	t.Run("emergency and 503", func(t *testing.T) {
		c.onNode("h2g", "mkdir -p /tmp/sorry && echo maintenance > /tmp/sorry/index.html && busybox httpd -p 127.0.0.1:8081 -h /tmp/sorry")
		c.startNginx("dgx")
		c.onNode("f400", "kill $(cat /run/nginx-lab.pid)")
		c.onNode("dgx", "sleep 1; kill $(cat /run/nginx-lab.pid)")
		defer c.startNginx("f400")
		defer c.startNginx("dgx")
		deadline := time.Now().Add(30 * time.Second)
		var code int
		var body string
		for time.Now().Before(deadline) {
			if code, body = c.front("GET", "/", nil); code == 200 && strings.TrimSpace(body) == "maintenance" {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if strings.TrimSpace(body) != "maintenance" {
			t.Errorf("with f400 and dgx down the default service answered %d %q, want the emergency backend", code, body)
		}
		if code, body := c.front("GET", "/images/e", nil); code != 503 || body == "" {
			t.Errorf("with no backend and no emergency: %d %q, want 503 with a body", code, body)
		}
		// The agent's drift follows its status, rewritten every second.
		out := ""
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
			if out, _ = c.hactl("drift"); strings.Contains(out, "service images has no live backend") {
				break
			}
		}
		if !strings.Contains(out, "service images has no live backend") {
			t.Errorf("drift does not report the dead service:\n%s", out)
		}
		c.waitEvent("h2g", status.ProxyEmergency, "service default")
		c.waitEvent("h2g", status.ProxyServiceDown, "service images")
	})

	t.Run("reload during a steady wrk run", func(t *testing.T) {
		c.waitBackendsUp()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		wrk, err := c.lab.Command(ctx, lab.Client, "wrk", "-t2", "-c16", "-d12s", "http://"+frontVIP+"/images/r")
		if err != nil {
			t.Fatal(err)
		}
		outc := make(chan string, 1)
		go func() {
			out, err := wrk.CombinedOutput()
			outc <- fmt.Sprintf("%s%v", out, err)
		}()
		time.Sleep(3 * time.Second)
		c.editHCL(func(s string) string {
			return strings.Replace(s, "    backend \"dgx\" {\n      node = node.dgx\n      port = 80\n", "    backend \"dgx\" {\n      node = node.dgx\n      port = 80\n      weight = 9\n", 1)
		})
		if plan, _ := c.hactl("plan"); !strings.Contains(plan, "proxy pound / service images / regular dgx: weight 5 → 9") {
			t.Errorf("plan does not describe the new weight:\n%s", plan)
		}
		c.mustHactl(0, "apply", "--auto-approve")
		out := <-outc
		t.Logf("wrk:\n%s", out)
		if !strings.Contains(out, "requests in") || strings.Contains(out, "Non-2xx") || strings.Contains(out, "Socket errors") {
			t.Errorf("requests failed during the reload:\n%s", out)
		}
		if p := c.proxyStatus("h2g"); p != nil {
			for _, s := range p.Services {
				for _, b := range s.Backends {
					if s.Name == "images" && b.Name == "dgx" && b.Weight != 9 {
						t.Errorf("the reload did not take the new weight: %+v", b)
					}
				}
			}
		}
	})

	t.Run("drift and plan", func(t *testing.T) {
		out := c.mustHactl(0, "validate")
		if strings.Contains(out, "not run") {
			t.Errorf("validate still warns that the proxy does not run:\n%s", out)
		}
	})

	t.Run("failover of the proxy's group", func(t *testing.T) {
		if err := c.lab.Cut("h2g", ""); err != nil {
			t.Fatal(err)
		}
		c.waitProxyServes("c2g")
		if code, body := c.front("GET", "/images/f", nil); code != 200 || (body != "f400" && body != "dgx") {
			t.Errorf("after the failover: %d %q", code, body)
		}
		if err := c.lab.Heal("h2g", ""); err != nil {
			t.Fatal(err)
		}
	})
}

// waitEvent waits until proxyNotify's command on node got an event of
// kind whose detail mentions detail.
func (c *cluster) waitEvent(node string, kind status.EventKind, detail string) {
	c.t.Helper()
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		got = c.onNode(node, "cat /tmp/proxy-events 2>/dev/null; true")
		for _, line := range strings.Split(got, "\n") {
			if strings.HasPrefix(line, string(kind)+" ") && strings.Contains(line, detail) {
				return
			}
		}
	}
	c.t.Errorf("the notify command on %s got no %s event about %q; it got:\n%s", node, kind, detail, got)
}

// startNginx starts the lab's nginx on node again.
func (c *cluster) startNginx(node string) {
	c.t.Helper()
	c.onNode(node, "kill -0 $(cat /run/nginx-lab.pid 2>/dev/null) 2>/dev/null || (setsid nginx -e stderr -c /etc/nginx/hactl-lab.conf </dev/null >/dev/null 2>&1 &)")
}

// waitBackendsUp waits until the proxy on h2g sees every regular backend up.
func (c *cluster) waitBackendsUp() {
	c.t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) {
		up := true
		for _, s := range c.proxyStatus("h2g").Services {
			for _, b := range s.Backends {
				up = up && (b.Kind != "regular" || b.State == "up")
			}
		}
		if up {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.t.Fatalf("backends not up: %+v", c.proxyStatus("h2g"))
}

// rawStatus sends raw bytes to the VIP's port 80 from the client and
// returns the answer's status.
func (c *cluster) rawStatus(raw string) int {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := c.lab.Dial(ctx, lab.Client, "tcp", frontVIP+":80")
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		c.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 60 {
		line = line[:60] + "…"
	}
	return regexp.MustCompile(`\r`).ReplaceAllString(line, "")
}
