package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// instance is one proxy: its current table, its transport to the
// backends, and the handler its listeners share.
type instance struct {
	name      string
	tbl       atomic.Pointer[table]
	transport atomic.Pointer[http.Transport]
	direct    atomic.Pointer[direct] // for plain requests, beside transport
	rp        *httputil.ReverseProxy
	access    func(line string)
	markDown  func(s *service, b *backend, reason string)
	rejected  [600]atomic.Uint64 // refused before routing, by status
	served    atomic.Uint64
}

func newInstance(name string, access func(string), markDown func(*service, *backend, string)) *instance {
	in := &instance{name: name, access: access, markDown: markDown}
	in.rp = &httputil.ReverseProxy{
		Rewrite:        in.rewrite,
		Transport:      retrier{in},
		ModifyResponse: in.modifyResponse,
		ErrorHandler:   in.errorHandler,
		// Without a pool ReverseProxy allocates a 32 KiB buffer for
		// every response body it copies: most of the bytes a request
		// allocated, and so of the garbage collector's work.
		BufferPool: bufferPool{},
		// FlushInterval 0: a response of unknown length or a
		// text/event-stream is flushed as it comes (ReverseProxy's own
		// rule); others go out in as few writes as they fit.
	}
	return in
}

// bufferPool lends ReverseProxy its copy buffers.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { return new([32 << 10]byte) }}

func (bufferPool) Get() []byte { return copyBuffers.Get().(*[32 << 10]byte)[:] }

func (bufferPool) Put(b []byte) {
	if cap(b) == 32<<10 {
		copyBuffers.Put((*[32 << 10]byte)(b[:32<<10]))
	}
}

// newTransport is the client side towards the backends: keep-alive, no
// environment proxy, bounded waits.
func newTransport(backendTimeout time.Duration) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: min(backendTimeout, 5*time.Second), KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       60 * time.Second,
		ResponseHeaderTimeout: backendTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

// pickKey is the context key of a request's pickState.
type pickKey struct{}

// pickState is what the handler chose for a request, updated by the
// retrier when it moves to another backend.
type pickState struct {
	t        *table
	listener string
	scheme   string
	svc      *service
	b        *backend
	tried    map[*backend]bool // those that failed, made at the first
	session  string            // the session id the request carries, "" for none
	// newSession is set when the proxy made the session id itself: its
	// cookie goes out with the response.
	newSession bool
	status     int
}

// handler serves one listener of the instance.
type handler struct {
	in       *instance
	listener string
	key      string // listenerKey
	scheme   string
}

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	t := h.in.tbl.Load()
	ps := &pickState{t: t, listener: h.listener, scheme: h.scheme}
	defer func() { h.in.log(r, ps, rec, start) }()
	methods := t.methods[h.key]
	if code, why := validate(r, t, methods); code != 0 {
		h.in.rejected[code].Add(1)
		w.Header().Set("Connection", "close")
		if code == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", methods.allow)
		}
		http.Error(rec, why, code)
		return
	}
	if r.ContentLength > t.p.MaxRequestBody && t.p.MaxRequestBody > 0 {
		h.in.rejected[http.StatusRequestEntityTooLarge].Add(1)
		w.Header().Set("Connection", "close")
		http.Error(rec, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if t.p.MaxRequestBody > 0 && r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(rec, r.Body, t.p.MaxRequestBody)
		if r.ContentLength < 0 {
			if code := bufferChunked(r); code != 0 {
				h.in.rejected[code].Add(1)
				w.Header().Set("Connection", "close")
				http.Error(rec, http.StatusText(code), code)
				return
			}
		}
	}
	ps.svc = t.match(r)
	if ps.svc == nil {
		h.in.unavailable(rec, t)
		return
	}
	if rd := ps.svc.redirect; rd != nil {
		target := rd.url
		if ps.svc.redirectAppend {
			target = strings.TrimSuffix(target, "/") + r.URL.RequestURI()
		}
		ps.b = rd
		rd.stats.requests.Add(1)
		http.Redirect(rec, r, target, ps.svc.redirectCode)
		return
	}
	ps.b, ps.session, ps.newSession = ps.svc.choose(r, start)
	if ps.b == nil {
		h.in.unavailable(rec, t)
		return
	}
	h.in.served.Add(1)
	h.in.rp.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), pickKey{}, ps)))
}

// chunkedBuffer is how much of a chunked body is read before a backend is
// chosen: a body that ends within it is sent with its length, and one too
// large for max_request_body is refused before any backend sees it.
// Longer bodies are streamed, cut at the limit.
const chunkedBuffer = 64 << 10

