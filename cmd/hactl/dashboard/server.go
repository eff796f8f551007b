// Package dashboard is the server behind `hactl dashboard`: a page of the
// cluster (map, groups and VIPs, links, real servers, events, graphs) on
// 127.0.0.1, made of files embedded in hactl, that reads each monitored
// node's monitor API (agentbin/monitor/api) through a dial function (the
// command's SSH connections).
//
// The server polls every node's status itself, at the refresh interval,
// and keeps the latest view and a timeline of events: the agents' own
// (heartbeat events) and those it sees change between two polls (a group
// held by another node, a node it can no longer read). The page gets that
// view at once, without waiting on SSH, so that it paints fast whatever
// the cluster's size; graphs go to the node's API on demand, a span at a
// time.
//
// Only this machine's users can reach the port; the server also answers
// only to its own host name (no DNS rebinding) and only to requests that
// carry the random token of the URL it prints, so other local users cannot
// read the page either. It only reads: nothing on the page changes the
// cluster.
package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/hactl/hactl/agentbin/monitor/api"
	"github.com/hactl/hactl/agentbin/status"
	"github.com/hactl/hactl/plan/topology"
)

// The page: the project's own files and the vendored chart library
// (uPlot 1.6.32 from npm, MIT, its licence beside it), served from the
// binary.
//
//go:embed assets
var assets embed.FS

// Server is the local server behind the page.
type Server struct {
	topo    *topology.Topology
	nodes   []string // monitored
	refresh time.Duration
	token   string
	log     io.Writer
	clients map[string]*http.Client

	mu       sync.Mutex
	reads    map[string]nodeRead // each node's latest
	view     dashView
	polled   bool // view comes from reads, not from the configuration alone
	timeline timeline
	// errs is each node's last error, so that it is logged once, not at
	// every poll.
	errs map[string]string
}

// New makes the server for the cluster t. dial opens a stream to a node's
// monitor API; the nodes' status is read every refresh; log receives what
// goes wrong with a node, once per change.
func New(t *topology.Topology, dial func(ctx context.Context, node string) (net.Conn, error), refresh time.Duration, log io.Writer) *Server {
	d := &Server{topo: t, nodes: monitoredNodes(t), refresh: refresh, token: newToken(), log: log,
		clients: map[string]*http.Client{}, errs: map[string]string{}, reads: map[string]nodeRead{}}
	for _, n := range d.nodes {
		d.clients[n] = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx, n) },
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     time.Minute,
		}}
	}
	d.view = buildView(t, nil, time.Now())
	d.view.RefreshS = refresh.Seconds()
	return d
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// URL is the page's address with its token, for a listener on addr.
func (d *Server) URL(addr net.Addr) string {
	return "http://" + addr.String() + "/?token=" + d.token
}

// Serve polls the nodes and serves the page on ln until ctx ends.
func (d *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: d.handler(ln.Addr().String()), ReadHeaderTimeout: 10 * time.Second}
	go d.pollLoop(ctx)
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving the dashboard: %w", err)
	}
	return nil
}

// pollLoop reads each node on its own, so that a node that does not
// answer delays no other, and rebuilds the view from the latest reads
// often (it is cheap), so that a read shows as soon as it arrives.
func (d *Server) pollLoop(ctx context.Context) {
	for _, n := range d.nodes {
		go d.readLoop(ctx, n)
	}
	tick := time.NewTicker(min(d.refresh, 500*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			d.update(now)
		}
	}
}

// readLoop reads node's status every refresh, each read bounded.
func (d *Server) readLoop(ctx context.Context, node string) {
	limit := max(d.refresh, 10*time.Second)
	for {
		rctx, cancel := context.WithTimeout(ctx, limit)
		var st status.Status
		err := d.nodeGet(rctx, node, api.StatusPath, &st)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer over SSH within %s (is the node down or cut off?)", limit)
		}
		r := nodeRead{Err: err, At: time.Now()}
		if err == nil {
			r.Status = &st
		}
		d.mu.Lock()
		d.reads[node] = r
		d.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.refresh):
		}
	}
}

