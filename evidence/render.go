package evidence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"image"
	"image/draw"
	"image/png"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"mimamori/internal/chromium"
	"mimamori/internal/jst"
	"mimamori/internal/netguard"
)

// Rendered files of a bundle.
const (
	ScreenshotName = "render/screenshot.png"
	PDFName        = "render/page.pdf"
	DOMName        = "render/dom.html"
)

// DefaultChromiumPath is Debian's chromium.
const DefaultChromiumPath = "/usr/bin/chromium"

// RenderOptions configures headless Chromium.
type RenderOptions struct {
	// Disabled turns rendering off: bundles hold the raw bytes, the WARC
	// and the hashes, and the manifest says rendering is disabled.
	Disabled bool
	// ChromiumPath is the browser binary (default /usr/bin/chromium).
	ChromiumPath string
	// Timeout bounds one rendering, browser start to exit (default 60s).
	Timeout time.Duration
	// JSSettle is how long a page that needs JavaScript may run after its
	// load event before the DOM is recorded (default 2s).
	JSSettle time.Duration
	// ViewportWidth and ViewportHeight are the window in CSS pixels
	// (default 1280×900).
	ViewportWidth, ViewportHeight int
	// MaxHeight caps the full-page screenshot in CSS pixels (default 15000);
	// a longer page is cut and the manifest says so.
	MaxHeight int
	// AllowPrivate lets the subresources of every page load from loopback
	// and private addresses, never link-local or cloud metadata ones
	// (tests). Otherwise a page's images and styles follow its source's
	// fetch rules (Options.Sources): public addresses, plus the source's
	// own host under allow_private and the hosts of allow_hosts.
	AllowPrivate bool
	// MaxRequests caps the subresource requests of one page (default 300).
	MaxRequests int
}

func (o RenderOptions) withDefaults() RenderOptions {
	if o.ChromiumPath == "" {
		o.ChromiumPath = DefaultChromiumPath
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.JSSettle <= 0 {
		o.JSSettle = 2 * time.Second
	}
	if o.ViewportWidth <= 0 {
		o.ViewportWidth = 1280
	}
	if o.ViewportHeight <= 0 {
		o.ViewportHeight = 900
	}
	if o.MaxHeight <= 0 {
		o.MaxHeight = 15000
	}
	if o.MaxRequests <= 0 {
		o.MaxRequests = 300
	}
	return o
}

// RenderInfo is what the manifest says about rendering.
type RenderInfo struct {
	// Status is "rendered", "failed" (see Error; a retry is pending) or
	// "disabled".
	Status     string    `json:"status"`
	Error      string    `json:"error,omitempty"`
	Browser    string    `json:"browser,omitempty"`
	UserAgent  string    `json:"user_agent,omitempty"`
	RenderedAt time.Time `json:"rendered_at,omitzero"`
	// Source says what the browser was given.
	Source     string `json:"source,omitempty"`
	JavaScript bool   `json:"javascript"`
	Viewport   string `json:"viewport,omitempty"`
	PageWidth  int    `json:"page_width,omitempty"`
	PageHeight int    `json:"page_height,omitempty"`
	// Truncated says the page was longer than the screenshot.
	Truncated bool `json:"truncated,omitempty"`
	// BandHeight is the height in pixels of the header band at the top of
	// the screenshot (URL and capture time); the page starts below it.
	BandHeight int `json:"band_height,omitempty"`
	// Subresources counts the images, styles and scripts loaded live from
	// the site while rendering (they are not part of the raw capture).
	Subresources int `json:"subresources_loaded"`
	// Blocked lists subresources refused (private addresses, over the cap).
	Blocked []string `json:"blocked,omitempty"`
	// LoadIncomplete says the load event had not fired when the capture
	// was taken.
	LoadIncomplete bool `json:"load_incomplete,omitempty"`
	// Marked describes the derived image of the alerted post
	// (render/marked.png and render/marked.pdf), or why there is none.
	Marked *MarkInfo `json:"marked,omitempty"`
}

type renderInput struct {
	URL        string // the document URL (the final URL of the fetch)
	RequestURL string
	Status     int
	Header     http.Header
	Body       []byte
	NeedsJS    bool
	FetchedAt  time.Time
	RenderedAt time.Time
	// Policy is the fetch rules of the page's source, which its
	// subresources follow.
	Policy netguard.Policy
	// Mark identifies the alerted post on the page, for the derived
	// marked image (empty: none is made).
	Mark markTarget
}

type renderOutput struct {
	PNG, PDF, DOM []byte
	// MarkedPNG and MarkedPDF are the derived images of the alerted post
	// (nil when it was not located).
	MarkedPNG, MarkedPDF []byte
	Info                 RenderInfo
}

type renderer interface {
	render(ctx context.Context, in renderInput) (*renderOutput, error)
}

// ErrChromiumMissing says the browser binary is not there.
var ErrChromiumMissing = errors.New("chromium not found")

type chromeRenderer struct {
	o   RenderOptions
	sem chan struct{} // one browser at a time
}

func newChromeRenderer(o RenderOptions) *chromeRenderer {
	return &chromeRenderer{o: o.withDefaults(), sem: make(chan struct{}, 1)}
}

// CheckChromium reports whether the browser at path can be started
// (exists and is executable). Call it at startup to warn early.
func CheckChromium(path string) error {
	if path == "" {
		path = DefaultChromiumPath
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%w at %s: %w", ErrChromiumMissing, path, err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%w at %s: not an executable file", ErrChromiumMissing, path)
	}
	return nil
}

func (r *chromeRenderer) render(ctx context.Context, in renderInput) (*renderOutput, error) {
	o := r.o
	if err := CheckChromium(o.ChromiumPath); err != nil {
		return nil, err
	}
	select {
	case r.sem <- struct{}{}:
		defer func() { <-r.sem }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	tctx, cancelT := context.WithTimeout(ctx, o.Timeout)
	defer cancelT()
	// Everything the browser writes (profile, singleton socket, shared
	// memory files) stays under one temporary folder removed afterwards.
	work, err := os.MkdirTemp("", "mimamori-chromium-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	profile, tmp := filepath.Join(work, "profile"), filepath.Join(work, "tmp")
	if err := os.Mkdir(profile, 0o700); err != nil {
		return nil, err
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, err
	}

	var stderr syncBuf
	flags := append(chromium.Flags(),
		chromedp.ExecPath(o.ChromiumPath),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(o.ViewportWidth, o.ViewportHeight),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.CombinedOutput(&stderr),
		chromedp.Env("TMPDIR="+tmp),
	)
	actx, cancelA := chromedp.NewExecAllocator(tctx, flags...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()

	out, err := r.run(bctx, tctx, in)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("rendering did not finish within %v: %w", o.Timeout, err)
		}
		if msg := lastLines(stderr.String(), 3); msg != "" && !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (chromium said: %s)", err, msg)
		}
		return nil, err
	}
	return out, nil
}

