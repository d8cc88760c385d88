package crawler

import (
	"errors"
	"fmt"
)

// PageError is the error of one step of a pass; its text names the source,
// the step and the URL: "source news-feed: parse feed http://…: unexpected EOF".
type PageError struct {
	SourceID string
	// Op is "GET", "parse feed" or "extract html".
	Op  string
	URL string
	Err error
}

func (e *PageError) Error() string {
	return fmt.Sprintf("source %s: %s %s: %v", e.SourceID, e.Op, e.URL, e.Err)
}

func (e *PageError) Unwrap() error { return e.Err }

// StatusError is an HTTP response outside 2xx.
type StatusError struct {
	Code int
	// Status is the status line as received, e.g. "500 Internal Server Error".
	Status string
}

func (e *StatusError) Error() string { return "HTTP status " + e.Status }

var (
	// ErrNotHTML is returned for an html source whose response is not an
	// HTML page.
	ErrNotHTML = errors.New("not an HTML page")
	// ErrRobotsDisallowed is returned when robots.txt forbids a URL (or
	// could not be fetched: RFC 9309 says disallow all then).
	ErrRobotsDisallowed = errors.New("disallowed by robots.txt")
)
