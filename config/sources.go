package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"mimamori/internal/cron"
	"mimamori/internal/netguard"
)

// CrawlerConfig holds crawler-wide settings and per-source defaults.
type CrawlerConfig struct {
	// UserAgent identifies the crawler, with a contact URL.
	UserAgent string `mapstructure:"user_agent"`
	// Timeout bounds one HTTP exchange, body included.
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxBodyBytes caps a response body (after decompression).
	MaxBodyBytes int64 `mapstructure:"max_body_bytes"`
	// MaxDecompressionRatio caps how much a compressed response may expand
	// (decompressed bytes per compressed byte, beyond the first MiB);
	// 0 means 100.
	MaxDecompressionRatio int `mapstructure:"max_decompression_ratio"`
	// MaxRedirects caps redirects followed per request.
	MaxRedirects int `mapstructure:"max_redirects"`
	// Interval is the default time between two runs of a source.
	Interval time.Duration `mapstructure:"interval"`
	// Jitter is the fraction of the interval added at random (0–0.5).
	Jitter float64 `mapstructure:"jitter"`
	// Delay is the pause between two requests to one host.
	Delay time.Duration `mapstructure:"delay"`
	// HostConcurrency caps requests in flight to one host, over all
	// sources; 0 means 1.
	HostConcurrency int `mapstructure:"host_concurrency"`
	// MaxPages caps pages fetched per source run.
	MaxPages int `mapstructure:"max_pages"`
	// IgnoreRobots disables robots.txt for every source (logged).
	IgnoreRobots bool `mapstructure:"ignore_robots"`
	// MaxBackoff caps the wait after a 429 or 503 answer (its Retry-After
	// included); 0 means 6h.
	MaxBackoff time.Duration `mapstructure:"max_backoff"`
	// AlertAfter is how long a source may keep failing before the operator
	// is alerted; 0 means 6h. Sources may override it.
	AlertAfter time.Duration `mapstructure:"alert_after"`
	// BoostInterval is the time between runs of a source that recently
	// produced alerts, when shorter than its own schedule; 0 means 5m.
	BoostInterval time.Duration `mapstructure:"boost_interval"`
	// BrowserPath is the Chromium binary for browser sources; empty means
	// /usr/bin/chromium.
	BrowserPath string `mapstructure:"browser_path"`
}

// Source kinds.
const (
	// SourceFeed is an RSS 1.0/2.0, Atom or JSON Feed document.
	SourceFeed = "feed"
	// SourceHTML is HTML pages read with CSS or XPath selectors.
	SourceHTML = "html"
	// SourceJSON is a JSON API read with a field mapping.
	SourceJSON = "json"
	// SourceBrowser is HTML rendered by headless Chromium, then read with
	// the html selectors.
	SourceBrowser = "browser"
)

// Auth types.
const (
	// AuthBearer sends "Authorization: Bearer <token>".
	AuthBearer = "bearer"
	// AuthHeader sends the secret in a header of its own (X-Goog-Api-Key).
	AuthHeader = "header"
)

