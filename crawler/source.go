// Package crawler turns configured sources into posts: one pass over a
// source (a feed, or HTML pages with CSS selectors and pagination) through
// the SSRF-safe client of crawler/fetch, with our own robots.txt handling,
// and a Scheduler that runs each source on its interval. It is the only
// package that imports colly.
package crawler

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/gocolly/colly/v2"
	"go.uber.org/zap"

	"mimamori/config"
	"mimamori/crawler/fetch"
	"mimamori/mention"
)

// maxCrawlDelayWait is the longest a pass waits to honour a robots.txt
// Crawl-delay between two pages; a longer delay ends the pass after the
// page just fetched (the next pass goes on from the first page).
const maxCrawlDelayWait = time.Minute

var errCrawlDelayTooLong = fmt.Errorf("robots.txt Crawl-delay longer than %s", maxCrawlDelayWait)

// Runner is what the Scheduler runs: *Source, or a fake in tests.
type Runner interface {
	// ID names the source.
	ID() string
	// Interval is the time between two passes.
	Interval() time.Duration
	// Run makes one pass and returns the posts found, also when it
	// returns an error (the posts of the pages fetched before it).
	Run(ctx context.Context) ([]mention.Post, error)
}

var _ Runner = (*Source)(nil)

// Source crawls one configured source. Each Run is an independent pass
// with its own collector and robots.txt cache; only connections are kept.
type Source struct {
	src          config.Source
	start        *url.URL
	ua           string
	timeout      time.Duration
	delay        time.Duration
	maxPages     int
	maxRedirects int
	interval     time.Duration
	ignoreRobots bool
	transport    http.RoundTripper // shared by passes: keeps connections
	robotsClient *http.Client
	log          *zap.Logger
}

// NewSource checks a source's configuration and prepares it. Per-source
// values (interval, max_pages) override the crawler-wide defaults.
func NewSource(cfg config.CrawlerConfig, src config.Source, log *zap.Logger) (*Source, error) {
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
	switch src.Kind {
	case config.SourceFeed:
	case config.SourceHTML:
		if err := validateSelectors(src.HTML); err != nil {
			return nil, fail("%v", err)
		}
	default:
		return nil, fail("kind: %q is neither %q nor %q", src.Kind, config.SourceFeed, config.SourceHTML)
	}
	s := &Source{
		src:          src,
		start:        start,
		ua:           cfg.UserAgent,
		timeout:      cfg.Timeout,
		delay:        cfg.Delay,
		maxPages:     cfg.MaxPages,
		maxRedirects: cfg.MaxRedirects,
		interval:     cfg.Interval,
		ignoreRobots: cfg.IgnoreRobots || src.IgnoreRobots,
		log:          log.Named("crawler").With(zap.String("source", src.ID)),
	}
	if s.ua == "" {
		s.ua = config.Default().Crawler.UserAgent
	}
	if s.timeout <= 0 {
		s.timeout = fetch.DefaultTimeout
	}
	if s.maxRedirects == 0 {
		s.maxRedirects = fetch.DefaultMaxRedirects
	}
	if src.MaxPages > 0 {
		s.maxPages = src.MaxPages
	}
	if s.maxPages <= 0 || src.Kind == config.SourceFeed {
		s.maxPages = 1
	}
	if src.Interval > 0 {
		s.interval = src.Interval
	}
	if s.interval <= 0 {
		s.interval = config.Default().Crawler.Interval
	}
	opts := fetch.Options{
		UserAgent:    s.ua,
		Timeout:      s.timeout,
		MaxBodyBytes: cfg.MaxBodyBytes,
		MaxRedirects: s.maxRedirects,
		AllowPrivate: src.AllowPrivate,
	}
	s.transport = fetch.NewTransport(opts)
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
		s.log.Warn("SSRF guard off for this source (allow_private): loopback and private addresses are reachable")
	}
	return s, nil
}

// ID returns the source id.
func (s *Source) ID() string { return s.src.ID }

// Interval returns the source's interval (its own, else the crawler's).
func (s *Source) Interval() time.Duration { return s.interval }

// Config returns the source's configuration.
func (s *Source) Config() config.Source { return s.src }

