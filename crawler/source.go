// Package crawler turns configured sources into posts. One pass over a
// source reads a feed, HTML pages (CSS or XPath selectors, pagination,
// detail pages, incremental threads), a JSON API (gjson field mapping,
// cursors, since ids) or pages rendered by headless Chromium, through the
// SSRF-safe client of crawler/fetch, with robots.txt, per-host politeness,
// 429/503 back-off and conditional GET. Crawl state lives in a StateStore
// and advances only when a pass's Batch is committed, after its posts were
// accepted. A Scheduler runs each source on its interval or cron schedule.
// It is the only package that imports colly.
package crawler

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gocolly/colly/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"mimamori/config"
	"mimamori/crawler/fetch"
	"mimamori/internal/cron"
	"mimamori/internal/secret"
	"mimamori/mention"
)

// maxCrawlDelayWait is the longest a pass waits to honour a robots.txt
// Crawl-delay between two pages; a longer delay ends the pass after the
// page just fetched (the next pass goes on from the first page).
const maxCrawlDelayWait = time.Minute

// Defaults for zero configuration values.
const (
	DefaultAlertAfter    = 6 * time.Hour
	DefaultMaxBackoff    = 6 * time.Hour
	DefaultBoostInterval = 5 * time.Minute
	DefaultBrowserPath   = "/usr/bin/chromium"
	// firstBackoff is the wait after a 429/503 without Retry-After; it
	// doubles with each one in a row, up to max_backoff.
	firstBackoff = time.Minute
)

var errCrawlDelayTooLong = fmt.Errorf("robots.txt Crawl-delay longer than %s", maxCrawlDelayWait)

// Batch is the result of one pass.
type Batch struct {
	// Posts are the posts found, also when the pass returned an error (the
	// posts of the pages fetched before it).
	Posts []mention.Post
	// Commit saves the crawl state the pass advanced: HTTP validators, the
	// last post read in a thread, the highest id seen. Call it only after
	// every post was durably accepted; a pass whose Commit is not called is
	// simply read again next time (duplicates are harmless: mention ids are
	// deterministic). nil when there is nothing to save. Commit is
	// idempotent and may be retried.
	Commit func(ctx context.Context) error
}

// Schedule says when a source runs: every Interval, or on a cron
// schedule when Cron is set.
type Schedule struct {
	Interval time.Duration
	Cron     *cron.Schedule
}

// Runner is what the Scheduler runs: *Source, or a fake in tests.
type Runner interface {
	// ID names the source.
	ID() string
	// Schedule says when it runs.
	Schedule() Schedule
	// Run makes one pass.
	Run(ctx context.Context) (Batch, error)
}

var _ Runner = (*Source)(nil)

// Options are a source's dependencies. The zero value works (state in
// memory, no metrics, no hooks).
type Options struct {
	// Logger receives pass logs; nil means none.
	Logger *zap.Logger
	// State keeps crawl state across restarts (*ledger.Ledger); nil keeps
	// it in memory, lost on restart.
	State StateStore
	// Registerer receives the crawler metrics; sources given the same one
	// share them. nil registers nothing.
	Registerer prometheus.Registerer
	// Hosts is the per-host politeness shared by sources; nil gives each
	// source its own. NewSources shares one.
	Hosts *HostLimiter
	// OnFailing is called once per failing streak, when a source has been
	// failing for its alert_after; since is the first failure.
	OnFailing func(sourceID string, since time.Time, lastErr error)
	// OnRecovered is called when a source reported by OnFailing succeeds
	// again.
	OnRecovered func(sourceID string, since time.Time)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AfterGuard, when set, is asked after the SSRF guard allowed a
	// connection and may still refuse it (the tests' loopback-only safety
	// net).
	AfterGuard func(network, address string) error
}

// Source crawls one configured source. Each Run is an independent pass
// with its own collector and robots.txt cache; connections, politeness and
// health are kept.
type Source struct {
	src          config.Source
	start        *url.URL
	ua           string
	timeout      time.Duration
	delay        time.Duration
	maxPages     int
	maxRedirects int
	schedule     Schedule
	ignoreRobots bool
	alertAfter   time.Duration
	maxBackoff   time.Duration
	browserPath  string
	fetchOpts    fetch.Options
	transport    http.RoundTripper // shared by passes: keeps connections
	robotsClient *http.Client
	sel          *selectors
	json         *jsonMapping
	headers      http.Header
	authName     string // header carrying the secret ("" when none)
	authValue    string
	scrubber     *secret.Scrubber // removes the auth secret from error texts (nil: none)
	hosts        *HostLimiter
	state        StateStore
	metrics      *metrics
	onFailing    func(string, time.Time, error)
	onRecovered  func(string, time.Time)
	now          func() time.Time
	log          *zap.Logger

	// pageMu serialises FetchPage, whose robots.txt cache (pageRobots,
	// made at pageRobotsAt) is kept for a source interval, so a burst of
	// permalinks on one host asks for robots.txt once.
	pageMu       sync.Mutex
	pageRobots   *robots
	pageRobotsAt time.Time

	mu           sync.Mutex
	backoffUntil time.Time
	rateLimited  int // 429/503 answers in a row
	failingSince time.Time
	notified     bool
}

