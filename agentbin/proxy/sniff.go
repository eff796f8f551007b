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

// take returns the head of the request whose line starts with
// requestLine, the first one in the bytes not checked yet, and forgets
// the bytes up to its end. It returns nil when none is found whole.
func (c *sniffConn) take(requestLine string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := bytes.Index(c.buf, []byte(requestLine))
	if start < 0 {
		return nil
	}
	rest := c.buf[start:]
	end := -1
	for i := 0; i < len(rest); {
		nl := bytes.IndexByte(rest[i:], '\n')
		if nl < 0 {
			break
		}
		line := rest[i : i+nl]
		i += nl + 1
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			end = i
			break
		}
	}
	if end < 0 {
		return nil
	}
	head := bytes.Clone(rest[:end])
	c.buf = append(c.buf[:0], rest[end:]...)
	return head
}

// sniffKey is the context key of a request's sniffConn.
type sniffKey struct{}

// checkHead refuses what Go's server accepted leniently in r's head, as
// it was received.
func checkHead(r *http.Request) (int, string) {
	sc, ok := r.Context().Value(sniffKey{}).(*sniffConn)
	if !ok || r.ProtoMajor != 1 {
		return 0, ""
	}
	head := sc.take(r.Method + " " + r.RequestURI + " ")
	if head == nil {
		return 0, ""
	}
	lines := bytes.Split(head, []byte("\n"))
	var cl, te int
	for i, line := range lines[:len(lines)-1] {
		l, crlf := bytes.CutSuffix(line, []byte("\r"))
		switch {
		case !crlf:
			return http.StatusBadRequest, "header line ended by a bare LF"
		case i == 0 || len(l) == 0:
			continue
		case l[0] == ' ' || l[0] == '\t':
			return http.StatusBadRequest, "obsolete line folding"
		}
		name, _, _ := bytes.Cut(l, []byte(":"))
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			cl++
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			te++
		}
	}
	switch {
	case cl > 1:
		return http.StatusBadRequest, "repeated Content-Length"
	case cl > 0 && te > 0:
		return http.StatusBadRequest, "Content-Length with Transfer-Encoding"
	case te > 0 && r.ProtoMinor == 0:
		return http.StatusBadRequest, "Transfer-Encoding in an HTTP/1.0 request"
	}
	return 0, ""
}