// Source is one crawled site or feed.
type Source struct {
	// ID names the source; it is part of every mention id, so never reuse it.
	ID string `mapstructure:"id"`
	// Kind is feed, html, json or browser.
	Kind string `mapstructure:"kind"`
	// URL is where crawling starts.
	URL string `mapstructure:"url"`
	// Site is a label for the legal team (defaults to the URL's host).
	Site string `mapstructure:"site"`
	// Interval overrides crawler.interval.
	Interval time.Duration `mapstructure:"interval"`
	// Cron is a five-field cron expression ("*/10 8-20 * * *"), an
	// alternative to interval; "CRON_TZ=Asia/Tokyo " may lead it.
	Cron string `mapstructure:"cron"`
	// MaxPages overrides crawler.max_pages.
	MaxPages int `mapstructure:"max_pages"`
	// Delay overrides crawler.delay for the hosts this source reaches.
	Delay time.Duration `mapstructure:"delay"`
	// IgnoreRobots disables robots.txt for this source (logged).
	IgnoreRobots bool `mapstructure:"ignore_robots"`
	// AllowPrivate lets this source's own host (that of URL, same port)
	// reach loopback and private addresses (a local demo or an intranet
	// site); other hosts, redirects included, stay refused unless listed in
	// allow_hosts, and link-local and cloud metadata addresses stay refused
	// unless their host is listed there. Off by default: SSRF guard.
	AllowPrivate bool `mapstructure:"allow_private"`
	// AllowHosts lists hosts ("intranet.example") or host:port pairs that
	// this source may reach even when they resolve to non-public
	// addresses; narrower than allow_private.
	AllowHosts []string `mapstructure:"allow_hosts"`
	// ListingEvidence keeps the feed or API answer as an alertable post's
	// primary evidence instead of fetching the post's own page (its
	// permalink) for it: for feeds whose permalinks are not pages (or are
	// behind a login for everyone). Off by default: a lawyer needs the page
	// where the post is published.
	ListingEvidence bool `mapstructure:"listing_evidence"`
	// AllowEmpty accepts a first page where nothing matched (a search with
	// no results); otherwise that is an error, since it is what a site
	// redesign looks like.
	AllowEmpty bool `mapstructure:"allow_empty"`
	// AlertAfter overrides crawler.alert_after.
	AlertAfter time.Duration `mapstructure:"alert_after"`
	// Headers are extra request headers (Accept, API versions). Never put
	// secrets here: use auth.
	Headers map[string]string `mapstructure:"headers"`
	// Auth sends a secret read from the environment.
	Auth SourceAuth `mapstructure:"auth"`
	// HTML configures the html and browser kinds.
	HTML HTMLSelectors `mapstructure:"html"`
	// JSON configures the json kind.
	JSON JSONMapping `mapstructure:"json"`
	// Browser configures the browser kind.
	Browser BrowserOptions `mapstructure:"browser"`
}

// NetPolicy is the SSRF guard's policy for this source: allow_private opens
// the source's own host (that of its URL), allow_hosts the hosts named. The
// crawler's fetches, the re-checks and the renderer's subresources all use
// it, so they follow the same rules.
func (s Source) NetPolicy() netguard.Policy {
	return netguard.Policy{AllowPrivate: s.AllowPrivate, Home: s.URL, AllowHosts: s.AllowHosts}
}

// SourceAuth names a secret by the environment variable that holds it;
// the secret itself never appears in the configuration or in logs.
type SourceAuth struct {
	// Type is bearer or header; empty means no authentication.
	Type string `mapstructure:"type"`
	// Env is the environment variable holding the token or key.
	Env string `mapstructure:"env"`
	// Header is the header name for type header (e.g. X-Goog-Api-Key).
	Header string `mapstructure:"header"`
}

// HTMLSelectors are the selectors for the html and browser kinds. Each is
// CSS, or XPath 1.0 when it starts with "/", "./", "../" or "(" or is "." (relative XPath
// such as ".//span[@class='name']" inside an item).
type HTMLSelectors struct {
	// Item selects one post on a page.
	Item string `mapstructure:"item"`
	// Text selects the post body inside the item.
	Text string `mapstructure:"text"`
	// Title selects an optional title inside the item.
	Title string `mapstructure:"title"`
	// Author selects the author inside the item.
	Author string `mapstructure:"author"`
	// Time selects the post time inside the item; its datetime attribute
	// is used when present, else its text.
	Time string `mapstructure:"time"`
	// TimeLayout is a Go time layout for the text form (default: several
	// common ones are tried).
	TimeLayout string `mapstructure:"time_layout"`
	// Permalink selects an element inside the item whose href (or id
	// attribute for an anchor) makes the post's permalink.
	Permalink string `mapstructure:"permalink"`
	// Next selects the next-page link.
	Next string `mapstructure:"next"`
	// Number selects the post number inside the item (the first run of
	// digits of its text). With it, a thread is read incrementally: posts
	// up to the last one seen are skipped.
	Number string `mapstructure:"number"`
	// Resume is the URL read instead of the thread URL once a post number
	// was seen: {url} is the thread URL, {last} the last number seen and
	// {next} the one after it, e.g. "{url}{next}-" for 5ch's read.cgi.
	Resume string `mapstructure:"resume"`
	// Follow selects links on the start page (and its next pages) to
	// detail pages, whose posts the detail selectors extract.
	Follow string `mapstructure:"follow"`
	// Detail holds the selectors for followed pages.
	Detail *HTMLSelectors `mapstructure:"detail"`
}

