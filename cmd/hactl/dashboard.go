package main

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
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/hactl/hactl/agentbin/layout"
	"github.com/hactl/hactl/agentbin/monitor/api"
	"github.com/hactl/hactl/agentbin/status"
	"github.com/hactl/hactl/plan/config"
	"github.com/hactl/hactl/plan/deploy"
	"github.com/hactl/hactl/plan/topology"
)

func init() {
	subcommands = append(subcommands, newDashboardCommand)
}

// The page: the project's own files and the vendored chart library
// (uPlot, MIT, its licence beside it), served from the binary.
//
//go:embed dashboard_assets
var dashboardAssets embed.FS

// DefaultDashboardPort is the port hactl dashboard listens on, one above
// the monitor's usual /metrics port.
const DefaultDashboardPort = 9695

type dashboardFlags struct {
	remoteFlags
	port    int
	refresh time.Duration
}

func newDashboardCommand() *cobra.Command {
	var flags dashboardFlags
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve a local web page of the cluster: map, graphs and events",
		Long: `dashboard serves, on this machine only (127.0.0.1), a web page of the
cluster: a map of the nodes with their heartbeat links and health, where each
group and its VIPs run, the virtual services' real servers up or down; graphs
of every metric the monitor role keeps on every node and SNMP device, over a
day, a week, a month and a year; and a timeline of events (failovers, health
changes), refreshed live.

It reads each monitored node's monitor API, a Unix socket only root may open
on the node (` + layout.MonitorSocket + `), through the SSH connection hactl
makes to the node: nothing is exposed on the network, and the nodes' SSH user
must be root. The page is served from hactl itself (no CDN, nothing fetched
from the internet). It prints the page's URL, which carries a one-time token
so that other users of this machine cannot read the page, and opens nothing
by itself. It runs until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDashboard(cmd.OutOrStdout(), cmd.ErrOrStderr(), flags)
		},
	}
	flags.register(cmd)
	cmd.Flags().IntVar(&flags.port, "port", DefaultDashboardPort, "port on 127.0.0.1 to serve the page on (0: any free port)")
	cmd.Flags().DurationVar(&flags.refresh, "refresh", 5*time.Second, "how often the nodes' status is read")
	return cmd
}

func runDashboard(stdout, stderr io.Writer, flags dashboardFlags) error {
	if flags.refresh < time.Second {
		return withExitCode(exitError, fmt.Errorf("--refresh %s is too short: give at least 1s", flags.refresh))
	}
	return flags.withSession(stderr, nil, func(ctx context.Context, s *deploy.Session, res *config.Result) error {
		t := res.Topology
		if t.Monitor == nil {
			return withExitCode(exitError, errors.New("the configuration has no monitor block, so no node serves the data the dashboard shows: add one (see docs/language.md) and apply"))
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(flags.port)))
		if err != nil {
			return withExitCode(exitError, fmt.Errorf("listening on 127.0.0.1:%d: %w (give another --port, or 0 for any free one)", flags.port, err))
		}
		d := newDashboard(t, func(ctx context.Context, node string) (net.Conn, error) {
			return s.DialUnix(ctx, node, layout.MonitorSocket)
		}, flags.refresh, stderr)
		fmt.Fprintf(stdout, "Dashboard of %s: %s\n", t.Cluster.Name, d.url(ln.Addr()))
		return d.serve(ctx, ln)
	})
}

// dashboard is the local server behind the page.
type dashboard struct {
	topo    *topology.Topology
	nodes   []string // monitored
	refresh time.Duration
	token   string
	log     io.Writer
	clients map[string]*http.Client

	mu       sync.Mutex
	view     dashView
	polled   bool // view comes from a poll, not from the configuration alone
	timeline timeline
	// errs is each node's last error, so that it is logged once, not at
	// every poll.
	errs map[string]string
}

// newDashboard makes the server; dial opens a stream to a node's monitor
// API.
func newDashboard(t *topology.Topology, dial func(ctx context.Context, node string) (net.Conn, error), refresh time.Duration, log io.Writer) *dashboard {
	d := &dashboard{topo: t, nodes: monitoredNodes(t), refresh: refresh, token: newToken(), log: log,
		clients: map[string]*http.Client{}, errs: map[string]string{}}
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

func (d *dashboard) url(addr net.Addr) string {
	return "http://" + addr.String() + "/?token=" + d.token
}

// serve polls the nodes and serves the page until ctx ends.
func (d *dashboard) serve(ctx context.Context, ln net.Listener) error {
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

func (d *dashboard) pollLoop(ctx context.Context) {
	for {
		d.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.refresh):
		}
	}
}

// poll reads every monitored node's status at once and updates the view
// and the timeline.
func (d *dashboard) poll(parent context.Context) {
	ctx, cancel := context.WithTimeout(parent, max(d.refresh, 10*time.Second))
	defer cancel()
	reads := map[string]nodeRead{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range d.nodes {
		wg.Go(func() {
			var st status.Status
			err := d.nodeGet(ctx, n, api.StatusPath, &st)
			r := nodeRead{Err: err}
			if err == nil {
				r.Status = &st
			}
			mu.Lock()
			reads[n] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	if parent.Err() != nil {
		return
	}
	next := buildView(d.topo, reads, time.Now())
	next.RefreshS = d.refresh.Seconds()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range d.nodes {
		msg := ""
		if err := reads[n].Err; err != nil {
			msg = err.Error()
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
	d.view, d.polled = next, true
}

// maxAPIAnswer bounds what the dashboard reads of one answer of a node's
// API (a year of one series is a few kilobytes).
const maxAPIAnswer = 16 << 20

// nodeGet reads path of node's API into v.
func (d *dashboard) nodeGet(ctx context.Context, node, path string, v any) error {
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
func (d *dashboard) nodeRaw(ctx context.Context, node, path, rawQuery string) (int, []byte, error) {
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
func (d *dashboard) handler(hostPort string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.index)
	static, _ := fs.Sub(dashboardAssets, "dashboard_assets")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /api/cluster", d.cluster)
	mux.HandleFunc("GET /api/node/{node}/{what}", d.node)
	return d.guard(hostPort, mux)
}

// guard lets through only requests for this server by name (no DNS
// rebinding: another site's page cannot talk to it) that carry the token,
// in the cookie or, once, in the URL hactl printed.
func (d *dashboard) guard(hostPort string, next http.Handler) http.Handler {
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

func (d *dashboard) tokenOK(tok string) bool {
	return subtle.ConstantTimeCompare([]byte(tok), []byte(d.token)) == 1
}

func (d *dashboard) index(w http.ResponseWriter, _ *http.Request) {
	page, err := dashboardAssets.ReadFile("dashboard_assets/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(page)
}

func (d *dashboard) cluster(w http.ResponseWriter, _ *http.Request) {
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
func (d *dashboard) node(w http.ResponseWriter, r *http.Request) {
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
