package evidence

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mimamori/internal/netguard"
	"mimamori/mention"
)

// The test page: Japanese text, a known coloured block, an image on a
// loopback address (must be refused), a script (must not run unless the
// source needs JS) and enough height to need a full-page screenshot.
const testPage = `<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>テスト掲示板 スレッド1</title>
<style>
body { margin: 0; font-family: sans-serif; background: #ffffff; color: #222222; }
h1 { margin: 16px; font-size: 28px; color: #0a7a3c; }
.post { margin: 16px; font-size: 20px; }
#block { margin: 16px; width: 300px; height: 200px; background: #e0115f; }
.tall { height: 1400px; background: linear-gradient(#ffffff, #3399ff); }
</style></head>
<body>
<h1>Thread 1 スレッド</h1>
<div class="post">EVIDENCE-POST-42 株式会社サンプルは詐欺会社</div>
<div id="block"></div>
<img src="/private.png" alt="loopback image">
<script>document.body.insertAdjacentHTML('beforeend', '<div class="post" id="js">JS-RAN-HERE</div>');</script>
<div class="tall">bottom of the page</div>
</body></html>`

// sitePage serves the test page once; afterwards the "site" shows an
// edited version, so a rendering that fetched the live page would show
// EDITED instead of the captured text.
type sitePage struct {
	srv     *httptest.Server
	served  atomic.Int32
	private atomic.Int32
}

func startSite(t *testing.T) *sitePage {
	sp := &sitePage{}
	sp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/private.png":
			sp.private.Add(1)
			w.Header().Set("Content-Type", "image/png")
			w.Write(onePixelPNG())
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if sp.served.Add(1) > 1 {
			io.WriteString(w, "<html><body>EDITED</body></html>")
			return
		}
		io.WriteString(w, testPage)
	}))
	t.Cleanup(sp.srv.Close)
	return sp
}

func onePixelPNG() []byte {
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1)))
	return b.Bytes()
}

// fetchPage fetches url the way the crawler records it.
func fetchPage(t *testing.T, url string) *mention.Fetch {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("User-Agent", "mimamori-test/1.0 (+https://example.invalid/bot)")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &mention.Fetch{RequestURL: url, FinalURL: resp.Request.URL.String(), Method: "GET", StatusCode: resp.StatusCode,
		Proto: resp.Proto, Header: resp.Header, RequestHeader: req.Header, FetchedAt: time.Now().UTC(), Body: body}
}

type chromeFixture struct {
	root, tsaCA string
	res         Result
	fetch       *mention.Fetch
	store       *Store
	took        time.Duration
}

var (
	fixtureOnce sync.Once
	fixture     *chromeFixture
	fixtureErr  error
)