// JSONMapping maps a JSON API response to posts with gjson paths
// (https://github.com/tidwall/gjson/blob/master/SYNTAX.md). Item paths are
// relative to one item; a path starting with "$." is read from the whole
// response instead.
type JSONMapping struct {
	// Items is the path to the array of items; empty means the response
	// is the array.
	Items string `mapstructure:"items"`
	// Require lists paths that must exist in every successful response; a
	// missing one means the API changed shape (an error).
	Require []string `mapstructure:"require"`
	// Text is the path to the post text (required).
	Text string `mapstructure:"text"`
	// TextHTML says the text is HTML (Mastodon content, 5ch bodies).
	TextHTML bool `mapstructure:"text_html"`
	// Title is the path to an optional title.
	Title string `mapstructure:"title"`
	// Author is the path to the author.
	Author string `mapstructure:"author"`
	// AuthorTemplate builds the author from several fields, e.g.
	// "{1} ID:{4}"; it wins over author.
	AuthorTemplate string `mapstructure:"author_template"`
	// Time is the path to the post time.
	Time string `mapstructure:"time"`
	// TimeLayout is a Go layout, or unix / unix_ms for epoch numbers;
	// empty tries RFC 3339 and other common forms.
	TimeLayout string `mapstructure:"time_layout"`
	// Permalink is the path to the post URL (resolved against the page).
	Permalink string `mapstructure:"permalink"`
	// PermalinkTemplate builds the post URL from fields:
	// "https://bsky.app/profile/{author.handle}/post/{uri|basename}".
	// Filters: basename, query (query-escape), path (path-escape).
	PermalinkTemplate string `mapstructure:"permalink_template"`
	// ID is the path to the item id, used by incremental reading and as
	// the fallback permalink fragment.
	ID string `mapstructure:"id"`
	// Incremental skips items whose id is not above the highest id seen
	// (ids compared as numbers when numeric).
	Incremental bool `mapstructure:"incremental"`
	// SinceParam sends the highest id seen as this query parameter on the
	// first request (since_id); it implies incremental.
	SinceParam string `mapstructure:"since_param"`
	// Cursor is the path to the next-page cursor in the response.
	Cursor string `mapstructure:"cursor"`
	// CursorParam is the query parameter the cursor is sent in.
	CursorParam string `mapstructure:"cursor_param"`
	// NextURL is the path to the next page's URL in the response.
	NextURL string `mapstructure:"next_url"`
	// NextLink follows the Link header's rel="next" (Mastodon, GitHub).
	NextLink bool `mapstructure:"next_link"`
	// Error is the path to the message in an error response body, shown
	// in the error (e.g. "error.message", "detail").
	Error string `mapstructure:"error"`
}

// BrowserOptions configure the browser kind.
type BrowserOptions struct {
	// WaitFor is a CSS selector to wait for before reading the page;
	// empty waits for html.item.
	WaitFor string `mapstructure:"wait_for"`
	// Timeout bounds rendering one page; 0 means crawler.timeout.
	Timeout time.Duration `mapstructure:"timeout"`
}

