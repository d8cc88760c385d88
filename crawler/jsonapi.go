package crawler

import (
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/transform"

	"mimamori/config"
	"mimamori/internal/jst"
	"mimamori/mention"
)

// jsonMapping is a compiled json field mapping.
type jsonMapping struct {
	cfg       config.JSONMapping
	permalink *template
	author    *template
}

func compileJSON(key string, m config.JSONMapping) (*jsonMapping, error) {
	out := &jsonMapping{cfg: m}
	if strings.TrimSpace(m.Text) == "" {
		return nil, fmt.Errorf("%s.text: a path is required", key)
	}
	if (m.Cursor == "") != (m.CursorParam == "") {
		return nil, fmt.Errorf("%s.cursor: cursor and cursor_param go together", key)
	}
	if (m.Incremental || m.SinceParam != "") && m.ID == "" {
		return nil, fmt.Errorf("%s.id: required for incremental reading", key)
	}
	var err error
	if m.PermalinkTemplate != "" {
		if out.permalink, err = parseTemplate(m.PermalinkTemplate); err != nil {
			return nil, fmt.Errorf("%s.permalink_template: %v", key, err)
		}
	}
	if m.AuthorTemplate != "" {
		if out.author, err = parseTemplate(m.AuthorTemplate); err != nil {
			return nil, fmt.Errorf("%s.author_template: %v", key, err)
		}
	}
	return out, nil
}

func (m *jsonMapping) incremental() bool { return m.cfg.Incremental || m.cfg.SinceParam != "" }

// jsonPage is what one JSON response yielded.
type jsonPage struct {
	Posts []mention.Post
	// IDs holds each post's id (json.id), "" when unmapped.
	IDs []string
	// Matched counts the items in the array, empty ones too.
	Matched int
	// Missing is true when the items path was absent or null.
	Missing bool
	// Next is the next page's URL, nil when there is none.
	Next    *url.URL
	Empty   int
	BadTime int
}

// jsonText decodes a JSON body to UTF-8: RFC 8259 says UTF-8, but some
// Japanese APIs still answer in Shift_JIS or EUC-JP and say so in the
// Content-Type.
func jsonText(contentType string, body []byte) ([]byte, error) {
	if _, params, err := mime.ParseMediaType(contentType); err == nil {
		if cs := strings.ToLower(strings.TrimSpace(params["charset"])); cs != "" && cs != "utf-8" && cs != "utf8" {
			enc, name := charset.Lookup(cs)
			if enc == nil {
				return nil, fmt.Errorf("unknown charset %q", cs)
			}
			if name != "utf-8" {
				out, _, err := transform.Bytes(enc.NewDecoder(), body)
				if err != nil {
					return nil, fmt.Errorf("decode %s: %w", name, err)
				}
				return out, nil
			}
		}
	}
	return body, nil
}

