package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// direct is the client side towards the backends for plain requests: it
// writes a request and reads its response on the calling goroutine, on a
// kept-alive connection, with net/http's own Request.Write and
// ReadResponse. http.Transport runs two goroutines per connection and
// hands every request and response between them; under load those
// handoffs were a third of the proxy's time per request. Requests that
// need what only the Transport does (a protocol upgrade, 100-continue)
// go to it instead (see plain).
type direct struct {
	dialer        net.Dialer
	headerTimeout time.Duration
	maxIdle       int // per backend

	mu   sync.Mutex
	idle map[string][]*backendConn // by host:port, the newest last
}

// backendConn is one kept-alive connection to a backend.
type backendConn struct {
	c    net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	addr string
	used time.Time // when it went idle
}

// idleLife is how long an idle connection is kept: less than the
// keep-alive timeouts of common servers (nginx 75 s, HAProxy 10 s by
// default is the exception, and its close is caught by alive).
const idleLife = 30 * time.Second

func newDirect(backendTimeout time.Duration) *direct {
	return &direct{
		dialer:        net.Dialer{Timeout: min(backendTimeout, 5*time.Second), KeepAlive: 30 * time.Second},
		headerTimeout: backendTimeout,
		maxIdle:       256,
		idle:          map[string][]*backendConn{},
	}
}

// plain says whether req can go through direct: one without a body (a
// request with one goes to the Transport, which reads a backend's early
// answer while the body is still being sent) and without an upgrade.
func plain(req *http.Request) bool {
	return (req.Body == nil || req.Body == http.NoBody) && len(req.Header["Upgrade"]) == 0
}

// RoundTrip sends req, a plain one, to req.URL.Host. A kept connection
// the backend closed while it was idle is found by alive before anything
// is sent, or else fails on the request, which is then sent again on a
// new connection, as http.Transport does with a request without a body.
func (d *direct) RoundTrip(req *http.Request) (*http.Response, error) {
	for {
		bc, reused, err := d.get(req.Context(), req.URL.Host)
		if err != nil {
			return nil, err
		}
		resp, err := d.exchange(bc, req)
		if err == nil {
			return resp, nil
		}
		_ = bc.c.Close()
		if !reused || req.Context().Err() != nil {
			return nil, err
		}
	}
}

// get returns a kept connection to addr, or a new one.
func (d *direct) get(ctx context.Context, addr string) (*backendConn, bool, error) {
	now := time.Now()
	for {
		d.mu.Lock()
		list := d.idle[addr]
		if len(list) == 0 {
			d.mu.Unlock()
			break
		}
		bc := list[len(list)-1]
		d.idle[addr] = list[:len(list)-1]
		d.mu.Unlock()
		if now.Sub(bc.used) < idleLife && alive(bc.c) {
			return bc, true, nil
		}
		_ = bc.c.Close()
	}
	c, err := d.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	return &backendConn{c: c, br: bufio.NewReaderSize(c, 4<<10), bw: bufio.NewWriterSize(c, 4<<10), addr: addr}, false, nil
}

// alive says whether an idle connection is still open and has nothing to
// read (a backend's early answer or its close would be read as the next
// response): one non-blocking peek.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = n < 0 && (rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK)
		return true
	})
	return err == nil && ok
}

// put keeps a connection whose exchange ended cleanly.
func (d *direct) put(bc *backendConn) {
	bc.used = time.Now()
	d.mu.Lock()
	if len(d.idle[bc.addr]) < d.maxIdle {
		d.idle[bc.addr] = append(d.idle[bc.addr], bc)
		bc = nil
	}
	d.mu.Unlock()
	if bc != nil {
		_ = bc.c.Close()
	}
}

// exchange writes req on bc and reads the response's head; the body is
// read by the caller, and bc goes back to the pool when it ends cleanly.
func (d *direct) exchange(bc *backendConn, req *http.Request) (*http.Response, error) {
	// The client leaving ends the exchange: the connection's deadline
	// is moved to the past, which unblocks its reads and writes.
	stop := context.AfterFunc(req.Context(), func() { _ = bc.c.SetDeadline(time.Unix(1, 0)) })
	if d.headerTimeout > 0 {
		_ = bc.c.SetDeadline(time.Now().Add(d.headerTimeout))
	}
	fail := func(err error) (*http.Response, error) {
		stop()
		if cerr := req.Context().Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	if err := req.Write(bc.bw); err != nil {
		return fail(err)
	}
	if err := bc.bw.Flush(); err != nil {
		return fail(err)
	}
	var resp *http.Response
	for {
		var err error
		resp, err = http.ReadResponse(bc.br, req)
		if err != nil {
			return fail(err)
		}
		// Informational answers (103 Early Hints) are not relayed; the
		// final one follows on the same connection.
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// Only the Transport relays an upgrade; plain keeps those away.
		stop()
		return nil, errors.New("backend switched protocols unasked")
	}
	_ = bc.c.SetDeadline(time.Time{})
	if req.Context().Err() != nil {
		// The client left while the deadline was cleared: set it again.
		_ = bc.c.SetDeadline(time.Unix(1, 0))
	}
	keep := !resp.Close && !req.Close && resp.ProtoAtLeast(1, 1)
	resp.Body = &directBody{rc: resp.Body, bc: bc, d: d, keep: keep, stop: stop}
	return resp, nil
}

// directBody is a response's body: read to its end, it gives the
// connection back for the next request; closed before, it closes it.
type directBody struct {
	rc   io.ReadCloser
	bc   *backendConn
	d    *direct
	keep bool
	stop func() bool
	done bool
}

func (b *directBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

func (b *directBody) Close() error {
	b.finish(false)
	return nil
}

// finish ends the exchange once: the connection is kept when the body
// was read whole, nothing more waits to be read, the client did not
// leave and the backend did not ask to close.
func (b *directBody) finish(whole bool) {
	if b.done {
		return
	}
	b.done = true
	notCancelled := b.stop()
	if whole && b.keep && notCancelled && b.bc.br.Buffered() == 0 {
		b.d.put(b.bc)
		return
	}
	_ = b.bc.c.Close()
}

// closeIdle closes every kept connection.
func (d *direct) closeIdle() {
	d.mu.Lock()
	idle := d.idle
	d.idle = map[string][]*backendConn{}
	d.mu.Unlock()
	for _, list := range idle {
		for _, bc := range list {
			_ = bc.c.Close()
		}
	}
}
