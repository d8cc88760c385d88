// Package chromium holds the headless Chromium flags every part of
// mimamori launches the browser with (the browser source kind, evidence
// rendering): headless, no sandbox (root in containers), and no
// background traffic of its own — no component updates, sync, breakpad,
// extensions or safe-browsing downloads, which a closed network refuses
// and which would leak the crawler's presence.
package chromium

import "github.com/chromedp/chromedp"

// Flags returns the shared flags; callers add the executable path, the
// profile folder, window size and their own extras.
func Flags() []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("mute-audio", true),
	}
}
