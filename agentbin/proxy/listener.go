package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hactl/hactl/agentbin/spec"
)

// listenerRun is one open listener and its server.
type listenerRun struct {
	spec spec.Listener
	srv  *http.Server
	tls  atomic.Pointer[tls.Config] // the config of the next handshake

	mu  sync.Mutex
	err error // why Serve returned, nil while it serves
}

// listenerKey identifies a listener socket: one whose key is unchanged
// stays open across a reload.
func listenerKey(l spec.Listener) string {
	return l.Protocol + " " + listenAddr(l)
}

func listenAddr(l spec.Listener) string {
	return net.JoinHostPort(l.Address, strconv.Itoa(l.Port))
}

// freebind lets a proxy bind its VIP's address a moment before the
// address is up (the group's VIP and the proxy start together).
func freebind(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_FREEBIND, 1)
	}); err != nil {
		return err
	}
	return serr
}

// openListener listens on l and serves h there until closed.
func openListener(l spec.Listener, p spec.Proxy, h http.Handler, errLog *log.Logger) (*listenerRun, error) {
	lr := &listenerRun{spec: l}
	if l.Protocol == "https" {
		cfg, err := loadTLS(l)
		if err != nil {
			return nil, err
		}
		lr.tls.Store(cfg)
	}
	lc := net.ListenConfig{Control: freebind}
	ln, err := lc.Listen(context.Background(), "tcp", listenAddr(l))
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", l.Name, err)
	}
	clientTimeout := msOr(p.ClientTimeoutMS, defaultClientTimeout)
	maxHeader := p.MaxHeader
	if maxHeader == 0 {
		maxHeader = defaultMaxHeader
	}
	lr.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: clientTimeout,
		IdleTimeout:       clientTimeout,
		MaxHeaderBytes:    maxHeader,
		ErrorLog:          errLog,
	}
	lr.srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if sc, ok := c.(*sniffConn); ok {
			return context.WithValue(ctx, sniffKey{}, sc)
		}
		return ctx
	}
	limit := maxHeader + 64<<10
	var serveOn net.Listener = &sniffListener{Listener: ln, limit: limit}
	if l.Protocol == "https" {
		serveOn = newTLSListener(ln, &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return lr.tls.Load(), nil
		}}, clientTimeout, limit)
	}
	go func() {
		err := lr.srv.Serve(serveOn)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		lr.mu.Lock()
		lr.err = fmt.Errorf("listener %s stopped: %w", l.Name, err)
		lr.mu.Unlock()
	}()
	return lr, nil
}

// sniffListener hands out its connections as sniffConns.
type sniffListener struct {
	net.Listener
	limit int
}

func (l *sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c, limit: l.limit}, nil
}

// tlsListener does the TLS handshakes itself, so that the HTTP/1
// connections can be sniffed above TLS: those it hands out as sniffConns,
// those that chose HTTP/2 as the *tls.Conn itself, which Go's server
// serves with its own HTTP/2 (it checks for a *tls.Conn).
type tlsListener struct {
	raw     net.Listener
	cfg     *tls.Config
	timeout time.Duration
	limit   int
	conns   chan net.Conn
	done    chan struct{}
	once    sync.Once
}

func newTLSListener(raw net.Listener, cfg *tls.Config, timeout time.Duration, limit int) *tlsListener {
	l := &tlsListener{raw: raw, cfg: cfg, timeout: timeout, limit: limit, conns: make(chan net.Conn), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *tlsListener) acceptLoop() {
	for {
		c, err := l.raw.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			_ = l.Close()
			return
		}
		go l.handshake(c)
	}
}

func (l *tlsListener) handshake(c net.Conn) {
	tc := tls.Server(c, l.cfg)
	_ = tc.SetDeadline(time.Now().Add(l.timeout))
	if err := tc.Handshake(); err != nil {
		_ = c.Close()
		return
	}
	_ = tc.SetDeadline(time.Time{})
	var out net.Conn = tc
	if tc.ConnectionState().NegotiatedProtocol != "h2" {
		out = &sniffConn{Conn: tc, limit: l.limit}
	}
	select {
	case l.conns <- out:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *tlsListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.raw.Close()
}

func (l *tlsListener) Addr() net.Addr { return l.raw.Addr() }

// stop closes the listener and lets requests in flight finish for grace.
func (lr *listenerRun) stop(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if lr.srv.Shutdown(ctx) != nil {
		_ = lr.srv.Close()
	}
}

func (lr *listenerRun) failure() error {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return lr.err
}

// loadTLS reads a listener's certificates (chosen by SNI, the first one
// for clients that send no name or one no certificate has) and client CA.
func loadTLS(l spec.Listener) (*tls.Config, error) {
	pairs := append([]spec.CertPair{{CertPath: l.CertPath, KeyPath: l.KeyPath}}, l.Certs...)
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
	}
	switch l.TLSMinVersion {
	case "", "1.2":
	case "1.3":
		cfg.MinVersion = tls.VersionTLS13
	default:
		return nil, fmt.Errorf("listener %s: tls_min_version %q: want 1.2 or 1.3", l.Name, l.TLSMinVersion)
	}
	for _, p := range pairs {
		c, err := tls.LoadX509KeyPair(p.CertPath, p.KeyPath)
		if err != nil {
			return nil, fmt.Errorf("listener %s: certificate %s: %w", l.Name, p.CertPath, err)
		}
		cfg.Certificates = append(cfg.Certificates, c)
	}
	if l.ClientCAPath != "" {
		pem, err := os.ReadFile(l.ClientCAPath)
		if err != nil {
			return nil, fmt.Errorf("listener %s: client CA: %w", l.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("listener %s: client CA %s holds no PEM certificate", l.Name, l.ClientCAPath)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
