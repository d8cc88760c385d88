package crawler

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"mimamori/config"
	"mimamori/internal/jst"
)

func TestParseTime(t *testing.T) {
	utc9 := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, jst.Zone)
	}
	cases := []struct {
		in, layout string
		want       time.Time
	}{
		// Zone-less forms are JST.
		{"2024/05/01 12:34", "", utc9(2024, 5, 1, 12, 34, 0, 0)},
		{"2024-05-01 12:34:56", "", utc9(2024, 5, 1, 12, 34, 56, 0)},
		{"2024/5/1 9:05", "", utc9(2024, 5, 1, 9, 5, 0, 0)},
		// 5ch style: weekday in parentheses, hundredths.
		{"2024/05/01(水) 23:59:59.99", "", utc9(2024, 5, 1, 23, 59, 59, 990_000_000)},
		// Full-width digits and parentheses.
		{"２０２４/０５/０１（水） １２:３４", "", utc9(2024, 5, 1, 12, 34, 0, 0)},
		{"2024年5月1日 12時34分", "", utc9(2024, 5, 1, 12, 34, 0, 0)},
		{"2024年05月01日", "", utc9(2024, 5, 1, 0, 0, 0, 0)},
		{"  2024-05-01T12:34  ", "", utc9(2024, 5, 1, 12, 34, 0, 0)},
		// An explicit zone is kept.
		{"2024-05-01T03:34:56Z", "", time.Date(2024, 5, 1, 3, 34, 56, 0, time.UTC)},
		{"2024-05-01T12:34:56+09:00", "", utc9(2024, 5, 1, 12, 34, 56, 0)},
		{"Wed, 01 May 2024 12:34:56 +0900", "", utc9(2024, 5, 1, 12, 34, 56, 0)},
		// A source's own layout.
		{"投稿日: 01.05.2024 12:34", "投稿日: 02.01.2006 15:04", utc9(2024, 5, 1, 12, 34, 0, 0)},
	}
	for _, c := range cases {
		got, ok := parseTime(c.in, c.layout)
		if !ok || !got.Equal(c.want) {
			t.Errorf("parseTime(%q, %q) = %v, %v; want %v", c.in, c.layout, got, ok, c.want)
		}
	}
	for _, bad := range []string{"", "昨日", "3時間前", "2024/13/45 99:99"} {
		if got, ok := parseTime(bad, ""); ok {
			t.Errorf("parseTime(%q) = %v, want failure", bad, got)
		}
	}
}

