package crawler

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdpfetch "github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"go.uber.org/zap"

	"mimamori/crawler/fetch"
	"mimamori/internal/chromium"
	"mimamori/mention"
)

// browserFlags are the Chromium flags of every browser pass: the shared
// ones plus the network lock-down below.
var browserFlags = append(chromium.Flags(),
	// Everything through our guarded proxy, loopback included, and no
	// path around it (WebRTC's UDP, DNS prefetching).
	chromedp.Flag("proxy-bypass-list", "<-loopback>"),
	chromedp.Flag("force-webrtc-ip-handling-policy", "disable_non_proxied_udp"),
	chromedp.Flag("webrtc-ip-handling-policy", "disable_non_proxied_udp"),
	chromedp.Flag("dns-prefetch-disable", true),
)

// docCapture is the main document's HTTP exchange as Chromium saw it.
type docCapture struct {
	url        string
	status     int
	statusText string
	header     http.Header
	reqHeader  http.Header
	body       []byte
	bodyErr    error
	at         time.Time
}

// runBrowser renders the start page (and its next pages) in headless
// Chromium and applies the html selectors to the rendered DOM. The posts'
// Fetch holds the raw HTTP body of the document as received, not the DOM.
func (p *pass) runBrowser() error {
	s := p.s
	if _, err := os.Stat(s.browserPath); err != nil {
		return &PageError{SourceID: s.src.ID, Op: "render", URL: s.start.String(),
			Err: fmt.Errorf("%w: Chromium not found at %s (crawler.browser_path): %v", ErrBrowser, s.browserPath, err)}
	}
	timeout := s.src.Browser.Timeout
	if timeout <= 0 {
		timeout = 2 * s.timeout
	}
	if !s.ignoreRobots {
		// Before Chromium starts, not just before it navigates.
		if _, err := p.robots.check(p.ctx, s.start); err != nil {
			return &PageError{SourceID: s.src.ID, Op: "GET", URL: s.start.String(), Err: err}
		}
	}
	// An early, clear refusal; the proxy's dial-time guard stays the rule.
	if err := fetch.Check(p.ctx, hostPort(s.start), s.fetchOpts); err != nil {
		return &PageError{SourceID: s.src.ID, Op: "GET", URL: s.start.String(), Err: err}
	}
	proxy, err := newGuardProxy(s.fetchOpts)
	if err != nil {
		return &PageError{SourceID: s.src.ID, Op: "render", URL: s.start.String(), Err: fmt.Errorf("%w: proxy: %v", ErrBrowser, err)}
	}
	defer proxy.close()
	defer func() {
		for _, be := range proxy.refusals() {
			s.log.Info("browser: request refused by the SSRF guard", zap.String("host", be.Host),
				zap.String("addr", be.Addr), zap.String("reason", be.Reason))
		}
	}()
	dir, err := os.MkdirTemp("", "mimamori-chromium-")
	if err != nil {
		return &PageError{SourceID: s.src.ID, Op: "render", URL: s.start.String(), Err: fmt.Errorf("%w: %v", ErrBrowser, err)}
	}
	defer os.RemoveAll(dir)
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(s.browserPath),
		chromedp.UserDataDir(dir),
		chromedp.ProxyServer(proxy.URL()),
		chromedp.UserAgent(s.ua),
		chromedp.WindowSize(1280, 2000),
	}, browserFlags...)
	actx, acancel := chromedp.NewExecAllocator(p.ctx, opts...)
	defer acancel() // always: a Chromium left running is a leak
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithErrorf(func(f string, a ...any) {
		s.log.Debug("chromium: "+f, zap.String("detail", fmt.Sprint(a...)))
	}))
	defer bcancel()
	if s.authName != "" || len(s.src.Headers) > 0 {
		return &PageError{SourceID: s.src.ID, Op: "render", URL: s.start.String(), Err: fmt.Errorf("%w: auth and headers are not supported by the browser kind", ErrBrowser)}
	}
	if err := chromedp.Do(bctx); err != nil { // starts Chromium
		return &PageError{SourceID: s.src.ID, Op: "render", URL: s.start.String(), Err: fmt.Errorf("%w: start Chromium: %v", ErrBrowser, err)}
	}
	b := &browserTab{p: p, ctx: bctx, proxy: proxy, timeout: timeout}
	if err := b.intercept(); err != nil {
		return &PageError{SourceID: s.src.ID, Op: "render", URL: s.start.String(), Err: fmt.Errorf("%w: %v", ErrBrowser, err)}
	}
	u := s.start
	seen := map[string]bool{}
	for page := 1; ; page++ {
		seen[u.String()] = true
		f, dom, err := b.render(u)
		if err != nil {
			return err
		}
		hp, err := extractHTML(s.sel, finalOf(f, u), nil, "text/html; charset=utf-8", dom)
		if err != nil {
			return &PageError{SourceID: s.src.ID, Op: "extract html", URL: u.String(), Err: err}
		}
		if page == 1 && hp.Matched == 0 && !s.src.AllowEmpty {
			return &PageError{SourceID: s.src.ID, Op: "extract html", URL: u.String(), Err: ErrNoItems}
		}
		p.posts = appendPosts(p.posts, hp.Posts, s.src.ID, f)
		next := hp.Next
		if next == nil || seen[next.String()] {
			return nil
		}
		if !p.budgetLeft() {
			s.log.Debug("page limit reached", zap.Int("max_pages", s.maxPages), zap.String("next", next.String()))
			return nil
		}
		u = next
	}
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// browserTab drives one tab: request interception and page rendering.
type browserTab struct {
	p       *pass
	ctx     context.Context
	proxy   *guardProxy
	timeout time.Duration

	mu  sync.Mutex
	doc *docCapture // the main frame's last document response
}