// NewSources builds every source with one shared HostLimiter (when
// opts.Hosts is nil), so politeness holds across sources on one host.
func NewSources(cfg config.CrawlerConfig, srcs []config.Source, opts Options) ([]Runner, error) {
	if opts.Hosts == nil {
		opts.Hosts = NewHostLimiter(cfg.HostConcurrency)
	}
	out := make([]Runner, 0, len(srcs))
	for _, sc := range srcs {
		s, err := NewSource(cfg, sc, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// NewSource checks a source's configuration and prepares it. Per-source
// values (interval, cron, max_pages, delay, alert_after) override the
// crawler-wide defaults.
func NewSource(cfg config.CrawlerConfig, src config.Source, opts Options) (*Source, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if src.ID == "" {
		return nil, errors.New("crawler: source without id")
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("crawler: source %s: %s", src.ID, fmt.Sprintf(format, a...))
	}
	start, err := url.Parse(src.URL)
	if err != nil {
		return nil, fail("url: %v", err)
	}
	if (start.Scheme != "http" && start.Scheme != "https") || start.Host == "" {
		return nil, fail("url: %q is not an absolute http(s) URL", src.URL)
	}
	s := &Source{
		src:          src,
		start:        start,
		delay:        cfg.Delay,
		maxPages:     cfg.MaxPages,
		ignoreRobots: cfg.IgnoreRobots || src.IgnoreRobots,
		alertAfter:   cfg.AlertAfter,
		maxBackoff:   cfg.MaxBackoff,
		browserPath:  cfg.BrowserPath,
		hosts:        opts.Hosts,
		state:        opts.State,
		metrics:      newMetrics(opts.Registerer),
		onFailing:    opts.OnFailing,
		onRecovered:  opts.OnRecovered,
		now:          opts.Now,
		log:          log.Named("crawler").With(zap.String("source", src.ID)),
	}
	switch src.Kind {
	case config.SourceFeed:
	case config.SourceHTML, config.SourceBrowser:
		if s.sel, err = compileSelectors("html", src.HTML); err != nil {
			return nil, fail("%v", err)
		}
		if src.Kind == config.SourceBrowser && s.sel.follow != nil {
			return nil, fail("html.follow: not supported by the browser kind")
		}
	case config.SourceJSON:
		if s.json, err = compileJSON("json", src.JSON); err != nil {
			return nil, fail("%v", err)
		}
	default:
		return nil, fail("kind: %q is not %s, %s, %s or %s", src.Kind,
			config.SourceFeed, config.SourceHTML, config.SourceJSON, config.SourceBrowser)
	}
	s.fetchOpts = FetchOptions(cfg, src)
	s.fetchOpts.AfterGuard = opts.AfterGuard
	s.ua, s.timeout, s.maxRedirects = s.fetchOpts.UserAgent, s.fetchOpts.Timeout, s.fetchOpts.MaxRedirects
	if src.MaxPages > 0 {
		s.maxPages = src.MaxPages
	}
	if s.maxPages <= 0 || src.Kind == config.SourceFeed {
		s.maxPages = 1
	}
	if src.Delay > 0 {
		s.delay = src.Delay
	}
	if src.AlertAfter > 0 {
		s.alertAfter = src.AlertAfter
	}
	if s.alertAfter <= 0 {
		s.alertAfter = DefaultAlertAfter
	}
	if s.maxBackoff <= 0 {
		s.maxBackoff = DefaultMaxBackoff
	}
	if s.browserPath == "" {
		s.browserPath = DefaultBrowserPath
	}
	if src.Cron != "" {
		if src.Interval != 0 {
			return nil, fail("cron: set interval or cron, not both")
		}
		c, err := cron.Parse(src.Cron)
		if err != nil {
			return nil, fail("%v", err)
		}
		s.schedule.Cron = c
	}
	s.schedule.Interval = cfg.Interval
	if src.Interval > 0 {
		s.schedule.Interval = src.Interval
	}
	if s.schedule.Interval <= 0 {
		s.schedule.Interval = config.Default().Crawler.Interval
	}
	if s.hosts == nil {
		s.hosts = NewHostLimiter(cfg.HostConcurrency)
	}
	if s.state == nil {
		s.state = NewMemoryState()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.headers = http.Header{}
	for k, v := range src.Headers {
		s.headers.Set(k, v)
	}
	switch src.Auth.Type {
	case "":
	case config.AuthBearer, config.AuthHeader:
		token := strings.TrimSpace(os.Getenv(src.Auth.Env))
		if token == "" {
			return nil, fail("auth.env: environment variable %s is not set (it holds the %s secret)", src.Auth.Env, src.Auth.Type)
		}
		if src.Auth.Type == config.AuthBearer {
			s.authName, s.authValue = "Authorization", "Bearer "+token
		} else {
			s.authName, s.authValue = http.CanonicalHeaderKey(strings.TrimSpace(src.Auth.Header)), token
		}
		s.scrubber = secret.NewScrubber(token)
	default:
		return nil, fail("auth.type: %q is not bearer or header", src.Auth.Type)
	}
	s.transport = fetch.NewTransport(s.fetchOpts)
	s.robotsClient = &http.Client{
		Transport:     s.transport,
		CheckRedirect: fetch.CheckRedirect(s.maxRedirects),
		Timeout:       s.timeout,
	}
	switch {
	case cfg.IgnoreRobots:
		s.log.Warn("robots.txt ignored for every source (crawler.ignore_robots)")
	case src.IgnoreRobots:
		s.log.Warn("robots.txt ignored for this source (ignore_robots)")
	}
	if src.AllowPrivate {
		s.log.Warn("SSRF guard lifted for this source's own host (allow_private): it may reach loopback and private addresses",
			zap.String("host", start.Host))
	} else if len(src.AllowHosts) > 0 {
		s.log.Info("SSRF guard lifted for some hosts (allow_hosts)", zap.Strings("hosts", src.AllowHosts))
	}
	if opts.State == nil {
		s.log.Debug("crawl state kept in memory: cursors and validators are lost on restart")
	}
	s.loadHealth()
	return s, nil
}

// FetchOptions returns the fetch options of a source: the crawler-wide
// limits (defaults filled in) and the source's SSRF policy
// (config.Source.NetPolicy). It is the one place they are built: the
// crawler and the re-checks of alerted posts both use it, so a post is
// fetched again exactly as it was crawled.
func FetchOptions(cfg config.CrawlerConfig, src config.Source) fetch.Options {
	o := fetch.Options{
		UserAgent:             cfg.UserAgent,
		Timeout:               cfg.Timeout,
		MaxBodyBytes:          cfg.MaxBodyBytes,
		MaxRedirects:          cfg.MaxRedirects,
		MaxDecompressionRatio: cfg.MaxDecompressionRatio,
		Policy:                src.NetPolicy(),
	}
	if o.UserAgent == "" {
		o.UserAgent = config.Default().Crawler.UserAgent
	}
	if o.Timeout <= 0 {
		o.Timeout = fetch.DefaultTimeout
	}
	if o.MaxRedirects == 0 {
		o.MaxRedirects = fetch.DefaultMaxRedirects
	}
	return o
}

// ID returns the source id.
func (s *Source) ID() string { return s.src.ID }

// Interval returns the source's interval (its own, else the crawler's).
func (s *Source) Interval() time.Duration { return s.schedule.Interval }

// Schedule returns when the source runs.
func (s *Source) Schedule() Schedule { return s.schedule }

// Config returns the source's configuration.
func (s *Source) Config() config.Source { return s.src }

// NotBefore returns the time before which the source should not run (a
// 429/503 back-off), the zero time when none.
func (s *Source) NotBefore() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.backoffUntil
}

// Run makes one pass. When a page fails it returns the posts of the pages
// before it together with the error.
func (s *Source) Run(ctx context.Context) (Batch, error) {
	start := s.now()
	if until := s.NotBefore(); start.Before(until) {
		err := &PageError{SourceID: s.src.ID, Op: "GET", URL: s.start.String(),
			Err: &BackoffError{Until: until, Reason: "rate limited by the site earlier"}}
		s.observe(ctx, err, true)
		return Batch{}, err
	}
	p := s.newPass(ctx)
	var err error
	if s.src.Kind == config.SourceBrowser {
		err = p.runBrowser()
	} else {
		err = p.runHTTP()
	}
	if errors.Is(err, errCrawlDelayTooLong) {
		s.log.Info("robots.txt Crawl-delay too long to wait for the next page; the pass ends here", zap.Error(err))
		err = nil
	}
	s.metrics.duration.WithLabelValues(s.src.ID).Observe(s.now().Sub(start).Seconds())
	s.metrics.posts.WithLabelValues(s.src.ID).Add(float64(len(p.posts)))
	s.observe(ctx, err, false)
	return Batch{Posts: p.posts, Commit: p.pending.commitFunc(s.state, s.src.ID)}, err
}

// requestHeader returns the headers of a request to u: the configured
// ones, and the secret only for the start URL's origin.
func (s *Source) requestHeader(u *url.URL) http.Header {
	h := s.headers.Clone()
	if h.Get("Accept") == "" {
		switch s.src.Kind {
		case config.SourceJSON:
			h.Set("Accept", "application/json")
		case config.SourceFeed:
			h.Set("Accept", "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8")
		default:
			h.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
		}
	}
	if s.authName != "" && u.Scheme == s.start.Scheme && strings.EqualFold(u.Host, s.start.Host) {
		h.Set(s.authName, s.authValue)
	}
	return h
}

// scrub removes the secret, in any encoding, from a message.
func (s *Source) scrub(msg string) string { return s.scrubber.Scrub(msg) }

func appendPosts(dst, src []mention.Post, sourceID string, f *mention.Fetch) []mention.Post {
	for _, p := range src {
		p.SourceID = sourceID
		p.Fetch = f
		dst = append(dst, p)
	}
	return dst
}

// pass is the state of one Run: a fresh colly collector (so its visited
// set and robots cache die with the pass), the recorder that keeps the raw
// exchange, the robots.txt cache, the page budget and the state to commit.
type pass struct {
	s       *Source
	ctx     context.Context
	c       *colly.Collector
	rec     *recorder
	robots  *robots
	cur     *visit
	pages   int
	posts   []mention.Post
	pending pending
}

// visit is what the callbacks learn about the current request.
type visit struct {
	requestURL string
	fetch      *mention.Fetch
	status     string // the status line as received
	err        error
}

func (s *Source) newPass(ctx context.Context) *pass {
	p := &pass{
		s:      s,
		ctx:    ctx,
		rec:    &recorder{next: s.transport, secret: s.authName},
		robots: newRobots(s.robotsClient, s.ua, s.log),
	}
	if s.src.Kind == config.SourceBrowser {
		return p // no colly: see browser.go
	}
	c := colly.NewCollector(colly.StdlibContext(ctx))
	// NewCollector applies COLLY_* environment variables after its
	// options (a cache directory, a body size, ignoring robots, other
	// domains…): set every field that matters after it.
	c.UserAgent = s.ua
	c.Headers = nil
	c.MaxDepth = 1 // the pass visits every page itself; nothing is followed by colly
	c.MaxRequests = 0
	c.AllowedDomains, c.DisallowedDomains = nil, nil
	c.URLFilters, c.DisallowedURLFilters = nil, nil
	c.AllowURLRevisit = false
	c.MaxBodySize = 0 // colly truncates silently; fetch caps with an error
	c.CacheDir = ""
	c.IgnoreRobotsTxt = true // robots.txt is ours: see robots.go
	c.Async = false
	c.ParseHTTPErrorResponse = true // statuses are checked in get
	c.DetectCharset = false
	c.CheckHead = false
	c.TraceHTTP = false
	c.Context = ctx
	c.WithTransport(p.rec)
	c.SetRequestTimeout(s.timeout)
	c.DisableCookies()
	checkRedirect := fetch.CheckRedirect(s.maxRedirects)
	c.SetRedirectHandler(func(req *http.Request, via []*http.Request) error {
		if err := checkRedirect(req, via); err != nil {
			return err
		}
		if s.authName != "" && (req.URL.Scheme != s.start.Scheme || !strings.EqualFold(req.URL.Host, s.start.Host)) {
			// net/http drops Authorization across domains, not our own
			// header: the secret goes to the configured origin only.
			req.Header.Del(s.authName)
			req.Header.Del("Authorization")
		}
		if !s.ignoreRobots {
			if _, err := p.robots.check(req.Context(), req.URL); err != nil {
				return fmt.Errorf("redirect to %s: %w", req.URL, err)
			}
		}
		return nil
	})
	c.OnRequest(func(r *colly.Request) {
		p.cur.requestURL = r.URL.String()
	})
	c.OnResponseHeaders(func(r *colly.Response) {
		if r.StatusCode < 200 || r.StatusCode > 299 {
			return // the body may carry the error message: read it (capped)
		}
		if s.src.Kind == config.SourceHTML {
			ct := r.Headers.Get("Content-Type")
			if ct != "" && !isHTMLType(ct) {
				p.cur.err = notHTML(ct)
				r.Request.Abort()
			}
		}
	})
	c.OnResponse(func(r *colly.Response) {
		ex := p.rec.take()
		if ex == nil || ex.url != r.Request.URL.String() {
			// Cannot happen with a synchronous collector; refuse rather
			// than attach the wrong bytes to evidence.
			p.cur.err = fmt.Errorf("internal: recorded exchange does not match response for %s", r.Request.URL)
			return
		}
		p.cur.fetch = ex.toFetch(p.cur.requestURL)
		p.cur.status = ex.status
	})
	p.c = c
	return p
}

func notHTML(contentType string) error {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = strings.TrimSpace(contentType)
	}
	return fmt.Errorf("%w: content-type %s", ErrNotHTML, mt)
}

// budgetLeft reports whether the pass may fetch another page.
func (p *pass) budgetLeft() bool { return p.pages < p.s.maxPages }

// get fetches one URL through colly, after robots.txt and politeness. A
// 304 answer is returned as a Fetch with StatusCode 304 and no error; 429
// and 503 pause the host and the source (*BackoffError); other statuses
// outside 2xx are a *StatusError.
func (p *pass) get(u *url.URL, extra http.Header) (*mention.Fetch, error) {
	s := p.s
	fail := func(err error) (*mention.Fetch, error) {
		return nil, &PageError{SourceID: s.src.ID, Op: "GET", URL: u.String(), Err: err}
	}
	f, status, err := p.request(u, extra)
	if err != nil {
		return nil, err
	}
	switch code := f.StatusCode; {
	case code == http.StatusNotModified:
		return f, nil
	case code >= 200 && code <= 299:
		if s.src.Kind == config.SourceHTML && f.Header.Get("Content-Type") == "" {
			if ct := http.DetectContentType(f.Body); !isHTMLType(ct) {
				return fail(notHTML(ct))
			}
		}
		return f, nil
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		se := p.statusError(f, status)
		until := s.backOff(f.Header)
		s.hosts.block(u.Host, until, se.Status)
		return fail(&BackoffError{Until: until, Reason: se.Error(), Err: se})
	default:
		return fail(p.statusError(f, status))
	}
}

// request fetches one URL through colly, after robots.txt and politeness,
// and returns the answer whatever its status, with the status line as
// received. An error (a *PageError) means there is no answer.
func (p *pass) request(u *url.URL, extra http.Header) (*mention.Fetch, string, error) {
	s := p.s
	fail := func(err error) (*mention.Fetch, string, error) {
		return nil, "", &PageError{SourceID: s.src.ID, Op: "GET", URL: u.String(), Err: err}
	}
	if err := p.ctx.Err(); err != nil {
		return fail(err)
	}
	var crawlDelay time.Duration
	if !s.ignoreRobots {
		d, err := p.robots.check(p.ctx, u)
		if err != nil {
			return fail(err)
		}
		crawlDelay = d
	}
	release, err := s.hosts.acquire(p.ctx, u.Host, max(s.delay, crawlDelay), maxCrawlDelayWait)
	if err != nil {
		return fail(err)
	}
	defer release()
	p.pages++
	hdr := s.requestHeader(u)
	for k, v := range extra {
		hdr[k] = v
	}
	p.cur = &visit{requestURL: u.String()}
	err = p.c.Request(http.MethodGet, u.String(), nil, nil, hdr)
	cur := p.cur
	p.cur = nil
	switch {
	case cur.err != nil:
		err = cur.err
	case err != nil:
		if ctxErr := p.ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%v)", ctxErr, err)
		}
	case cur.fetch == nil:
		err = errors.New("no response recorded")
	}
	if err != nil {
		return fail(err)
	}
	s.metrics.pages.WithLabelValues(s.src.ID, statusClass(cur.fetch.StatusCode)).Inc()
	return cur.fetch, cur.status, nil
}

func (p *pass) statusError(f *mention.Fetch, status string) *StatusError {
	path := ""
	if p.s.json != nil {
		path = p.s.json.cfg.Error
	}
	if status == "" {
		status = fmt.Sprintf("%d %s", f.StatusCode, http.StatusText(f.StatusCode))
	}
	return &StatusError{Code: f.StatusCode, Status: status,
		Message: p.s.scrub(jsonErrorMessage(path, f.Header.Get("Content-Type"), f.Body))}
}