func (r *chromeRenderer) run(bctx, tctx context.Context, in renderInput) (*renderOutput, error) {
	o := r.o
	info := RenderInfo{Status: "rendered", RenderedAt: in.RenderedAt, JavaScript: in.NeedsJS,
		Viewport: fmt.Sprintf("%dx%d", o.ViewportWidth, o.ViewportHeight),
		Source: "the raw response bytes of this capture, served to the browser as the response to " + in.URL +
			" (DevTools Fetch.fulfillRequest); images and styles the page links to were loaded live"}

	// Start the browser and the tab.
	ver, err := chromedp.CallBrowser(bctx, browser.GetVersion, cdp.Empty{})
	if err != nil {
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	info.Browser, info.UserAgent = ver.Product, ver.UserAgent

	// Requests are answered by a worker: the listener must not block.
	h := &interceptor{in: in, guard: o.subresourceGuard(in.Policy), max: o.MaxRequests, bctx: bctx,
		queue: make(chan *fetch.EventRequestPaused, 1024)}
	wctx, stopWorker := context.WithCancel(tctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); h.work(wctx) }()
	defer func() { stopWorker(); wg.Wait() }()
	if err := chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*fetch.EventRequestPaused); ok {
			select {
			case h.queue <- e:
			default:
				go h.handle(wctx, e)
			}
		}
	}); err != nil {
		return nil, err
	}
	if _, err := chromedp.Call(bctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*"}}}); err != nil {
		return nil, fmt.Errorf("enable interception: %w", err)
	}
	if !in.NeedsJS {
		if _, err := chromedp.Call(bctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			return nil, fmt.Errorf("disable scripts: %w", err)
		}
	}
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(int64(o.ViewportWidth), int64(o.ViewportHeight))); err != nil {
		return nil, fmt.Errorf("set viewport: %w", err)
	}

	// Navigate; a page whose subresources never finish is captured as it is
	// when half the time is spent.
	deadline, _ := tctx.Deadline()
	navCtx, cancelNav := context.WithTimeout(bctx, time.Until(deadline)/2)
	err = chromedp.Do(navCtx, chromedp.Navigate(in.URL))
	cancelNav()
	if err != nil {
		if tctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("load page: %w", err)
		}
		info.LoadIncomplete = true
		chromedp.Call(bctx, page.StopLoading, cdp.Empty{})
	}
	if !h.served() {
		return nil, fmt.Errorf("load page: the browser never asked for %s", in.URL)
	}
	if in.NeedsJS {
		if err := chromedp.Do(bctx, chromedp.Sleep(o.JSSettle)); err != nil {
			return nil, err
		}
	}

	res := &renderOutput{}
	if in.NeedsJS {
		dom, err := chromedp.Run(bctx, chromedp.Evaluate[string](
			`(document.doctype ? new XMLSerializer().serializeToString(document.doctype) + "\n" : "") + document.documentElement.outerHTML`))
		if err != nil {
			return nil, fmt.Errorf("record DOM: %w", err)
		}
		res.DOM = []byte(dom)
	}

	// PDF, with the URL and the capture time in every page header.
	pdf, err := chromedp.Run(bctx, chromedp.PrintToPDF(
		chromedp.PDFPaper(chromedp.PaperA4),
		chromedp.PDFPrintBackground(),
		chromedp.PDFMargins(0.75, 0.4, 0.6, 0.4),
		chromedp.PDFHeaderTemplate(pdfHeader(in)),
		chromedp.PDFFooterTemplate(`<div style="font-size:8px;width:100%;text-align:center;font-family:sans-serif"><span class="pageNumber"></span> / <span class="totalPages"></span></div>`),
		chromedp.PDFStream(),
	))
	if err != nil {
		return nil, fmt.Errorf("print PDF: %w", err)
	}
	res.PDF = pdf

	// Full-page screenshot.
	m, err := chromedp.Call(bctx, page.GetLayoutMetrics, cdp.Empty{})
	if err != nil {
		return nil, fmt.Errorf("page size: %w", err)
	}
	w, hgt := o.ViewportWidth, o.ViewportHeight
	if m.CSSContentSize != nil {
		w = max(w, int(math.Ceil(m.CSSContentSize.Width)))
		hgt = max(1, int(math.Ceil(m.CSSContentSize.Height)))
	}
	w = min(w, 4096)
	info.PageWidth, info.PageHeight = w, hgt
	if hgt > o.MaxHeight {
		hgt, info.Truncated = o.MaxHeight, true
	}
	shot, err := chromedp.Call(bctx, page.CaptureScreenshot, page.CaptureScreenshotParams{
		Format: page.CaptureScreenshotFormatPng, Clip: &page.Viewport{X: 0, Y: 0, Width: float64(w), Height: float64(hgt), Scale: 1},
		CaptureBeyondViewport: ptrTo(true), FromSurface: ptrTo(true)})
	if err != nil {
		return nil, fmt.Errorf("screenshot: %w", err)
	}

	// Where the alerted post is, for the derived marked image.
	var mark *MarkInfo
	var markBox [4]float64
	if !in.Mark.empty() {
		mark = &MarkInfo{}
		box, how, q, err := locate(bctx, in.Mark)
		if err != nil {
			mark.Error = "the post was not located on the page: " + err.Error()
		} else {
			markBox, mark.Located, mark.Query = box, how, q
			mark.Box = []int{int(box[0]), int(box[1]), int(math.Ceil(box[2])), int(math.Ceil(box[3]))}
		}
	}

	// The header band: a small page of its own, rendered by the same
	// browser at the same width and put on top of the screenshot, so the
	// page's own layout is not touched.
	if _, err := chromedp.Call(bctx, fetch.Disable, cdp.Empty{}); err != nil {
		return nil, fmt.Errorf("band: %w", err)
	}
	band, err := renderBand(bctx, w, bandHTML(in, info, ""))
	if err != nil {
		return nil, err
	}
	composed, bh, err := stack(band, shot.Data)
	if err != nil {
		return nil, err
	}
	info.BandHeight = bh
	res.PNG = composed
	if mark != nil && mark.Located != "" {
		if err := r.marked(bctx, in, info, shot.Data, markBox, mark, res); err != nil {
			mark.Error = "the marked image could not be made: " + err.Error()
			res.MarkedPNG, res.MarkedPDF = nil, nil
		}
	}
	info.Marked = mark
	info.Subresources, info.Blocked = h.stats()
	res.Info = info
	return res, nil
}