// extractJSON maps one JSON response to posts. reqURL is the URL asked
// for (the cursor goes into its query), finalURL the URL answered (links
// resolve against it), stable the source URL (fallback permalinks hang
// off it, so they do not change with cursors). It does no I/O.
func extractJSON(m *jsonMapping, reqURL, finalURL, stable *url.URL, header http.Header, body []byte) (*jsonPage, error) {
	text, err := jsonText(header.Get("Content-Type"), body)
	if err != nil {
		return nil, err
	}
	if !gjson.ValidBytes(text) {
		return nil, ErrNotJSON
	}
	root := gjson.ParseBytes(text)
	for _, p := range m.cfg.Require {
		if !root.Get(p).Exists() {
			return nil, fmt.Errorf("%w: %s", ErrMissingField, p)
		}
	}
	page := &jsonPage{}
	arr := root
	if m.cfg.Items != "" {
		arr = root.Get(m.cfg.Items)
	}
	switch {
	case !arr.Exists() || arr.Type == gjson.Null:
		page.Missing = true
	case !arr.IsArray():
		return nil, fmt.Errorf("json.items %q is a %s, not an array", m.cfg.Items, arr.Type)
	default:
		get := func(item gjson.Result, path string) gjson.Result {
			if strings.IndexByte(path, '{') >= 0 {
				path = interpolate(path, item)
			}
			if strings.HasPrefix(path, "$.") {
				return root.Get(path[2:])
			}
			return item.Get(path)
		}
		// Output is bounded by the input: a mapping that copies a large
		// value into every item ("$." paths, templates) stops here.
		budget := 4*len(text) + 1<<20
		var blowup error
		arr.ForEach(func(_, item gjson.Result) bool {
			if budget < 0 {
				blowup = fmt.Errorf("json mapping output exceeds %d bytes for a %d-byte response", 4*len(text)+1<<20, len(text))
				return false
			}
			page.Matched++
			p := mention.Post{}
			raw := get(item, m.cfg.Text).String()
			if m.cfg.TextHTML {
				p.Text = htmlToText(raw)
			} else {
				p.Text = cleanText(raw)
			}
			if m.cfg.Title != "" {
				t := get(item, m.cfg.Title).String()
				if m.cfg.TextHTML {
					t = htmlToText(t)
				}
				p.Title = oneLine(t)
			}
			if p.Text == "" {
				p.Text = p.Title // a title-only item (a link post)
			}
			if p.Text == "" {
				page.Empty++
				return true
			}
			switch {
			case m.author != nil:
				p.Author = oneLine(m.author.render(func(path string) string { return get(item, path).String() }))
			case m.cfg.Author != "":
				p.Author = oneLine(get(item, m.cfg.Author).String())
			}
			if m.cfg.Time != "" {
				if v := get(item, m.cfg.Time); v.Exists() && v.Type != gjson.Null {
					if t, ok := jsonTime(v, m.cfg.TimeLayout); ok {
						p.Published = t
					} else {
						page.BadTime++
					}
				}
			}
			id := ""
			if m.cfg.ID != "" {
				id = get(item, m.cfg.ID).String()
			}
			p.Permalink = m.itemPermalink(item, get, finalURL, stable, id, p)
			budget -= len(p.Text) + len(p.Title) + len(p.Author) + len(p.Permalink) + len(id) + 64
			page.Posts = append(page.Posts, p)
			page.IDs = append(page.IDs, id)
			return true
		})
		if blowup != nil {
			return nil, blowup
		}
	}
	switch {
	case m.cfg.Cursor != "":
		if c := root.Get(m.cfg.Cursor); c.Exists() && c.Type != gjson.Null && c.String() != "" {
			n := *reqURL
			q := n.Query()
			q.Set(m.cfg.CursorParam, c.String())
			n.RawQuery = q.Encode()
			page.Next = &n
		}
	case m.cfg.NextURL != "":
		page.Next = resolveHTTP(finalURL, root.Get(m.cfg.NextURL).String())
	case m.cfg.NextLink:
		page.Next = resolveHTTP(finalURL, linkNext(header))
	}
	return page, nil
}

func (m *jsonMapping) itemPermalink(item gjson.Result, get func(gjson.Result, string) gjson.Result, finalURL, stable *url.URL, id string, p mention.Post) string {
	if m.permalink != nil {
		s := m.permalink.render(func(path string) string { return get(item, path).String() })
		if u := resolveHTTP(finalURL, s); u != nil {
			return u.String()
		}
	}
	if m.cfg.Permalink != "" {
		if u := resolveHTTP(finalURL, get(item, m.cfg.Permalink).String()); u != nil {
			return u.String()
		}
	}
	if id != "" {
		return withFragment(stable, id)
	}
	return hashedPermalink(stable, p)
}

// jsonTime reads a time: epoch numbers (seconds, or milliseconds when
// large or time_layout is unix_ms), or a string in the layout or a common
// form.
func jsonTime(v gjson.Result, layout string) (time.Time, bool) {
	num := func() (float64, bool) {
		switch v.Type {
		case gjson.Number:
			return v.Float(), true
		case gjson.String:
			f, err := strconv.ParseFloat(strings.TrimSpace(v.Str), 64)
			return f, err == nil
		}
		return 0, false
	}
	switch layout {
	case "unix", "unix_ms":
		f, ok := num()
		if !ok || f <= 0 || f > 1e16 {
			return time.Time{}, false
		}
		if layout == "unix_ms" {
			f /= 1000
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).In(jst.Zone), true
	}
	if v.Type == gjson.Number && layout == "" {
		f := v.Float()
		if f <= 0 || f > 1e16 {
			return time.Time{}, false
		}
		if f > 1e11 { // milliseconds
			f /= 1000
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).In(jst.Zone), true
	}
	return parseTime(v.String(), layout)
}

