package crawler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"mimamori/config"
	"mimamori/mention"
)

// ErrNotAPage is returned by FetchPage for a browser source: its pages are
// read through Chromium, on its own passes.
var ErrNotAPage = errors.New("a browser source's pages are read through Chromium on its passes, not fetched one by one")

// HasOwnPages reports whether posts of a source kind live on pages other
// than the one they are read from: a feed or an API answer lists posts,
// each published at its permalink.
func HasOwnPages(kind string) bool {
	return kind == config.SourceFeed || kind == config.SourceJSON
}

// FetchPage fetches one page of the source for evidence — a post's own
// page (its permalink) for a feed or API post, or the page a post was read
// from when its capture is retried — under exactly the source's fetch rules: its robots.txt (of the page's
// host), the per-host politeness shared with every source, its SSRF policy
// (allow_private opens only the source's own host), its size and time
// limits and its headers (the secret only to the source's own origin),
// asking for HTML.
//
// Any HTTP answer is returned, whatever its status (a 404 or a login page
// says what the permalink showed); err is set only when there is no answer
// from the site, and says why (robots.txt, the guard, the network). A 429
// or 503 pauses the host for every source, as in a pass.
func (s *Source) FetchPage(ctx context.Context, link string) (*mention.Fetch, error) {
	if s.src.Kind == config.SourceBrowser {
		return nil, ErrNotAPage
	}
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &PageError{SourceID: s.src.ID, Op: "GET", URL: link, Err: fmt.Errorf("permalink is not an http(s) URL")}
	}
	u.Fragment = ""
	s.pageMu.Lock()
	defer s.pageMu.Unlock()
	if now := s.now(); s.pageRobots == nil || now.Sub(s.pageRobotsAt) > max(s.schedule.Interval, time.Minute) {
		s.pageRobots, s.pageRobotsAt = newRobots(s.robotsClient, s.ua, s.log), now
	}
	p := s.newPass(ctx)
	p.robots = s.pageRobots
	hdr := http.Header{"Accept": {"text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}}
	f, status, err := p.request(u, hdr)
	if err != nil {
		return nil, err
	}
	if code := f.StatusCode; code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		se := p.statusError(f, status)
		s.hosts.block(u.Host, s.backOff(f.Header), se.Status)
	}
	return f, nil
}
