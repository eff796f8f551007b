package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hactl/hactl/e2e/lab"
)

// The ceiling: net/http's server answering by itself, with no backend
// behind it, on lb, on both cores. The proxy role's client side is
// net/http's server (issue 11 asks for no hand-written HTTP parser there),
// and whatever a proxy does after it has read a request only adds to that
// server's work, so no proxy built on it can serve more requests per
// second here than this does.
const (
	aloneHTTPPort = 83
	aloneTLSPort  = 446
	aloneBinary   = "/tmp/bench/alone"
)

// serveAlone runs the ceiling's server: /small answers the backends' kind
// of body, /big 100 KiB, on HTTP and on HTTPS with the bench's
// certificate, with the proxy's listener settings (TLS 1.2 at least, h2
// offered, timeouts).
func serveAlone(certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	big := []byte(strings.Repeat("x", 100<<10))
	mux := http.NewServeMux()
	mux.HandleFunc("/small", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("web1"))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		_, _ = w.Write(big)
	})
	serve := func(port int, h http.Handler, cfg *tls.Config) error {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 120 * time.Second, IdleTimeout: 120 * time.Second, TLSConfig: cfg,
			ErrorLog: log.New(io.Discard, "", 0)} // wrk's closes at the end of a run
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			return err
		}
		if cfg != nil {
			return srv.ServeTLS(ln, "", "")
		}
		return srv.Serve(ln)
	}
	tlsConfig := func() *tls.Config {
		return &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}, Certificates: []tls.Certificate{cert}}
	}
	errs := make(chan error, 4)
	go func() { errs <- serve(aloneHTTPPort, mux, nil) }()
	go func() { errs <- serve(aloneTLSPort, mux, tlsConfig()) }()
	relay := newRelay(fmt.Sprintf("%s:%d", web1Addr, backPort), fmt.Sprintf("%s:%d", web2Addr, backPort))
	go func() { errs <- serve(relayHTTPPort, relay, nil) }()
	go func() { errs <- serve(relayTLSPort, relay, tlsConfig()) }()
	return <-errs
}

// startAlone copies this program onto lb and runs its ceiling server there
// until ctx ends.
func startAlone(ctx context.Context, l *lab.Lab) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	f, err := os.Open(self)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd, err := l.Command(ctx, "lb", "sh", "-c", fmt.Sprintf(
		"cat > %[1]s && chmod 700 %[1]s && exec %[1]s -alone /tmp/bench/bench.pem,/tmp/bench/bench.key", aloneBinary))
	if err != nil {
		return err
	}
	cmd.Stdin, cmd.Stderr = f, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("net/http alone on lb: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

// aloneFlag splits -alone's "cert,key".
func aloneFlag(v string) (string, string, error) {
	cert, key, ok := strings.Cut(v, ",")
	if !ok {
		return "", "", errors.New("-alone wants cert,key")
	}
	return cert, key, nil
}
