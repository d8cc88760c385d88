// Package evidence captures write-once evidence bundles for mentions and
// verifies them years later.
//
// A bundle is a folder under the evidence root (YYYY/MM/<bundle id>/):
//
//	raw/response.*        the response body exactly as received (the post's
//	                      own page, or the page it was read from)
//	exchange.json         request and response metadata (headers, status, times)
//	listing/…             the feed or API answer a post was read from, when
//	                      raw/ holds the post's own page (its permalink)
//	permalink/…           what the permalink answered when it could not be
//	                      the primary capture (manifest.permalink says why)
//	mention.json          the mention as detected
//	fetch.warc            the fetch as WARC/1.1 records (ISO 28500)
//	render/screenshot.png full page rendered by headless Chromium from the raw
//	                      bytes, with a header band showing URL and time (JST, UTC)
//	render/page.pdf       the same page printed to PDF
//	render/marked.png     derived: the alerted post outlined on a crop of the
//	                      screenshot (and render/marked.pdf); the full page stays as rendered
//	render/dom.html       the DOM after JavaScript (sources that need JS)
//	manifest.json         every file above with SHA-256 and size, the capture
//	                      metadata and the previous bundle's manifest hash
//	timestamp.tsr         RFC 3161 token over SHA-256(manifest.json); an
//	                      addendum, not listed in the manifest
//
// Bundles form an append-only hash chain: manifest N records the SHA-256 of
// manifest N-1, and chain.jsonl under the root lists every bundle in order,
// each line hashing the line before it; chain-heads.jsonl records the head
// of chain.jsonl from time to time (AnchorHead), so a chain cut at its end
// is caught too. Files of a stored bundle are never
// rewritten: a later rendering, a re-check of the post or a deletion
// observed later is a new bundle linked to the first one (its "subject").
package evidence

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"mimamori/internal/netguard"
	"mimamori/mention"
)

// ManifestName is the manifest file inside every bundle.
const ManifestName = "manifest.json"

// FormatVersion is the bundle layout version written into manifests.
// Format 1 bundles (no chain, no rendering) still verify.
const FormatVersion = 2

// Bundle kinds.
const (
	// KindCapture is a full capture of an alerted post.
	KindCapture = "capture"
	// KindLight is a capture of a post that did not alert: raw bytes,
	// exchange and hashes only.
	KindLight = "light"
	// KindRender is a later rendering of an earlier capture's raw bytes.
	KindRender = "render"
	// KindObservation records a re-check of a captured post (edited,
	// deleted, unchanged).
	KindObservation = "observation"
)

// File roles.
const (
	RoleRaw         = "raw-response-body"
	RoleExchange    = "http-exchange"
	RoleMention     = "mention-as-detected"
	RoleWARC        = "warc"
	RoleScreenshot  = "screenshot"
	RolePDF         = "pdf"
	RoleDOM         = "dom-after-javascript"
	RoleObservation = "observation"
	RoleTLSChain    = "tls-peer-certificates"
	// RoleListingRaw and RoleListingExchange are the feed or API answer a
	// post was read from, when the primary capture is the post's own page.
	RoleListingRaw      = "listing-response-body"
	RoleListingExchange = "listing-http-exchange"
	// RolePermalinkRaw and RolePermalinkExchange are what the post's own
	// page answered when it could not be the primary capture (an error
	// status, a page without the post).
	RolePermalinkRaw      = "permalink-response-body"
	RolePermalinkExchange = "permalink-http-exchange"
)

