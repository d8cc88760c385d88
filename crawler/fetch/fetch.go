// Package fetch builds the crawler's HTTP client: the SSRF guard of
// internal/netguard, which checks
// every resolved address at connect time (redirects included), no proxy, a
// capped number of redirects and a cap on the decompressed body size that is
// an error, never a silent truncation.
package fetch

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"mimamori/internal/netguard"
)

// Defaults used for zero Options fields.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultMaxBodyBytes = 10 << 20
	DefaultMaxRedirects = 5
	// DefaultMaxDecompressionRatio: ordinary HTML and JSON compress 5–20×;
	// a bomb compresses 1000×.
	DefaultMaxDecompressionRatio = 100
	// ratioGrace is how much a body may expand to before the ratio is
	// checked, so small very regular bodies pass.
	ratioGrace = 1 << 20
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
	// Policy is the SSRF guard's policy: which hosts may reach which
	// non-public addresses (allow_private, allow_hosts). The zero Policy
	// allows public addresses only.
	netguard.Policy
	// MaxDecompressionRatio caps how many bytes a compressed body may
	// expand to per compressed byte, once past the first MiB; reading
	// beyond fails with *DecompressionRatioError. Zero means
	// DefaultMaxDecompressionRatio.
	MaxDecompressionRatio int
	// AfterGuard, when set, is called with every address the guard let
	// through, just before connect; an error refuses it. Tests use it as a
	// safety net proving that nothing but loopback is ever dialled.
	AfterGuard func(network, address string) error
}

func (o Options) maxRatio() int64 {
	if o.MaxDecompressionRatio <= 0 {
		return DefaultMaxDecompressionRatio
	}
	return int64(o.MaxDecompressionRatio)
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

// DecompressionRatioError is returned while reading a compressed body that
// expands more than the allowed ratio (a decompression bomb).
type DecompressionRatioError struct {
	Ratio              int64
	Compressed, Output int64
}

func (e *DecompressionRatioError) Error() string {
	return fmt.Sprintf("compressed response expands more than %d× (%d bytes from %d): refused as a decompression bomb",
		e.Ratio, e.Output, e.Compressed)
}

// ErrUnsupportedEncoding is returned for a response compressed with an
// encoding the transport did not ask for and could not decode, since its
// decompressed size could not be capped.
var ErrUnsupportedEncoding = errors.New("unsupported content-encoding")

// ErrUnsupportedScheme is returned for a request whose URL is not http or
// https (the client never fetches other schemes).
var ErrUnsupportedScheme = errors.New("unsupported scheme")

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
	t := &http.Transport{
		Proxy:                  nil,
		DialContext:            NewDialer(opts),
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           32,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  opts.timeout(),
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 1 << 20,
	}
	return &transport{next: t, ua: opts.UserAgent, max: opts.maxBody(), ratio: opts.maxRatio()}
}

// NewDialer returns the guarded dialer on its own, for connections that do
// not go through an http.Transport (the browser kind's local proxy tunnels
// CONNECT requests through it).
func NewDialer(opts Options) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return netguard.New(opts.Policy).DialFunc(netguard.DialOptions{Timeout: opts.Timeout, After: opts.AfterGuard})
}

// Check resolves the host of hostport and returns a *netguard.BlockedError
// when the guard would refuse one of its addresses. It is an early, clearer
// refusal (before a browser navigates, say); the dial-time guard stays the
// rule.
func Check(ctx context.Context, hostport string, opts Options) error {
	if err := netguard.New(opts.Policy).Check(ctx, hostport); err != nil {
		return fmt.Errorf("fetch: check %s: %w", hostport, err)
	}
	return nil
}

type transport struct {
	next  http.RoundTripper
	ua    string
	max   int64
	ratio int64
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.URL.Scheme {
	case "http", "https":
	default:
		return nil, fmt.Errorf("fetch: %w %q", ErrUnsupportedScheme, req.URL.Scheme)
	}
	cloned := false
	if t.ua != "" && req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		cloned = true
		req.Header.Set("User-Agent", t.ua)
	}
	// Ask for gzip ourselves, as net/http would, so that the compressed
	// bytes can be counted and the expansion ratio capped.
	ownGzip := req.Header.Get("Accept-Encoding") == "" && req.Header.Get("Range") == "" && req.Method != http.MethodHead
	if ownGzip {
		if !cloned {
			req = req.Clone(req.Context())
		}
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if ownGzip {
		switch ce := strings.TrimSpace(resp.Header.Get("Content-Encoding")); {
		case strings.EqualFold(ce, "gzip") || strings.EqualFold(ce, "x-gzip"):
			cr := &countingReader{r: resp.Body}
			resp.Body = &gunzipBody{
				rc: resp.Body, in: cr,
				ratio: t.ratio,
			}
			resp.Header.Del("Content-Encoding")
			resp.Header.Del("Content-Length")
			resp.ContentLength = -1
			resp.Uncompressed = true
		case ce == "" || strings.EqualFold(ce, "identity"):
		default:
			resp.Body.Close()
			return nil, fmt.Errorf("fetch: %w %q", ErrUnsupportedEncoding, ce)
		}
	}
	if !resp.Uncompressed && !ownGzip && req.Header.Get("Accept-Encoding") == "" {
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

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// gunzipBody decompresses a gzip body, failing with
// *DecompressionRatioError when it expands too much.
type gunzipBody struct {
	rc    io.ReadCloser
	in    *countingReader
	zr    *gzip.Reader
	out   int64
	ratio int64
	err   error
}

func (g *gunzipBody) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.zr == nil {
		zr, err := gzip.NewReader(g.in)
		if err != nil {
			g.err = fmt.Errorf("fetch: gzip body: %w", err)
			return 0, g.err
		}
		g.zr = zr
	}
	n, err := g.zr.Read(p)
	g.out += int64(n)
	if g.out > ratioGrace && g.out > g.ratio*max(g.in.n, 1) {
		g.err = &DecompressionRatioError{Ratio: g.ratio, Compressed: g.in.n, Output: g.out}
		return n, g.err
	}
	if err != nil && err != io.EOF {
		err = fmt.Errorf("fetch: gzip body: %w", err)
		g.err = err
	}
	return n, err
}

func (g *gunzipBody) Close() error { return g.rc.Close() }
