package monitor

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// textFormat is the content type of the text exposition.
const textFormat = "text/plain; version=0.0.4; charset=utf-8"

// metricsHandler serves the latest exposition at /metrics, and nothing
// else: the dashboard's API is on a unix socket, never on the network.
type metricsHandler struct {
	latest *atomic.Pointer[exposition]
	// user and pwSum are basic auth's, when asked: the password's
	// SHA-256, so that comparing takes the same time whatever it is.
	user  string
	pwSum *[32]byte
}

func (h *metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.pwSum != nil {
		user, pw, ok := r.BasicAuth()
		sum := sha256.Sum256([]byte(pw))
		if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(h.user)) != 1 || subtle.ConstantTimeCompare(sum[:], h.pwSum[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="hactl metrics", charset="UTF-8"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	if r.URL.Path != "/metrics" {
		http.Error(w, "not found: the monitor serves /metrics only", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	e := h.latest.Load()
	if e == nil {
		http.Error(w, "no collection yet: try again after the monitor's first interval", http.StatusServiceUnavailable)
		return
	}
	body := e.text
	w.Header().Set("Content-Type", textFormat)
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body = e.gzipped()
		w.Header().Set("Content-Encoding", "gzip")
	}
	w.Header().Set("Vary", "Accept-Encoding")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(coding) == "gzip" && strings.ReplaceAll(strings.TrimSpace(params), " ", "") != "q=0" {
			return true
		}
	}
	return false
}
