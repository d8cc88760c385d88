package crawler

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/andybalholm/cascadia"
	"github.com/antchfx/htmlquery"
	"github.com/antchfx/xpath"
	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"

	"mimamori/config"
	"mimamori/mention"
)

// htmlPage is what one HTML page yielded.
type htmlPage struct {
	Posts []mention.Post
	// Numbers holds each post's number (html.number), -1 when unknown.
	Numbers []int64
	// Matched counts the items the item selector matched, empty ones too.
	Matched int
	// Next is the resolved next-page link, nil when there is none.
	Next *url.URL
	// Follow lists the detail-page links (html.follow), in page order,
	// without duplicates.
	Follow []*url.URL
	// Empty counts items skipped because their text was empty.
	Empty int
	// BadTime counts items whose time could not be parsed.
	BadTime int
}

// isHTMLType reports whether a Content-Type names an HTML document.
func isHTMLType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt, _, _ = strings.Cut(strings.ToLower(contentType), ";")
		mt = strings.TrimSpace(mt)
	}
	return mt == "text/html" || mt == "application/xhtml+xml"
}

// selector finds nodes under a context node: CSS (descendants only) or
// XPath 1.0 (evaluated with the context node as root).
type selector interface {
	all(n *html.Node) []*html.Node
	first(n *html.Node) *html.Node
}

type cssSelector struct{ m cascadia.SelectorGroup }

func (c cssSelector) all(n *html.Node) []*html.Node { return cascadia.QueryAll(n, c.m) }
func (c cssSelector) first(n *html.Node) *html.Node { return cascadia.Query(n, c.m) }

type xpathSelector struct{ e *xpath.Expr }

func (x xpathSelector) all(n *html.Node) []*html.Node {
	return htmlquery.QuerySelectorAll(n, x.e)
}
func (x xpathSelector) first(n *html.Node) *html.Node { return htmlquery.QuerySelector(n, x.e) }

// isXPath reports whether a selector is XPath: CSS never starts with "/",
// "./", "../" or "(", nor is ".".
func isXPath(s string) bool {
	s = strings.TrimSpace(s)
	return s == "." || strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") ||
		strings.HasPrefix(s, "../") || strings.HasPrefix(s, "(")
}

func compileSelector(s string) (selector, error) {
	if s == "" {
		return nil, nil
	}
	if isXPath(s) {
		e, err := xpath.Compile(s)
		if err != nil {
			return nil, err
		}
		return xpathSelector{e}, nil
	}
	g, err := cascadia.ParseGroup(s)
	if err != nil {
		return nil, err
	}
	return cssSelector{g}, nil
}

// selectors are a source's compiled html selectors.
type selectors struct {
	item, text, title, author, time, permalink, next, number, follow selector
	timeLayout                                                       string
	resume                                                           string
	itemExpr                                                         string
	detail                                                           *selectors
}

// compileSelectors checks and compiles every configured selector, so a
// typo fails at start-up instead of silently matching nothing.
func compileSelectors(key string, sel config.HTMLSelectors) (*selectors, error) {
	out := &selectors{timeLayout: sel.TimeLayout, resume: sel.Resume, itemExpr: sel.Item}
	if strings.TrimSpace(sel.Item) == "" && sel.Follow == "" {
		return nil, fmt.Errorf("%s.item: a selector is required", key)
	}
	for _, f := range []struct {
		key string
		val string
		dst *selector
	}{
		{"item", sel.Item, &out.item}, {"text", sel.Text, &out.text}, {"title", sel.Title, &out.title},
		{"author", sel.Author, &out.author}, {"time", sel.Time, &out.time},
		{"permalink", sel.Permalink, &out.permalink}, {"next", sel.Next, &out.next},
		{"number", sel.Number, &out.number}, {"follow", sel.Follow, &out.follow},
	} {
		s, err := compileSelector(f.val)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: bad selector %q: %v", key, f.key, f.val, err)
		}
		*f.dst = s
	}
	if sel.Resume != "" && sel.Number == "" {
		return nil, fmt.Errorf("%s.resume: needs %s.number", key, key)
	}
	if sel.Follow != "" {
		if sel.Detail == nil {
			return nil, fmt.Errorf("%s.detail: required with %s.follow", key, key)
		}
		if sel.Detail.Follow != "" {
			return nil, fmt.Errorf("%s.detail.follow: followed pages are not followed further", key)
		}
		d, err := compileSelectors(key+".detail", *sel.Detail)
		if err != nil {
			return nil, err
		}
		out.detail = d
	}
	return out, nil
}

var baseSel = cascadia.MustCompile("base[href]")

// parseHTML decodes body (any charset: the Content-Type, a BOM or a
// <meta> tag decide) and parses it.
func parseHTML(contentType string, body []byte) (*html.Node, error) {
	r, err := charset.NewReader(bytes.NewReader(body), contentType)
	if err != nil {
		return nil, fmt.Errorf("decode page: %w", err)
	}
	doc, err := html.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("parse html: %w", err)
	}
	return doc, nil
}

// extractHTML pulls the posts, the next link and the follow links out of
// one page. body is the raw response, pageURL the final URL it came from.
// It does no I/O and never fails on odd HTML; the only errors are a page
// that cannot be decoded and a selector that panicked.
//
// thread, when set, is the stable URL of a numbered thread (html.number):
// posts with a number and no permalink link get thread#number, which does
// not change when the thread is read from a resume URL.
func extractHTML(sel *selectors, pageURL, thread *url.URL, contentType string, body []byte) (page *htmlPage, err error) {
	doc, err := parseHTML(contentType, body)
	if err != nil {
		return nil, err
	}
	return extractDoc(sel, pageURL, thread, doc)
}

func extractDoc(sel *selectors, pageURL, thread *url.URL, doc *html.Node) (page *htmlPage, err error) {
	defer func() {
		if p := recover(); p != nil {
			page, err = nil, fmt.Errorf("selector failed: %v", p)
		}
	}()
	page = &htmlPage{}
	base := pageURL
	if b := cascadia.Query(doc, baseSel); b != nil {
		if u := resolveHTTP(pageURL, attr(b, "href")); u != nil {
			base = u
		}
	}
	if sel.item != nil {
		for _, item := range sel.item.all(doc) {
			page.Matched++
			p := mention.Post{}
			if sel.text != nil {
				p.Text = nodesText(sel.text.all(item))
			} else {
				p.Text = nodesText([]*html.Node{item})
			}
			if p.Text == "" {
				page.Empty++
				continue
			}
			if sel.title != nil {
				p.Title = oneLine(nodesText(firstOf(sel.title, item)))
			}
			if sel.author != nil {
				p.Author = oneLine(nodesText(firstOf(sel.author, item)))
			}
			if sel.time != nil {
				if el := sel.time.first(item); el != nil {
					if t, ok := itemTime(el, sel.timeLayout); ok {
						p.Published = t
					} else {
						page.BadTime++
					}
				}
			}
			num := int64(-1)
			if sel.number != nil {
				if el := sel.number.first(item); el != nil {
					num = firstNumber(nodesText([]*html.Node{el}))
				}
			}
			var linked bool
			p.Permalink, linked = permalink(sel, item, base, pageURL, p)
			if num >= 0 && thread != nil && !linked {
				p.Permalink = withFragment(thread, strconv.FormatInt(num, 10))
			}
			page.Posts = append(page.Posts, p)
			page.Numbers = append(page.Numbers, num)
		}
	}
	if sel.next != nil {
		for _, n := range sel.next.all(doc) {
			if u := resolveHTTP(base, linkOf(n)); u != nil {
				u.Fragment = ""
				page.Next = u
				break
			}
		}
	}
	if sel.follow != nil {
		seen := map[string]bool{}
		for _, n := range sel.follow.all(doc) {
			u := resolveHTTP(base, linkOf(n))
			if u == nil {
				continue
			}
			u.Fragment = ""
			if !seen[u.String()] {
				seen[u.String()] = true
				page.Follow = append(page.Follow, u)
			}
		}
	}
	return page, nil
}

func firstOf(s selector, n *html.Node) []*html.Node {
	if el := s.first(n); el != nil {
		return []*html.Node{el}
	}
	return nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// linkOf is an element's href, or the value of an XPath attribute result
// (".//a/@href").
func linkOf(n *html.Node) string {
	if v, ok := hasAttr(n, "href"); ok {
		return v
	}
	if n.Parent == nil && n.FirstChild != nil && n.FirstChild.Type == html.TextNode && len(n.Attr) == 0 {
		return n.FirstChild.Data // htmlquery's synthetic attribute node
	}
	return ""
}

func nodesText(nodes []*html.Node) string {
	var b strings.Builder
	for i, n := range nodes {
		if i > 0 {
			b.WriteByte('\n')
		}
		nodeText(&b, n)
	}
	return cleanText(b.String())
}

// firstNumber returns the first run of ASCII or full-width digits in s, or
// -1.
func firstNumber(s string) int64 {
	var digits []byte
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits = append(digits, byte(r))
		case r >= '０' && r <= '９':
			digits = append(digits, byte('0'+r-'０'))
		default:
			if len(digits) > 0 {
				goto done
			}
		}
	}
done:
	if len(digits) == 0 || len(digits) > 18 {
		return -1
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// itemTime reads the datetime attribute (a <time> element) when present,
// else the element's text.
func itemTime(el *html.Node, layout string) (time.Time, bool) {
	if dt, ok := hasAttr(el, "datetime"); ok && strings.TrimSpace(dt) != "" {
		if t, ok := parseTime(dt, ""); ok {
			return t, true
		}
	}
	return parseTime(nodesText([]*html.Node{el}), layout)
}

// permalink finds the post's own URL: the href of the permalink element;
// else the page URL with the permalink element's id, or the item's id, as
// fragment; else the page URL with a fragment hashed from the post, so the
// mention id stays stable across re-crawls while the post is unchanged.
// linked is true when the permalink came from a link.
func permalink(sel *selectors, item *html.Node, base, pageURL *url.URL, p mention.Post) (link string, linked bool) {
	if sel.permalink != nil {
		if el := sel.permalink.first(item); el != nil {
			if u := resolveHTTP(base, linkOf(el)); u != nil {
				return u.String(), true
			}
			if id := strings.TrimSpace(attr(el, "id")); id != "" {
				return withFragment(pageURL, id), false
			}
		}
	}
	if id := strings.TrimSpace(attr(item, "id")); id != "" {
		return withFragment(pageURL, id), false
	}
	return hashedPermalink(pageURL, p), false
}

func hashedPermalink(pageURL *url.URL, p mention.Post) string {
	h := sha256.Sum256([]byte(p.Author + "\x00" + p.Published.UTC().Format(time.RFC3339) + "\x00" + p.Title + "\x00" + p.Text))
	return withFragment(pageURL, "mimamori-"+hex.EncodeToString(h[:8]))
}

func withFragment(u *url.URL, frag string) string {
	c := *u
	c.Fragment = frag
	c.RawFragment = ""
	return c.String()
}

// resolveHTTP resolves ref against base and returns it only when it is an
// http or https URL without user info (javascript:, mailto: and
// "https://trusted@evil.example/" give nil).
func resolveHTTP(base *url.URL, ref string) *url.URL {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil
	}
	u, err := url.Parse(ref)
	if err != nil {
		return nil
	}
	if base != nil {
		u = base.ResolveReference(u)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil
	}
	return u
}
