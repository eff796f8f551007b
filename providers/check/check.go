// Package check holds the health_check block that virtual services and proxy
// services share: how a backend is probed, and how many results in a row
// take it out or bring it back (keepalived's and ldirectord's checkers).
package check

import (
	"fmt"
	"regexp"

	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
)

// Types are the probe kinds.
var Types = []string{"tcp", "http", "https", "command"}

// Block is the health_check block's schema.
func Block() *providers.Block {
	return &providers.Block{
		Type:   "health_check",
		Single: true,
		Doc:    "How each backend is probed. A backend is taken out after fall failures in a row and returned after rise successes in a row.",
		Attrs: []*providers.Attr{
			{Name: "type", Type: providers.String, Default: `"tcp"`, Enum: Types, Doc: "tcp connects; http and https send a GET and check the status (and body_regex); command runs a program that exits 0 when the backend is good."},
			{Name: "interval", Type: providers.Duration, Default: `"2s"`, Doc: "Time between probes."},
			{Name: "timeout", Type: providers.Duration, Default: `"1s"`, Doc: "How long a probe may take. Must be shorter than interval."},
			{Name: "rise", Type: providers.Number, Default: `2`, Doc: "Successes in a row that bring a backend back."},
			{Name: "fall", Type: providers.Number, Default: `3`, Doc: "Failures in a row that take a backend out."},
			{Name: "path", Type: providers.String, Default: `"/"`, Doc: "URL path for http and https."},
			{Name: "host", Type: providers.String, Doc: "Host header for http and https. Default: the backend's address and port (\"192.168.0.3:80\").", Example: `"www.example.com"`},
			{Name: "expect_status", Type: providers.NumberList, Default: `[200]`, Doc: "HTTP status codes that count as good."},
			{Name: "body_regex", Type: providers.String, Doc: "A regular expression (RE2) the response body must match.", Example: `"OK"`},
			{Name: "verify_tls", Type: providers.Bool, Default: `false`, Doc: "For type \"https\": verify the backend's certificate (valid for host, or for its address without host, and signed by a CA the system trusts). Off by default, as keepalived's SSL_GET: backends are probed by address and often carry certificates for a public name or self-signed ones."},
			{Name: "command", Type: providers.String, Doc: "For type \"command\": a program and its arguments, split on white space and run without a shell, with the backend's address and port added as its last two arguments and in HACTL_CHECK_ADDRESS and HACTL_CHECK_PORT (HACTL_CHECK_NAME names the backend); exit 0 means good. It is killed, with its children, at timeout.", Example: `"/usr/local/lib/check-ftp"`},
		},
	}
}

// Decode decodes a health_check block; c may be nil, which gives nil.
func Decode(d *providers.Decoder, c *providers.Content) *topology.HealthCheck {
	if c == nil {
		return nil
	}
	h := &topology.HealthCheck{
		Type:         c.String("type"),
		Interval:     c.Duration("interval"),
		Timeout:      c.Duration("timeout"),
		Rise:         c.Int("rise"),
		Fall:         c.Int("fall"),
		Path:         c.String("path"),
		Host:         c.String("host"),
		ExpectStatus: c.Ints("expect_status"),
		BodyRegex:    c.String("body_regex"),
		Command:      c.String("command"),
		VerifyTLS:    c.Bool("verify_tls"),
		Range:        c.BlockRange(),
	}
	if h.Timeout > 0 && h.Interval > 0 && h.Timeout >= h.Interval {
		d.Error(c.Range("timeout"), "Health check timeout not below interval",
			fmt.Sprintf("timeout (%s) must be shorter than interval (%s), or probes would overlap.", h.Timeout, h.Interval))
	}
	for _, n := range []string{"rise", "fall"} {
		if c.Int(n) < 1 {
			d.Error(c.Range(n), "Invalid "+n, n+" must be 1 or more.")
		}
	}
	for _, s := range h.ExpectStatus {
		if s < 100 || s > 599 {
			d.Error(c.Range("expect_status"), "Invalid HTTP status", fmt.Sprintf("%d is not an HTTP status code (100-599).", s))
		}
	}
	if h.BodyRegex != "" {
		if _, err := regexp.Compile(h.BodyRegex); err != nil {
			d.Error(c.Range("body_regex"), "Invalid regular expression", fmt.Sprintf("body_regex: %s. Write an RE2 regular expression, like \"^OK\".", providers.RegexpProblem(err)))
		}
	}
	if h.Type == "command" && h.Command == "" {
		d.Error(c.DefRange, "Missing command", `A health check of type "command" needs command = "...".`)
	}
	return h
}
