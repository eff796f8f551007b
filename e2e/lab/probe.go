package lab

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Prober asks a URL from the client namespace every period, each request
// on a fresh connection in its own goroutine (so that a slow answer does
// not delay the next probe), and records who answered: what a user of the
// cluster sees during a failover. Tests, benchmarks and `hactl lab probe`
// share it.
type Prober struct {
	mu     sync.Mutex
	probes []Probe
	stop   chan struct{}
	wg     sync.WaitGroup
}

// Probe is one request: when it was sent, whether it was answered, and
// the answer (the lab's web servers answer with their node's name).
type Probe struct {
	Sent time.Time
	OK   bool
	From string
}

// StartProber starts probing url from the client namespace every period.
func (l *Lab) StartProber(url string, period time.Duration) *Prober {
	p := &Prober{stop: make(chan struct{})}
	client := l.HTTPClient(Client)
	client.Timeout = time.Second
	if tr, ok := client.Transport.(*http.Transport); ok {
		tr.DisableKeepAlives = true
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case now := <-tick.C:
				p.wg.Add(1)
				go func() {
					defer p.wg.Done()
					pr := Probe{Sent: now}
					if resp, err := client.Get(url); err == nil {
						body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
						resp.Body.Close()
						pr.OK, pr.From = resp.StatusCode == http.StatusOK, strings.TrimSpace(string(body))
					}
					p.mu.Lock()
					p.probes = append(p.probes, pr)
					p.mu.Unlock()
				}()
			}
		}
	}()
	return p
}

// Stop ends probing and waits for the requests in flight.
func (p *Prober) Stop() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.wg.Wait()
}

// Since returns the probes sent after t, in send order.
func (p *Prober) Since(t time.Time) []Probe {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Probe
	for _, pr := range p.probes {
		if pr.Sent.After(t) {
			out = append(out, pr)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Sent.Before(out[j].Sent) })
	return out
}

// WaitFor waits until node answered the last n probes.
func (p *Prober) WaitFor(node string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last Probe
	for time.Now().Before(deadline) {
		recent := p.Since(time.Now().Add(-5 * time.Second))
		if len(recent) >= n {
			ok := true
			for _, pr := range recent[len(recent)-n:] {
				ok = ok && pr.OK && pr.From == node
			}
			if ok {
				return nil
			}
			last = recent[len(recent)-1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("the URL does not answer from %s (last probe: answered %v by %q)", node, last.OK, last.From)
}

// Outage is the time from the first unanswered probe sent after t to the
// first probe after it that to answered: what the client saw of a move to
// node to. Probes still waiting for their answer (up to a second) are not
// counted yet: read it a second after the move is over.
//
// It is zero when every probe was answered, and -1 when to never
// answered.
func (p *Prober) Outage(t time.Time, to string) time.Duration {
	var firstFailed *Probe
	for _, pr := range p.Since(t) {
		switch {
		case !pr.OK && firstFailed == nil:
			firstFailed = &pr
		case pr.OK && pr.From == to && firstFailed == nil:
			return 0
		case pr.OK && pr.From == to:
			return pr.Sent.Sub(firstFailed.Sent)
		}
	}
	return -1
}

// Timeline sums the probes since t up as runs: "h2g ×120, (no answer)
// ×9, c2g ×300".
func (p *Prober) Timeline(t time.Time) string {
	var parts []string
	last, n := "", 0
	flush := func() {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s ×%d", last, n))
		}
	}
	for _, pr := range p.Since(t) {
		who := pr.From
		if !pr.OK {
			who = "(no answer)"
		}
		if who != last {
			flush()
			last, n = who, 0
		}
		n++
	}
	flush()
	return strings.Join(parts, ", ")
}

// Gap is a stretch of unanswered probes between two answers.
type Gap struct {
	Start    time.Time
	Length   time.Duration // from the first unanswered probe to the next answer
	From, To string        // who answered before and after
}

// Gaps lists the outages the client saw since t.
func (p *Prober) Gaps(t time.Time) []Gap {
	var out []Gap
	var open *Gap
	before := ""
	for _, pr := range p.Since(t) {
		switch {
		case !pr.OK && open == nil:
			open = &Gap{Start: pr.Sent, From: before}
		case pr.OK && open != nil:
			open.Length, open.To = pr.Sent.Sub(open.Start), pr.From
			out = append(out, *open)
			open = nil
		}
		if pr.OK {
			before = pr.From
		}
	}
	return out
}
