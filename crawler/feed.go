package crawler

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"time"

	"github.com/mmcdole/gofeed"

	"mimamori/mention"
)

// feedPage is what one feed document yielded.
type feedPage struct {
	Posts []mention.Post
	// Empty counts items skipped because they had neither text nor title.
	Empty int
}

// parseFeed parses an RSS 1.0/2.0, Atom or JSON Feed document (gofeed
// detects which) and turns every item into a Post. feedURL is the final
// URL the document came from; relative links resolve against it. A body
// that is not a feed, or is cut short, is an error.
func parseFeed(feedURL *url.URL, body []byte) (*feedPage, error) {
	f, err := gofeed.NewParser().Parse(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	feedAuthor := person(f.Authors, f.Author)
	page := &feedPage{}
	for _, it := range f.Items {
		if it == nil {
			continue
		}
		p := mention.Post{
			Title:  oneLine(htmlToText(it.Title)),
			Author: person(it.Authors, it.Author),
		}
		if p.Author == "" && it.DublinCoreExt != nil && len(it.DublinCoreExt.Creator) > 0 {
			p.Author = oneLine(it.DublinCoreExt.Creator[0])
		}
		if p.Author == "" {
			p.Author = feedAuthor
		}
		switch {
		case it.PublishedParsed != nil:
			p.Published = *it.PublishedParsed
		case it.UpdatedParsed != nil:
			p.Published = *it.UpdatedParsed
		case it.Published != "":
			p.Published, _ = parseTime(it.Published, "")
		case it.Updated != "":
			p.Published, _ = parseTime(it.Updated, "")
		}
		body := it.Content
		if strings.TrimSpace(body) == "" {
			body = it.Description
		}
		p.Text = htmlToText(body)
		if p.Text == "" {
			// A headline-only item (common in news feeds): the title is
			// the text the detector must see.
			p.Text = p.Title
		}
		if p.Text == "" {
			page.Empty++
			continue
		}
		p.Permalink = itemPermalink(feedURL, it, p)
		page.Posts = append(page.Posts, p)
	}
	return page, nil
}

func person(list []*gofeed.Person, one *gofeed.Person) string {
	for _, p := range list {
		if p != nil && strings.TrimSpace(p.Name) != "" {
			return oneLine(p.Name)
		}
	}
	if one != nil {
		return oneLine(one.Name)
	}
	return ""
}

// itemPermalink is the item link resolved against the feed URL; else its
// first other link; else the GUID when it is an absolute URI (urn:, tag:,
// http:); else the feed URL with the GUID, or a hash of the item, as
// fragment.
func itemPermalink(feedURL *url.URL, it *gofeed.Item, p mention.Post) string {
	links := append([]string{it.Link}, it.Links...)
	for _, l := range links {
		if u := resolveHTTP(feedURL, l); u != nil {
			return unwrapRedirect(u).String()
		}
	}
	guid := strings.TrimSpace(it.GUID)
	if guid != "" {
		if u, err := url.Parse(guid); err == nil && u.Scheme != "" && u.Opaque+u.Host+u.Path != "" {
			return guid
		}
		return withFragment(feedURL, guid)
	}
	h := sha256.Sum256([]byte(p.Author + "\x00" + p.Published.UTC().Format(time.RFC3339) + "\x00" + p.Title + "\x00" + p.Text))
	return withFragment(feedURL, "mimamori-"+hex.EncodeToString(h[:8]))
}

// unwrapRedirect returns the target of a Google redirect link
// (https://www.google.com/url?rct=j&sa=t&url=https://…&ct=ga&…, as in
// Google Alerts feeds), so the permalink is the page itself; other links
// are returned as they are.
func unwrapRedirect(u *url.URL) *url.URL {
	host := strings.ToLower(u.Hostname())
	if u.Path != "/url" || !(host == "google.com" || strings.HasPrefix(host, "www.google.") || strings.HasPrefix(host, "google.")) {
		return u
	}
	q := u.Query()
	for _, k := range []string{"url", "q"} {
		if t := resolveHTTP(nil, q.Get(k)); t != nil {
			return t
		}
	}
	return u
}
