package crawler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/temoto/robotstxt"
	"go.uber.org/zap"

	"mimamori/internal/netguard"
)

// robotsMaxBytes is how much of a robots.txt is read; RFC 9309 asks
// parsers to read at least 500 KiB and allows ignoring the rest.
const robotsMaxBytes = 500 << 10

// robots fetches and caches robots.txt per scheme://host for one pass, so
// a change on the site is seen on the next pass (colly's own cache never
// expires).
type robots struct {
	client *http.Client
	ua     string
	log    *zap.Logger
	hosts  map[string]*robotsEntry
}

type robotsEntry struct {
	data *robotstxt.RobotsData
	// why explains a blanket disallow (5xx, unreachable).
	why string
}

func newRobots(client *http.Client, ua string, log *zap.Logger) *robots {
	return &robots{client: client, ua: ua, log: log, hosts: map[string]*robotsEntry{}}
}

// check returns nil when u may be fetched, with the group's Crawl-delay.
// An error wrapping ErrRobotsDisallowed means robots.txt forbids it; other
// errors (SSRF guard, cancelled context) come from fetching robots.txt.
func (r *robots) check(ctx context.Context, u *url.URL) (time.Duration, error) {
	key := u.Scheme + "://" + u.Host
	e, ok := r.hosts[key]
	if !ok {
		var err error
		if e, err = r.fetch(ctx, key); err != nil {
			return 0, err
		}
		r.hosts[key] = e
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	if !e.data.TestAgent(path, r.ua) {
		if e.why != "" {
			return 0, fmt.Errorf("%w (%s)", ErrRobotsDisallowed, e.why)
		}
		return 0, ErrRobotsDisallowed
	}
	var delay time.Duration
	if g := e.data.FindGroup(r.ua); g != nil {
		delay = g.CrawlDelay
	}
	return delay, nil
}

func (r *robots) fetch(ctx context.Context, origin string) (*robotsEntry, error) {
	robotsURL := origin + "/robots.txt"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, robotsURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", r.ua)
	resp, err := r.client.Do(req)
	if err != nil {
		var blocked *netguard.BlockedError
		if errors.As(err, &blocked) || ctx.Err() != nil {
			return nil, err
		}
		r.log.Warn("robots.txt unreachable: disallowing the host for this pass",
			zap.String("url", robotsURL), zap.Error(err))
		return &robotsEntry{data: disallowAll(), why: "robots.txt unreachable: " + err.Error()}, nil
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		body, err := io.ReadAll(io.LimitReader(resp.Body, robotsMaxBytes))
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			r.log.Warn("robots.txt unreadable: disallowing the host for this pass",
				zap.String("url", robotsURL), zap.Error(err))
			return &robotsEntry{data: disallowAll(), why: "robots.txt unreadable: " + err.Error()}, nil
		}
		data, err := robotstxt.FromBytes(body)
		if err != nil {
			// The parser is lenient; an error here means garbage, which
			// RFC 9309 treats like an empty file.
			r.log.Warn("robots.txt unparseable: allowing all", zap.String("url", robotsURL), zap.Error(err))
			data, _ = robotstxt.FromStatusAndBytes(http.StatusNotFound, nil)
		}
		return &robotsEntry{data: data}, nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		data, _ := robotstxt.FromStatusAndBytes(resp.StatusCode, nil)
		return &robotsEntry{data: data}, nil
	default:
		r.log.Warn("robots.txt server error: disallowing the host for this pass",
			zap.String("url", robotsURL), zap.String("status", resp.Status))
		return &robotsEntry{data: disallowAll(), why: "robots.txt returned HTTP " + resp.Status}, nil
	}
}

func disallowAll() *robotstxt.RobotsData {
	d, _ := robotstxt.FromStatusAndBytes(http.StatusServiceUnavailable, nil)
	return d
}