// marked makes the derived image of the alerted post: a crop of the full
// page around it, outlined, under a band that says it is derived, and the
// same as one PDF page.
func (r *chromeRenderer) marked(bctx context.Context, in renderInput, info RenderInfo, shot []byte, box [4]float64, mi *MarkInfo, res *renderOutput) error {
	img, crop, err := markImage(shot, box)
	if err != nil {
		return err
	}
	mi.Crop = crop[:]
	line := markedBandLine(*mi)
	band, err := renderBand(bctx, crop[2], bandHTML(in, info, line))
	if err != nil {
		return err
	}
	body, err := encodePNG(img)
	if err != nil {
		return err
	}
	if res.MarkedPNG, _, err = stack(band, body); err != nil {
		return err
	}
	if res.MarkedPDF, err = markedPDF(bctx, in, res.MarkedPNG, line); err != nil {
		return fmt.Errorf("marked PDF: %w", err)
	}
	return nil
}

// renderBand renders a band page at width w and returns its PNG.
func renderBand(bctx context.Context, w int, doc string) ([]byte, error) {
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(int64(w), 60), chromedp.Navigate("data:text/html;charset=utf-8;base64,"+b64(doc))); err != nil {
		return nil, fmt.Errorf("band: %w", err)
	}
	bm, err := chromedp.Call(bctx, page.GetLayoutMetrics, cdp.Empty{})
	if err != nil {
		return nil, fmt.Errorf("band: %w", err)
	}
	bandH := 60
	if bm.CSSContentSize != nil {
		bandH = max(20, int(math.Ceil(bm.CSSContentSize.Height)))
	}
	band, err := chromedp.Call(bctx, page.CaptureScreenshot, page.CaptureScreenshotParams{
		Format: page.CaptureScreenshotFormatPng, Clip: &page.Viewport{X: 0, Y: 0, Width: float64(w), Height: float64(bandH), Scale: 1},
		CaptureBeyondViewport: ptrTo(true), FromSurface: ptrTo(true)})
	if err != nil {
		return nil, fmt.Errorf("band: %w", err)
	}
	return band.Data, nil
}

func ptrTo[T any](v T) *T { return &v }