// Manifest lists every file of a bundle with its hash and size, and says
// how, when and by what the bundle was captured.
type Manifest struct {
	Format     int       `json:"format"`
	Kind       string    `json:"kind,omitempty"`
	BundleID   string    `json:"bundle_id"`
	MentionID  string    `json:"mention_id"`
	Version    int       `json:"mention_version"`
	SourceID   string    `json:"source_id"`
	URL        string    `json:"url"`
	RequestURL string    `json:"request_url"`
	FinalURL   string    `json:"final_url"`
	StatusCode int       `json:"status_code"`
	FetchedAt  time.Time `json:"fetched_at"`
	CapturedAt time.Time `json:"captured_at"`
	Tool       string    `json:"tool"`
	GoVersion  string    `json:"go_version,omitempty"`
	// CrawlerUserAgent is the User-Agent the fetch was made with.
	CrawlerUserAgent string `json:"crawler_user_agent,omitempty"`
	// TLSPeerCertSHA256 is the SHA-256 of the server's leaf certificate
	// (DER) when the page came over https.
	TLSPeerCertSHA256 string `json:"tls_peer_cert_sha256,omitempty"`
	// NeedsJS says the source needs JavaScript to show its content.
	NeedsJS bool `json:"needs_js,omitempty"`

	// ChainPosition is the bundle's place in the chain (1 = first).
	ChainPosition int64 `json:"chain_position,omitempty"`
	// PrevBundleID and PrevManifestSHA256 name the bundle before this one
	// (empty for the first bundle).
	PrevBundleID       string `json:"prev_bundle_id,omitempty"`
	PrevManifestSHA256 string `json:"prev_manifest_sha256"`

	// Subject is the bundle a render or observation bundle is about, or the
	// first capture of a post whose edit this capture records.
	Subject *Link `json:"subject,omitempty"`
	// Render describes the rendering (or why there is none).
	Render *RenderInfo `json:"render,omitempty"`
	// Observation is set on observation bundles.
	Observation *Observation `json:"observation,omitempty"`
	// Permalink says how the post's own page was fetched, for a post read
	// from a feed or an API answer (nil: the page the post was read from
	// is its page).
	Permalink *PermalinkCapture `json:"permalink,omitempty"`
	// Listing names the feed or API answer the post was read from when the
	// primary capture is another page (the post's own).
	Listing *ListingRef `json:"listing,omitempty"`
	// Timestamp says a trusted timestamp was requested for this manifest.
	Timestamp *TimestampPlan `json:"timestamp,omitempty"`
	// Missing lists what this bundle lacks and why.
	Missing []Missing `json:"missing,omitempty"`

	Files []File `json:"files"`
}

// ListingRef is the second record of a capture: the listing (feed, API
// answer) the post was read from.
type ListingRef struct {
	RequestURL string    `json:"request_url"`
	FinalURL   string    `json:"final_url"`
	StatusCode int       `json:"status_code"`
	FetchedAt  time.Time `json:"fetched_at"`
}

// Link names another bundle by id and manifest hash.
type Link struct {
	BundleID       string `json:"bundle_id"`
	ManifestSHA256 string `json:"manifest_sha256"`
	Relation       string `json:"relation"`
}

// TimestampPlan is the manifest's note that a token is expected.
type TimestampPlan struct {
	TSA       string `json:"tsa"`
	TokenFile string `json:"token_file"`
	Hash      string `json:"hash"`
}

// Missing is a part of a bundle that could not be captured.
type Missing struct {
	What   string `json:"what"`
	Reason string `json:"reason"`
	// Retry says the part will be retried (a render bundle follows).
	Retry bool `json:"retry"`
}

// File is one manifest entry.
type File struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Role   string `json:"role"`
}

// Options configures a Store.
type Options struct {
	// Tool names the capturing program and version.
	Tool string
	// CrawlerUserAgent is the configured crawler identity, recorded when a
	// fetch does not carry its User-Agent.
	CrawlerUserAgent string
	// TSA configures trusted timestamps (empty URL: none).
	TSA TSAOptions
	// Render configures headless Chromium.
	Render RenderOptions
	// Sources are the fetch rules of each source, by source id
	// (config.Source.NetPolicy): the subresources of a page rendered for a
	// bundle follow those of the bundle's source. A source not listed gets
	// public addresses only.
	Sources map[string]netguard.Policy
	// Retention deletes the files of capture, render and observation
	// bundles older than this (0 keeps them forever).
	Retention time.Duration
	// LightRetention does the same for light bundles (0: forever).
	LightRetention time.Duration
	// Logger receives warnings (rendering failed, TSA down); nil: none.
	Logger *zap.Logger
}

// Store writes bundles under a root directory. It is safe for concurrent
// use, also by several processes sharing the root (chain appends take a
// file lock).
type Store struct {
	root           string
	tool           string
	crawlerUA      string
	now            func() time.Time
	open           openFunc
	mu             sync.Mutex
	tsa            *tsaClient
	tsaRoots       *x509.CertPool
	tsaCAFile      string
	render         RenderOptions
	renderer       renderer
	sources        map[string]netguard.Policy
	retention      time.Duration
	lightRetention time.Duration
	log            *zap.Logger
	// lastLineSHA is the hash of the line appendEntry wrote (under mu).
	lastLineSHA string
	// captures indexes capture bundles by mention (ExistingCapture).
	captures captureIndex
}

// NewStore returns a store rooted at dir with no rendering and no trusted
// timestamps (use Open for those). tool names the capturing program and
// version, recorded in each manifest.
func NewStore(dir, tool string) *Store {
	s, _ := Open(dir, Options{Tool: tool, Render: RenderOptions{Disabled: true}}) // no TSA options: cannot fail
	return s
}