// placeholderRe matches a {field} inside a path (not a gjson multipath
// such as {a,b}).
var placeholderRe = regexp.MustCompile(`\{([^{},]+)\}`)

// interpolate replaces each {field} in a path with the item's value,
// escaped for a gjson string literal, so a path can join on it:
// $.includes.users.#(id=="{author_id}").username.
func interpolate(path string, item gjson.Result) string {
	return placeholderRe.ReplaceAllStringFunc(path, func(m string) string {
		v := item.Get(m[1 : len(m)-1]).String()
		return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v)
	})
}

// linkNext returns the rel="next" target of a Link header (RFC 8288).
func linkNext(h http.Header) string {
	for _, line := range h.Values("Link") {
		for _, part := range splitLinks(line) {
			target, params, ok := strings.Cut(part, ";")
			target = strings.TrimSpace(target)
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target[1 : len(target)-1]
					}
				}
			}
		}
	}
	return ""
}

// splitLinks splits a Link header at the commas between links (not those
// inside <…> or quotes).
func splitLinks(s string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>':
			depth = max(depth-1, 0)
		case c == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// idAbove reports whether id a is above b: numerically when both are
// decimal numbers (snowflake ids outgrow int64 in some APIs), else as
// strings.
func idAbove(a, b string) bool {
	if isDigits(a) && isDigits(b) {
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			return len(a) > len(b)
		}
	}
	return a > b
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// jsonErrorMessage finds a readable message in an error body: the mapped
// json.error path, else the usual places (error.message, message, detail,
// error, title), else short text.
func jsonErrorMessage(path string, contentType string, body []byte) string {
	if len(body) == 0 {
		return ""
	}
	if text, err := jsonText(contentType, body); err == nil && gjson.ValidBytes(text) {
		root := gjson.ParseBytes(text)
		paths := []string{"error.message", "message", "detail", "error_description", "error", "title", "errors.0.message"}
		if path != "" {
			paths = append([]string{path}, paths...)
		}
		for _, p := range paths {
			if v := root.Get(p); v.Type == gjson.String && strings.TrimSpace(v.Str) != "" {
				return truncate(oneLine(htmlToText(v.Str)), 300)
			}
		}
		return ""
	}
	if len(body) <= 512 && utf8.Valid(body) && !strings.Contains(strings.ToLower(string(body)), "<html") {
		return truncate(oneLine(string(body)), 300)
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// template is a permalink or author template: literal text and {path} or
// {path|filter} fields.
type template struct {
	parts []tmplPart
}

type tmplPart struct {
	lit    string
	path   string
	filter string
}

var tmplFilters = map[string]func(string) string{
	"basename": func(s string) string { return s[strings.LastIndexByte(s, '/')+1:] },
	"query":    url.QueryEscape,
	"path":     url.PathEscape,
}

func parseTemplate(s string) (*template, error) {
	t := &template{}
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			t.parts = append(t.parts, tmplPart{lit: s})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{lit: s[:i]})
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("unclosed { in %q", s)
		}
		expr := strings.TrimSpace(s[i+1 : i+j])
		if expr == "" {
			return nil, fmt.Errorf("empty {} in %q", s)
		}
		part := tmplPart{path: expr}
		if k := strings.LastIndexByte(expr, '|'); k >= 0 {
			if _, ok := tmplFilters[strings.TrimSpace(expr[k+1:])]; ok {
				part.path, part.filter = strings.TrimSpace(expr[:k]), strings.TrimSpace(expr[k+1:])
			}
		}
		t.parts = append(t.parts, part)
		s = s[i+j+1:]
	}
	return t, nil
}

func (t *template) render(get func(path string) string) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.path == "" {
			b.WriteString(p.lit)
			continue
		}
		v := get(p.path)
		if p.filter != "" {
			v = tmplFilters[p.filter](v)
		}
		b.WriteString(v)
	}
	return b.String()
}
