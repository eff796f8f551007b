package proxy

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// selfSigned writes a certificate for name and its key under dir.
func selfSigned(t *testing.T, dir, name string) spec.CertPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	pair := spec.CertPair{CertPath: filepath.Join(dir, name+".crt"), KeyPath: filepath.Join(dir, name+".key")}
	_ = os.WriteFile(pair.CertPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(pair.KeyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return pair
}

func TestHTTPSChoosesTheCertificateBySNIAndSpeaksHTTP2(t *testing.T) {
	dir := t.TempDir()
	one, two := selfSigned(t, dir, "one.example"), selfSigned(t, dir, "two.example")
	w := newWeb(t, "w")
	p := httpProxy(t, spec.ProxyService{Name: "s", HealthCheck: fastCheck, Backends: []spec.Backend{w.backend(5)}})
	p.Listeners[0] = spec.Listener{Name: "https", Protocol: "https", Address: "127.0.0.1", Port: freePort(t),
		CertPath: one.CertPath, KeyPath: one.KeyPath, Certs: []spec.CertPair{two}, TLSMinVersion: "1.2"}
	r := runRole(t, p)
	addr := listenAddr(p.Listeners[0])
	for _, tc := range []struct{ sni, want string }{{"one.example", "one.example"}, {"two.example", "two.example"}, {"", "one.example"}} {
		for _, proto := range []string{"h2", "http/1.1"} {
			c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true, NextProtos: []string{proto}})
			if err != nil {
				t.Fatal(err)
			}
			cs := c.ConnectionState()
			c.Close()
			if got := cs.PeerCertificates[0].Subject.CommonName; got != tc.want || cs.NegotiatedProtocol != proto {
				t.Errorf("SNI %q, ALPN %s: got the certificate of %s over %q, want %s", tc.sni, proto, got, cs.NegotiatedProtocol, tc.want)
			}
		}
	}
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
	resp, err := h2.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(body) != "w" || w.last.Load().Header.Get("X-Forwarded-Proto") != "https" {
		t.Errorf("HTTP/2 request: %s %q, X-Forwarded-Proto %q", resp.Proto, body, w.last.Load().Header.Get("X-Forwarded-Proto"))
	}
	// TLS 1.1 is refused.
	if c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}
	// Smuggling over HTTP/1.1 in TLS is refused too.
	before := w.hits.Load()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	resp, err = http.ReadResponse(bufio.NewReader(c), nil)
	c.Close()
	if err != nil || resp.StatusCode != 400 || w.hits.Load() != before {
		t.Errorf("CL+TE over TLS: %v %v, backend hits %d", resp, err, w.hits.Load()-before)
	}
	// A reload with a new certificate is taken by the next handshake on
	// the same listener.
	three := selfSigned(t, dir, "three.example")
	next := p
	next.Listeners = []spec.Listener{p.Listeners[0]}
	next.Listeners[0].CertPath, next.Listeners[0].KeyPath = three.CertPath, three.KeyPath
	if err := r.Reload(&spec.Spec{Proxies: []spec.Proxy{next}}); err != nil {
		t.Fatal(err)
	}
	c, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.ConnectionState().PeerCertificates[0].Subject.CommonName; got != "three.example" {
		t.Errorf("after the reload the listener shows %s", got)
	}
}

func TestWebSocketUpgradeAnd100Continue(t *testing.T) {
	w := newWeb(t, "w")
	w.srv.Config.Handler = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			b, _ := io.ReadAll(r.Body)
			_, _ = rw.Write(append([]byte("got "), b...))
			return
		}
		c, brw, err := http.NewResponseController(rw).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString("echo " + line)
		_ = brw.Flush()
	})
	p := httpProxy(t, spec.ProxyService{Name: "s", HealthCheck: fastCheck, Backends: []spec.Backend{w.backend(5)}})
	runRole(t, p)
	c, err := netDial(listenAddr(p.Listeners[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	_, _ = io.WriteString(c, "hello\n")
	if line, _ := br.ReadString('\n'); line != "echo hello\n" {
		t.Errorf("over the upgraded connection: %q", line)
	}

	c2, err := netDial(listenAddr(p.Listeners[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_, _ = io.WriteString(c2, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	br2 := bufio.NewReader(c2)
	line, _ := br2.ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("want 100 Continue before the body, got %q", line)
	}
	_, _ = br2.ReadString('\n')
	_, _ = io.WriteString(c2, "body")
	resp, err = http.ReadResponse(br2, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "got body" {
		t.Errorf("after 100-continue: %s %q", resp.Status, b)
	}
}