// Open returns a store rooted at dir. It loads the TSA CA (an error here is
// a configuration error), finishes a bundle a crash left half-renamed, and
// removes stale temporary folders. A root that cannot be created is
// logged, not returned: each capture then fails with a clear error.
func Open(dir string, o Options) (*Store, error) {
	s := &Store{root: dir, tool: o.Tool, crawlerUA: o.CrawlerUserAgent, now: time.Now, open: osOpen,
		render: o.Render.withDefaults(), sources: o.Sources, retention: o.Retention, lightRetention: o.LightRetention, log: o.Logger}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.renderer = newChromeRenderer(s.render)
	tsa, err := newTSAClient(o.TSA)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	s.tsa = tsa
	s.tsaCAFile = o.TSA.CAFile
	if tsa != nil {
		s.tsaRoots = tsa.roots
	} else if o.TSA.Roots != nil {
		s.tsaRoots = o.TSA.Roots
	} else if o.TSA.CAFile != "" {
		if s.tsaRoots, err = LoadCAFile(o.TSA.CAFile); err != nil {
			return nil, fmt.Errorf("evidence: %w", err)
		}
	}
	// Storage problems (root not writable, disk full) do not stop the
	// daemon: they are logged here and fail each capture with a clear
	// error, while alerts still go out.
	if err := s.prepareRoot(); err != nil {
		s.log.Error("evidence root not usable; captures will fail until it is fixed", zap.String("root", dir), zap.Error(err))
	}
	return s, nil
}

// prepareRoot creates the root, finishes a half-stored bundle and removes
// stale temporary folders.
func (s *Store) prepareRoot() error {
	if err := os.MkdirAll(s.root, 0o750); err != nil {
		return fmt.Errorf("evidence root %s: %w", s.root, err)
	}
	unlock, err := s.lockChain()
	if err != nil {
		return fmt.Errorf("evidence root %s: %w", s.root, err)
	}
	err = s.recoverLocked()
	unlock()
	if err != nil {
		return fmt.Errorf("evidence root %s: recover: %w", s.root, err)
	}
	s.removeStaleTemps(staleTempAge)
	return nil
}

// Root returns the directory bundles live under.
func (s *Store) Root() string { return s.root }

// TSARoots returns the configured TSA CA pool (nil when none).
func (s *Store) TSARoots() *x509.CertPool { return s.tsaRoots }

// TSACAFile returns the configured TSA CA file.
func (s *Store) TSACAFile() string { return s.tsaCAFile }

// exchange is the HTTP metadata file of a bundle.
type exchange struct {
	Method        string              `json:"method"`
	RequestURL    string              `json:"request_url"`
	FinalURL      string              `json:"final_url"`
	StatusCode    int                 `json:"status_code"`
	Proto         string              `json:"proto,omitempty"`
	RequestHeader map[string][]string `json:"request_header,omitempty"`
	Header        map[string][]string `json:"response_header"`
	FetchedAtUTC  time.Time           `json:"fetched_at_utc"`
	BodySize      int                 `json:"body_size"`
}

// CaptureOptions adjusts one capture.
type CaptureOptions struct {
	// Light keeps only the raw bytes, the exchange, the mention and the
	// hashes: no WARC, no rendering, no timestamp of its own (a later
	// bundle's timestamp covers it through the chain). For posts that did
	// not alert.
	Light bool
	// NeedsJS renders with JavaScript on and records the DOM after it ran
	// (render/dom.html). Without it scripts are off, so the rendering shows
	// exactly the captured HTML.
	NeedsJS bool
	// NoRender skips rendering (e.g. a JSON API source).
	NoRender bool
	// TLSPeerCertificates is the server's certificate chain (DER, leaf
	// first) when the page came over https; stored as tls/peer-chain.pem
	// and fingerprinted in the manifest.
	TLSPeerCertificates [][]byte
	// TLSPeerCertSHA256 is the leaf's SHA-256 when only that is known.
	TLSPeerCertSHA256 string
	// Subject links this capture to an earlier bundle (bundle id or path):
	// the first capture of a post this capture shows edited.
	Subject string
	// Listing is the feed or API answer the post was read from, when the
	// exchange captured is the post's own page (its permalink): stored as
	// a second record (listing/response.*, listing/exchange.json, and the
	// second response in the WARC).
	Listing *mention.Fetch
	// Permalink records how the post's own page was fetched (see
	// PermalinkCapture); nil when no other page was tried.
	Permalink *PermalinkCapture
	// PermalinkAnswer is what the permalink answered when it could not be
	// the primary capture (a 404, a login page): kept under permalink/.
	PermalinkAnswer *mention.Fetch
}

// Result describes a stored bundle.
type Result struct {
	Ref                mention.EvidenceRef `json:"ref"`
	Kind               string              `json:"kind"`
	Position           int64               `json:"chain_position"`
	PrevManifestSHA256 string              `json:"prev_manifest_sha256"`
	Missing            []Missing           `json:"missing,omitempty"`
	// Timestamp is "stamped", "pending" (TSA unreachable; RetryPending
	// fetches it later) or "none" (no TSA configured, or a light bundle).
	Timestamp      string        `json:"timestamp"`
	TimestampError string        `json:"timestamp_error,omitempty"`
	Duration       time.Duration `json:"duration"`
	RenderDuration time.Duration `json:"render_duration"`
}

