package crawler

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"go.uber.org/zap"

	"mimamori/config"
	"mimamori/mention"
)

// pageState is what is remembered about a page between passes: its HTTP
// validators, and its next link so that a 304 still leads on.
type pageState struct {
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	Next         string `json:"next,omitempty"`
}

func (p *pass) getState(key string) (string, bool, error) {
	if v, ok := p.pending.get(key); ok {
		return v, true, nil
	}
	v, ok, err := p.s.state.GetState(p.ctx, p.s.src.ID, key)
	if err != nil {
		return "", false, &PageError{SourceID: p.s.src.ID, Op: "read state", URL: key, Err: err}
	}
	return v, ok, nil
}

// fetchPage GETs u; when conditional, with the validators stored for it.
// A 304 returns the remembered page state and a nil Fetch.
func (p *pass) fetchPage(u *url.URL, conditional bool) (*mention.Fetch, *pageState, error) {
	var hdr http.Header
	var old pageState
	if conditional {
		raw, ok, err := p.getState(keyPagePrefix + u.String())
		if err != nil {
			return nil, nil, err
		}
		if ok && json.Unmarshal([]byte(raw), &old) == nil {
			hdr = http.Header{}
			if old.ETag != "" {
				hdr.Set("If-None-Match", old.ETag)
			}
			if old.LastModified != "" {
				hdr.Set("If-Modified-Since", old.LastModified)
			}
		}
	}
	f, err := p.get(u, hdr)
	if err != nil {
		return nil, nil, err
	}
	if f.StatusCode == http.StatusNotModified {
		if hdr == nil {
			// We asked for nothing conditional: a broken server.
			return nil, nil, &PageError{SourceID: p.s.src.ID, Op: "GET", URL: u.String(),
				Err: &StatusError{Code: 304, Status: "304 Not Modified", Message: "answer to an unconditional request"}}
		}
		p.s.log.Debug("page not modified", zap.String("url", u.String()))
		return nil, &old, nil
	}
	return f, nil, nil
}

// remember queues the validators of a page read in full, to be saved by
// the Batch's Commit.
func (p *pass) remember(u *url.URL, f *mention.Fetch, next *url.URL) {
	st := pageState{ETag: f.Header.Get("ETag"), LastModified: f.Header.Get("Last-Modified")}
	if st.ETag == "" && st.LastModified == "" {
		return
	}
	if next != nil {
		st.Next = next.String()
	}
	b, _ := json.Marshal(st)
	p.pending.put(keyPagePrefix+u.String(), string(b))
}

func (p *pass) runHTTP() error {
	switch p.s.src.Kind {
	case config.SourceFeed:
		return p.crawlFeed()
	case config.SourceJSON:
		return p.crawlJSON()
	default:
		return p.crawlHTML()
	}
}

func (p *pass) crawlFeed() error {
	s := p.s
	f, _, err := p.fetchPage(s.start, true)
	if err != nil || f == nil {
		return err
	}
	finalURL := finalOf(f, s.start)
	fp, err := parseFeed(finalURL, f.Body)
	if err != nil {
		return &PageError{SourceID: s.src.ID, Op: "parse feed", URL: f.RequestURL, Err: err}
	}
	if fp.Empty > 0 {
		s.log.Debug("feed items without text skipped", zap.Int("count", fp.Empty), zap.String("url", f.FinalURL))
	}
	p.posts = appendPosts(p.posts, fp.Posts, s.src.ID, f)
	p.remember(s.start, f, nil)
	return nil
}

func finalOf(f *mention.Fetch, fallback *url.URL) *url.URL {
	if u, err := url.Parse(f.FinalURL); err == nil && u.Host != "" {
		return u
	}
	return fallback
}

