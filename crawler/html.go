package crawler

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"net/url"
	"strings"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/andybalholm/cascadia"
	"golang.org/x/net/html/charset"

	"mimamori/config"
	"mimamori/mention"
)

// htmlPage is what one HTML page yielded.
type htmlPage struct {
	Posts []mention.Post
	// Next is the resolved next-page link, nil when there is none.
	Next *url.URL
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

// validateSelectors checks that every configured selector compiles, so a
// typo fails at start-up instead of silently matching nothing.
func validateSelectors(sel config.HTMLSelectors) error {
	if strings.TrimSpace(sel.Item) == "" {
		return fmt.Errorf("html.item: a selector is required")
	}
	for _, f := range []struct{ key, val string }{
		{"html.item", sel.Item}, {"html.text", sel.Text}, {"html.title", sel.Title},
		{"html.author", sel.Author}, {"html.time", sel.Time},
		{"html.permalink", sel.Permalink}, {"html.next", sel.Next},
	} {
		if f.val == "" {
			continue
		}
		if _, err := cascadia.ParseGroup(f.val); err != nil {
			return fmt.Errorf("%s: bad selector %q: %v", f.key, f.val, err)
		}
	}
	return nil
}

// extractHTML pulls the posts out of one page. body is the raw response
// (any charset: the Content-Type, a BOM or a <meta> tag decide), pageURL
// the final URL it came from. It does no I/O and never fails on odd HTML;
// the only error is a page that is not HTML at all.
func extractHTML(sel config.HTMLSelectors, pageURL *url.URL, contentType string, body []byte) (*htmlPage, error) {
	r, err := charset.NewReader(bytes.NewReader(body), contentType)
	if err != nil {
		return nil, fmt.Errorf("decode page: %w", err)
	}
	doc, err := goquery.NewDocumentFromReader(r)
	if err != nil {
		return nil, fmt.Errorf("parse html: %w", err)
	}
	page := &htmlPage{}
	base := pageURL
	if href, ok := doc.Find("base[href]").First().Attr("href"); ok {
		if b := resolveHTTP(pageURL, href); b != nil {
			base = b
		}
	}
	doc.Find(sel.Item).Each(func(_ int, item *goquery.Selection) {
		p := mention.Post{}
		text := item
		if sel.Text != "" {
			text = item.Find(sel.Text)
		}
		p.Text = selectionText(text)
		if p.Text == "" {
			page.Empty++
			return
		}
		if sel.Title != "" {
			p.Title = oneLine(selectionText(item.Find(sel.Title).First()))
		}
		if sel.Author != "" {
			p.Author = oneLine(selectionText(item.Find(sel.Author).First()))
		}
		if sel.Time != "" {
			if el := item.Find(sel.Time).First(); el.Length() > 0 {
				if t, ok := itemTime(el, sel.TimeLayout); ok {
					p.Published = t
				} else {
					page.BadTime++
				}
			}
		}
		p.Permalink = permalink(sel, item, base, pageURL, p)
		page.Posts = append(page.Posts, p)
	})
	if sel.Next != "" {
		doc.Find(sel.Next).EachWithBreak(func(_ int, s *goquery.Selection) bool {
			if href, ok := s.Attr("href"); ok {
				if u := resolveHTTP(base, href); u != nil {
					u.Fragment = ""
					page.Next = u
					return false
				}
			}
			return true
		})
	}
	return page, nil
}

func selectionText(s *goquery.Selection) string {
	var b strings.Builder
	for i, n := range s.Nodes {
		if i > 0 {
			b.WriteByte('\n')
		}
		nodeText(&b, n)
	}
	return cleanText(b.String())
}

// itemTime reads the datetime attribute (a <time> element) when present,
// else the element's text.
func itemTime(el *goquery.Selection, layout string) (time.Time, bool) {
	if dt, ok := el.Attr("datetime"); ok && strings.TrimSpace(dt) != "" {
		if t, ok := parseTime(dt, ""); ok {
			return t, true
		}
	}
	return parseTime(selectionText(el), layout)
}

// permalink finds the post's own URL: the href of the permalink element;
// else the page URL with the permalink element's id, or the item's id, as
// fragment; else the page URL with a fragment hashed from the post, so the
// mention id stays stable across re-crawls while the post is unchanged.
func permalink(sel config.HTMLSelectors, item *goquery.Selection, base, pageURL *url.URL, p mention.Post) string {
	if sel.Permalink != "" {
		el := item.Find(sel.Permalink).First()
		if href, ok := el.Attr("href"); ok {
			if u := resolveHTTP(base, href); u != nil {
				return u.String()
			}
		}
		if id, ok := el.Attr("id"); ok && strings.TrimSpace(id) != "" {
			return withFragment(pageURL, strings.TrimSpace(id))
		}
	}
	if id, ok := item.Attr("id"); ok && strings.TrimSpace(id) != "" {
		return withFragment(pageURL, strings.TrimSpace(id))
	}
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
// http or https URL (javascript:, mailto: and the like give nil).
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
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil
	}
	return u
}