// Degraded reports whether something was left for later or missing.
func (r Result) Degraded() bool { return len(r.Missing) > 0 || r.Timestamp == "pending" }

// Messages explains in one line each what is missing and what happens next.
func (r Result) Messages() []string {
	var out []string
	for _, m := range r.Missing {
		s := fmt.Sprintf("bundle %s has no %s: %s", r.Ref.BundleID, m.What, m.Reason)
		if m.Retry {
			s += " (the raw bytes are stored; rendering will be retried and stored as a linked bundle)"
		}
		out = append(out, s)
	}
	if r.Timestamp == "pending" {
		out = append(out, fmt.Sprintf("bundle %s is stored without a trusted timestamp yet: %s (RetryPending will fetch it)", r.Ref.BundleID, r.TimestampError))
	}
	return out
}

// Capture writes a bundle for m from the exchange f (no context: see
// CaptureContext).
func (s *Store) Capture(m mention.Mention, f *mention.Fetch) (mention.EvidenceRef, error) {
	return s.CaptureContext(context.Background(), m, f)
}

// CaptureContext writes a full bundle for m from the exchange f: raw bytes,
// exchange, mention, WARC, rendering (screenshot and PDF) and a trusted
// timestamp. Rendering and timestamp failures do not fail the capture: the
// bundle is stored with what there is, the manifest says what is missing,
// and RetryPending completes it later.
func (s *Store) CaptureContext(ctx context.Context, m mention.Mention, f *mention.Fetch) (mention.EvidenceRef, error) {
	r, err := s.CaptureWith(ctx, m, f, CaptureOptions{})
	return r.Ref, err
}

// CaptureLight writes a light bundle (raw bytes and hashes only) for a
// post that did not alert.
func (s *Store) CaptureLight(ctx context.Context, m mention.Mention, f *mention.Fetch) (mention.EvidenceRef, error) {
	r, err := s.CaptureWith(ctx, m, f, CaptureOptions{Light: true})
	return r.Ref, err
}

// CaptureWith writes a bundle with options and reports what it holds.
func (s *Store) CaptureWith(ctx context.Context, m mention.Mention, f *mention.Fetch, o CaptureOptions) (Result, error) {
	start := time.Now()
	if f == nil {
		return Result{}, fmt.Errorf("capture evidence for %s: no HTTP exchange recorded", m.ID)
	}
	captured := s.now().UTC()
	kind, tag := KindCapture, ""
	if o.Light {
		kind, tag = KindLight, "l"
	}
	d := &draft{man: s.baseManifest(kind, newBundleID(m.ID, m.Version, captured, tag), m, f, captured)}
	d.man.NeedsJS = o.NeedsJS
	d.addFetchFiles(m, f)
	d.man.Permalink = o.Permalink
	var extra []warcExchange
	if l := o.Listing; l != nil {
		d.man.Listing = &ListingRef{RequestURL: l.RequestURL, FinalURL: l.FinalURL, StatusCode: l.StatusCode, FetchedAt: l.FetchedAt.UTC()}
		d.addRecord("listing/", RoleListingRaw, RoleListingExchange, l)
		extra = append(extra, warcExchange{f: l, role: "listing"})
	}
	if a := o.PermalinkAnswer; a != nil && !o.Light {
		d.addRecord("permalink/", RolePermalinkRaw, RolePermalinkExchange, a)
		extra = append(extra, warcExchange{f: a, role: "permalink-answer"})
	}
	if err := s.addTLS(d, f, o); err != nil {
		return Result{}, fmt.Errorf("capture evidence for %s: %w", m.ID, err)
	}
	if o.Subject != "" {
		link, err := s.link(o.Subject, "edit-of")
		if err != nil {
			return Result{}, fmt.Errorf("capture evidence for %s: %w", m.ID, err)
		}
		d.man.Subject = link
	}
	var renderTook time.Duration
	if !o.Light {
		primary := warcExchange{f: f}
		if o.Listing != nil {
			primary.role = "post-page"
		} else if o.PermalinkAnswer != nil || o.Permalink != nil {
			primary.role = "listing"
		}
		if w, err := buildWARCOf(s.tool, d.man.BundleID, captured, append([]warcExchange{primary}, extra...)...); err != nil {
			d.man.Missing = append(d.man.Missing, Missing{What: "warc", Reason: err.Error()})
		} else {
			d.add(WARCName, RoleWARC, w)
		}
		rs := time.Now()
		in := renderInputFor(f, o.NeedsJS, captured)
		in.Policy = s.sources[m.SourceID]
		in.Mark = markTargetFor(m.URL, m.Text)
		s.renderInto(ctx, d, in, o.NoRender)
		renderTook = time.Since(rs)
		d.stamp = s.tsa != nil
	}
	res, err := s.commit(ctx, d)
	res.Duration, res.RenderDuration = time.Since(start), renderTook
	if err != nil {
		return res, fmt.Errorf("capture evidence for %s: %w", m.ID, err)
	}
	return res, nil
}