// validateSources checks the crawler defaults and every source.
func (c *Config) validateSources() []FieldError {
	var errs []FieldError
	add := func(key, format string, args ...any) {
		errs = append(errs, FieldError{Key: key, Problem: fmt.Sprintf(format, args...)})
	}
	cr := c.Crawler
	if cr.UserAgent == "" {
		add("crawler.user_agent", "must not be empty")
	}
	if cr.Timeout <= 0 {
		add("crawler.timeout", "must be positive")
	}
	if cr.MaxBodyBytes <= 0 {
		add("crawler.max_body_bytes", "must be positive")
	}
	if cr.MaxRedirects < 0 || cr.MaxRedirects > 20 {
		add("crawler.max_redirects", "must be between 0 and 20")
	}
	if cr.Interval < 10*1e9 {
		add("crawler.interval", "must be at least 10s")
	}
	if cr.Jitter < 0 || cr.Jitter > 0.5 {
		add("crawler.jitter", "must be between 0 and 0.5")
	}
	if cr.Delay < 0 {
		add("crawler.delay", "must not be negative")
	}
	if cr.MaxPages <= 0 {
		add("crawler.max_pages", "must be positive")
	}
	if cr.MaxDecompressionRatio < 0 {
		add("crawler.max_decompression_ratio", "must not be negative")
	}
	if cr.HostConcurrency < 0 {
		add("crawler.host_concurrency", "must not be negative")
	}
	if cr.MaxBackoff < 0 {
		add("crawler.max_backoff", "must not be negative")
	}
	if cr.AlertAfter < 0 {
		add("crawler.alert_after", "must not be negative")
	}
	if cr.BoostInterval < 0 {
		add("crawler.boost_interval", "must not be negative")
	}
	srcIDs := map[string]bool{}
	for i, s := range c.Sources {
		k := fmt.Sprintf("sources[%d]", i)
		if s.ID == "" {
			add(k+".id", "must not be empty")
		} else if srcIDs[s.ID] {
			add(k+".id", "duplicate source id %q", s.ID)
		}
		srcIDs[s.ID] = true
		if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add(k+".url", "not an absolute http(s) URL")
		}
		if s.Interval != 0 && s.Interval < 10*1e9 {
			add(k+".interval", "must be at least 10s")
		}
		if s.Cron != "" {
			if s.Interval != 0 {
				add(k+".cron", "set interval or cron, not both")
			}
			if _, err := cron.Parse(s.Cron); err != nil {
				add(k+".cron", "%v", err)
			}
		}
		if s.MaxPages < 0 {
			add(k+".max_pages", "must not be negative")
		}
		if s.Delay < 0 {
			add(k+".delay", "must not be negative")
		}
		if s.AlertAfter < 0 {
			add(k+".alert_after", "must not be negative")
		}
		for j, h := range s.AllowHosts {
			if h = strings.TrimSpace(h); h == "" || strings.ContainsAny(h, "/?#@ ") {
				add(fmt.Sprintf("%s.allow_hosts[%d]", k, j), "%q is not a host or host:port", h)
			}
		}
		for name := range s.Headers {
			switch strings.ToLower(name) {
			case "authorization", "proxy-authorization", "cookie":
				add(k+".headers."+name, "secrets do not belong in headers: use auth with an environment variable")
			case "host", "content-length", "if-none-match", "if-modified-since":
				add(k+".headers."+name, "set by the crawler")
			}
		}
		errs = append(errs, validateAuth(k+".auth", s.Auth)...)
		switch s.Kind {
		case SourceFeed:
		case SourceHTML:
			errs = append(errs, validateHTML(k+".html", s.HTML, true)...)
		case SourceBrowser:
			errs = append(errs, validateHTML(k+".html", s.HTML, true)...)
			if s.HTML.Follow != "" {
				add(k+".html.follow", "not supported by the browser kind")
			}
			if s.Auth.Type != "" || len(s.Headers) > 0 {
				add(k+".auth", "auth and headers are not supported by the browser kind")
			}
		case SourceJSON:
			errs = append(errs, validateJSON(k+".json", s.JSON)...)
		default:
			add(k+".kind", "%q is not feed or html or json or browser", s.Kind)
		}
	}
	return errs
}

var envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func validateAuth(k string, a SourceAuth) []FieldError {
	var errs []FieldError
	add := func(key, format string, args ...any) {
		errs = append(errs, FieldError{Key: key, Problem: fmt.Sprintf(format, args...)})
	}
	switch a.Type {
	case "":
		if a.Env != "" || a.Header != "" {
			add(k+".type", "required (bearer or header) when auth.env or auth.header is set")
		}
		return errs
	case AuthBearer:
		if a.Header != "" {
			add(k+".header", "only for type header")
		}
	case AuthHeader:
		if strings.TrimSpace(a.Header) == "" || strings.ContainsAny(a.Header, ": \t") {
			add(k+".header", "a header name is required for type header")
		}
	default:
		add(k+".type", "%q is not bearer or header", a.Type)
	}
	if !envNameRe.MatchString(a.Env) {
		add(k+".env", "the name of the environment variable holding the secret is required (e.g. X_BEARER_TOKEN)")
	}
	return errs
}

// validateHTML checks the required html selectors; the selectors
// themselves are compiled by the crawler at start-up.
func validateHTML(k string, h HTMLSelectors, top bool) []FieldError {
	var errs []FieldError
	add := func(key, format string, args ...any) {
		errs = append(errs, FieldError{Key: key, Problem: fmt.Sprintf(format, args...)})
	}
	if top && h.Follow != "" {
		if h.Detail == nil {
			add(k+".detail", "required with html.follow: the selectors for followed pages")
		} else {
			errs = append(errs, validateHTML(k+".detail", *h.Detail, false)...)
		}
		if h.Item != "" && h.Text == "" {
			add(k+".text", "required when html.item is set")
		}
		return errs
	}
	if !top && (h.Follow != "" || h.Detail != nil) {
		add(k+".follow", "followed pages are not followed further")
	}
	if h.Item == "" {
		add(k+".item", "required for an html source")
	}
	if h.Text == "" {
		add(k+".text", "required for an html source")
	}
	if h.Resume != "" {
		if h.Number == "" {
			add(k+".resume", "needs html.number (the post number selector)")
		}
		if !strings.Contains(h.Resume, "{") {
			add(k+".resume", "%q uses none of {url}, {last}, {next}", h.Resume)
		}
	}
	return errs
}

func validateJSON(k string, j JSONMapping) []FieldError {
	var errs []FieldError
	add := func(key, format string, args ...any) {
		errs = append(errs, FieldError{Key: key, Problem: fmt.Sprintf(format, args...)})
	}
	if j.Text == "" {
		add(k+".text", "required for a json source")
	}
	if (j.Cursor == "") != (j.CursorParam == "") {
		add(k+".cursor", "cursor and cursor_param go together")
	}
	n := 0
	for _, set := range []bool{j.Cursor != "", j.NextURL != "", j.NextLink} {
		if set {
			n++
		}
	}
	if n > 1 {
		add(k+".cursor", "choose one of cursor, next_url and next_link")
	}
	if (j.Incremental || j.SinceParam != "") && j.ID == "" {
		add(k+".id", "required for incremental reading (incremental, since_param)")
	}
	switch j.TimeLayout {
	case "", "unix", "unix_ms":
	default:
		if !strings.ContainsAny(j.TimeLayout, "0123456789") {
			add(k+".time_layout", "%q is not a Go time layout, unix or unix_ms", j.TimeLayout)
		}
	}
	if j.PermalinkTemplate != "" && !strings.Contains(j.PermalinkTemplate, "{") {
		add(k+".permalink_template", "%q uses no {field}", j.PermalinkTemplate)
	}
	return errs
}