// update rebuilds the view from the latest reads. A read older than
// stale counts as no answer: the node is not shown holding what it held
// before it went quiet.
func (d *Server) update(now time.Time) {
	stale := 2*d.refresh + time.Second
	d.mu.Lock()
	defer d.mu.Unlock()
	reads := map[string]nodeRead{}
	for n, r := range d.reads {
		if age := now.Sub(r.At); r.Err == nil && age > stale {
			r = nodeRead{Err: fmt.Errorf("no answer over SSH for more than %s (is the node down or cut off?)", stale), At: r.At}
		}
		reads[n] = r
	}
	next := buildView(d.topo, reads, now)
	next.RefreshS = d.refresh.Seconds()
	for _, n := range d.nodes {
		r, ok := reads[n]
		if !ok {
			continue
		}
		msg := ""
		if r.Err != nil {
			msg = r.Err.Error()
		}
		if msg != d.errs[n] {
			if msg == "" {
				fmt.Fprintf(d.log, "%s: monitor API reachable again\n", n)
			} else {
				fmt.Fprintf(d.log, "%s: %s\n", n, msg)
			}
			d.errs[n] = msg
		}
	}
	d.timeline.add(agentEvents(reads)...)
	if d.polled {
		d.timeline.add(changes(d.view, next)...)
	}
	next.Events = d.timeline.newestFirst()
	d.view, d.polled = next, len(reads) > 0
}

// maxAPIAnswer bounds what the dashboard reads of one answer of a node's
// API (a year of one series is a few kilobytes).
const maxAPIAnswer = 16 << 20

// nodeGet reads path of node's API into v.
func (d *Server) nodeGet(ctx context.Context, node, path string, v any) error {
	code, body, err := d.nodeRaw(ctx, node, path, "")
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("monitor API %s: %s", path, apiError(code, body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("monitor API %s: %w", path, err)
	}
	return nil
}

// nodeRaw asks node's API for path with the query as given.
func (d *Server) nodeRaw(ctx context.Context, node, path, rawQuery string) (int, []byte, error) {
	c := d.clients[node]
	target := "http://" + node + path
	if rawQuery != "" {
		target += "?" + rawQuery
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap() // the dial's own message, without Go's "Get URL:"
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIAnswer))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the monitor API's answer: %w", err)
	}
	return resp.StatusCode, body, nil
}

func apiError(code int, body []byte) string {
	var e api.Error
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return http.StatusText(code)
}

const tokenCookie = "hactl_dashboard"

// handler is the page's server. hostPort is the address it listens on.
func (d *Server) handler(hostPort string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.index)
	static, _ := fs.Sub(assets, "assets")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /api/cluster", d.cluster)
	mux.HandleFunc("GET /api/node/{node}/{what}", d.node)
	return d.guard(hostPort, mux)
}

// guard lets through only requests for this server by name (no DNS
// rebinding: another site's page cannot talk to it) that carry the token,
// in the cookie or, once, in the URL hactl printed.
func (d *Server) guard(hostPort string, next http.Handler) http.Handler {
	_, port, _ := net.SplitHostPort(hostPort)
	hosts := []string{hostPort, "localhost:" + port}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if !slices.Contains(hosts, r.Host) {
			http.Error(w, "this server answers only to "+hostPort, http.StatusMisdirectedRequest)
			return
		}
		if tok := r.URL.Query().Get("token"); tok != "" && r.URL.Path == "/" {
			if !d.tokenOK(tok) {
				http.Error(w, "wrong token: open the URL hactl dashboard printed", http.StatusForbidden)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: d.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		c, err := r.Cookie(tokenCookie)
		if err != nil || !d.tokenOK(c.Value) {
			http.Error(w, "open the URL hactl dashboard printed (it carries a token)", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (d *Server) tokenOK(tok string) bool {
	return subtle.ConstantTimeCompare([]byte(tok), []byte(d.token)) == 1
}

func (d *Server) index(w http.ResponseWriter, _ *http.Request) {
	page, err := assets.ReadFile("assets/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(page)
}

func (d *Server) cluster(w http.ResponseWriter, _ *http.Request) {
	d.mu.Lock()
	data, err := json.Marshal(d.view)
	d.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(data)
}

// node passes a request for series, history or latest on to the node's API,
// which checks the query itself.
func (d *Server) node(w http.ResponseWriter, r *http.Request) {
	node, what := r.PathValue("node"), r.PathValue("what")
	paths := map[string]string{"series": api.SeriesPath, "history": api.HistoryPath, "latest": api.LatestPath}
	path, ok := paths[what]
	if _, known := d.clients[node]; !ok || !known {
		writeJSONError(w, http.StatusNotFound, fmt.Sprintf("no monitored node %q or no %q in its API", node, what))
		return
	}
	code, body, err := d.nodeRaw(r.Context(), node, path, r.URL.RawQuery)
	if err != nil {
		msg := fmt.Sprintf("%s: %v", node, err)
		fmt.Fprintln(d.log, msg)
		writeJSONError(w, http.StatusBadGateway, msg)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(body)
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	data, _ := json.Marshal(api.Error{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(data)
}
