package proxy

import (
	"net/http"
	"strings"
)

// validate refuses what Go's server lets through but a backend behind a
// proxy must not see, with the status to answer (0: the request is fine).
// Go's server has already refused (400, or 501 for an unknown transfer
// coding) malformed and conflicting Content-Length, control characters in
// header names and values, a missing or repeated Host, and bad
// percent-encoding in the path; checkHead refuses what it accepted
// leniently. The tests in validate_test.go send each case raw and check
// that it never reaches a backend.
func validate(r *http.Request, t *table, methods methodSet) (int, string) {
	if !methods.ok[r.Method] {
		return http.StatusMethodNotAllowed, "method not allowed here"
	}
	if len(r.RequestURI) > t.maxURI {
		return http.StatusRequestURITooLong, "request URI too long"
	}
	if code, why := checkHead(r); code != 0 {
		return code, why
	}
	if !validEscapes(r.URL.RawQuery) || !validEscapes(r.URL.RawPath) {
		return http.StatusBadRequest, "invalid percent-encoding in the URL"
	}
	for name, vals := range r.Header {
		for _, v := range vals {
			if badHeaderValue(v) {
				return http.StatusBadRequest, "invalid character in header " + name
			}
		}
	}
	return 0, ""
}

// validEscapes says whether every % in s starts a %XX escape.
func validEscapes(s string) bool {
	for i := strings.IndexByte(s, '%'); i >= 0; i = strings.IndexByte(s, '%') {
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return false
		}
		s = s[i+3:]
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// badHeaderValue finds CR, LF, NUL and other controls but tab, which Go's
// server refuses already on HTTP/1 and HTTP/2 frames might carry.
func badHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}