// intercept pauses every request: images, media and fonts are refused
// (not needed to read text), the main frame's documents are paused again
// at the response so their raw body can be kept for evidence.
func (b *browserTab) intercept() error {
	c := chromedp.FromContext(b.ctx)
	t := c.Target
	mainFrame := cdp.FrameID(t.TargetID)
	events := chromedp.Events(b.ctx, cdpfetch.RequestPaused)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			go b.paused(t, mainFrame, ev)
		}
	}()
	_, err := cdp.Call(b.ctx, t, cdpfetch.Enable, cdpfetch.EnableParams{
		Patterns: []*cdpfetch.RequestPattern{{URLPattern: "*", RequestStage: cdpfetch.RequestStageRequest}},
	})
	return err
}

func (b *browserTab) paused(t *chromedp.Target, mainFrame cdp.FrameID, ev cdpfetch.EventRequestPaused) {
	ctx := b.ctx
	responseStage := ev.ResponseStatusCode != 0 || ev.ResponseErrorReason != ""
	if !responseStage {
		switch ev.ResourceType {
		case network.ResourceTypeImage, network.ResourceTypeMedia, network.ResourceTypeFont:
			cdp.Call(ctx, t, cdpfetch.FailRequest, cdpfetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
			return
		}
		intercept := ev.ResourceType == network.ResourceTypeDocument && ev.FrameID == mainFrame
		cdp.Call(ctx, t, cdpfetch.ContinueRequest, cdpfetch.ContinueRequestParams{RequestID: ev.RequestID, InterceptResponse: &intercept})
		return
	}
	if ev.ResourceType == network.ResourceTypeDocument && ev.FrameID == mainFrame && ev.ResponseStatusCode != 0 {
		d := &docCapture{url: ev.Request.URL, status: int(ev.ResponseStatusCode), statusText: ev.ResponseStatusText,
			header: http.Header{}, reqHeader: http.Header{}, at: time.Now().UTC()}
		for _, h := range ev.ResponseHeaders {
			d.header.Add(h.Name, h.Value)
		}
		for k, v := range ev.Request.Headers {
			d.reqHeader.Set(k, fmt.Sprint(v))
		}
		for _, h := range secretHeaders {
			d.reqHeader.Del(h)
		}
		redirect := ev.ResponseStatusCode >= 300 && ev.ResponseStatusCode < 400 && d.header.Get("Location") != ""
		if !redirect {
			res, err := cdp.Call(ctx, t, cdpfetch.GetResponseBody, cdpfetch.GetResponseBodyParams{RequestID: ev.RequestID})
			d.body, d.bodyErr = res.Body, err
			b.mu.Lock()
			b.doc = d
			b.mu.Unlock()
		}
	}
	cdp.Call(ctx, t, cdpfetch.ContinueRequest, cdpfetch.ContinueRequestParams{RequestID: ev.RequestID})
}

// render loads u after robots.txt and politeness, waits for the items and
// returns the document's exchange and the rendered DOM.
func (b *browserTab) render(u *url.URL) (*mention.Fetch, []byte, error) {
	p, s := b.p, b.p.s
	fail := func(op string, err error) (*mention.Fetch, []byte, error) {
		return nil, nil, &PageError{SourceID: s.src.ID, Op: op, URL: u.String(), Err: err}
	}
	var crawlDelay time.Duration
	if !s.ignoreRobots {
		d, err := p.robots.check(p.ctx, u)
		if err != nil {
			return fail("GET", err)
		}
		crawlDelay = d
	}
	release, err := s.hosts.acquire(p.ctx, u.Host, max(s.delay, crawlDelay), maxCrawlDelayWait)
	if err != nil {
		return fail("GET", err)
	}
	defer release()
	p.pages++
	b.mu.Lock()
	b.doc = nil
	b.mu.Unlock()
	before := len(b.proxy.refusals())
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	defer cancel()
	navErr := chromedp.Do(ctx, chromedp.Navigate(u.String()))
	b.mu.Lock()
	doc := b.doc
	b.mu.Unlock()
	if refused := b.proxy.refusals(); len(refused) > before && (doc == nil || doc.header.Get(blockedHeader) != "" || navErr != nil) {
		return fail("GET", refused[len(refused)-1])
	}
	if navErr != nil {
		if p.ctx.Err() != nil {
			return fail("render", p.ctx.Err())
		}
		return fail("render", fmt.Errorf("%w: %v", ErrBrowser, navErr))
	}
	if doc == nil {
		return fail("render", fmt.Errorf("%w: no document response captured", ErrBrowser))
	}
	if doc.bodyErr != nil {
		return fail("render", fmt.Errorf("%w: read document body: %v", ErrBrowser, doc.bodyErr))
	}
	if max := s.fetchOpts.MaxBodyBytes; max > 0 && int64(len(doc.body)) > max {
		return fail("GET", &fetch.BodyTooLargeError{Limit: max})
	}
	s.metrics.pages.WithLabelValues(s.src.ID, statusClass(doc.status)).Inc()
	f := &mention.Fetch{
		RequestURL: u.String(), FinalURL: doc.url, Method: http.MethodGet, StatusCode: doc.status,
		Header: doc.header, RequestHeader: doc.reqHeader, FetchedAt: doc.at, Body: doc.body,
	}
	if doc.status < 200 || doc.status > 299 {
		status := fmt.Sprintf("%d %s", doc.status, strings.TrimSpace(doc.statusText))
		if doc.statusText == "" {
			status = fmt.Sprintf("%d %s", doc.status, http.StatusText(doc.status))
		}
		se := &StatusError{Code: doc.status, Status: status}
		if doc.status == http.StatusTooManyRequests || doc.status == http.StatusServiceUnavailable {
			until := s.backOff(doc.header)
			s.hosts.block(u.Host, until, status)
			return fail("GET", &BackoffError{Until: until, Reason: se.Error(), Err: se})
		}
		return fail("GET", se)
	}
	wait := s.src.Browser.WaitFor
	if wait == "" {
		wait = s.src.HTML.Item
	}
	var waitErr error
	if isXPath(wait) {
		waitErr = chromedp.Do(ctx, chromedp.WaitReady(chromedp.Search(wait)))
	} else {
		waitErr = chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS(wait)))
	}
	if waitErr != nil {
		if p.ctx.Err() != nil {
			return fail("render", p.ctx.Err())
		}
		if errors.Is(waitErr, context.DeadlineExceeded) {
			// Nothing appeared: extract what is there; an empty first
			// page is then ErrNoItems.
			s.log.Debug("browser: waited in vain for the items", zap.String("selector", wait), zap.String("url", u.String()))
		} else {
			return fail("render", fmt.Errorf("%w: %v", ErrBrowser, waitErr))
		}
	}
	dctx, dcancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer dcancel()
	dom, err := chromedp.Run(dctx, chromedp.Evaluate[string]("document.documentElement.outerHTML"))
	if err != nil {
		return fail("render", fmt.Errorf("%w: read DOM: %v", ErrBrowser, err))
	}
	return f, []byte(dom), nil
}