func TestHTMLToText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"<p>一行目</p><p>二行目<br>三行目</p>", "一行目\n二行目\n三行目"},
		{"  plain   text\n\n\n next ", "plain text\nnext"},
		{"<div>本文<script>alert(1)</script><style>p{}</style></div>", "本文"},
		{"a &lt; b &amp;&amp; c", "a < b && c"},
		{"全角　スペースは　残す", "全角　スペースは　残す"},
		{`<p>スタンプ<img src="x.png" alt="[怒]"></p>`, "スタンプ[怒]"},
	}
	for _, c := range cases {
		if got := htmlToText(c.in); got != c.want {
			t.Errorf("htmlToText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestExtractHTMLPermalinks(t *testing.T) {
	page, _ := url.Parse("https://bbs.example.jp/thread/42?page=3")
	body := `<html><head><base href="/base/"></head><body>
<div class="p" id="p1"><a class="pl" href="post/1">#</a><p class="t">相対リンク</p></div>
<div class="p" id="p2"><a class="pl" href="javascript:void(0)">#</a><p class="t">スクリプトリンクは無視</p></div>
<div class="p"><span class="pl" id="a3"></span><p class="t">アンカーの id</p></div>
<div class="p"><p class="t">何もない</p></div>
<div class="p" id="p5"><p class="t">  </p></div>
<a class="next" href="javascript:more()">more</a><a class="next" href="?page=4">次</a>
</body></html>`
	sel := mustSelectors(t, config.HTMLSelectors{Item: "div.p", Text: "p.t", Permalink: ".pl", Next: "a.next"})
	got, err := extractHTML(sel, page, nil, "text/html; charset=utf-8", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"https://bbs.example.jp/base/post/1",         // resolved against <base>
		"https://bbs.example.jp/thread/42?page=3#p2", // bad href: the item id
		"https://bbs.example.jp/thread/42?page=3#a3", // the permalink element's id
	}
	if len(got.Posts) != 4 || got.Empty != 1 {
		t.Fatalf("%d posts, %d empty", len(got.Posts), got.Empty)
	}
	for i, w := range want {
		if got.Posts[i].Permalink != w {
			t.Errorf("post %d permalink %q, want %q", i, got.Posts[i].Permalink, w)
		}
	}
	if p := got.Posts[3].Permalink; !strings.HasPrefix(p, "https://bbs.example.jp/thread/42?page=3#mimamori-") {
		t.Errorf("fallback permalink %q", p)
	}
	again, _ := extractHTML(sel, page, nil, "text/html", []byte(body))
	if again.Posts[3].Permalink != got.Posts[3].Permalink {
		t.Error("hashed permalink is not stable")
	}
	if got.Next == nil || got.Next.String() != "https://bbs.example.jp/base/?page=4" {
		t.Errorf("next %v", got.Next)
	}
}

// FuzzExtractHTML: any bytes, any content type: no panic, valid UTF-8
// text, absolute http(s) permalinks.
func FuzzExtractHTML(f *testing.F) {
	f.Add(testdata(f, "thread_p1.html"), "text/html; charset=utf-8")
	f.Add(testdata(f, "thread_p2.html"), "text/html")
	f.Add([]byte(`<div class=post id="x"><p class=message>a<br>b</p><time datetime="2024-05-01T00:00:00Z">x</time></div>`), "")
	f.Add([]byte("\xff\xfe<\x00h\x00t\x00m\x00l\x00>"), "text/html; charset=utf-16")
	f.Add([]byte(`<meta charset="shift_jis"><article class="post"><div class="message">\x82\xa0</div></article>`), "text/html")
	sel := mustSelectors(f, config.HTMLSelectors{
		Item: "article.post, div.post", Text: ".message", Title: "h2", Author: ".name",
		Time: "time, .date", Permalink: "a.num", Next: "a.next", Number: ".num",
		Follow: "a.thread", Detail: &config.HTMLSelectors{Item: "//dl/dd", Text: "."},
	})
	page, _ := url.Parse("https://bbs.example.jp/thread/1?page=1")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		got, err := extractHTML(sel, page, page, contentType, body)
		if err != nil {
			return
		}
		for _, p := range got.Posts {
			if p.Text == "" || !utf8.ValidString(p.Text) {
				t.Fatalf("bad text %q", p.Text)
			}
			u, err := url.Parse(p.Permalink)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				t.Fatalf("bad permalink %q", p.Permalink)
			}
		}
	})
}

// FuzzParseFeed: any bytes: no panic; posts have text and a permalink.
func FuzzParseFeed(f *testing.F) {
	for _, name := range []string{"news_rss.xml", "blog_atom.xml", "feed.json"} {
		b := testdata(f, name)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte(`<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><item><title>t</title><link>/a</link><description>d</description></item></rdf:RDF>`))
	f.Add([]byte(`{"version":"https://jsonfeed.org/version/1","items":[{"id":"1","content_text":"x"}]}`))
	feedURL, _ := url.Parse("https://news.example.jp/feed.xml")
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := parseFeed(feedURL, body)
		if err != nil {
			return
		}
		for _, p := range got.Posts {
			if p.Text == "" || p.Permalink == "" {
				t.Fatalf("post without text or permalink: %+v", p)
			}
		}
	})
}

func mustSelectors(t testing.TB, sel config.HTMLSelectors) *selectors {
	t.Helper()
	s, err := compileSelectors("html", sel)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