func renderInputFor(f *mention.Fetch, needsJS bool, now time.Time) renderInput {
	u := f.FinalURL
	if u == "" {
		u = f.RequestURL
	}
	fetched := f.FetchedAt.UTC()
	if fetched.IsZero() {
		fetched = now
	}
	return renderInput{URL: u, RequestURL: f.RequestURL, Status: f.StatusCode, Header: f.Header, Body: f.Body,
		NeedsJS: needsJS, FetchedAt: fetched, RenderedAt: now}
}

func (s *Store) baseManifest(kind, id string, m mention.Mention, f *mention.Fetch, captured time.Time) Manifest {
	man := Manifest{Format: FormatVersion, Kind: kind, BundleID: id, MentionID: m.ID, Version: m.Version,
		SourceID: m.SourceID, URL: m.URL, CapturedAt: captured, Tool: s.tool, GoVersion: runtime.Version()}
	if f != nil {
		man.RequestURL, man.FinalURL, man.StatusCode, man.FetchedAt = f.RequestURL, f.FinalURL, f.StatusCode, f.FetchedAt.UTC()
		man.CrawlerUserAgent = f.RequestHeader.Get("User-Agent")
	}
	if man.CrawlerUserAgent == "" {
		man.CrawlerUserAgent = s.crawlerUA
	}
	return man
}

// draft is a bundle being assembled.
type draft struct {
	man   Manifest
	files []bundleFile
	stamp bool
	// renderRetry records a render marker for this bundle.
	renderRetry string
}

type bundleFile struct {
	name, role string
	data       []byte
}

func (d *draft) add(name, role string, data []byte) {
	d.files = append(d.files, bundleFile{name, role, data})
}

func (d *draft) addFetchFiles(m mention.Mention, f *mention.Fetch) {
	d.add("raw/response"+extFor(f.Header.Get("Content-Type")), RoleRaw, f.Body)
	d.add("exchange.json", RoleExchange, exchangeJSON(f))
	if m.ID != "" {
		mJSON, _ := json.MarshalIndent(m, "", "  ")
		d.add("mention.json", RoleMention, mJSON)
	}
}

// addRecord adds a further exchange of the capture under dir: its body as
// received and its metadata.
func (d *draft) addRecord(dir, rawRole, exRole string, f *mention.Fetch) {
	d.add(dir+"response"+extFor(f.Header.Get("Content-Type")), rawRole, f.Body)
	d.add(dir+"exchange.json", exRole, exchangeJSON(f))
}

func exchangeJSON(f *mention.Fetch) []byte {
	ex := exchange{Method: f.Method, RequestURL: f.RequestURL, FinalURL: f.FinalURL, StatusCode: f.StatusCode,
		Proto: f.Proto, RequestHeader: f.RequestHeader, Header: f.Header, FetchedAtUTC: f.FetchedAt.UTC(), BodySize: len(f.Body)}
	b, _ := json.MarshalIndent(ex, "", "  ")
	return b
}

func (s *Store) addTLS(d *draft, f *mention.Fetch, o CaptureOptions) error {
	if len(o.TLSPeerCertificates) > 0 {
		var pemData []byte
		for _, der := range o.TLSPeerCertificates {
			if _, err := x509.ParseCertificate(der); err != nil {
				return fmt.Errorf("TLS peer certificate: %w", err)
			}
			pemData = append(pemData, pemEncode("CERTIFICATE", der)...)
		}
		d.man.TLSPeerCertSHA256 = sha256Hex(o.TLSPeerCertificates[0])
		d.add("tls/peer-chain.pem", RoleTLSChain, pemData)
		return nil
	}
	if o.TLSPeerCertSHA256 != "" {
		d.man.TLSPeerCertSHA256 = strings.ToLower(o.TLSPeerCertSHA256)
		return nil
	}
	u := f.FinalURL
	if u == "" {
		u = f.RequestURL
	}
	if p, err := url.Parse(u); err == nil && p.Scheme == "https" {
		d.man.Missing = append(d.man.Missing, Missing{What: "tls_peer_certificate", Reason: "the crawler did not record the server certificate"})
	}
	return nil
}

