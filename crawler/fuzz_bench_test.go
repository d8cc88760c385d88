package crawler

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"

	"mimamori/config"
	"mimamori/internal/jst"
)

// fuzzMappings are the preset mappings and a few odd ones ($. paths,
// joins, templates), run over every fuzz input.
var fuzzMappings = []config.JSONMapping{
	{Items: `comments.#(4!="Thread")#`, Text: "6", TextHTML: true, AuthorTemplate: "{1} ID:{4}", Time: "3", TimeLayout: "unix", ID: "0",
		Incremental: true, PermalinkTemplate: "https://{$.thread.2}.5ch.net/test/read.cgi/{$.thread.3}/{0}"},
	{Items: "posts", Text: "record.text", AuthorTemplate: "{author.displayName} @{author.handle}", Time: "record.createdAt", ID: "uri",
		PermalinkTemplate: "https://bsky.app/profile/{author.handle}/post/{uri|basename}", Cursor: "cursor", CursorParam: "cursor"},
	{Items: "data", Text: "text", Author: `$.includes.users.#(id=="{author_id}").username`, Time: "created_at", ID: "id",
		Cursor: "meta.next_token", CursorParam: "next_token", Require: []string{"meta"}},
	{Text: "content", TextHTML: true, Title: "spoiler_text", Author: "account.acct", Time: "created_at", Permalink: "url", ID: "id", NextLink: true},
	{Items: "a", Text: "$.b", Title: "$.b", PermalinkTemplate: "{$.b}{$.b}", NextURL: "next"},
}

// FuzzExtractJSON: any bytes, any mapping above: no panic, text valid
// UTF-8 and non-empty, permalinks absolute http(s), output bounded by the
// input.
func FuzzExtractJSON(f *testing.F) {
	f.Add(testdata(f, "fixtures/bluesky/searchPosts-page1.json")[:4000])
	f.Add(testdata(f, "presets/x-search-page1.json"))
	f.Add(testdata(f, "presets/youtube-page1.json"))
	f.Add(testdata(f, "fixtures/mastodon/timelines-tag-hoot.json"))
	f.Add([]byte(`{"total_count":2,"thread":[1,2,"egg","applism/1","","t"],"comments":[[1,"名無し","","1517988732","ID","","本文 <br> 二行目"],[2,"x","","0","Thread","","notice"]]}`))
	f.Add([]byte(`{"a":[1,2,3,{"x":1}],"b":"` + strings.Repeat("z", 100) + `","next":"/p2"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[{"content":"\ud800\udfff\u0000<p>x</p>","id":"18446744073709551616"}]`))
	var ms []*jsonMapping
	for _, m := range fuzzMappings {
		c, err := compileJSON("json", m)
		if err != nil {
			f.Fatal(err)
		}
		ms = append(ms, c)
	}
	page, _ := url.Parse("https://api.example.jp/v1/search?q=x")
	hdr := http.Header{"Content-Type": {"application/json"}, "Link": {`<https://api.example.jp/v1/search?max_id=1>; rel="next"`}}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, m := range ms {
			got, err := extractJSON(m, page, page, page, hdr, body)
			if err != nil {
				continue
			}
			out := 0
			for _, p := range got.Posts {
				if p.Text == "" || !utf8.ValidString(p.Text) || !utf8.ValidString(p.Author) || !utf8.ValidString(p.Title) {
					t.Fatalf("bad text %q", p.Text)
				}
				u, err := url.Parse(p.Permalink)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					t.Fatalf("bad permalink %q", p.Permalink)
				}
				out += len(p.Text) + len(p.Title) + len(p.Author) + len(p.Permalink)
			}
			if out > 4*len(body)+2<<20 {
				t.Fatalf("%d bytes of output from %d bytes of input", out, len(body))
			}
		}
	})
}