// Run makes one pass: the feed, or the HTML pages from the start URL
// following the next link up to max_pages. When a page fails it returns
// the posts of the pages before it together with the error.
func (s *Source) Run(ctx context.Context) ([]mention.Post, error) {
	p := s.newPass(ctx)
	var posts []mention.Post
	seen := map[string]bool{}
	u := s.start
	for page := 1; ; page++ {
		if err := ctx.Err(); err != nil {
			return posts, &PageError{SourceID: s.src.ID, Op: "GET", URL: u.String(), Err: err}
		}
		seen[u.String()] = true
		f, err := p.get(u)
		if errors.Is(err, errCrawlDelayTooLong) {
			s.log.Info("robots.txt Crawl-delay too long to wait for the next page; the pass ends here",
				zap.String("next", u.String()), zap.Error(err))
			return posts, nil
		}
		if err != nil {
			return posts, err
		}
		s.log.Debug("page fetched", zap.Int("page", page), zap.String("url", f.RequestURL),
			zap.String("final_url", f.FinalURL), zap.Int("status", f.StatusCode), zap.Int("bytes", len(f.Body)))
		finalURL, _ := url.Parse(f.FinalURL)
		if finalURL == nil {
			finalURL = u
		}
		var next *url.URL
		switch s.src.Kind {
		case config.SourceFeed:
			fp, err := parseFeed(finalURL, f.Body)
			if err != nil {
				return posts, &PageError{SourceID: s.src.ID, Op: "parse feed", URL: f.RequestURL, Err: err}
			}
			if fp.Empty > 0 {
				s.log.Debug("feed items without text skipped", zap.Int("count", fp.Empty), zap.String("url", f.FinalURL))
			}
			posts = appendPosts(posts, fp.Posts, s.src.ID, f)
		case config.SourceHTML:
			hp, err := extractHTML(s.src.HTML, finalURL, f.Header.Get("Content-Type"), f.Body)
			if err != nil {
				return posts, &PageError{SourceID: s.src.ID, Op: "extract html", URL: f.RequestURL, Err: err}
			}
			if hp.Empty > 0 {
				s.log.Debug("items with empty text skipped", zap.Int("count", hp.Empty), zap.String("url", f.FinalURL))
			}
			if hp.BadTime > 0 {
				s.log.Debug("items with unparseable time", zap.Int("count", hp.BadTime), zap.String("url", f.FinalURL))
			}
			if len(hp.Posts) == 0 && hp.Empty == 0 {
				s.log.Debug("no item matched the item selector", zap.String("url", f.FinalURL), zap.String("selector", s.src.HTML.Item))
			}
			posts = appendPosts(posts, hp.Posts, s.src.ID, f)
			next = hp.Next
		}
		if next == nil {
			break
		}
		if seen[next.String()] {
			s.log.Debug("next link points to a page already fetched", zap.String("url", next.String()))
			break
		}
		if page >= s.maxPages {
			s.log.Debug("page limit reached", zap.Int("max_pages", s.maxPages), zap.String("next", next.String()))
			break
		}
		u = next
	}
	return posts, nil
}

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
// exchange, and the robots.txt cache.
type pass struct {
	s      *Source
	ctx    context.Context
	c      *colly.Collector
	rec    *recorder
	robots *robots
	// limited holds the hosts that have a colly LimitRule.
	limited map[string]bool
	// notBefore holds, per host, when robots.txt Crawl-delay allows the
	// next request.
	notBefore map[string]time.Time
	cur       *visit
}

// visit is what the callbacks learn about the current request.
type visit struct {
	requestURL string
	fetch      *mention.Fetch
	err        error
}

func (s *Source) newPass(ctx context.Context) *pass {
	p := &pass{
		s:         s,
		ctx:       ctx,
		rec:       &recorder{next: s.transport},
		robots:    newRobots(s.robotsClient, s.ua, s.log),
		limited:   map[string]bool{},
		notBefore: map[string]time.Time{},
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
	c.ParseHTTPErrorResponse = true // statuses are checked in OnResponseHeaders
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
		ex := p.rec.peek()
		if r.StatusCode < 200 || r.StatusCode > 299 {
			status := fmt.Sprintf("%d %s", r.StatusCode, http.StatusText(r.StatusCode))
			if ex != nil {
				status = ex.status
			}
			p.cur.err = &StatusError{Code: r.StatusCode, Status: status}
			r.Request.Abort()
			return
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
		p.cur.fetch = &mention.Fetch{
			RequestURL:    p.cur.requestURL,
			FinalURL:      ex.url,
			Method:        ex.method,
			StatusCode:    ex.code,
			Proto:         ex.proto,
			Header:        ex.header,
			RequestHeader: ex.reqHeader,
			FetchedAt:     ex.at,
			Body:          ex.body.Bytes(),
		}
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

// get fetches one URL through colly, after robots.txt and politeness.
func (p *pass) get(u *url.URL) (*mention.Fetch, error) {
	s := p.s
	fail := func(err error) (*mention.Fetch, error) {
		return nil, &PageError{SourceID: s.src.ID, Op: "GET", URL: u.String(), Err: err}
	}
	var crawlDelay time.Duration
	if !s.ignoreRobots {
		d, err := p.robots.check(p.ctx, u)
		if err != nil {
			return fail(err)
		}
		crawlDelay = d
	}
	if !p.limited[u.Host] {
		// colly applies the first matching rule; one exact rule per host.
		if err := p.c.Limit(&colly.LimitRule{
			DomainRegexp: "^" + regexp.QuoteMeta(u.Host) + "$",
			Delay:        s.delay,
			Parallelism:  1,
		}); err != nil {
			return fail(err)
		}
		p.limited[u.Host] = true
	}
	if nb, ok := p.notBefore[u.Host]; ok {
		wait := time.Until(nb)
		if wait > maxCrawlDelayWait {
			return fail(fmt.Errorf("%w: %s to wait", errCrawlDelayTooLong, wait.Round(time.Second)))
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-p.ctx.Done():
				t.Stop()
				return fail(p.ctx.Err())
			case <-t.C:
			}
		}
	}
	p.cur = &visit{requestURL: u.String()}
	err := p.c.Visit(u.String())
	if crawlDelay > s.delay {
		// colly already slept s.delay after the request.
		p.notBefore[u.Host] = time.Now().Add(crawlDelay - s.delay)
	}
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
	f := cur.fetch
	if s.src.Kind == config.SourceHTML && f.Header.Get("Content-Type") == "" {
		if ct := http.DetectContentType(f.Body); !isHTMLType(ct) {
			return fail(notHTML(ct))
		}
	}
	return f, nil
}
