package config

import (
	"fmt"
	"net/url"
	"time"
)

// CrawlerConfig holds crawler-wide settings and per-source defaults.
type CrawlerConfig struct {
	// UserAgent identifies the crawler, with a contact URL.
	UserAgent string `mapstructure:"user_agent"`
	// Timeout bounds one HTTP exchange, body included.
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxBodyBytes caps a response body (after decompression).
	MaxBodyBytes int64 `mapstructure:"max_body_bytes"`
	// MaxRedirects caps redirects followed per request.
	MaxRedirects int `mapstructure:"max_redirects"`
	// Interval is the default time between two runs of a source.
	Interval time.Duration `mapstructure:"interval"`
	// Jitter is the fraction of the interval added at random (0–0.5).
	Jitter float64 `mapstructure:"jitter"`
	// Delay is the pause between two requests to one host.
	Delay time.Duration `mapstructure:"delay"`
	// MaxPages caps pages fetched per source run.
	MaxPages int `mapstructure:"max_pages"`
	// IgnoreRobots disables robots.txt for every source (logged).
	IgnoreRobots bool `mapstructure:"ignore_robots"`
}

// Source kinds.
const (
	SourceFeed = "feed"
	SourceHTML = "html"
)

// Source is one crawled site or feed.
type Source struct {
	// ID names the source; it is part of every mention id, so never reuse it.
	ID string `mapstructure:"id"`
	// Kind is feed or html.
	Kind string `mapstructure:"kind"`
	// URL is where crawling starts.
	URL string `mapstructure:"url"`
	// Site is a label for the legal team (defaults to the URL's host).
	Site string `mapstructure:"site"`
	// Interval overrides crawler.interval.
	Interval time.Duration `mapstructure:"interval"`
	// MaxPages overrides crawler.max_pages.
	MaxPages int `mapstructure:"max_pages"`
	// IgnoreRobots disables robots.txt for this source (logged).
	IgnoreRobots bool `mapstructure:"ignore_robots"`
	// AllowPrivate lets this source reach loopback and private addresses
	// (a local demo or an intranet site). Off by default: SSRF guard.
	AllowPrivate bool `mapstructure:"allow_private"`
	// HTML configures the html kind.
	HTML HTMLSelectors `mapstructure:"html"`
}

// HTMLSelectors are CSS selectors for the html source kind.
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
		if s.MaxPages < 0 {
			add(k+".max_pages", "must not be negative")
		}
		switch s.Kind {
		case SourceFeed:
		case SourceHTML:
			if s.HTML.Item == "" {
				add(k+".html.item", "required for an html source")
			}
			if s.HTML.Text == "" {
				add(k+".html.text", "required for an html source")
			}
		default:
			add(k+".kind", "%q is not feed or html", s.Kind)
		}
	}
	return errs
}