// bufferChunked reads the start of r's chunked body. It returns the status
// to refuse r with: 413 when the body is larger than the limit within
// that start, 400 when it is malformed; 0 when r may go on.
func bufferChunked(r *http.Request) int {
	head, err := io.ReadAll(io.LimitReader(r.Body, chunkedBuffer))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	case err != nil:
		return http.StatusBadRequest
	case len(head) < chunkedBuffer:
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(head)), int64(len(head))
		return 0
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
	return 0
}

func (in *instance) unavailable(w http.ResponseWriter, t *table) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Retry-After", "5")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(t.body503)
}

// choose picks the backend for r and returns the session id r carries,
// or the one the proxy made for it (minted true) when the service's
// session is the proxy's own cookie and r brings none it knows.
func (s *service) choose(r *http.Request, now time.Time) (b *backend, id string, minted bool) {
	if s.sessions == nil {
		return s.pick(nil), "", false
	}
	id = s.sessions.key(r)
	if id != "" {
		if name, ok := s.sessions.get(id, now); ok {
			if b := s.byName(name); b != nil && b.usable(true) {
				return b, id, false
			} else if b != nil {
				b.stats.sessionsMoved.Add(1)
			}
		} else if s.sessions.mints() {
			id = ""
		}
	}
	b = s.pick(nil)
	if id == "" && s.sessions.mints() && b != nil && b.kind == "regular" {
		id, minted = newID(), true
	}
	if id != "" && b != nil && b.kind == "regular" {
		s.sessions.set(id, b.name, now)
	}
	return b, id, minted
}

// rewrite makes the request a backend receives: Go's ReverseProxy has
// already removed the hop-by-hop headers and the client's X-Forwarded-*
// and Forwarded; those are kept (and appended to) only from trusted
// addresses.
func (in *instance) rewrite(pr *httputil.ProxyRequest) {
	ps := pr.In.Context().Value(pickKey{}).(*pickState)
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = ps.b.hostPort
	client := clientAddr(pr.In.RemoteAddr)
	proto, host := ps.scheme, pr.In.Host
	if ps.t.trusts(client) {
		for _, h := range []string{"X-Forwarded-For", "Forwarded"} {
			if v := pr.In.Header[h]; len(v) > 0 {
				pr.Out.Header[h] = append([]string(nil), v...)
			}
		}
		if v := pr.In.Header.Get("X-Forwarded-Proto"); v != "" {
			proto = v
		}
		if v := pr.In.Header.Get("X-Forwarded-Host"); v != "" {
			host = v
		}
	}
	// The keys are written canonical, as Header.Set would make them,
	// without its work on every request.
	out := pr.Out.Header
	ip := client.String()
	xff := ip
	if prior := out.Get("X-Forwarded-For"); prior != "" {
		xff = prior + ", " + ip
	}
	forIP := ip
	if client.Is6() {
		forIP = `"[` + ip + `]"`
	}
	fwd := "for=" + forIP + ";host=" + strconv.Quote(host) + ";proto=" + ps.scheme
	if prior := out.Get("Forwarded"); prior != "" {
		fwd = prior + ", " + fwd
	}
	vals := []string{xff, proto, host, fwd} // one allocation for the four
	out["X-Forwarded-For"] = vals[0:1:1]
	out["X-Forwarded-Proto"] = vals[1:2:2]
	out["X-Forwarded-Host"] = vals[2:3:3]
	out["Forwarded"] = vals[3:4:4]
}