// stack puts band on top of shot and encodes the result as PNG.
func stack(bandPNG, shotPNG []byte) ([]byte, int, error) {
	band, err := png.Decode(bytes.NewReader(bandPNG))
	if err != nil {
		return nil, 0, fmt.Errorf("band image: %w", err)
	}
	shot, err := png.Decode(bytes.NewReader(shotPNG))
	if err != nil {
		return nil, 0, fmt.Errorf("screenshot image: %w", err)
	}
	bb, sb := band.Bounds(), shot.Bounds()
	w := max(bb.Dx(), sb.Dx())
	out := image.NewNRGBA(image.Rect(0, 0, w, bb.Dy()+sb.Dy()))
	draw.Draw(out, image.Rect(0, 0, bb.Dx(), bb.Dy()), band, bb.Min, draw.Src)
	draw.Draw(out, image.Rect(0, bb.Dy(), sb.Dx(), bb.Dy()+sb.Dy()), shot, sb.Min, draw.Src)
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.DefaultCompression}).Encode(&buf, out); err != nil {
		return nil, 0, err
	}
	return buf.Bytes(), bb.Dy(), nil
}

func timeLine(t time.Time) string {
	return t.In(jst.Zone).Format("2006-01-02 15:04:05 JST") + "  (" + t.UTC().Format("2006-01-02 15:04:05 UTC") + ")"
}

