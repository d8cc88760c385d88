package crawler

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"time"

	"mimamori/mention"
)

// recorder sits between colly and the fetch transport and keeps the last
// exchange exactly as it crossed the wire (after transport decompression):
// colly rewrites bodies to UTF-8 when the Content-Type names a charset and
// keeps neither the protocol nor the request headers, and evidence needs
// all of them. A pass uses a synchronous collector, so "the last exchange"
// is the response colly is handling.
type recorder struct {
	next http.RoundTripper
	// secret is one more header never recorded (the source's auth header).
	secret string
	mu     sync.Mutex
	last   *exchange
}

type exchange struct {
	method    string
	url       string // the URL of this hop: the final URL after redirects
	reqHeader http.Header
	code      int
	status    string
	proto     string
	header    http.Header
	at        time.Time
	body      bytes.Buffer
	// tlsChain is the server's certificate chain (DER, leaf first) over https.
	tlsChain [][]byte
}

// secretHeaders are never recorded as "what we sent".
var secretHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie"}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	rh := req.Header.Clone()
	for _, h := range secretHeaders {
		rh.Del(h)
	}
	if r.secret != "" {
		rh.Del(r.secret)
	}
	if rh.Get("Accept-Encoding") == "" && rh.Get("Range") == "" && req.Method != http.MethodHead {
		// net/http adds it on the wire (and decompresses the answer).
		rh.Set("Accept-Encoding", "gzip")
	}
	ex := &exchange{
		method:    req.Method,
		url:       req.URL.String(),
		reqHeader: rh,
		code:      resp.StatusCode,
		status:    resp.Status,
		proto:     resp.Proto,
		header:    resp.Header.Clone(),
		at:        time.Now().UTC(),
	}
	if resp.TLS != nil {
		for _, c := range resp.TLS.PeerCertificates {
			ex.tlsChain = append(ex.tlsChain, c.Raw)
		}
	}
	resp.Body = &teeBody{rc: resp.Body, buf: &ex.body}
	// fetch has already decoded, or refused, any Content-Encoding; stop
	// colly from gunzipping by its own rules (a gzip Content-Type, a
	// .xml.gz path), which would bypass the size cap.
	resp.Uncompressed = true
	r.mu.Lock()
	r.last = ex
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) take() *exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	ex := r.last
	r.last = nil
	return ex
}

type teeBody struct {
	rc  io.ReadCloser
	buf *bytes.Buffer
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	t.buf.Write(p[:n])
	return n, err
}

func (t *teeBody) Close() error { return t.rc.Close() }

// toFetch turns the exchange into the evidence record of a post.
func (ex *exchange) toFetch(requestURL string) *mention.Fetch {
	return &mention.Fetch{
		RequestURL:    requestURL,
		FinalURL:      ex.url,
		Method:        ex.method,
		StatusCode:    ex.code,
		Proto:         ex.proto,
		Header:        ex.header,
		RequestHeader: ex.reqHeader,
		FetchedAt:     ex.at,
		Body:          ex.body.Bytes(),

		TLSPeerCertificates: ex.tlsChain,
	}
}