// crawlHTML reads the start page and its next pages; with html.follow,
// the detail pages they link to.
func (p *pass) crawlHTML() error {
	s := p.s
	if s.sel.follow == nil {
		return p.readThread(s.start, s.sel, true)
	}
	seen := map[string]bool{}
	followed := map[string]bool{}
	u := s.start
	for page := 1; ; page++ {
		seen[u.String()] = true
		// Lists are fetched in full: an unchanged list does not mean
		// unchanged threads, nor that every thread was read last time
		// (max_pages). Each thread is asked conditionally instead.
		f, _, err := p.fetchPage(u, false)
		if err != nil {
			return err
		}
		hp, err := extractHTML(s.sel, finalOf(f, u), nil, f.Header.Get("Content-Type"), f.Body)
		if err != nil {
			return &PageError{SourceID: s.src.ID, Op: "extract html", URL: f.RequestURL, Err: err}
		}
		if page == 1 && hp.Matched == 0 && len(hp.Follow) == 0 && !s.src.AllowEmpty {
			return &PageError{SourceID: s.src.ID, Op: "extract html", URL: f.RequestURL, Err: ErrNoItems}
		}
		p.posts = appendPosts(p.posts, hp.Posts, s.src.ID, f)
		links, next := hp.Follow, hp.Next
		for _, l := range links {
			if followed[l.String()] || seen[l.String()] {
				continue
			}
			followed[l.String()] = true
			if !p.budgetLeft() {
				s.log.Debug("page limit reached before every detail page", zap.Int("max_pages", s.maxPages), zap.String("next", l.String()))
				return nil
			}
			err := p.readThread(l, s.sel.detail, false)
			var se *StatusError
			if errors.As(err, &se) && (se.Code == http.StatusNotFound || se.Code == http.StatusGone) {
				s.log.Info("detail page gone; skipped", zap.String("url", l.String()), zap.Error(err))
				continue
			}
			if err != nil {
				return err
			}
		}
		if next == nil || seen[next.String()] {
			return nil
		}
		if !p.budgetLeft() {
			s.log.Debug("page limit reached", zap.Int("max_pages", s.maxPages), zap.String("next", next.String()))
			return nil
		}
		u = next
	}
}

// readThread reads a page and its next pages with sel. With html.number,
// posts up to the last one seen in this thread are skipped, and with
// html.resume reading starts after it. first marks the source's start
// page, where no item at all is an error.
func (p *pass) readThread(thread *url.URL, sel *selectors, first bool) error {
	s := p.s
	lastKey := keyLastPrefix + thread.String()
	last := int64(-1)
	if sel.number != nil {
		raw, ok, err := p.getState(lastKey)
		if err != nil {
			return err
		}
		if ok {
			if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
				last = n
			}
		}
	}
	u := thread
	if last >= 0 && sel.resume != "" {
		if r := resumeURL(sel.resume, thread, last); r != nil {
			u = r
		}
	}
	maxNum := last
	seen := map[string]bool{}
	for page := 1; ; page++ {
		seen[u.String()] = true
		f, old, err := p.fetchPage(u, page == 1 && u == thread)
		if err != nil {
			return err
		}
		var next *url.URL
		if f == nil {
			next = resolveHTTP(u, old.Next)
		} else {
			var stable *url.URL
			if sel.number != nil {
				stable = thread
			}
			hp, err := extractHTML(sel, finalOf(f, u), stable, f.Header.Get("Content-Type"), f.Body)
			if err != nil {
				return &PageError{SourceID: s.src.ID, Op: "extract html", URL: f.RequestURL, Err: err}
			}
			if hp.Empty > 0 {
				s.log.Debug("items with empty text skipped", zap.Int("count", hp.Empty), zap.String("url", f.FinalURL))
			}
			if hp.BadTime > 0 {
				s.log.Debug("items with unparseable time", zap.Int("count", hp.BadTime), zap.String("url", f.FinalURL))
			}
			if hp.Matched == 0 {
				s.log.Debug("no item matched the item selector", zap.String("url", f.FinalURL), zap.String("selector", sel.itemExpr))
				if first && page == 1 && u == thread && !s.src.AllowEmpty {
					return &PageError{SourceID: s.src.ID, Op: "extract html", URL: f.RequestURL, Err: ErrNoItems}
				}
			}
			posts := hp.Posts
			if sel.number != nil {
				posts = posts[:0:0]
				for i, post := range hp.Posts {
					n := hp.Numbers[i]
					if n >= 0 && n <= last {
						continue // read in an earlier pass
					}
					posts = append(posts, post)
					maxNum = max(maxNum, n)
				}
			}
			p.posts = appendPosts(p.posts, posts, s.src.ID, f)
			next = hp.Next
			if page == 1 && u == thread {
				p.remember(u, f, next)
			}
		}
		if next == nil {
			break
		}
		if seen[next.String()] {
			s.log.Debug("next link points to a page already fetched", zap.String("url", next.String()))
			break
		}
		if !p.budgetLeft() {
			s.log.Debug("page limit reached", zap.Int("max_pages", s.maxPages), zap.String("next", next.String()))
			break
		}
		u = next
	}
	if maxNum > last {
		p.pending.put(lastKey, strconv.FormatInt(maxNum, 10))
	}
	return nil
}