// bandHTML is the header band: URL and capture time in JST and UTC, and
// extra (HTML) when given. It is ASCII only, so it reads the same whatever
// fonts the machine has.
func bandHTML(in renderInput, info RenderInfo, extra string) string {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><html><head><meta charset="utf-8"><style>
html,body{margin:0;padding:0;background:#10243e;}
div{font:14px/1.45 "DejaVu Sans Mono","Liberation Mono",monospace;color:#ffffff;padding:6px 12px;word-break:break-all;}
b{color:#ffd166;font-weight:bold;}
</style></head><body><div>`)
	fmt.Fprintf(&b, "<b>URL</b> %s<br>", html.EscapeString(asciiURL(in.URL)))
	if in.RequestURL != "" && in.RequestURL != in.URL {
		fmt.Fprintf(&b, "<b>Requested</b> %s<br>", html.EscapeString(asciiURL(in.RequestURL)))
	}
	fmt.Fprintf(&b, "<b>Fetched</b> %s<br>", timeLine(in.FetchedAt))
	if in.RenderedAt.Sub(in.FetchedAt) > time.Minute || in.FetchedAt.Sub(in.RenderedAt) > time.Minute {
		fmt.Fprintf(&b, "<b>Rendered later</b> %s<br>", timeLine(in.RenderedAt))
	}
	b.WriteString(extra)
	fmt.Fprintf(&b, "<b>Evidence</b> mimamori capture, HTTP %d, rendered from the raw bytes received%s", in.Status,
		map[bool]string{true: ", JavaScript on", false: ", JavaScript off"}[info.JavaScript])
	b.WriteString("</div></body></html>")
	return b.String()
}

func pdfHeader(in renderInput) string {
	return fmt.Sprintf(`<div style="font-size:8px;width:100%%;padding:0 0.4in;font-family:monospace;word-break:break-all;color:#000">%s<br>Fetched %s</div>`,
		html.EscapeString(asciiURL(in.URL)), html.EscapeString(timeLine(in.FetchedAt)))
}

// asciiURL returns u with non-ASCII escaped, so the band needs no CJK font.
func asciiURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.String()
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() < 64<<10 {
		s.b.Write(p)
	}
	return len(p), nil
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	var keep []string
	for _, l := range lines {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "DevTools listening") {
			continue
		}
		keep = append(keep, strings.TrimSpace(l))
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, " | ")
}

// interceptor answers the browser's requests: the first document request
// gets the raw bytes of the capture; every other request is checked against
// the address guard and the cap.
type interceptor struct {
	in    renderInput
	guard *netguard.Guard
	max   int
	bctx  context.Context
	queue chan *fetch.EventRequestPaused

	mu      sync.Mutex
	main    bool
	loaded  int
	blocked []string
}

func (h *interceptor) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-h.queue:
			h.handle(ctx, ev)
		}
	}
}

func (h *interceptor) served() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.main
}

func (h *interceptor) stats() (int, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.loaded, append([]string(nil), h.blocked...)
}

func (h *interceptor) handle(ctx context.Context, ev *fetch.EventRequestPaused) {
	h.mu.Lock()
	first := !h.main && ev.ResourceType == network.ResourceTypeDocument
	if first {
		h.main = true
	}
	n := h.loaded
	h.mu.Unlock()
	if first {
		chromedp.Call(h.bctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID,
			ResponseCode: int64(renderStatus(h.in.Status)), ResponseHeaders: fulfillHeaders(h.in.Header, h.in.Body), Body: h.in.Body})
		return
	}
	reqURL := ""
	if ev.Request != nil {
		reqURL = ev.Request.URL
	}
	reason := ""
	if n >= h.max {
		reason = "over the cap of subresources"
	} else if err := subresourceCheck(ctx, h.guard, reqURL); err != nil {
		reason = err.Error()
	}
	if reason != "" {
		h.mu.Lock()
		if len(h.blocked) < 50 {
			h.blocked = append(h.blocked, shorten(reqURL, 200)+" ("+reason+")")
		}
		h.mu.Unlock()
		chromedp.Call(h.bctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
		return
	}
	h.mu.Lock()
	h.loaded++
	h.mu.Unlock()
	chromedp.Call(h.bctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// renderStatus keeps the captured status unless the browser would not show
// a body for it (redirects, 204, 304).
func renderStatus(code int) int {
	if code < 200 || code == 204 || code == 205 || code == 304 || (code >= 300 && code < 400) {
		return 200
	}
	return code
}

// fulfillHeaders are the captured headers minus those that describe the
// wire (the body given is decoded) or would leave state in the profile.
func fulfillHeaders(h http.Header, body []byte) []*fetch.HeaderEntry {
	skip := map[string]bool{"Content-Encoding": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true,
		"Keep-Alive": true, "Set-Cookie": true, "Strict-Transport-Security": true, "Alt-Svc": true, "Location": true, "Refresh": true}
	var out []*fetch.HeaderEntry
	hasCT := false
	for k, vs := range h {
		ck := http.CanonicalHeaderKey(k)
		if skip[ck] {
			continue
		}
		if ck == "Content-Type" {
			hasCT = true
		}
		for _, v := range vs {
			out = append(out, &fetch.HeaderEntry{Name: ck, Value: v})
		}
	}
	if !hasCT {
		out = append(out, &fetch.HeaderEntry{Name: "Content-Type", Value: http.DetectContentType(body)})
	}
	return out
}

// subresourceCheck refuses a subresource the browser asks for unless its
// scheme is one a page may load and its host passes g: the rules of the
// source's own fetches (netguard.Policy), so a captured page cannot turn
// the browser against the company's network while an intranet page still
// gets its own styles and images.
func subresourceCheck(ctx context.Context, g *netguard.Guard, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("bad URL")
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
	case "data", "blob", "about":
		return nil
	default:
		return fmt.Errorf("scheme %s not allowed", u.Scheme)
	}
	if u.Hostname() == "" {
		return errors.New("no host")
	}
	return g.CheckURL(ctx, u)
}

// subresourceGuard is the guard of one rendering: the source's policy,
// widened to every private host (never link-local or metadata) when the
// configuration allows private subresources for all sources.
func (o RenderOptions) subresourceGuard(p netguard.Policy) *netguard.Guard {
	if o.AllowPrivate {
		p.AllowPrivate, p.Home = true, ""
	}
	return netguard.New(p)
}
