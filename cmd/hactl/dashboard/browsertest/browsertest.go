// Package browsertest holds how the dashboard's lab test and its
// benchmark start Debian's headless Chromium, so that both load the page
// in the same browser settings.
package browsertest

import "github.com/chromedp/chromedp"

// Options are chromedp's allocator options for the chromium binary at
// path: headless, without the sandbox (the lab runs as root), and with
// every background fetch off, so the browser sends nothing outside the
// page it is given; extra (user data directory, window size, where the
// command runs) come after.
func Options(path string, extra ...chromedp.ExecAllocatorOption) []chromedp.ExecAllocatorOption {
	return append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}, extra...)
}