// renderInto renders in and adds the files, or records why not.
func (s *Store) renderInto(ctx context.Context, d *draft, in renderInput, skip bool) {
	missing := func(reason string, retry bool) {
		for _, w := range []string{"screenshot", "pdf"} {
			d.man.Missing = append(d.man.Missing, Missing{What: w, Reason: reason, Retry: retry})
		}
		if in.NeedsJS {
			d.man.Missing = append(d.man.Missing, Missing{What: "dom", Reason: reason, Retry: retry})
		}
	}
	switch {
	case skip:
		d.man.Render = &RenderInfo{Status: "disabled", Error: "not requested for this capture"}
		missing("rendering not requested for this capture", false)
		return
	case s.render.Disabled:
		d.man.Render = &RenderInfo{Status: "disabled", Error: "rendering disabled by configuration (evidence.disable_render)"}
		missing("rendering disabled by configuration (evidence.disable_render)", false)
		return
	}
	if !renderable(in.Header, in.Body) {
		reason := fmt.Sprintf("content type %q is not a page a browser renders", in.Header.Get("Content-Type"))
		d.man.Render = &RenderInfo{Status: "disabled", Error: reason}
		missing(reason, false)
		return
	}
	out, err := s.renderer.render(ctx, in)
	if err != nil {
		reason := "rendering failed: " + err.Error()
		if errors.Is(err, ErrChromiumMissing) {
			reason = "headless Chromium is not available: " + err.Error()
		}
		d.man.Render = &RenderInfo{Status: "failed", Error: reason, JavaScript: in.NeedsJS}
		missing(reason, true)
		d.renderRetry = reason
		s.log.Warn("evidence rendering failed; raw bytes are stored and rendering will be retried",
			zap.String("bundle", d.man.BundleID), zap.String("url", in.URL), zap.Error(err))
		return
	}
	info := out.Info
	d.man.Render = &info
	d.addRendering(out, in.NeedsJS)
}

// addRendering adds the files of a rendering: the full page as captured
// and, when the post was located, the derived marked image and PDF page.
func (d *draft) addRendering(out *renderOutput, needsJS bool) {
	d.add(ScreenshotName, RoleScreenshot, out.PNG)
	d.add(PDFName, RolePDF, out.PDF)
	if needsJS {
		d.add(DOMName, RoleDOM, out.DOM)
	}
	if out.MarkedPNG != nil {
		d.add(MarkedName, RoleMarked, out.MarkedPNG)
		if out.MarkedPDF != nil {
			d.add(MarkedPDFName, RoleMarkedPDF, out.MarkedPDF)
		}
	}
}

func renderable(h map[string][]string, body []byte) bool {
	mt, _, _ := mime.ParseMediaType(firstHeader(h, "Content-Type"))
	if mt == "" {
		return len(body) > 0
	}
	return mt == "text/html" || mt == "application/xhtml+xml" || strings.HasPrefix(mt, "text/") ||
		strings.HasPrefix(mt, "image/") || strings.HasSuffix(mt, "xml") || strings.HasSuffix(mt, "json")
}

