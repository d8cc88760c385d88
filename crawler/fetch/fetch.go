// Package fetch builds the crawler's HTTP client: an SSRF guard that checks
// every resolved address at connect time (redirects included), no proxy, a
// capped number of redirects and a cap on the decompressed body size that is
// an error, never a silent truncation.
package fetch

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Defaults used for zero Options fields.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultMaxBodyBytes = 10 << 20
	DefaultMaxRedirects = 5
)

// Options configure a client.
type Options struct {
	// UserAgent is sent when a request carries none.
	UserAgent string
	// Timeout bounds one exchange, body included (client) and the wait for
	// response headers (transport). Zero means DefaultTimeout.
	Timeout time.Duration
	// MaxBodyBytes caps a response body after decompression; reading past
	// it fails with *BodyTooLargeError. Zero or less means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxRedirects caps redirects followed per request. Zero means
	// DefaultMaxRedirects; negative means redirects are not followed (an
	// error).
	MaxRedirects int
	// AllowPrivate turns the SSRF guard off: loopback, private, link-local
	// and the other non-public addresses may be reached.
	AllowPrivate bool
	// AllowHosts lists hosts ("intranet.example", "10.0.0.5") or
	// host:port pairs ("127.0.0.1:8080") that may resolve to non-public
	// addresses. They are matched against the name in the URL.
	AllowHosts []string
}

func (o Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

func (o Options) maxBody() int64 {
	if o.MaxBodyBytes <= 0 {
		return DefaultMaxBodyBytes
	}
	return o.MaxBodyBytes
}

func (o Options) maxRedirects() int {
	if o.MaxRedirects == 0 {
		return DefaultMaxRedirects
	}
	return o.MaxRedirects
}

func dialTimeout(t time.Duration) time.Duration {
	if t <= 0 || t > 30*time.Second {
		return 30 * time.Second
	}
	return t
}

// BodyTooLargeError is returned while reading a body past MaxBodyBytes, or
// by the round trip when Content-Length already says so.
type BodyTooLargeError struct {
	Limit int64
}

func (e *BodyTooLargeError) Error() string {
	return fmt.Sprintf("response body exceeds %d bytes", e.Limit)
}

// TooManyRedirectsError is returned when a request would follow more
// redirects than allowed.
type TooManyRedirectsError struct {
	Max int
	// URL is the redirect target that was not followed.
	URL string
}

func (e *TooManyRedirectsError) Error() string {
	if e.Max < 0 {
		return fmt.Sprintf("redirect to %s not followed (redirects disabled)", e.URL)
	}
	return fmt.Sprintf("stopped after %d redirects (next: %s)", e.Max, e.URL)
}

// ErrUnsupportedEncoding is returned for a response compressed with an
// encoding the transport did not ask for and could not decode, since its
// decompressed size could not be capped.
var ErrUnsupportedEncoding = errors.New("unsupported content-encoding")

// NewClient returns an http.Client with the guarded transport, the redirect
// cap, the timeout and no cookie jar.
func NewClient(opts Options) *http.Client {
	return &http.Client{
		Transport:     NewTransport(opts),
		CheckRedirect: CheckRedirect(opts.maxRedirects()),
		Timeout:       opts.timeout(),
	}
}

// CheckRedirect returns an http.Client.CheckRedirect that allows at most
// max redirects (none when max is negative). It exists on its own for
// clients that install their own redirect policy (colly does); the SSRF
// guard itself needs no redirect hook because every hop dials through it.
func CheckRedirect(max int) func(req *http.Request, via []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if max < 0 || len(via) > max {
			return &TooManyRedirectsError{Max: max, URL: req.URL.String()}
		}
		switch req.URL.Scheme {
		case "http", "https":
		default:
			return fmt.Errorf("redirect to unsupported scheme %q", req.URL.Scheme)
		}
		return nil
	}
}

// NewTransport returns the guarded round tripper: SSRF guard at dial time,
// Proxy nil (an environment proxy would dial on our behalf and bypass the
// guard), a default User-Agent, and the body cap.
func NewTransport(opts Options) http.RoundTripper {
	g := newGuard(opts)
	t := &http.Transport{
		Proxy:                  nil,
		DialContext:            g.dialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           32,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  opts.timeout(),
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20,
	}
	return &transport{next: t, guard: g, ua: opts.UserAgent, max: opts.maxBody()}
}

type transport struct {
	next  http.RoundTripper
	guard *guard
	ua    string
	max   int64
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.URL.Scheme {
	case "http", "https":
	default:
		return nil, fmt.Errorf("fetch: unsupported scheme %q", req.URL.Scheme)
	}
	if t.ua != "" && req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", t.ua)
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if !resp.Uncompressed && req.Header.Get("Accept-Encoding") == "" {
		if ce := strings.TrimSpace(resp.Header.Get("Content-Encoding")); ce != "" && !strings.EqualFold(ce, "identity") {
			resp.Body.Close()
			return nil, fmt.Errorf("fetch: %w %q", ErrUnsupportedEncoding, ce)
		}
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, &BodyTooLargeError{Limit: t.max}
	}
	resp.Body = &cappedBody{rc: resp.Body, left: t.max, limit: t.max}
	return resp, nil
}

// cappedBody returns at most limit bytes, then *BodyTooLargeError if the
// stream goes on.
type cappedBody struct {
	rc    io.ReadCloser
	left  int64
	limit int64
	err   error
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		n = int(b.left)
		b.left = 0
		b.err = &BodyTooLargeError{Limit: b.limit}
		return n, b.err
	}
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }
