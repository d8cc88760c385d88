package evidence

import (
	"bytes"
	"strings"
	"unicode"

	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/unicode/norm"

	"mimamori/mention"
)

// PermalinkCapture says how the post's own page (its permalink) was fetched
// for a post read from a feed or an API answer.
type PermalinkCapture struct {
	URL string `json:"url"`
	// Status is PermalinkCaptured (the page is the bundle's primary capture:
	// raw/response.*, the first WARC response, the screenshot and PDF) or
	// PermalinkNotCaptured (the listing is the primary capture; Reason
	// says why, and an answer the permalink gave is kept under permalink/).
	Status     string `json:"status"`
	StatusCode int    `json:"status_code,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// TextFound says whether the post's text was found on the page (a
	// login or cookie wall, or a page that changed, shows without it).
	TextFound *bool `json:"text_found,omitempty"`
}

// Permalink capture states.
const (
	PermalinkCaptured    = "captured"
	PermalinkNotCaptured = "not-captured"
)

// pageTextSample is how many characters of a post's text (whitespace
// removed) must appear on its page for PageShows: feeds often cut the
// text short, and the page may format it differently.
const pageTextSample = 24

// PageShows reports whether the HTML page f shows text: the first
// characters of text (NFKC, whitespace removed) appear in the page's text
// (decoded from its charset, tags and scripts removed, NFKC, whitespace
// removed). An empty text is never shown.
func PageShows(f *mention.Fetch, text string) bool {
	want := []rune(squash(text))
	if len(want) == 0 || f == nil {
		return false
	}
	if len(want) > pageTextSample {
		want = want[:pageTextSample]
	}
	r, err := charset.NewReader(bytes.NewReader(f.Body), f.Header.Get("Content-Type"))
	if err != nil {
		return false
	}
	doc, err := html.Parse(r)
	if err != nil {
		return false
	}
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (n.Data == "script" || n.Data == "style" || n.Data == "noscript") {
			return
		}
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return strings.Contains(squash(b.String()), string(want))
}

// squash normalizes (NFKC) and removes every space.
func squash(s string) string {
	s = norm.NFKC.String(s)
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}
