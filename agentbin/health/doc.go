// Package health checks backends: the real servers behind a virtual service
// of the lvs role and the backends of a proxy service of the proxy role both
// use it, with the spec.HealthCheck their health_check block compiles to.
// It is what keepalived's checkers (TCP_CHECK, HTTP_GET, SSL_GET,
// MISC_CHECK), ldirectord and HAProxy's rise/fall do, in one place.
//
// A Checker watches a set of Targets (name, address, port, weight) with one
// HealthCheck. Each target is probed every IntervalMS, each probe bounded by
// TimeoutMS, at most Options.MaxConcurrent probes at once. Probes are spread
// in time: a target's first probe comes within firstSpread of its start, and
// each later one after the interval ±10 %, so that the probes of many targets
// started together drift apart instead of firing in lockstep.
//
// # Up and down
//
// A target goes down after Fall failures in a row and comes back after Rise
// successes in a row. A new target starts Unknown, and its first probe
// decides at once, in either direction. Neither alternative is good for a
// director that has just taken a VIP over: starting Up sends traffic to a
// dead server for Fall intervals, starting Down sends none to live ones for
// Rise intervals (4 s with the defaults), which is an outage of its own.
// One probe is the shortest proof either way. Callers should route to Up
// targets only; Unknown lasts one probe (firstSpread + TimeoutMS at most,
// unless MaxConcurrent probes are already in flight).
//
// MarkDown is the passive check: the proxy reports a connection that failed,
// the target is down at once, and active probes bring it back after Rise
// successes (Pound's re-check of dead backends).
//
// Callers learn of every change of state through Options.OnChange, which
// one goroutine calls in the order the changes happened, and read every
// target's state, counters, last error and latency with Snapshot.
//
// Update replaces the set of targets by name: a target whose address and
// port are unchanged keeps its state and counters (a new weight is only
// recorded); one whose address or port changed is a new server and starts
// Unknown; a removed one stops being probed.
//
// # Probes
//
//   - tcp: a TCP connect to address:port.
//   - http, https: GET Path (default "/") on a new connection, with Host
//     (default address:port) as Host header; the status must be one of
//     ExpectStatus (default 200-399), redirects are not followed (a 3xx is
//     just a status), and when BodyRegex is set it must match the first
//     maxBody bytes of the body. Environment proxies are never used.
//     https does not verify the backend's certificate unless
//     Options.VerifyTLS is set: backends are checked by IP address and
//     mostly carry certificates for a public name or self-signed ones, as
//     keepalived's SSL_GET does. With VerifyTLS the certificate must be
//     valid for Host (or, without Host, for the address) and signed by
//     Options.RootCAs (default: the system's).
//   - command: Command is split on white space and run without a shell, with
//     the target's address and port appended as its last two arguments (as
//     ldirectord's external checks) and HACTL_CHECK_NAME,
//     HACTL_CHECK_ADDRESS and HACTL_CHECK_PORT in its environment (as
//     keepalived's MISC_CHECK scripts read the server from theirs). Exit
//     status 0 is healthy. On timeout its whole process group is killed.
//
// Bad input — an unknown type, a body regex that does not compile, a missing
// command — is an error from New, never a probe that always fails.
package health