func clientAddr(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func (t *table) trusts(a netip.Addr) bool {
	for _, p := range t.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// modifyResponse learns sessions and rewrites backends' redirects.
func (in *instance) modifyResponse(resp *http.Response) error {
	ps := resp.Request.Context().Value(pickKey{}).(*pickState)
	if s := ps.svc.sessions; s != nil && ps.b.kind == "regular" {
		id := ps.session
		if id == "" {
			id = s.learn(resp)
		}
		if id != "" {
			s.set(id, ps.b.name, time.Now())
		}
		if ps.newSession {
			resp.Header.Add("Set-Cookie", s.cookie(id, ps.scheme == "https"))
		}
	}
	if ps.t.p.RewriteLocation {
		if loc := resp.Header.Get("Location"); loc != "" {
			if u, err := url.Parse(loc); err == nil && u.IsAbs() && pointsAt(u, ps.b.hostPort) {
				u.Scheme, u.Host = ps.scheme, resp.Request.Host
				resp.Header.Set("Location", u.String())
			}
		}
	}
	return nil
}

// pointsAt says whether u is on the backend (by address, with or without
// its port).
func pointsAt(u *url.URL, hostPort string) bool {
	host, _, _ := net.SplitHostPort(hostPort)
	return u.Host == hostPort || u.Host == host
}

func (in *instance) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	ps := r.Context().Value(pickKey{}).(*pickState)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
	case r.Context().Err() != nil:
		// The client left; nobody reads an answer. 499 as nginx logs it.
		ps.status = 499
	case isDialError(err):
		in.unavailable(w, ps.t)
	case isTimeout(err):
		http.Error(w, "the backend did not answer in time", http.StatusGatewayTimeout)
	default:
		http.Error(w, "the backend failed", http.StatusBadGateway)
	}
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// retrier sends a request to its chosen backend; when the connection
// fails it marks the backend down and, for a request without a body
// (which is then still unsent), moves it to another one.
type retrier struct{ in *instance }

func (rt retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	ps := req.Context().Value(pickKey{}).(*pickState)
	var tr http.RoundTripper = rt.in.transport.Load()
	if plain(req) {
		tr = rt.in.direct.Load()
	}
	for {
		b := ps.b
		out := req // rewrite aimed it at the first choice
		if req.URL.Host != b.hostPort {
			o := *req
			u := *req.URL
			u.Host = b.hostPort
			o.URL = &u
			out = &o
		}
		b.stats.active.Add(1)
		start := time.Now()
		resp, err := tr.RoundTrip(out)
		b.stats.active.Add(-1)
		b.stats.observe(time.Since(start))
		if err == nil {
			if resp.StatusCode >= 500 {
				b.stats.errors.Add(1)
			}
			return resp, nil
		}
		b.stats.errors.Add(1)
		if !isDialError(err) {
			return nil, err
		}
		rt.in.markDown(ps.svc, b, err.Error())
		if req.Body != nil && req.Body != http.NoBody {
			return nil, err
		}
		if ps.tried == nil {
			ps.tried = map[*backend]bool{}
		}
		ps.tried[b] = true
		next := ps.svc.pick(ps.tried)
		if next == nil {
			return nil, err
		}
		ps.b = next
		if ps.session != "" && next.kind == "regular" {
			ps.svc.sessions.set(ps.session, next.name, time.Now())
			b.stats.sessionsMoved.Add(1)
		}
	}
}

// recorder notes the status and size of a response, for the access log.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

// WriteHeader passes the response's status on and notes the final one.
// A backend's 100 Continue is not passed on: the proxy's own server
// sends one when the body is first read, and http.Transport lets the
// body be read before it reports the backend's 100 to ReverseProxy, so
// passing it on sent the client a second 100 in place of the answer.
// Other interim responses (103 Early Hints) go through.
func (r *recorder) WriteHeader(code int) {
	if code == http.StatusContinue {
		return
	}
	if r.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (flushes,
// deadlines, the hijack of a WebSocket upgrade).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (in *instance) log(r *http.Request, ps *pickState, rec *recorder, start time.Time) {
	if in.access == nil || ps.t.p.NoAccessLog {
		return
	}
	status := rec.status
	if ps.status != 0 {
		status = ps.status
	}
	svc, be := "-", "-"
	if ps.svc != nil {
		svc = ps.svc.name
	}
	if ps.b != nil {
		be = ps.b.name
	}
	// Built by appending: fmt.Sprintf was a tenth of the proxy's own
	// work per request.
	b := make([]byte, 0, 160+len(r.Host)+len(r.RequestURI))
	b = append(b, "proxy="...)
	b = append(b, in.name...)
	b = append(b, " listener="...)
	b = append(b, ps.listener...)
	b = append(b, " client="...)
	b = clientAddr(r.RemoteAddr).AppendTo(b)
	b = append(b, " method="...)
	b = append(b, r.Method...)
	b = append(b, " host="...)
	b = strconv.AppendQuote(b, r.Host)
	b = append(b, " uri="...)
	b = strconv.AppendQuote(b, r.RequestURI)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, " bytes="...)
	b = strconv.AppendInt(b, rec.bytes, 10)
	b = append(b, " ms="...)
	b = strconv.AppendFloat(b, float64(time.Since(start).Microseconds())/1000, 'f', 1, 64)
	b = append(b, " service="...)
	b = append(b, svc...)
	b = append(b, " backend="...)
	b = append(b, be...)
	in.access(string(b))
}
