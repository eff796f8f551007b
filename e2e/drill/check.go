package drill

import (
	"bufio"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hactl/hactl/e2e/lab"
)

// longestGap returns the longest stretch of unanswered probes sent in
// [from, to): from the first unanswered probe to the first answered one
// after it, or to `to` when none came (open is then true). Probes are in
// send order.
func longestGap(probes []lab.Probe, from, to time.Time) (longest time.Duration, open bool) {
	var failed time.Time
	for _, p := range probes {
		if p.Sent.Before(from) || !p.Sent.Before(to) {
			continue
		}
		switch {
		case !p.OK && failed.IsZero():
			failed = p.Sent
		case p.OK && !failed.IsZero():
			longest = max(longest, p.Sent.Sub(failed))
			failed = time.Time{}
		}
	}
	if !failed.IsZero() {
		if d := to.Sub(failed); d >= longest {
			return d, true
		}
	}
	return longest, false
}

// answeredBy returns who answered the last answered probe sent before t.
func answeredBy(probes []lab.Probe, t time.Time) string {
	who := ""
	for _, p := range probes {
		if !p.Sent.Before(t) {
			break
		}
		if p.OK {
			who = p.From
		}
	}
	return who
}

// holderSample is who answered an ARP question for a VIP, and when it was
// asked.
type holderSample struct {
	At      time.Time
	VIP     netip.Addr
	Holders []string
}

// takeover is a VIP seen on a new holder.
type takeover struct {
	From, To string // From is the holder before, "" when there was none
	At       time.Time
}

// takeovers lists the holders that appear in the samples (of one VIP, in
// time order), each with the sole holder seen before it; first is the
// sole holder before the samples.
func takeovers(samples []holderSample, first string) []takeover {
	var out []takeover
	sole, prev := first, []string{first}
	for _, s := range samples {
		for _, h := range s.Holders {
			if h != sole && !slices.Contains(prev, h) {
				out = append(out, takeover{From: sole, To: h, At: s.At})
			}
		}
		if len(s.Holders) == 1 {
			sole = s.Holders[0]
		}
		prev = s.Holders
	}
	return out
}

// fenceEntry is one request to the lab's power switch, from its log.
type fenceEntry struct {
	At     time.Time
	By     string // the member that asked, as the switch names it
	Action string // off or reboot
	Node   string
	OK     bool
}

// pduLine matches a request line of the power switch's log:
// "2026/12/02 01:14:05.123456 c2g (192.168.0.17): POST /off/h2g: 200 OK".
var pduLine = regexp.MustCompile(`^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6}) (\S+).*: POST /(off|reboot)/([^:/\s]+): (\d{3})`)

// parsePDULog reads the power switch's log; its times are local.
func parsePDULog(text string, loc *time.Location) []fenceEntry {
	var out []fenceEntry
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		m := pduLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		at, err := time.ParseInLocation("2006/01/02 15:04:05.000000", m[1], loc)
		if err != nil {
			continue
		}
		code, _ := strconv.Atoi(m[5])
		out = append(out, fenceEntry{At: at, By: strings.TrimSuffix(m[2], ":"), Action: m[3], Node: m[4], OK: code == 200})
	}
	return out
}

// fenceSlack is how long the power switch's log line may trail the
// takeover it allowed: the switch writes it once it has answered.
const fenceSlack = 250 * time.Millisecond

// fencedBetween reports whether the log shows node powered off or rebooted
// by a request answered in [from, until+fenceSlack].
func fencedBetween(entries []fenceEntry, node string, from, until time.Time) bool {
	return slices.ContainsFunc(entries, func(e fenceEntry) bool {
		return e.OK && e.Node == node && !e.At.Before(from) && !e.At.After(until.Add(fenceSlack))
	})
}