// resumeURL renders html.resume for a thread whose last seen post is last.
func resumeURL(tmpl string, thread *url.URL, last int64) *url.URL {
	t, err := parseTemplate(tmpl)
	if err != nil {
		return nil
	}
	s := t.render(func(name string) string {
		switch name {
		case "url":
			return thread.String()
		case "last":
			return strconv.FormatInt(last, 10)
		case "next":
			return strconv.FormatInt(last+1, 10)
		}
		return ""
	})
	return resolveHTTP(thread, s)
}

// crawlJSON reads the API from the start URL following the cursor, next
// URL or Link header; incremental sources skip ids already seen and stop
// paging at the first page with nothing new.
func (p *pass) crawlJSON() error {
	s := p.s
	m := s.json
	since := ""
	if m.incremental() {
		v, _, err := p.getState(keySince)
		if err != nil {
			return err
		}
		since = v
	}
	u := s.start
	if since != "" && m.cfg.SinceParam != "" {
		c := *u
		q := c.Query()
		q.Set(m.cfg.SinceParam, since)
		c.RawQuery = q.Encode()
		u = &c
	}
	maxID := since
	seen := map[string]bool{}
	for page := 1; ; page++ {
		seen[u.String()] = true
		f, old, err := p.fetchPage(u, page == 1 && u == s.start)
		if err != nil {
			return err
		}
		var next *url.URL
		if f == nil {
			next = resolveHTTP(u, old.Next)
		} else {
			jp, err := extractJSON(m, u, finalOf(f, u), s.start, f.Header, f.Body)
			if err != nil {
				return &PageError{SourceID: s.src.ID, Op: "extract json", URL: f.RequestURL, Err: err}
			}
			if page == 1 && jp.Missing && !s.src.AllowEmpty {
				return &PageError{SourceID: s.src.ID, Op: "extract json", URL: f.RequestURL,
					Err: fmt.Errorf("%w: json.items %q is missing", ErrNoItems, m.cfg.Items)}
			}
			if jp.Empty > 0 {
				s.log.Debug("items with empty text skipped", zap.Int("count", jp.Empty), zap.String("url", f.FinalURL))
			}
			fresh := 0
			posts := jp.Posts[:0:0]
			for i, post := range jp.Posts {
				id := jp.IDs[i]
				if m.incremental() && since != "" && id != "" && !idAbove(id, since) {
					continue
				}
				posts = append(posts, post)
				fresh++
				if id != "" && (maxID == "" || idAbove(id, maxID)) {
					maxID = id
				}
			}
			p.posts = appendPosts(p.posts, posts, s.src.ID, f)
			next = jp.Next
			if page == 1 && u == s.start {
				p.remember(u, f, next)
			}
			if m.incremental() && since != "" && jp.Matched > 0 && fresh == 0 {
				break // reached what an earlier pass read
			}
		}
		if next == nil || seen[next.String()] {
			break
		}
		if !p.budgetLeft() {
			if m.incremental() {
				s.log.Warn("page limit reached with newer items left: raise max_pages or the posts between are skipped",
					zap.Int("max_pages", s.maxPages), zap.String("next", next.String()))
			} else {
				s.log.Debug("page limit reached", zap.Int("max_pages", s.maxPages), zap.String("next", next.String()))
			}
			break
		}
		u = next
	}
	if m.incremental() && maxID != since && maxID != "" {
		p.pending.put(keySince, maxID)
	}
	return nil
}
