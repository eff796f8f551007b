package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hactl/hactl/cmd/hactl/dashboard/browsertest"
	"github.com/hactl/hactl/e2e/lab"
)

// The dashboard as an operator sees it: hactl dashboard runs in the lab's
// ctl namespace and reaches the nodes' monitor APIs over SSH, and Debian's
// Chromium, headless in ctl too, loads the page the command printed.

// startDashboard runs hactl dashboard in ctl until the test ends and
// returns the URL it printed.
func (c *cluster) startDashboard() string {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd, err := c.lab.Command(ctx, lab.Ctl, hactlBin, "dashboard", "--port", "0", "--refresh", "1s", "-f", c.dir)
	if err != nil {
		c.t.Fatal(err)
	}
	// nsenter execs hactl, so the signal reaches hactl itself.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	var logs syncBuffer
	cmd.Stderr = &logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		cancel()
		cmd.Wait()
		c.t.Logf("hactl dashboard's log:\n%s", logs.String())
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := regexp.MustCompile(`http://127\.0\.0\.1:\d+/\?token=[0-9a-f]+`).FindString(sc.Text()); m != "" {
				urls <- m
			}
		}
	}()
	select {
	case u := <-urls:
		return u
	case <-time.After(time.Minute):
		c.t.Fatalf("hactl dashboard printed no URL in a minute; its log:\n%s", logs.String())
		return ""
	}
}

// syncBuffer collects a process's output for the test's log.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// browser is a headless Chromium in ctl and the console messages of its
// page.
type browser struct {
	ctx context.Context
	mu  sync.Mutex
	// problems are the console's errors, warnings and uncaught exceptions.
	problems []string
}

func (c *cluster) browser() *browser {
	c.t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		c.t.Fatalf("Debian's chromium is needed (.ci/lab-packages installs it): %v", err)
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), browsertest.Options(path,
		chromedp.UserDataDir(c.t.TempDir()),
		// A phone held upright: the page must work there.
		chromedp.WindowSize(412, 915),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			// Chromium runs in ctl's network namespace, where hactl
			// dashboard listens; chromedp talks to it over a pipe.
			in, err := c.lab.Command(context.Background(), lab.Ctl, cmd.Args...)
			if err != nil {
				c.t.Error(err)
				return
			}
			cmd.Path, cmd.Args = in.Path, in.Args
		}),
	)...)
	bctx, bcancel := chromedp.NewContext(actx)
	c.t.Cleanup(func() { bcancel(); acancel() })
	b := &browser{ctx: bctx}
	messages := chromedp.Console(bctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			switch m.Type {
			case chromedp.ConsoleError, chromedp.ConsoleException, chromedp.ConsoleWarning:
				b.mu.Lock()
				b.problems = append(b.problems, fmt.Sprintf("%s %s:%d: %s", m.Type, m.URL, m.Line+1, m))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) consoleProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// waitPage waits until the page's script says what is wanted (a
// JavaScript expression true in the page), and fails with what it says
// instead.
func (b *browser) waitPage(t *testing.T, what, expr string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("the page does not show %s within %s (%v); it shows:\n%s", what, d, err, text)
	}
}

// holderShown is true in the page when group web is held by node on the
// map and in the groups table, and the timeline has the change.
func holderShown(node string, timeline bool) string {
	js := fmt.Sprintf(`(() => {
  const row = document.querySelector('#groups tr[data-group="web"] .holder');
  const onMap = document.querySelector('#map g[data-node=%[1]q] text[data-holds]');
  return !!row && row.textContent === %[1]q && !!onMap && onMap.getAttribute('data-holds').split(',').includes('web')`, node)
	if timeline {
		js += fmt.Sprintf(` && [...document.querySelectorAll('#events li[data-kind="holder_changed"]')].some(li => li.textContent.includes('group web held by %s'))`, node)
	}
	return js + `;
})()`
}

// screenshot keeps what the screen shows with the element sel at the top
// (the whole page, graphs and all, is too long to look at).
func (b *browser) screenshot(t *testing.T, sel, name string) {
	t.Helper()
	err := chromedp.Do(b.ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).scrollIntoView()`, sel)))
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	shot, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	dir := os.Getenv("HACTL_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Errorf("keeping the screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", path)
}

func TestDashboardShowsTheClusterAndAFailover(t *testing.T) {
	c := webCluster(t, func(hcl string) string { return hcl + "\nmonitor {\n  interval = \"1s\"\n}\n" })
	p := startProbe(t, c.lab)
	p.waitFor(t, "h2g")
	url := c.startDashboard()
	b := c.browser()

	start := time.Now()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}
	b.waitPage(t, "the cluster", `document.body.dataset.ready === '1'`, 30*time.Second)
	t.Logf("the cluster map was drawn %s after the page was asked for", time.Since(start).Round(time.Millisecond))
	b.waitPage(t, "both nodes up, h2g holding web", `["h2g", "c2g"].every(n =>
  document.querySelector('#nodes tr[data-node="' + n + '"] .state')?.textContent === 'up' &&
  document.querySelector('#map g[data-node="' + n + '"]'))`+` && `+holderShown("h2g", false), 30*time.Second)
	// A graph of the node's real history.
	if err := chromedp.Do(b.ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('charts').scrollIntoView()`)); err != nil {
		t.Fatal(err)
	}
	b.waitPage(t, "a graph", `!!document.querySelector('#charts .chart canvas')`, 30*time.Second)
	if problems := b.consoleProblems(); len(problems) > 0 {
		t.Errorf("the page's console, while it loaded:\n%s", strings.Join(problems, "\n"))
	}

	if err := c.lab.Cut("h2g", ""); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "c2g")
	b.waitPage(t, "c2g holding web after h2g was cut off", holderShown("c2g", true), time.Minute)
	b.waitPage(t, "h2g in words as not reachable", `/unreachable|down/.test(document.querySelector('#nodes tr[data-node="h2g"] .state')?.textContent)`, 30*time.Second)
	b.screenshot(t, "header", "dashboard-failover-map.png")
	b.screenshot(t, "#events-title", "dashboard-failover-events.png")

	if err := c.lab.Heal("h2g", ""); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "h2g")
	b.waitPage(t, "h2g holding web again after the heal", holderShown("h2g", true), time.Minute)
	// Requests for an unreachable node's graphs fail (502) while it is cut
	// off, and the console says so; the page's own script must not fail.
	for _, m := range b.consoleProblems() {
		if strings.HasPrefix(m, string(chromedp.ConsoleException)) {
			t.Errorf("the page's script failed: %s", m)
		}
	}
}
