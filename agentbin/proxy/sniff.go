package proxy

import (
	"bytes"
	"net"
	"net/http"
	"sync"
)

// Go's server reads some malformed requests leniently and hides that from
// the handler: it drops Content-Length when the request is chunked, merges
// repeated equal Content-Lengths, joins folded lines, takes a bare LF as a
// line end and ignores Transfer-Encoding on HTTP/1.0. None of that reaches
// a backend as sent (Go's client writes the request anew), but a proxy
// that lets it pass hides an attack or a broken client. A sniffConn keeps
// the bytes an HTTP/1 connection read lately, so that the handler can look
// at the header section of the request it got, as it came, and refuse
// those. It does not parse requests: Go's server did; it only checks the
// lines of the head Go already accepted.
type sniffConn struct {
	net.Conn
	limit int

	mu  sync.Mutex
	buf []byte // read and not yet checked, at most limit bytes (the newest)
}

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.buf = append(c.buf, p[:n]...)
		if over := len(c.buf) - c.limit; over > 0 {
			c.buf = append(c.buf[:0], c.buf[over:]...)
		}
		c.mu.Unlock()
	}
	return n, err
}

// checkHead refuses what Go's server accepted leniently in r's head, as
// it was received.
func checkHead(r *http.Request) (int, string) {
	sc, ok := r.Context().Value(sniffKey{}).(*sniffConn)
	if !ok || r.ProtoMajor != 1 {
		return 0, ""
	}
	return sc.check(r)
}

// check finds the head of r, the first one in the bytes not checked yet
// whose request line is r's, checks its lines where they lie, and forgets
// the bytes up to its end. A head not found whole is let through: Go's
// server parsed it, so it was there; the bytes were dropped as older
// than limit.
func (c *sniffConn) check(r *http.Request) (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := indexRequestLine(c.buf, r.Method, r.RequestURI)
	if start < 0 {
		return 0, ""
	}
	rest := c.buf[start:]
	var cl, te int
	var code int
	var why string
	end := -1
	for i, first := 0, true; i < len(rest); first = false {
		nl := bytes.IndexByte(rest[i:], '\n')
		if nl < 0 {
			break
		}
		line := rest[i : i+nl]
		i += nl + 1
		l, crlf := bytes.CutSuffix(line, []byte("\r"))
		if len(l) == 0 {
			end = i
			if !crlf && code == 0 {
				code, why = http.StatusBadRequest, "header line ended by a bare LF"
			}
			break
		}
		switch {
		case code != 0:
			continue
		case !crlf:
			code, why = http.StatusBadRequest, "header line ended by a bare LF"
			continue
		case first:
			continue
		case l[0] == ' ' || l[0] == '\t':
			code, why = http.StatusBadRequest, "obsolete line folding"
			continue
		}
		name, _, _ := bytes.Cut(l, []byte(":"))
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			cl++
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			te++
		}
	}
	if end < 0 {
		return 0, ""
	}
	// The bytes after the head (a body, a pipelined request) move to
	// the front; a buffer left empty and grown large is let go, so that
	// an idle connection does not keep it.
	n := copy(c.buf, rest[end:])
	c.buf = c.buf[:n]
	if n == 0 && cap(c.buf) > 4<<10 {
		c.buf = nil
	}
	switch {
	case code != 0:
		return code, why
	case cl > 1:
		return http.StatusBadRequest, "repeated Content-Length"
	case cl > 0 && te > 0:
		return http.StatusBadRequest, "Content-Length with Transfer-Encoding"
	case te > 0 && r.ProtoMinor == 0:
		return http.StatusBadRequest, "Transfer-Encoding in an HTTP/1.0 request"
	}
	return 0, ""
}

// indexRequestLine finds "METHOD URI " in buf, without making the string.
func indexRequestLine(buf []byte, method, uri string) int {
	for off := 0; off < len(buf); {
		i := bytes.Index(buf[off:], []byte(method))
		if i < 0 {
			return -1
		}
		at := off + i
		rest := buf[at+len(method):]
		if len(rest) > len(uri)+1 && rest[0] == ' ' && string(rest[1:1+len(uri)]) == uri && rest[1+len(uri)] == ' ' {
			return at
		}
		off = at + 1
	}
	return -1
}

// sniffKey is the context key of a request's sniffConn.
type sniffKey struct{}