func firstHeader(h map[string][]string, k string) string {
	for hk, v := range h {
		if strings.EqualFold(hk, k) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// commit writes the draft as a bundle: files into a temporary folder, then
// under the chain lock the manifest (with the chain link), the chain line
// and the rename into place; then the trusted timestamp.
func (s *Store) commit(ctx context.Context, d *draft) (Result, error) {
	man := &d.man
	rel := filepath.ToSlash(filepath.Join(man.CapturedAt.Format("2006"), man.CapturedAt.Format("01"), man.BundleID))
	final := filepath.Join(s.root, filepath.FromSlash(rel))
	res := Result{Kind: man.Kind, Missing: man.Missing, Timestamp: "none"}
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return res, s.storeErr(err)
	}
	if _, err := os.Stat(final); err == nil {
		return res, fmt.Errorf("bundle %s already exists; refusing to overwrite", final)
	}
	tmp := tmpDirFor(final, man.BundleID)
	if err := os.Mkdir(tmp, 0o750); err != nil {
		return res, s.storeErr(err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	for _, fl := range d.files {
		sum, err := writeFileWith(s.open, filepath.Join(tmp, filepath.FromSlash(fl.name)), fl.data, 0o440)
		if err != nil {
			return res, s.storeErr(fmt.Errorf("write %s: %w", fl.name, err))
		}
		man.Files = append(man.Files, File{Path: fl.name, SHA256: sum, Size: int64(len(fl.data)), Role: fl.role})
	}
	if d.stamp {
		man.Timestamp = &TimestampPlan{TSA: s.tsa.url, TokenFile: TimestampName, Hash: "sha256"}
	}

	unlock, err := s.lockChain()
	if err != nil {
		return res, s.storeErr(err)
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	if err := s.recoverLocked(); err != nil {
		return res, fmt.Errorf("recover chain: %w", err)
	}
	head, _, _, err := s.readHead()
	if err != nil {
		return res, err
	}
	man.ChainPosition = 1
	if head != nil {
		man.ChainPosition = head.Head.Position + 1
		man.PrevBundleID, man.PrevManifestSHA256 = head.Head.BundleID, head.Head.ManifestSHA256
	}
	manJSON, _ := json.MarshalIndent(man, "", "  ")
	manSum, err := writeFileWith(s.open, filepath.Join(tmp, ManifestName), manJSON, 0o440)
	if err != nil {
		return res, s.storeErr(fmt.Errorf("write manifest: %w", err))
	}
	if err := syncDir(tmp); err != nil {
		return res, s.storeErr(err)
	}
	var markers []string
	dropMarkers := func() {
		for _, p := range markers {
			os.Remove(p)
		}
	}
	if d.stamp {
		p, err := s.writeMarker(markerTimestamp, pendingMarker{BundleID: man.BundleID, Path: rel, ManifestSHA256: manSum,
			Position: man.ChainPosition, Since: man.CapturedAt})
		if err != nil {
			return res, s.storeErr(err)
		}
		markers = append(markers, p)
	}
	if d.renderRetry != "" {
		p, err := s.writeMarker(markerRender, pendingMarker{BundleID: man.BundleID, Path: rel, ManifestSHA256: manSum,
			Position: man.ChainPosition, Since: man.CapturedAt, LastError: d.renderRetry, Attempts: 1,
			NextAttempt: s.now().UTC().Add(retryBackoff(1))})
		if err != nil {
			dropMarkers()
			return res, s.storeErr(err)
		}
		markers = append(markers, p)
	}
	entry := &ChainEntry{Type: EntryBundle, BundleID: man.BundleID, Path: rel, Kind: man.Kind, Position: man.ChainPosition,
		ManifestSHA256: manSum, PrevManifestSHA256: man.PrevManifestSHA256, MentionID: man.MentionID, URL: man.URL,
		CapturedAt: man.CapturedAt}
	if man.Subject != nil {
		entry.Subject = man.Subject.BundleID
	}
	if err := s.appendEntry(entry); err != nil {
		dropMarkers()
		return res, s.storeErr(err)
	}
	// From here the chain names the bundle: never remove tmp; a failed
	// rename is finished by recoverLocked on the next append or Open.
	ok = true
	s.captures.add(*entry)
	if err := os.Rename(tmp, final); err != nil {
		return res, fmt.Errorf("bundle %s is in the chain but not yet in place (%v); it is completed on the next capture", man.BundleID, err)
	}
	if err := syncOne(filepath.Dir(final)); err != nil {
		return res, s.storeErr(err)
	}
	headLine := s.lastLineSHA
	unlock()
	locked = false

	res.Ref = mention.EvidenceRef{BundleID: man.BundleID, Path: final, ManifestSHA256: manSum}
	for _, f := range man.Files {
		if f.Role == RoleRaw {
			res.Ref.RawSHA256 = f.SHA256
			break
		}
	}
	res.Position, res.PrevManifestSHA256 = man.ChainPosition, man.PrevManifestSHA256
	s.log.Info("evidence bundle stored", zap.String("bundle", man.BundleID), zap.String("kind", man.Kind),
		zap.Int64("chain_position", man.ChainPosition), zap.String("manifest_sha256", manSum),
		zap.String("prev_manifest_sha256", man.PrevManifestSHA256), zap.Int64("chain_seq", entry.Seq), zap.String("chain_line_sha256", headLine))
	if d.stamp {
		if _, err := s.stampBundle(ctx, pendingMarker{BundleID: man.BundleID, Path: rel, ManifestSHA256: manSum, Position: man.ChainPosition}); err != nil {
			res.Timestamp, res.TimestampError = "pending", err.Error()
			s.log.Warn("trusted timestamp not obtained; the bundle is stored and the token will be fetched later",
				zap.String("bundle", man.BundleID), zap.Error(err))
		} else {
			res.Timestamp = "stamped"
		}
	}
	return res, nil
}

// storeErr makes a disk-full error say what happened and what did not.
func (s *Store) storeErr(err error) error {
	err = diskFull(err)
	if errors.Is(err, ErrDiskFull) {
		return fmt.Errorf("%w: the bundle was not stored (its temporary folder is removed) and no existing bundle was touched; free space under %s", err, s.root)
	}
	return err
}

var idUnsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func newBundleID(mentionID string, version int, at time.Time, tag string) string {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	id := idUnsafe.ReplaceAllString(mentionID, "_")
	if id == "" {
		id = "bundle"
	}
	if len(id) > 64 {
		id = id[:64]
	}
	return fmt.Sprintf("%s-v%d-%s-%s%s", id, version, at.UTC().Format("20060102T150405Z"), tag, hex.EncodeToString(rnd[:]))
}

func extFor(contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "text/html" || mt == "application/xhtml+xml":
		return ".html"
	case strings.HasSuffix(mt, "xml"):
		return ".xml"
	case strings.HasSuffix(mt, "json"):
		return ".json"
	case strings.HasPrefix(mt, "text/"):
		return ".txt"
	}
	return ".bin"
}

// ReadManifest reads the manifest of the bundle at dir.
func ReadManifest(dir string) (Manifest, []byte, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("read manifest of %s: %w", dir, err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return Manifest{}, raw, fmt.Errorf("read manifest of %s: %w", dir, err)
	}
	return m, raw, nil
}

// Resolve returns the folder of a bundle given its path or its id.
func (s *Store) Resolve(bundle string) (string, error) { return ResolveBundle(s.root, bundle) }

// ResolveBundle returns the folder of a bundle given its path or its id
// (looked up in the chain under root, then by walking root).
func ResolveBundle(root, bundle string) (string, error) {
	if fi, err := os.Stat(bundle); err == nil && fi.IsDir() {
		return bundle, nil
	}
	if strings.ContainsAny(bundle, `/\`) {
		return "", fmt.Errorf("%s: no such bundle folder", bundle)
	}
	if root == "" {
		return "", fmt.Errorf("bundle %s: no evidence root given to look it up", bundle)
	}
	entries, _, _, err := ReadChain(root)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.Type == EntryBundle && e.BundleID == bundle {
			return filepath.Join(root, filepath.FromSlash(e.Path)), nil
		}
	}
	found := ""
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || found != "" {
			return filepath.SkipDir
		}
		if d.IsDir() && p != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.IsDir() && d.Name() == bundle {
			found = p
			return filepath.SkipAll
		}
		return nil
	})
	if found == "" {
		return "", fmt.Errorf("bundle %s not found under %s", bundle, root)
	}
	return found, nil
}

// link returns a Link to the bundle named by id or path, after checking its
// manifest still has the hash the chain recorded.
func (s *Store) link(bundle, relation string) (*Link, error) {
	dir, err := s.Resolve(bundle)
	if err != nil {
		return nil, err
	}
	man, raw, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	return &Link{BundleID: man.BundleID, ManifestSHA256: sha256Hex(raw), Relation: relation}, nil
}

// staleTempAge is how old a temporary bundle folder must be before it
// counts as left by a crash. A capture keeps its folder for the time it
// takes to write the files and wait for the chain lock (seconds), and
// another process sharing the root may be in the middle of one.
const staleTempAge = 5 * time.Minute

// removeStaleTemps deletes temporary bundle folders (.tmp-<bundle id>)
// older than age that a crash left behind before the chain append. A
// folder whose bundle the chain names is never removed: when the bundle
// is not in place yet it is the only copy (recoverLocked finishes it).
// Finished bundles are never touched: only .tmp- folders are considered.
// It returns the folders removed and logs how many.
func (s *Store) removeStaleTemps(age time.Duration) []string {
	var named map[string]bool
	var removed []string
	years, _ := os.ReadDir(s.root)
	for _, y := range years {
		if !y.IsDir() || strings.HasPrefix(y.Name(), ".") {
			continue
		}
		months, _ := os.ReadDir(filepath.Join(s.root, y.Name()))
		for _, mo := range months {
			if !mo.IsDir() {
				continue
			}
			dir := filepath.Join(s.root, y.Name(), mo.Name())
			items, _ := os.ReadDir(dir)
			for _, it := range items {
				if !it.IsDir() || !strings.HasPrefix(it.Name(), ".tmp-") {
					continue
				}
				fi, err := it.Info()
				if err != nil || s.now().Sub(fi.ModTime()) < age {
					continue
				}
				if named == nil {
					named = map[string]bool{}
					entries, _, _, err := ReadChain(s.root)
					if err != nil {
						s.log.Warn("stale temporary evidence folders kept: the chain is unreadable", zap.Error(err))
						return nil
					}
					for _, e := range entries {
						if e.Type == EntryBundle {
							named[e.BundleID] = true
						}
					}
				}
				id := strings.TrimPrefix(it.Name(), ".tmp-")
				p := filepath.Join(dir, it.Name())
				if named[id] {
					s.log.Warn("temporary evidence folder of a bundle the chain names is kept", zap.String("folder", p))
					continue
				}
				if err := os.RemoveAll(p); err != nil {
					s.log.Warn("remove stale temporary evidence folder", zap.String("folder", p), zap.Error(err))
					continue
				}
				removed = append(removed, p)
			}
		}
	}
	if len(removed) > 0 {
		s.log.Info("removed temporary evidence folders left by an interrupted capture", zap.Int("count", len(removed)),
			zap.Strings("folders", removed))
	}
	return removed
}
