package crawler

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"mimamori/crawler/fetch"
	"mimamori/internal/netguard"
)

// PageError is the error of one step of a pass; its text names the source,
// the step and the URL: "source news-feed: parse feed http://…: unexpected EOF".
type PageError struct {
	SourceID string
	// Op is "GET", "parse feed", "extract html", "extract json" or "render".
	Op  string
	URL string
	Err error
}

func (e *PageError) Error() string {
	return fmt.Sprintf("source %s: %s %s: %v", e.SourceID, e.Op, e.URL, e.Err)
}

func (e *PageError) Unwrap() error { return e.Err }

// StatusError is an HTTP response outside 2xx (and not 304).
type StatusError struct {
	Code int
	// Status is the status line as received, e.g. "500 Internal Server Error".
	Status string
	// Message is the error message the body carried, when the source maps
	// one (json.error) or the body is short text.
	Message string
}

func (e *StatusError) Error() string {
	if e.Message != "" {
		return "HTTP status " + e.Status + ": " + e.Message
	}
	return "HTTP status " + e.Status
}

// BackoffError says a source or host is paused after a 429 or 503 answer;
// the pass stopped and the next one waits until Until.
type BackoffError struct {
	Until  time.Time
	Reason string
	// Err is the answer that caused it (*StatusError), nil for a pass
	// skipped while backing off.
	Err error
}

func (e *BackoffError) Error() string {
	return fmt.Sprintf("%s; backing off until %s", e.Reason, e.Until.UTC().Format(time.RFC3339))
}

func (e *BackoffError) Unwrap() error { return e.Err }

var (
	// ErrNotHTML is returned for an html source whose response is not an
	// HTML page.
	ErrNotHTML = errors.New("not an HTML page")
	// ErrRobotsDisallowed is returned when robots.txt forbids a URL (or
	// could not be fetched: RFC 9309 says disallow all then).
	ErrRobotsDisallowed = errors.New("disallowed by robots.txt")
	// ErrNoItems is returned when the first page of a pass matched no item:
	// what a site redesign or an API change looks like. Sources where an
	// empty answer is normal set allow_empty.
	ErrNoItems = errors.New("nothing matched the item selector or path (did the site change?)")
	// ErrMissingField is returned when a json.require path is missing.
	ErrMissingField = errors.New("required field missing from the response (did the API change?)")
	// ErrNotJSON is returned for a json source whose response does not
	// parse as JSON.
	ErrNotJSON = errors.New("response is not valid JSON")
	// ErrBrowser wraps failures of headless Chromium.
	ErrBrowser = errors.New("browser")
)

// Error kinds, the label of the errors metric.
const (
	KindCanceled     = "canceled"
	KindBlocked      = "ssrf_blocked"
	KindRobots       = "robots"
	KindRateLimited  = "rate_limited"
	KindAuth         = "auth"
	KindHTTP4xx      = "http_4xx"
	KindHTTP5xx      = "http_5xx"
	KindTimeout      = "timeout"
	KindNetwork      = "network"
	KindTooLarge     = "too_large"
	KindRedirects    = "redirects"
	KindParse        = "parse"
	KindNoItems      = "no_items"
	KindBrowser      = "browser"
	KindState        = "state"
	KindOther        = "other"
	KindDecompressed = "decompression"
)

// ErrorKind classifies a pass error for metrics and logs.
func ErrorKind(err error) string {
	var (
		se  *StatusError
		be  *netguard.BlockedError
		bo  *BackoffError
		tl  *fetch.BodyTooLargeError
		tr  *fetch.TooManyRedirectsError
		dr  *fetch.DecompressionRatioError
		ne  net.Error
		pe  *PageError
		ope *net.OpError
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.As(err, &be):
		return KindBlocked
	case errors.Is(err, ErrRobotsDisallowed):
		return KindRobots
	case errors.As(err, &bo):
		return KindRateLimited
	case errors.As(err, &se):
		switch {
		case se.Code == 429 || se.Code == 503:
			return KindRateLimited
		case se.Code == 401 || se.Code == 403:
			return KindAuth
		case se.Code >= 500:
			return KindHTTP5xx
		}
		return KindHTTP4xx
	case errors.As(err, &tl):
		return KindTooLarge
	case errors.As(err, &dr):
		return KindDecompressed
	case errors.As(err, &tr):
		return KindRedirects
	case errors.Is(err, ErrNoItems), errors.Is(err, ErrMissingField):
		return KindNoItems
	case errors.Is(err, ErrBrowser):
		return KindBrowser
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.As(err, &ope):
		return KindNetwork
	case errors.As(err, &pe) && pe.Op != "GET":
		return KindParse
	case errors.Is(err, ErrNotHTML), errors.Is(err, ErrNotJSON):
		return KindParse
	}
	return KindOther
}
