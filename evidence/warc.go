package evidence

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"mimamori/mention"
)

// WARCName is the WARC file (ISO 28500, WARC/1.1) of a bundle's fetch.
const WARCName = "fetch.warc"

// hop-by-hop and encoding headers the WARC copy renames: the body stored is
// the decoded body, so a reader must not try to un-chunk or gunzip it.
var warcRenamed = map[string]bool{"Content-Encoding": true, "Transfer-Encoding": true}

// warcExchange is one fetch written to a bundle's WARC, with what it is
// to the bundle ("post-page": the post's own page, the primary capture;
// "listing": the feed or API answer the post was read from).
type warcExchange struct {
	f    *mention.Fetch
	role string
}

// buildWARC reconstructs the fetch as WARC/1.1 records: warcinfo, request,
// response and a metadata record with what the HTTP messages cannot say
// (the URL first requested, the protocol as fetched). The HTTP messages are
// written as HTTP/1.1 text, the form every WARC reader expects, whatever the
// protocol on the wire was (HTTP/2 is recorded in the metadata record).
func buildWARC(f *mention.Fetch, tool, bundleID string, created time.Time) ([]byte, error) {
	return buildWARCOf(tool, bundleID, created, warcExchange{f: f})
}

// buildWARCOf writes one warcinfo record and, for each exchange in order,
// its request, response and metadata records (the metadata names the
// exchange's role when it has one).
func buildWARCOf(tool, bundleID string, created time.Time, exs ...warcExchange) ([]byte, error) {
	infoID := newUUID()
	var out bytes.Buffer
	ua := ""
	if len(exs) > 0 {
		ua = exs[0].f.RequestHeader.Get("User-Agent")
	}
	desc := "HTTP exchange of one fetch, reconstructed from the crawler's record of the request and response. "
	if len(exs) > 1 {
		desc = "HTTP exchanges of the fetches of one capture (the post's own page first, then the listing it was read from), reconstructed from the crawler's record of each request and response. "
	}
	info := warcFields([][2]string{
		{"software", tool},
		{"format", "WARC File Format 1.1"},
		{"conformsTo", "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"},
		{"isPartOf", bundleID},
		{"description", desc + "The response body is stored as decoded by the client; Content-Encoding and Transfer-Encoding are renamed X-Mimamori-Orig-*."},
		{"http-header-user-agent", ua},
	})
	writeRecord(&out, [][2]string{
		{"WARC-Type", "warcinfo"},
		{"WARC-Record-ID", infoID},
		{"WARC-Date", warcDate(created)},
		{"WARC-Filename", WARCName},
		{"Content-Type", "application/warc-fields"},
	}, info)
	for _, ex := range exs {
		if err := writeExchange(&out, ex, infoID, created); err != nil {
			return nil, err
		}
	}
	return out.Bytes(), nil
}

func writeExchange(out *bytes.Buffer, ex warcExchange, infoID string, created time.Time) error {
	f := ex.f
	target := f.FinalURL
	if target == "" {
		target = f.RequestURL
	}
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return fmt.Errorf("WARC: target URL %q: not absolute", target)
	}
	fetched := f.FetchedAt.UTC()
	if fetched.IsZero() {
		fetched = created
	}
	reqID, respID, metaID := newUUID(), newUUID(), newUUID()
	// request
	method := f.Method
	if method == "" {
		method = http.MethodGet
	}
	var req bytes.Buffer
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\n", method, u.RequestURI())
	reqHeader := f.RequestHeader.Clone()
	if reqHeader == nil {
		reqHeader = http.Header{}
	}
	if reqHeader.Get("Host") == "" {
		req.WriteString("Host: " + u.Host + "\r\n")
	}
	writeHeader(&req, reqHeader)
	req.WriteString("\r\n")
	writeRecord(out, [][2]string{
		{"WARC-Type", "request"},
		{"WARC-Record-ID", reqID},
		{"WARC-Date", warcDate(fetched)},
		{"WARC-Target-URI", target},
		{"WARC-Warcinfo-ID", infoID},
		{"WARC-Concurrent-To", respID},
		{"Content-Type", "application/http;msgtype=request"},
	}, req.Bytes())

	// response
	var resp bytes.Buffer
	code := f.StatusCode
	if code == 0 {
		code = http.StatusOK
	}
	reason := http.StatusText(code)
	if reason == "" {
		reason = "Unknown"
	}
	fmt.Fprintf(&resp, "HTTP/1.1 %d %s\r\n", code, reason)
	h := http.Header{}
	for k, v := range f.Header {
		ck := http.CanonicalHeaderKey(k)
		switch {
		case warcRenamed[ck]:
			h["X-Mimamori-Orig-"+ck] = v
		case ck == "Content-Length":
			if len(v) > 0 && v[0] != strconv.Itoa(len(f.Body)) {
				h["X-Mimamori-Orig-Content-Length"] = v
			}
			h.Set("Content-Length", strconv.Itoa(len(f.Body)))
		default:
			h[ck] = v
		}
	}
	writeHeader(&resp, h)
	resp.WriteString("\r\n")
	resp.Write(f.Body)
	writeRecord(out, [][2]string{
		{"WARC-Type", "response"},
		{"WARC-Record-ID", respID},
		{"WARC-Date", warcDate(fetched)},
		{"WARC-Target-URI", target},
		{"WARC-Warcinfo-ID", infoID},
		{"Content-Type", "application/http;msgtype=response"},
		{"WARC-Payload-Digest", warcDigest(f.Body)},
	}, resp.Bytes())

	meta := [][2]string{{"fetchedProtocol", f.Proto}, {"requestedURL", f.RequestURL}, {"finalURL", target},
		{"fetchedAt", fetched.Format(time.RFC3339Nano)}, {"captureRole", ex.role}}
	writeRecord(out, [][2]string{
		{"WARC-Type", "metadata"},
		{"WARC-Record-ID", metaID},
		{"WARC-Date", warcDate(fetched)},
		{"WARC-Target-URI", target},
		{"WARC-Warcinfo-ID", infoID},
		{"WARC-Concurrent-To", respID},
		{"Content-Type", "application/warc-fields"},
	}, warcFields(meta))
	return nil
}

func writeRecord(out *bytes.Buffer, fields [][2]string, block []byte) {
	out.WriteString("WARC/1.1\r\n")
	for _, f := range fields {
		out.WriteString(f[0] + ": " + clean(f[1]) + "\r\n")
	}
	out.WriteString("WARC-Block-Digest: " + warcDigest(block) + "\r\n")
	out.WriteString("Content-Length: " + strconv.Itoa(len(block)) + "\r\n\r\n")
	out.Write(block)
	out.WriteString("\r\n\r\n")
}

func writeHeader(b *bytes.Buffer, h http.Header) {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			b.WriteString(k + ": " + clean(v) + "\r\n")
		}
	}
}

func warcFields(kv [][2]string) []byte {
	var b bytes.Buffer
	for _, f := range kv {
		if f[1] == "" {
			continue
		}
		b.WriteString(f[0] + ": " + clean(f[1]) + "\r\n")
	}
	return b.Bytes()
}

// clean keeps a header value on one line.
func clean(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

func warcDigest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + base32.StdEncoding.EncodeToString(s[:])
}

func warcDate(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("<urn:uuid:%x-%x-%x-%x-%x>", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