// chromeCapture captures the test page once with real Chromium and a real
// TSA; tests copy the root before changing anything.
func chromeCapture(t *testing.T) *chromeFixture {
	t.Helper()
	chrome := chromiumPath(t)
	pki := getPKI(t)
	fixtureOnce.Do(func() {
		tsa := startTSA(t)
		site := startSite(t)
		root, err := os.MkdirTemp("", "mimamori-evidence-chrome-")
		if err != nil {
			fixtureErr = err
			return
		}
		tempRoots = append(tempRoots, root)
		s, err := Open(root, Options{Tool: "mimamori-test", TSA: TSAOptions{URL: tsa.URL, CAFile: pki.CAFile},
			Render: RenderOptions{ChromiumPath: chrome, Timeout: 90 * time.Second}})
		if err != nil {
			fixtureErr = err
			return
		}
		// An earlier bundle, so the rendered one has a predecessor.
		if _, err := s.Capture(sampleMention(), sampleFetch()); err != nil {
			fixtureErr = err
			return
		}
		f := fetchPage(t, site.srv.URL+"/thread/1")
		m := mention.Mention{ID: "chrome1", Version: 1, SourceID: "local-forum", URL: f.FinalURL + "#p42", Text: "株式会社サンプルは詐欺会社"}
		start := time.Now()
		res, err := s.CaptureWith(context.Background(), m, f, CaptureOptions{})
		if err != nil {
			fixtureErr = err
			return
		}
		fixture = &chromeFixture{root: root, tsaCA: pki.CAFile, res: res, fetch: f, store: s, took: time.Since(start)}
		if n := site.private.Load(); n != 0 {
			fixtureErr = fmt.Errorf("the browser fetched a loopback image %d time(s)", n)
		}
		if n := site.served.Load(); n != 1 {
			fixtureErr = fmt.Errorf("the browser fetched the live page (%d requests); it must render the captured bytes", n)
		}
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixture
}

// TestCaptureWithChromium is the end-to-end check: a local page
// captured with real Chromium gives a valid, non-blank full-page PNG with
// the header band and the page's coloured block, a PDF that opens, a WARC
// that parses, and a token that openssl ts -verify accepts.
func TestCaptureWithChromium(t *testing.T) {
	fx := chromeCapture(t)
	res := fx.res
	t.Logf("capture with Chromium and TSA took %v (render %v)", fx.took, res.RenderDuration)
	if len(res.Missing) != 0 || res.Timestamp != "stamped" || res.Position != 2 {
		t.Fatalf("result: %+v", res)
	}
	man, _, err := ReadManifest(res.Ref.Path)
	if err != nil {
		t.Fatal(err)
	}
	if man.Render == nil || man.Render.Status != "rendered" || !strings.Contains(man.Render.Browser, "Chrome") || man.Render.JavaScript {
		t.Fatalf("render info: %+v", man.Render)
	}
	if len(man.Render.Blocked) == 0 || !strings.Contains(man.Render.Blocked[0], "/private.png") {
		t.Fatalf("the loopback image was not refused: %+v", man.Render.Blocked)
	}
	if man.CrawlerUserAgent != "mimamori-test/1.0 (+https://example.invalid/bot)" || man.StatusCode != 200 || man.SourceID != "local-forum" {
		t.Fatalf("capture metadata: %+v", man)
	}

	// Screenshot.
	shot, err := os.ReadFile(filepath.Join(res.Ref.Path, ScreenshotName))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	b := img.Bounds()
	band := man.Render.BandHeight
	if b.Dx() != 1280 || b.Dy() < 900+band || band < 40 {
		t.Fatalf("screenshot %dx%d, band %d: want 1280 wide and the full page (taller than the 900px window) below the band", b.Dx(), b.Dy(), band)
	}
	colours := map[[3]uint8]int{}
	blockPixels, bandDark := 0, 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			c := [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8)}
			colours[c]++
			if y >= band && c == [3]uint8{0xe0, 0x11, 0x5f} {
				blockPixels++
			}
			if y < band && c == [3]uint8{0x10, 0x24, 0x3e} {
				bandDark++
			}
		}
	}
	if len(colours) < 50 {
		t.Fatalf("screenshot looks blank: %d distinct colours", len(colours))
	}
	if blockPixels < 300*200*9/10 {
		t.Fatalf("the page's #e0115f block is not in the screenshot (%d pixels)", blockPixels)
	}
	if bandDark < 1280*band/2 {
		t.Fatalf("no header band at the top (%d band pixels)", bandDark)
	}
	// The band's text: light pixels on the dark band.
	light := 0
	for y := 0; y < band; y++ {
		for x := 0; x < 1280; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 > 200 && g>>8 > 200 && bl>>8 > 200 {
				light++
			}
		}
	}
	if light < 500 {
		t.Fatalf("the header band has no text (%d light pixels)", light)
	}

	// PDF.
	pdfPath := filepath.Join(res.Ref.Path, PDFName)
	pdf, _ := os.ReadFile(pdfPath)
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) || !bytes.Contains(pdf[len(pdf)-1024:], []byte("%%EOF")) {
		t.Fatalf("not a PDF: %q", pdf[:min(len(pdf), 16)])
	}
	pdfinfo := requireTool(t, "pdfinfo")
	out, err := exec.Command(pdfinfo, pdfPath).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfinfo: %v\n%s", err, out)
	}
	pages := 0
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Pages:") {
			pages, _ = strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(l, "Pages:")))
		}
	}
	if pages < 1 {
		t.Fatalf("PDF has no pages:\n%s", out)
	}
	text, err := exec.Command(requireTool(t, "pdftotext"), pdfPath, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	for _, want := range []string{"EVIDENCE-POST-42", fx.fetch.FinalURL, "JST"} {
		if !strings.Contains(string(text), want) {
			t.Fatalf("PDF text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(string(text), "JS-RAN-HERE") || strings.Contains(string(text), "EDITED") {
		t.Fatalf("PDF shows script output or the live page:\n%s", text)
	}
	if _, err := os.Stat(filepath.Join(res.Ref.Path, DOMName)); !os.IsNotExist(err) {
		t.Fatal("dom.html written for a source that does not need JS")
	}

	// WARC and token.
	checkWARC(t, filepath.Join(res.Ref.Path, WARCName), fx.fetch.FinalURL, fx.fetch.Body)
	opensslVerify(t, res.Ref.Path, fx.tsaCA)

	r, err := fx.store.Verify(res.Ref.BundleID)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || !r.ChainChecked || r.Timestamp == nil || !r.Timestamp.ChainVerified {
		t.Fatalf("verify: %s %+v", names(r.Problems), r)
	}
	if crep, _ := VerifyChain(fx.root, fx.store.TSARoots(), nil); !crep.OK() {
		t.Fatalf("chain: %s", names(crep.Problems))
	}
	noChromiumLeft(t)
}

// TestFlipAnyByteOfAnyFile flips one byte in each file of a full bundle
// (raw page, exchange, mention, WARC, screenshot, PDF, manifest, token)
// and checks verify names that file, and the chain check fails.
func TestFlipAnyByteOfAnyFile(t *testing.T) {
	tamperEachFile(t, "flip", func(t *testing.T, p string) { flip(t, p, -1) })
}

// TestDeleteAnyFile deletes each file of a full bundle in turn.
func TestDeleteAnyFile(t *testing.T) {
	tamperEachFile(t, "delete", func(t *testing.T, p string) { os.Remove(p) })
}

func tamperEachFile(t *testing.T, how string, tamper func(t *testing.T, path string)) {
	fx := chromeCapture(t)
	files := bundleFiles(t, fx.res.Ref.Path)
	if len(files) < 8 {
		t.Fatalf("bundle holds only %v", files)
	}
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			root := copyTree(t, fx.root)
			b := inRoot(t, fx.root, root, fx.res.Ref.Path)
			tamper(t, filepath.Join(b, filepath.FromSlash(name)))
			r, err := VerifyWith(b, VerifyOptions{Root: root, TSARoots: fx.store.TSARoots()})
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() || !hasProblem(r.Problems, name) {
				t.Fatalf("%s of %s not detected:\n%s", how, name, names(r.Problems))
			}
			if crep, _ := VerifyChain(root, fx.store.TSARoots(), nil); crep.OK() {
				t.Fatalf("%s of %s not detected by the chain check", how, name)
			}
		})
	}
}