// thread5chHTML renders the real 5ch thread JSON as a read.cgi page (the
// 2023 markup), Shift_JIS encoded: a realistic 1,000-post page.
func thread5chHTML(tb testing.TB) []byte {
	var th struct {
		Thread   []any   `json:"thread"`
		Comments [][]any `json:"comments"`
	}
	if err := json.Unmarshal(testdata(tb, "fixtures/5ch-itest/applism_1517988732.json"), &th); err != nil {
		tb.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<!DOCTYPE html><html lang="ja"><head><meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS"><title>%s</title>`+
		`<link rel="stylesheet" href="//agree.5ch.net/css/read.css"><script src="//agree.5ch.net/js/read.js"></script></head><body>`+
		`<div class="navmenu">■ <a href="/applism/">掲示板に戻る</a> ■ <a href="./">全部</a></div><h1 class="title">%s</h1><div class="thread">`,
		html.EscapeString(fmt.Sprint(th.Thread[5])), html.EscapeString(fmt.Sprint(th.Thread[5])))
	for _, c := range th.Comments {
		n := fmt.Sprint(c[0])
		epoch, _ := json.Number(fmt.Sprint(c[3])).Int64()
		at := time.Unix(epoch, 0).In(jst.Zone)
		fmt.Fprintf(&b, `<div class="post" id="%s" data-date="NG" data-userid="ID:%s" data-id="%s"><div class="meta"><span class="number">%s</span>`+
			`<span class="name"><b>%s</b></span><span class="date">%s</span><span class="uid">ID:%s</span></div>`+
			`<div class="message"><span class="escaped">%s</span></div></div><br>`,
			n, c[4], n, n, html.EscapeString(fmt.Sprint(c[1])), at.Format("2006/01/02(Mon) 15:04:05.00"), c[4], c[6])
	}
	b.WriteString(`</div><div class="push">お勧めスレッド</div></body></html>`)
	out, _, err := transform.Bytes(encoding.ReplaceUnsupported(japanese.ShiftJIS.NewEncoder()), []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func reportPages(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pages/s")
}

// BenchmarkExtractHTML5chThread: a 1,000-post Shift_JIS thread page with
// the 5ch preset selectors (decode, parse, select, text).
func BenchmarkExtractHTML5chThread(b *testing.B) {
	body := thread5chHTML(b)
	sel := mustSelectors(b, config.HTMLSelectors{Item: "div.post", Number: "span.number", Text: "div.message", Author: "span.name", Time: "span.date"})
	u, _ := url.Parse("https://egg.5ch.net/test/read.cgi/applism/1517988732/")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := extractHTML(sel, u, u, "text/html", body)
		if err != nil || len(p.Posts) < 990 {
			b.Fatalf("%v %d", err, len(p.Posts))
		}
	}
	reportPages(b)
}

// BenchmarkExtractHTMLForumPage: a small forum page (testdata), CSS.
func BenchmarkExtractHTMLForumPage(b *testing.B) {
	body := testdata(b, "thread_p1.html")
	sel := mustSelectors(b, forumSelectors)
	u, _ := url.Parse("https://bbs.example.jp/thread")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := extractHTML(sel, u, nil, "text/html; charset=utf-8", body); err != nil {
			b.Fatal(err)
		}
	}
	reportPages(b)
}

// BenchmarkExtractHTMLForumPageXPath: the same page with XPath selectors.
func BenchmarkExtractHTMLForumPageXPath(b *testing.B) {
	body := testdata(b, "thread_p1.html")
	sel := mustSelectors(b, config.HTMLSelectors{
		Item: "//article[contains(concat(' ', @class, ' '), ' post ')]", Text: ".//div[@class='message']",
		Author: ".//span[@class='name']", Time: ".//time", Permalink: ".//a[@class='num']/@href",
	})
	u, _ := url.Parse("https://bbs.example.jp/thread")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := extractHTML(sel, u, nil, "text/html; charset=utf-8", body); err != nil {
			b.Fatal(err)
		}
	}
	reportPages(b)
}

func benchJSON(b *testing.B, file string, m config.JSONMapping, want int) {
	body := testdata(b, file)
	jm, err := compileJSON("json", m)
	if err != nil {
		b.Fatal(err)
	}
	u, _ := url.Parse("https://api.example.jp/x")
	hdr := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := extractJSON(jm, u, u, u, hdr, body)
		if err != nil || len(p.Posts) != want {
			b.Fatalf("%v %d", err, len(p.Posts))
		}
	}
	reportPages(b)
}

// BenchmarkExtractJSON5chThread: the real 487 KB, 1,002-comment thread.
func BenchmarkExtractJSON5chThread(b *testing.B) {
	benchJSON(b, "fixtures/5ch-itest/applism_1517988732.json", fuzzMappings[0], 1000)
}

// BenchmarkExtractJSONBluesky: a real 72 KB searchPosts page.
func BenchmarkExtractJSONBluesky(b *testing.B) {
	benchJSON(b, "fixtures/bluesky/searchPosts-page1.json", fuzzMappings[1], 23)
}

// BenchmarkParseFeedRSS: a news RSS 2.0 feed (testdata).
func BenchmarkParseFeedRSS(b *testing.B) {
	body := testdata(b, "news_rss.xml")
	u, _ := url.Parse("https://news.example.jp/rss")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseFeed(u, body); err != nil {
			b.Fatal(err)
		}
	}
	reportPages(b)
}
