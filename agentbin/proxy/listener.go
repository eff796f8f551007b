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
	go func() {
		var err error
		if l.Protocol == "https" {
			lr.srv.TLSConfig = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
				return lr.tls.Load(), nil
			}}
			err = lr.srv.ServeTLS(ln, "", "")
		} else {
			err = lr.srv.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		lr.mu.Lock()
		lr.err = fmt.Errorf("listener %s stopped: %w", l.Name, err)
		lr.mu.Unlock()
	}()
	return lr, nil
}

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
