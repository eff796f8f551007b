package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// The relay: net/http's server doing the least a proxy must do for each
// request — take a kept connection to a backend (round robin), write the
// request line and Host on it, read the response with net/http's
// ReadResponse and copy its body to the client. No header is forwarded,
// nothing is checked, logged, counted or retried. Every proxy on net/http's
// server does at least this much, so none serves more requests per second
// here: it is the bound the proxy role is measured against, where alone is
// the bound of net/http's server itself.
const (
	relayHTTPPort = 84
	relayTLSPort  = 447
)

type relayConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

// relay forwards to backends, keeping up to 256 idle connections to each.
type relay struct {
	backends []string
	idle     []chan *relayConn
	next     atomic.Uint64
}

func newRelay(backends ...string) *relay {
	r := &relay{backends: backends}
	for range backends {
		r.idle = append(r.idle, make(chan *relayConn, 256))
	}
	return r
}

func (r *relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	i := int(r.next.Add(1) % uint64(len(r.backends)))
	var rc *relayConn
	select {
	case rc = <-r.idle[i]:
	default:
		c, err := net.DialTimeout("tcp", r.backends[i], 5*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		rc = &relayConn{c: c, br: bufio.NewReaderSize(c, 4<<10), bw: bufio.NewWriterSize(c, 4<<10)}
	}
	_, _ = rc.bw.WriteString(req.Method + " " + req.RequestURI + " HTTP/1.1\r\nHost: " + req.Host + "\r\n\r\n")
	resp, err := func() (*http.Response, error) {
		if err := rc.bw.Flush(); err != nil {
			return nil, err
		}
		return http.ReadResponse(rc.br, req)
	}()
	if err != nil {
		_ = rc.c.Close()
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	h := w.Header()
	h["Content-Type"] = resp.Header["Content-Type"]
	if resp.ContentLength >= 0 {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	_, err = io.Copy(w, resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		_ = rc.c.Close()
		return
	}
	select {
	case r.idle[i] <- rc:
	default:
		_ = rc.c.Close()
	}
}
