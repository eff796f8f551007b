// Package proxy is the agent's proxy role: a Pound-style HTTP/HTTPS reverse
// proxy and load balancer that runs the spec's proxies (providers/proxy
// compiles them from the HCL proxy blocks).
//
// Each proxy listens on its listeners — where its VIP's group runs when it
// has one (the role is a GroupFollower), on every node it names otherwise —
// validates each request, picks the first service whose conditions match
// (host, path, method, required and denied headers), and relays the request
// to one live backend of that service with net/http/httputil's
// ReverseProxy. The client side is Go's own HTTP/1.1 and HTTP/2 server: no
// request is parsed here, and what Go's server already refuses (malformed
// Content-Length, unknown transfer codings, obsolete line folding, control
// characters in header values, bad percent-encoding in the path) never
// reaches the handler. The handler refuses the rest before any backend sees
// the request (validate.go): among them a method the listener does not
// accept (405 with its Allow list; each listener has the proxy's methods
// or its own, Pound's xHTTP), and the request a backend receives is
// written anew by Go's client, so nothing ambiguous in the client's bytes
// is relayed.
//
// # Choosing a backend
//
// A service's regular backends share its requests at random in proportion
// to their weights, among those the shared health checker (agentbin/health)
// finds up; while none is known yet (the first probe after a start or a
// takeover), the unknown ones are used rather than answering 503. With no
// regular backend alive, the emergency backends answer; with none of those,
// the client gets 503 with the proxy's body. A redirect backend answers
// with a redirect itself. A connection to a backend that fails marks it
// down at once (the passive check, health.Checker.MarkDown) and a request
// without a body is retried on another backend, so the client does not
// see the failure; the active probes bring the backend back after rise
// successes.
//
// # Sessions
//
// A service with a session keeps the requests of one session (client
// address, the application's cookie, the proxy's own cookie, header, URL
// parameter or Basic user) on one backend for TTL after the last request.
// A cookie or header session the client does not carry yet is learnt from
// the backend's response (its Set-Cookie or header). The proxy's own
// cookie is a random id it sets on the response to a request that brings
// none it knows: it names no backend, and what it stands for lives only in
// the proxy's table (a client cannot choose its backend by forging one).
// A session whose backend is down moves to another one.
//
// # Reload
//
// Reload compiles the new spec into a routing table and swaps it in
// atomically: requests in flight finish on the table they started with
// (a removed backend drains), listeners whose address is unchanged stay
// open, certificates are read anew for the next handshake, and health
// states, counters and sessions of unchanged backends are kept.
//
// # Logs
//
// The proxy writes nothing to disk. Access lines go to syslog (/dev/log,
// facility daemon, tag hactl-proxy) when it exists, to the agent's log
// otherwise, one line per request:
//
//	proxy=NAME listener=NAME client=IP method=M host="H" uri="U" status=N bytes=N ms=F service=S backend=B
//
// service and backend are "-" when the request was refused before routing.
//
// # Events
//
// Where a proxy serves, a backend's change of health is reported as an
// event (proxy_backend_down, proxy_backend_up), and so is a service's
// change of what answers it: its emergency backend (proxy_emergency),
// nothing but 503 (proxy_service_down), a regular backend again
// (proxy_service_restored). Notify commands subscribe to them.
//
// # Cost per request
//
// Most of a request's CPU time is Go's: its server, ReverseProxy, the
// client side, and their system calls. A request without a body goes to
// its backend on the handler's own goroutine (direct.go: net/http's
// Request.Write and ReadResponse on a kept-alive connection), not through
// http.Transport, whose two goroutines per connection took a third of
// the time; requests with a body or an upgrade take the Transport. The
// handler keeps its own share small: ReverseProxy's copy buffers come
// from a pool, the head check reads the captured bytes where they lie,
// the access line is appended, not formatted. An idle client
// connection costs what Go's server keeps for it: a 4 KiB read and a
// 4 KiB write buffer and its goroutine's stack, about 20 KiB.
package proxy