// TestChromiumMissingThenRerender: without a browser the capture keeps the
// raw bytes, the manifest says what is missing and why, and once the
// browser is there RetryPending renders the raw bytes into a new bundle
// linked to the first, which is left untouched.
func TestChromiumMissingThenRerender(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root, Options{Tool: "mimamori-test", Render: RenderOptions{ChromiumPath: "/nonexistent/chromium"}})
	if err != nil {
		t.Fatal(err)
	}
	f := &mention.Fetch{RequestURL: "http://127.0.0.1:1/thread/1", FinalURL: "http://127.0.0.1:1/thread/1", Method: "GET", StatusCode: 200,
		Header: http.Header{"Content-Type": {"text/html; charset=utf-8"}}, FetchedAt: time.Now().UTC(), Body: []byte(testPage)}
	start := time.Now()
	res, err := s.CaptureWith(context.Background(), sampleMention(), f, CaptureOptions{})
	if err != nil {
		t.Fatalf("capture must survive a missing browser: %v", err)
	}
	t.Logf("capture without Chromium took %v", time.Since(start))
	if !res.Degraded() || len(res.Missing) != 2 || !res.Missing[0].Retry || !strings.Contains(res.Missing[0].Reason, "chromium not found at /nonexistent/chromium") {
		t.Fatalf("missing: %+v", res.Missing)
	}
	if msgs := strings.Join(res.Messages(), "\n"); !strings.Contains(msgs, "rendering will be retried") {
		t.Fatalf("messages: %s", msgs)
	}
	man, _, _ := ReadManifest(res.Ref.Path)
	if man.Render == nil || man.Render.Status != "failed" || len(man.Missing) != 2 {
		t.Fatalf("manifest: %+v %+v", man.Render, man.Missing)
	}
	r, _ := s.Verify(res.Ref.Path)
	if !r.OK() || !strings.Contains(strings.Join(r.Notes, "\n"), "not captured: screenshot") {
		t.Fatalf("verify: %s %v", names(r.Problems), r.Notes)
	}
	// Still no browser: the retry keeps the work and says why.
	rep, _ := s.RetryPending(context.Background())
	if rep.RendersPending != 1 || len(rep.Errors) == 0 || !strings.Contains(rep.Errors[0], "chromium not found") {
		t.Fatalf("retry without browser: %+v", rep)
	}

	before := hashTree(t, res.Ref.Path)
	s.render.ChromiumPath = chromiumPath(t)
	s.renderer = newChromeRenderer(s.render)
	s.now = func() time.Time { return time.Now().Add(time.Hour) } // past the retry delay
	rep, _ = s.RetryPending(context.Background())
	if rep.RendersStored != 1 || rep.RendersPending != 0 {
		t.Fatalf("retry with browser: %+v", rep)
	}
	if after := hashTree(t, res.Ref.Path); after != before {
		t.Fatal("the first capture was changed by the re-rendering")
	}
	idx := loadChainIndex(root)
	renders := idx.subjects[res.Ref.BundleID]
	if len(renders) != 1 || renders[0].Kind != KindRender {
		t.Fatalf("render bundle: %+v", renders)
	}
	rdir := filepath.Join(root, renders[0].Path)
	rman, _, _ := ReadManifest(rdir)
	if rman.Subject == nil || rman.Subject.BundleID != res.Ref.BundleID || rman.Subject.ManifestSHA256 != res.Ref.ManifestSHA256 {
		t.Fatalf("render bundle subject: %+v", rman.Subject)
	}
	if _, err := png.Decode(bytes.NewReader(mustRead(t, filepath.Join(rdir, ScreenshotName)))); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Verify(rdir); !r.OK() {
		t.Fatal(names(r.Problems))
	}
	if r, _ := s.Verify(res.Ref.Path); !r.OK() || !strings.Contains(strings.Join(r.Notes, "\n"), "rendered later in bundle") {
		t.Fatalf("first bundle after re-render: %s %v", names(r.Problems), r.Notes)
	}
	noChromiumLeft(t)
}

// TestRetryDoesAllDueAndSaysWhatIsLeft: a retry renders every capture
// that is due (bounded by MaxRenders, not by a hidden 3), and each bundle
// it leaves is listed with the reason: not due yet, over the bound, or
// Chromium missing.
func TestRetryDoesAllDueAndSaysWhatIsLeft(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root, Options{Tool: "mimamori-test", Render: RenderOptions{ChromiumPath: "/nonexistent/chromium"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		f := &mention.Fetch{RequestURL: "http://127.0.0.1:1/thread/1", FinalURL: "http://127.0.0.1:1/thread/1", Method: "GET", StatusCode: 200,
			Header: http.Header{"Content-Type": {"text/html; charset=utf-8"}}, FetchedAt: time.Now().UTC(), Body: []byte(testPage)}
		m := sampleMention()
		m.ID = fmt.Sprintf("m%d", i)
		if _, err := s.CaptureWith(context.Background(), m, f, CaptureOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rep, _ := s.RetryPendingWith(context.Background(), RetryOptions{MaxRenders: 10})
	if rep.RendersPending != 5 || len(rep.Left) != 5 || !strings.Contains(rep.Left[0].Reason, "chromium not found") {
		t.Fatalf("without a browser every rendering is left, saying why: %+v", rep)
	}
	s.render.ChromiumPath = chromiumPath(t)
	s.renderer = newChromeRenderer(s.render)
	// Not due yet (the first attempt's delay has not passed): left, with when.
	rep, _ = s.RetryPendingWith(context.Background(), RetryOptions{MaxRenders: 10})
	if rep.RendersStored != 0 || len(rep.Left) != 5 || !strings.Contains(rep.Left[0].Reason, "not due until") || rep.Left[0].NextAttempt.IsZero() {
		t.Fatalf("not due: %+v", rep)
	}
	// Due, bound 4: four rendered, the fifth left over the bound.
	rep, _ = s.RetryPendingWith(context.Background(), RetryOptions{MaxRenders: 4, IgnoreSchedule: true})
	if rep.RendersStored != 4 || rep.RendersPending != 1 || len(rep.Left) != 1 || !strings.Contains(rep.Left[0].Reason, "bound of 4") || rep.Failed != 0 {
		t.Fatalf("bound 4: %+v", rep)
	}
	rep, _ = s.RetryPendingWith(context.Background(), RetryOptions{IgnoreSchedule: true})
	if rep.RendersStored != 1 || rep.RendersPending != 0 || len(rep.Left) != 0 {
		t.Fatalf("last one: %+v", rep)
	}
	noChromiumLeft(t)
}

// TestRenderNeedsJS: a source flagged as needing JavaScript runs the
// page's script and stores the DOM after it ran.
func TestRenderNeedsJS(t *testing.T) {
	chrome := chromiumPath(t)
	site := startSite(t)
	s, err := Open(t.TempDir(), Options{Tool: "t", Render: RenderOptions{ChromiumPath: chrome, JSSettle: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	f := fetchPage(t, site.srv.URL+"/js")
	res, err := s.CaptureWith(context.Background(), sampleMention(), f, CaptureOptions{NeedsJS: true})
	if err != nil || len(res.Missing) != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	dom := mustRead(t, filepath.Join(res.Ref.Path, DOMName))
	if !bytes.Contains(dom, []byte("JS-RAN-HERE")) || !bytes.HasPrefix(dom, []byte("<!DOCTYPE html>")) {
		t.Fatalf("dom.html: %.300s", dom)
	}
	raw := mustRead(t, filepath.Join(res.Ref.Path, "raw/response.html"))
	if string(raw) != testPage {
		t.Fatal("raw bytes changed")
	}
	noChromiumLeft(t)
}

// TestRenderTimeout: a page whose rendering cannot finish in time is
// stored without the rendering, with a retry.
func TestRenderTimeout(t *testing.T) {
	chrome := chromiumPath(t)
	s, err := Open(t.TempDir(), Options{Tool: "t", Render: RenderOptions{ChromiumPath: chrome, Timeout: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	f := &mention.Fetch{RequestURL: "https://example.jp/x", FinalURL: "https://example.jp/x", StatusCode: 200,
		Header: http.Header{"Content-Type": {"text/html"}}, FetchedAt: time.Now(), Body: []byte("<p>x</p>")}
	res, err := s.CaptureWith(context.Background(), sampleMention(), f, CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var shot *Missing
	for i := range res.Missing {
		if res.Missing[i].What == "screenshot" {
			shot = &res.Missing[i]
		}
	}
	if shot == nil || !shot.Retry || !strings.Contains(shot.Reason, "rendering did not finish within 50ms") {
		t.Fatalf("%+v", res.Missing)
	}
	time.Sleep(500 * time.Millisecond)
	noChromiumLeft(t)
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hashTree(t *testing.T, dir string) string {
	var b strings.Builder
	for _, f := range bundleFiles(t, dir) {
		h, _, _ := hashFile(filepath.Join(dir, f))
		b.WriteString(f + " " + h + "\n")
	}
	return b.String()
}

// noChromiumLeft fails when a browser started by these tests still runs
// (their profiles are mimamori-chromium-* temp folders).
func noChromiumLeft(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []string
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			data, err := os.ReadFile(p)
			if err == nil && bytes.Contains(data, []byte("mimamori-chromium-")) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromium processes left running: %v", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRenderSlowSubresource: an image that never arrives does not cost the
// capture its rendering: after half the render budget the page is taken
// as it is, and the manifest says the load was incomplete.
func TestRenderSlowSubresource(t *testing.T) {
	chrome := chromiumPath(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	s, err := Open(t.TempDir(), Options{Tool: "t", Render: RenderOptions{ChromiumPath: chrome, Timeout: 8 * time.Second, AllowPrivate: true}})
	if err != nil {
		t.Fatal(err)
	}
	page := `<html><body><h1 style="color:#0a7a3c">slow image below</h1><img src="` + srv.URL + `/slow.png"></body></html>`
	f := &mention.Fetch{RequestURL: srv.URL + "/page", FinalURL: srv.URL + "/page", StatusCode: 200,
		Header: http.Header{"Content-Type": {"text/html"}}, FetchedAt: time.Now(), Body: []byte(page)}
	start := time.Now()
	res, err := s.CaptureWith(context.Background(), sampleMention(), f, CaptureOptions{TLSPeerCertSHA256: strings.Repeat("ab", 32)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Missing) != 0 {
		t.Fatalf("missing %+v", res.Missing)
	}
	man, _, _ := ReadManifest(res.Ref.Path)
	if !man.Render.LoadIncomplete || man.Render.Subresources < 1 || man.TLSPeerCertSHA256 != strings.Repeat("ab", 32) {
		t.Fatalf("render %+v", man.Render)
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Fatalf("took %v", took)
	}
	noChromiumLeft(t)
}

// renderPage captures page (served as if from pageURL) with real Chromium
// for a mention of source, and returns the manifest and the screenshot.
func renderPage(t *testing.T, s *Store, source, pageURL, page string) (*Manifest, image.Image) {
	t.Helper()
	f := &mention.Fetch{RequestURL: pageURL, FinalURL: pageURL, StatusCode: 200,
		Header: http.Header{"Content-Type": {"text/html; charset=utf-8"}}, FetchedAt: time.Now(), Body: []byte(page)}
	m := mention.Mention{ID: "sub-" + source, Version: 1, SourceID: source, URL: pageURL}
	res, err := s.CaptureWith(context.Background(), m, f, CaptureOptions{TLSPeerCertSHA256: strings.Repeat("ab", 32)})
	if err != nil {
		t.Fatal(err)
	}
	man, _, err := ReadManifest(res.Ref.Path)
	if err != nil {
		t.Fatal(err)
	}
	if man.Render == nil || man.Render.Status != "rendered" {
		t.Fatalf("render %+v (missing %+v)", man.Render, res.Missing)
	}
	shot, err := os.ReadFile(filepath.Join(res.Ref.Path, ScreenshotName))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	return &man, img
}

func blockedContains(blocked []string, s string) bool {
	for _, b := range blocked {
		if strings.Contains(b, s) {
			return true
		}
	}
	return false
}

// TestRenderRefusesEmbeddedPrivateAddresses: subresources on a 6to4
// address embedding 127.0.0.1, a site-local, a discard-only and an
// IPv4-compatible IPv6 address are refused like loopback itself (the
// renderer's old guard let them through). The page is a loopback page of a
// source without allow_private (the captured bytes are served whatever
// its host), so Chromium's own Private Network Access checks, which
// refuse some of these from a public page, do not get there first.
func TestRenderRefusesEmbeddedPrivateAddresses(t *testing.T) {
	chrome := chromiumPath(t)
	s, err := Open(t.TempDir(), Options{Tool: "t", Render: RenderOptions{ChromiumPath: chrome, Timeout: 30 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	page := `<html><body><h1>embedded</h1>
<img src="http://[2002:7f00:1::]/a.png"><img src="http://[fec0::1]/b.png"><img src="http://[100::1]/c.png"><img src="http://[::7f00:1]/d.png"></body></html>`
	man, _ := renderPage(t, s, "public-board", "http://127.0.0.1:9/t/1", page)
	for _, want := range []string{"[2002:7f00:1::]", "[fec0::1]", "[100::1]", "[::7f00:1]"} {
		if !blockedContains(man.Render.Blocked, want) {
			t.Errorf("%s was not refused: blocked %q", want, man.Render.Blocked)
		}
	}
	if man.Render.Subresources != 0 {
		t.Errorf("%d subresources loaded, want 0", man.Render.Subresources)
	}
	noChromiumLeft(t)
}

// TestRenderSubresourcesFollowSourceRules: a page of an allow_private
// source on 127.0.0.1 gets its own stylesheet and image (the screenshot
// shows the stylesheet's background colour), while another loopback port,
// the metadata service and embedded loopback stay refused.
func TestRenderSubresourcesFollowSourceRules(t *testing.T) {
	chrome := chromiumPath(t)
	var css, img, other atomic.Int32
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/style.css":
			css.Add(1)
			w.Header().Set("Content-Type", "text/css")
			io.WriteString(w, "html, body { margin: 0; background: #e0115f; }")
		case "/logo.png":
			img.Add(1)
			w.Header().Set("Content-Type", "image/png")
			w.Write(onePixelPNG())
		default:
			http.NotFound(w, r)
		}
	}))
	defer site.Close()
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		other.Add(1)
		w.Header().Set("Content-Type", "text/css")
		io.WriteString(w, "body { background: #00ff00; }")
	}))
	defer elsewhere.Close()

	s, err := Open(t.TempDir(), Options{Tool: "t", Render: RenderOptions{ChromiumPath: chrome, Timeout: 30 * time.Second},
		Sources: map[string]netguard.Policy{"intranet": {AllowPrivate: true, Home: site.URL + "/board"}}})
	if err != nil {
		t.Fatal(err)
	}
	page := `<!DOCTYPE html><html><head><link rel="stylesheet" href="/style.css">
<link rel="stylesheet" href="` + elsewhere.URL + `/other.css"></head>
<body><h1>intranet board</h1><img src="/logo.png">
<img src="http://169.254.169.254/latest/meta-data/x.png"><img src="http://[2002:7f00:1::]/a.png"></body></html>`
	man, shot := renderPage(t, s, "intranet", site.URL+"/board/1", page)
	if css.Load() == 0 || img.Load() == 0 {
		t.Errorf("the page's own stylesheet (%d) or image (%d) was not loaded; blocked %q", css.Load(), img.Load(), man.Render.Blocked)
	}
	if other.Load() != 0 {
		t.Errorf("another loopback port was reached %d time(s)", other.Load())
	}
	for _, want := range []string{elsewhere.URL + "/other.css", "169.254.169.254", "[2002:7f00:1::]"} {
		if !blockedContains(man.Render.Blocked, want) {
			t.Errorf("%s was not refused: blocked %q", want, man.Render.Blocked)
		}
	}
	// Below the band the page's background is the stylesheet's colour.
	b := shot.Bounds()
	bg := 0
	for y := b.Min.Y + man.Render.BandHeight; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bl, _ := shot.At(x, y).RGBA()
			if [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8)} == [3]uint8{0xe0, 0x11, 0x5f} {
				bg++
			}
		}
	}
	if total := (b.Dx() / 7) * ((b.Dy() - man.Render.BandHeight) / 7); bg < total/2 {
		t.Errorf("%d of ~%d sampled pixels have the stylesheet's background: the page rendered unstyled", bg, total)
	}

	// The same page for a source without allow_private: its stylesheet
	// is refused as before.
	css.Store(0)
	man, _ = renderPage(t, s, "public-board", site.URL+"/board/2", page)
	if css.Load() != 0 || !blockedContains(man.Render.Blocked, "/style.css") {
		t.Errorf("a source without allow_private loaded a loopback stylesheet (%d; blocked %q)", css.Load(), man.Render.Blocked)
	}
	noChromiumLeft(t)
}
