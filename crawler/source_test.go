package crawler

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"

	"mimamori/config"
	"mimamori/crawler/fetch"
	"mimamori/internal/jst"
	"mimamori/internal/netguard"
	"mimamori/mention"
)

const testUA = "mimamori-test/1.0 (+https://example.invalid/mimamori-crawler)"

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func crawlerConfig() config.CrawlerConfig {
	c := config.Default().Crawler
	c.UserAgent = testUA
	c.Timeout = 5 * time.Second
	c.Delay = time.Millisecond
	return c
}

// forumSelectors match testdata/thread_p*.html.
var forumSelectors = config.HTMLSelectors{
	Item:      "article.post",
	Text:      ".message",
	Author:    ".name",
	Time:      "time.date",
	Permalink: "a.num",
	Next:      "nav.pager a.next",
}

// site is a local web site that records what it was asked.
type site struct {
	*httptest.Server
	mux *http.ServeMux

	mu   sync.Mutex
	hits []string // request URIs, robots.txt included
	uas  []string
	// robots, when set, serves /robots.txt instead of the newSite text.
	robots http.HandlerFunc
}

func newSite(t *testing.T, robots string) *site {
	t.Helper()
	s := &site{mux: http.NewServeMux()}
	s.mux.HandleFunc("/robots.txt", func(w http.ResponseWriter, r *http.Request) {
		if s.robots != nil {
			s.robots(w, r)
			return
		}
		if robots == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, robots)
	})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits = append(s.hits, r.URL.RequestURI())
		s.uas = append(s.uas, r.UserAgent())
		s.mu.Unlock()
		s.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *site) requested(uri string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.hits {
		if h == uri {
			return true
		}
	}
	return false
}

// serveThread serves the two forum pages at /thread and /thread?page=2.
func (s *site) serveThread(t *testing.T) {
	p1, p2 := testdata(t, "thread_p1.html"), testdata(t, "thread_p2.html")
	s.mux.HandleFunc("/thread", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.Header().Set("X-Board", "biz")
		switch r.URL.Query().Get("page") {
		case "", "1":
			w.Write(p1)
		case "2":
			w.Write(p2)
		default:
			http.NotFound(w, r)
		}
	})
}

func htmlSource(url string) config.Source {
	return config.Source{ID: "forum", Kind: config.SourceHTML, URL: url, AllowPrivate: true, HTML: forumSelectors}
}

func run(t *testing.T, cfg config.CrawlerConfig, src config.Source) ([]mention.Post, error) {
	t.Helper()
	s, err := newTestSource(cfg, src, Options{})
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := s.Run(ctx)
	return b.Posts, err
}

func TestHTMLThreadPagination(t *testing.T) {
	s := newSite(t, "User-agent: *\nDisallow: /admin/\n")
	s.serveThread(t)
	posts, err := run(t, crawlerConfig(), htmlSource(s.URL+"/thread"))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	base := s.URL
	want := []mention.Post{
		{
			Permalink: base + "/biz/1714520000/1",
			Author:    "名無しさん@お腹いっぱい。",
			// From the datetime attribute.
			Published: time.Date(2024, 5, 1, 12, 34, 56, 0, jst.Zone),
			Text:      "サンプル社の新しいアプリ、使いにくい。\nサポートの返信も遅いし改善してほしい。",
		},
		{
			Permalink: base + "/biz/1714520000/2",
			Author:    "名無しさん@お腹いっぱい。",
			// Text form with a weekday and hundredths, no zone: JST.
			Published: time.Date(2024, 5, 1, 12, 40, 3, 110_000_000, jst.Zone),
			Text:      ">>1\n窓口の田中ってやつ無能すぎ。\n絶対に許さない。",
		},
		// res3 has an empty message (only a script): skipped.
		{
			Permalink: base + "/biz/1714520000/4",
			Author:    "元社員　◆Xy12abCdEf",
			Published: time.Date(2024, 5, 2, 9, 15, 0, 0, jst.Zone),
			Text:      "サンプル社は詐欺会社。\nみんなで抗議電話を殺到させよう。",
		},
		{
			// No permalink anchor: page URL + "#" + item id.
			Permalink: base + "/thread?page=2#res5",
			Author:    "名無しさん@お腹いっぱい。",
			Published: time.Date(2024, 5, 2, 10, 0, 0, 0, jst.Zone),
			Text:      "対応が遅いのは確かだけど、言い過ぎでは？",
		},
	}
	if len(posts) != len(want) {
		for _, p := range posts {
			t.Logf("got %+v", p)
		}
		t.Fatalf("%d posts, want %d", len(posts), len(want))
	}
	for i, w := range want {
		g := posts[i]
		if g.SourceID != "forum" || g.Permalink != w.Permalink || g.Author != w.Author || g.Text != w.Text || !g.Published.Equal(w.Published) {
			t.Errorf("post %d:\n got %q %q %q %v %q\nwant %q %q %q %v %q", i,
				g.SourceID, g.Permalink, g.Author, g.Published, g.Text,
				"forum", w.Permalink, w.Author, w.Published, w.Text)
		}
		if _, off := g.Published.Zone(); off != 9*3600 {
			t.Errorf("post %d: zone offset %d, want JST", i, off)
		}
	}

	// Evidence: posts of one page share one Fetch; it holds the exchange.
	if posts[0].Fetch == nil || posts[0].Fetch != posts[1].Fetch || posts[2].Fetch != posts[3].Fetch || posts[0].Fetch == posts[2].Fetch {
		t.Fatal("posts of one page must share one *Fetch, pages must not")
	}
	f1, f2 := posts[0].Fetch, posts[2].Fetch
	if f1.RequestURL != base+"/thread" || f1.FinalURL != base+"/thread" {
		t.Errorf("page 1 urls %q %q", f1.RequestURL, f1.FinalURL)
	}
	if f2.RequestURL != base+"/thread?page=2" {
		t.Errorf("page 2 request url %q (the #fragment of the next link must go)", f2.RequestURL)
	}
	if f1.Method != http.MethodGet || f1.StatusCode != 200 || f1.Proto != "HTTP/1.1" {
		t.Errorf("page 1: %s %d %s", f1.Method, f1.StatusCode, f1.Proto)
	}
	if f1.Header.Get("X-Board") != "biz" || !strings.HasPrefix(f1.Header.Get("Content-Type"), "text/html") {
		t.Errorf("page 1 response header %v", f1.Header)
	}
	if f1.RequestHeader.Get("User-Agent") != testUA {
		t.Errorf("recorded User-Agent %q", f1.RequestHeader.Get("User-Agent"))
	}
	if !bytes.Equal(f1.Body, testdata(t, "thread_p1.html")) || !bytes.Equal(f2.Body, testdata(t, "thread_p2.html")) {
		t.Error("Fetch.Body is not the exact bytes served")
	}
	if f1.FetchedAt.IsZero() || f1.FetchedAt.Location() != time.UTC || time.Since(f1.FetchedAt) > time.Minute {
		t.Errorf("FetchedAt %v", f1.FetchedAt)
	}

	// Our User-Agent on every request, robots.txt included.
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.uas) != 3 || s.hits[0] != "/robots.txt" {
		t.Errorf("requests %v", s.hits)
	}
	for _, ua := range s.uas {
		if ua != testUA {
			t.Errorf("User-Agent %q sent", ua)
		}
	}
}

func TestHTMLPageLimit(t *testing.T) {
	s := newSite(t, "")
	s.serveThread(t)
	for _, c := range []struct {
		name     string
		cfgPages int
		srcPages int
		want     int
	}{
		// The source's max_pages wins over the crawler default.
		{"source limit 1", 5, 1, 2},
		// The crawler default applies when the source sets none.
		{"crawler limit 1", 1, 0, 2},
		{"limit 2", 1, 2, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := crawlerConfig()
			cfg.MaxPages = c.cfgPages
			src := htmlSource(s.URL + "/thread")
			src.MaxPages = c.srcPages
			posts, err := run(t, cfg, src)
			if err != nil || len(posts) != c.want {
				t.Fatalf("%d posts, %v; want %d", len(posts), err, c.want)
			}
		})
	}
}

func TestHTMLRedirectAndBase(t *testing.T) {
	s := newSite(t, "")
	s.serveThread(t)
	s.mux.HandleFunc("/t/1714520000", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/thread", http.StatusMovedPermanently)
	})
	src := htmlSource(s.URL + "/t/1714520000")
	src.MaxPages = 1
	posts, err := run(t, crawlerConfig(), src)
	if err != nil || len(posts) == 0 {
		t.Fatalf("%d posts, %v", len(posts), err)
	}
	f := posts[0].Fetch
	if f.RequestURL != s.URL+"/t/1714520000" || f.FinalURL != s.URL+"/thread" || f.StatusCode != 200 {
		t.Errorf("request %q final %q status %d", f.RequestURL, f.FinalURL, f.StatusCode)
	}
}

func TestShiftJISPage(t *testing.T) {
	page := `<html><head><meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS"><title>掲示板</title></head><body>
<dl class="thread"><dt id="r1">1 ：<b>名無しさん</b>：2024/05/01(水) 23:59:59.99 ID:abcd</dt><dd class="msg"> サンプル社、最悪。 <br> 二度と使わない。 </dd></dl>
</body></html>`
	sjis, _, err := transform.Bytes(japanese.ShiftJIS.NewEncoder(), []byte(page))
	if err != nil {
		t.Fatal(err)
	}
	s := newSite(t, "")
	s.mux.HandleFunc("/bbs", func(w http.ResponseWriter, r *http.Request) {
		// Many old boards send no charset in the header: the <meta> decides.
		w.Header().Set("Content-Type", "text/html")
		w.Write(sjis)
	})
	src := config.Source{ID: "sjis-board", Kind: config.SourceHTML, URL: s.URL + "/bbs", AllowPrivate: true,
		HTML: config.HTMLSelectors{Item: "dl.thread", Text: "dd.msg", Author: "dt b"}}
	posts, err := run(t, crawlerConfig(), src)
	if err != nil || len(posts) != 1 {
		t.Fatalf("%d posts, %v", len(posts), err)
	}
	p := posts[0]
	if p.Text != "サンプル社、最悪。\n二度と使わない。" || p.Author != "名無しさん" {
		t.Errorf("decoded %q by %q", p.Text, p.Author)
	}
	if !bytes.Equal(p.Fetch.Body, sjis) {
		t.Error("Fetch.Body must keep the Shift_JIS bytes as served")
	}
	if !strings.HasPrefix(p.Permalink, s.URL+"/bbs#mimamori-") {
		t.Errorf("permalink %q: want a stable hashed fragment", p.Permalink)
	}
}

func TestHTMLErrors(t *testing.T) {
	s := newSite(t, "")
	s.serveThread(t)
	s.mux.HandleFunc("/report.pdf", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pdf")
		w.Write([]byte("%PDF-1.7\n"))
	})
	s.mux.HandleFunc("/sniffed", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil // no Content-Type at all: sniffed
		w.Write([]byte("%PDF-1.7\n"))
	})
	s.mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "サーバーエラー", http.StatusInternalServerError)
	})
	s.mux.HandleFunc("/gone", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "削除されました", http.StatusGone)
	})
	// /broken: page 1 links to a page 2 that fails.
	p1 := testdata(t, "thread_p1.html")
	s.mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "2" {
			http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(p1)
	})
	big := bytes.Repeat([]byte("<p>サンプル</p>\n"), 200)
	s.mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write(big)
	})

	cases := []struct {
		name       string
		path       string
		maxBody    int64
		wantPosts  int
		wantIs     error
		wantStatus bool
		wantMsg    string
	}{
		{"not html", "/report.pdf", 0, 0, ErrNotHTML, false,
			"source forum: GET {URL}/report.pdf: not an HTML page: content-type application/pdf"},
		{"not html sniffed", "/sniffed", 0, 0, ErrNotHTML, false,
			"source forum: GET {URL}/sniffed: not an HTML page: content-type application/pdf"},
		{"500", "/down", 0, 0, nil, true,
			"source forum: GET {URL}/down: HTTP status 500 Internal Server Error"},
		{"410", "/gone", 0, 0, nil, true,
			"source forum: GET {URL}/gone: HTTP status 410 Gone"},
		// Partial failure: the posts of page 1 come back with the error.
		{"page 2 fails", "/broken", 0, 2, nil, true,
			"source forum: GET {URL}/broken?page=2: HTTP status 503 Service Unavailable"},
		{"oversize", "/big", 1000, 0, nil, false,
			"response body exceeds 1000 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := crawlerConfig()
			if c.maxBody > 0 {
				cfg.MaxBodyBytes = c.maxBody
			}
			posts, err := run(t, cfg, htmlSource(s.URL+c.path))
			if err == nil {
				t.Fatal("no error")
			}
			if len(posts) != c.wantPosts {
				t.Errorf("%d posts, want %d", len(posts), c.wantPosts)
			}
			msg := strings.ReplaceAll(c.wantMsg, "{URL}", s.URL)
			if !strings.Contains(err.Error(), msg) {
				t.Errorf("error %q\nwant it to contain %q", err, msg)
			}
			if c.wantIs != nil && !errors.Is(err, c.wantIs) {
				t.Errorf("error %v is not %v", err, c.wantIs)
			}
			var pe *PageError
			if !errors.As(err, &pe) || pe.SourceID != "forum" {
				t.Errorf("error %T is not a *PageError", err)
			}
			if c.maxBody > 0 {
				var tl *fetch.BodyTooLargeError
				if !errors.As(err, &tl) {
					t.Errorf("error %v is not a *fetch.BodyTooLargeError", err)
				}
			}
			if c.wantStatus {
				var se *StatusError
				if !errors.As(err, &se) {
					t.Errorf("error %v is not a *StatusError", err)
				}
			}
		})
	}
}

func TestFeeds(t *testing.T) {
	s := newSite(t, "")
	serve := func(path, ctype string, body []byte) {
		s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			w.Write(body)
		})
	}
	serve("/rss", "application/rss+xml; charset=UTF-8", testdata(t, "news_rss.xml"))
	serve("/atom", "application/atom+xml", testdata(t, "blog_atom.xml"))
	serve("/feed.json", "application/feed+json", testdata(t, "feed.json"))

	type post struct {
		permalink, author, title, text string
		published                      time.Time
	}
	cases := []struct {
		name, path string
		want       []post
	}{
		{"rss 2.0", "/rss", []post{
			{"https://news.example.jp/articles/2024/05/02/001", "経済部 山田記者", "株式会社サンプル、新サービスを発表",
				"株式会社サンプルは2日、新サービスを発表した。\n提供開始は6月の予定。",
				time.Date(2024, 5, 2, 9, 30, 0, 0, jst.Zone)},
			// A relative link resolves against the feed URL.
			{"{URL}/articles/2024/05/02/002", "", "サンプル社の窓口対応に批判の声",
				"SNS上では「対応が遅い」との声が相次いでいる。",
				time.Date(2024, 5, 2, 10, 0, 0, 0, jst.Zone)},
			// No link: the GUID, as a fragment of the feed URL; a
			// headline-only item gets its title as text.
			{"{URL}/rss#news-2024-05-02-003", "", "【速報】サンプル社、記者会見へ", "【速報】サンプル社、記者会見へ", time.Time{}},
		}},
		{"atom", "/atom", []post{
			{"{URL}/user1/entry/2024/05/03/210000", "user1", "サンプル社に問い合わせた話",
				"電話したら30分待たされた。\n担当の鈴木さんは丁寧だった。",
				time.Date(2024, 5, 3, 21, 0, 0, 0, jst.Zone)},
			// Updated when there is no published.
			{"https://blog.example.jp/user1/entry/2024/05/04/080000", "user1（追記）", "続・サンプル社",
				"金返せ。誠意を見せろ。", time.Date(2024, 5, 4, 8, 0, 0, 0, jst.Zone)},
		}},
		{"json feed", "/feed.json", []post{
			{"https://reviews.example.jp/shops/sample/reviews/1001", "たろう", "★1 最悪の対応",
				"店員の態度が悪い。\n二度と行かない。", time.Date(2024, 5, 5, 18, 20, 0, 0, jst.Zone)},
			{"{URL}/feed.json#r-1002", "", "", "普通に良かったです。", time.Date(2024, 5, 6, 9, 0, 0, 0, jst.Zone)},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			posts, err := run(t, crawlerConfig(), config.Source{ID: "news-feed", Kind: config.SourceFeed, URL: s.URL + c.path, AllowPrivate: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(posts) != len(c.want) {
				t.Fatalf("%d posts, want %d: %+v", len(posts), len(c.want), posts)
			}
			for i, w := range c.want {
				g := posts[i]
				w.permalink = strings.ReplaceAll(w.permalink, "{URL}", s.URL)
				if g.Permalink != w.permalink || g.Author != w.author || g.Title != w.title || g.Text != w.text || !g.Published.Equal(w.published) {
					t.Errorf("item %d:\n got %q %q %q %q %v\nwant %q %q %q %q %v", i,
						g.Permalink, g.Author, g.Title, g.Text, g.Published,
						w.permalink, w.author, w.title, w.text, w.published)
				}
				if g.SourceID != "news-feed" || g.Fetch == nil || g.Fetch != posts[0].Fetch {
					t.Errorf("item %d: source %q fetch %p", i, g.SourceID, g.Fetch)
				}
			}
			if !bytes.Equal(posts[0].Fetch.Body, testdata(t, map[string]string{"/rss": "news_rss.xml", "/atom": "blog_atom.xml", "/feed.json": "feed.json"}[c.path])) {
				t.Error("Fetch.Body differs from the served feed")
			}
		})
	}
}

func TestFeedErrors(t *testing.T) {
	s := newSite(t, "")
	rss := testdata(t, "news_rss.xml")
	s.mux.HandleFunc("/truncated.xml", func(w http.ResponseWriter, r *http.Request) {
		// A complete HTTP response whose document stops half way.
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Write(rss[:bytes.LastIndex(rss, []byte("<item>"))])
	})
	s.mux.HandleFunc("/cut.xml", func(w http.ResponseWriter, r *http.Request) {
		// The connection drops before Content-Length bytes arrived.
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Header().Set("Content-Length", strconv.Itoa(len(rss)))
		w.Write(rss[:len(rss)/2])
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	})
	s.mux.HandleFunc("/page.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write(testdata(t, "thread_p1.html"))
	})
	s.mux.HandleFunc("/feed.json", func(w http.ResponseWriter, r *http.Request) {
		b := testdata(t, "feed.json")
		w.Write(b[:len(b)-20])
	})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(rss)
	zw.Close()
	s.mux.HandleFunc("/feed.xml.gz", func(w http.ResponseWriter, r *http.Request) {
		// Not a Content-Encoding: colly would gunzip this by itself, past
		// the size cap; we keep the bytes as served.
		w.Header().Set("Content-Type", "application/x-gzip")
		w.Write(gz.Bytes())
	})
	cases := []struct {
		path, want string
	}{
		{"/feed.xml.gz", "source news-feed: parse feed {URL}/feed.xml.gz: failed to detect feed type"},
		{"/truncated.xml", "source news-feed: parse feed {URL}/truncated.xml: XML syntax error on line 24: unexpected EOF"},
		{"/cut.xml", "source news-feed: GET {URL}/cut.xml: unexpected EOF"},
		{"/page.html", "source news-feed: parse feed {URL}/page.html: failed to detect feed type"},
		{"/feed.json", "source news-feed: parse feed {URL}/feed.json: unexpected end of JSON input"},
	}
	for _, c := range cases {
		posts, err := run(t, crawlerConfig(), config.Source{ID: "news-feed", Kind: config.SourceFeed, URL: s.URL + c.path, AllowPrivate: true})
		want := strings.ReplaceAll(c.want, "{URL}", s.URL)
		if err == nil || err.Error() != want {
			t.Errorf("%s:\n got %v\nwant %s", c.path, err, want)
		}
		if len(posts) != 0 {
			t.Errorf("%s: %d posts from a broken feed", c.path, len(posts))
		}
	}
}

func TestRobots(t *testing.T) {
	const disallow = "User-agent: *\nAllow: /\n\nUser-agent: mimamori-test\nDisallow: /thread\n"
	cases := []struct {
		name         string
		robots       func(w http.ResponseWriter, r *http.Request)
		cfgIgnore    bool
		srcIgnore    bool
		wantFetched  bool
		wantRobotsRq bool
		wantErr      string
	}{
		{name: "disallowed for our agent", robots: text(disallow), wantRobotsRq: true,
			wantErr: "source forum: GET {URL}/thread: disallowed by robots.txt"},
		{name: "source ignore_robots", robots: text(disallow), srcIgnore: true, wantFetched: true},
		{name: "crawler ignore_robots", robots: text(disallow), cfgIgnore: true, wantFetched: true},
		{name: "other agent only", robots: text("User-agent: otherbot\nDisallow: /\n"), wantFetched: true, wantRobotsRq: true},
		{name: "query disallowed", robots: text("User-agent: *\nDisallow: /thread?page=2\n"), wantFetched: true, wantRobotsRq: true,
			wantErr: "source forum: GET {URL}/thread?page=2: disallowed by robots.txt"},
		{name: "404 allows all", robots: status(http.StatusNotFound), wantFetched: true, wantRobotsRq: true},
		{name: "403 allows all", robots: status(http.StatusForbidden), wantFetched: true, wantRobotsRq: true},
		{name: "503 disallows all", robots: status(http.StatusServiceUnavailable), wantRobotsRq: true,
			wantErr: "disallowed by robots.txt (robots.txt returned HTTP 503 Service Unavailable)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSite(t, "")
			s.serveThread(t)
			s.robots = c.robots
			cfg := crawlerConfig()
			cfg.IgnoreRobots = c.cfgIgnore
			src := htmlSource(s.URL + "/thread")
			src.IgnoreRobots = c.srcIgnore
			_, err := run(t, cfg, src)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case c.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), strings.ReplaceAll(c.wantErr, "{URL}", s.URL)) {
					t.Fatalf("error %v, want %q", err, c.wantErr)
				}
				if !errors.Is(err, ErrRobotsDisallowed) {
					t.Errorf("error %v is not ErrRobotsDisallowed", err)
				}
			}
			if got := s.requested("/thread"); got != c.wantFetched {
				t.Errorf("page fetched = %v, want %v", got, c.wantFetched)
			}
			if got := s.requested("/robots.txt"); got != c.wantRobotsRq {
				t.Errorf("robots.txt fetched = %v, want %v", got, c.wantRobotsRq)
			}
		})
	}
}

// TestRobotsOnRedirect: a redirect into a disallowed path is not followed.
func TestRobotsOnRedirect(t *testing.T) {
	s := newSite(t, "User-agent: *\nDisallow: /thread\n")
	s.serveThread(t)
	s.mux.HandleFunc("/t/1", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/thread", http.StatusFound)
	})
	_, err := run(t, crawlerConfig(), htmlSource(s.URL+"/t/1"))
	if !errors.Is(err, ErrRobotsDisallowed) || !strings.Contains(err.Error(), "redirect to "+s.URL+"/thread") {
		t.Fatalf("error %v", err)
	}
	if s.requested("/thread") {
		t.Error("disallowed redirect target fetched")
	}
}

func text(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, body)
	}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Error(w, http.StatusText(code), code) }
}

// TestCrawlDelay: a robots.txt Crawl-delay longer than crawler.delay
// spaces the pages of a pass.
func TestCrawlDelay(t *testing.T) {
	s := newSite(t, "User-agent: *\nCrawl-delay: 1\n")
	s.serveThread(t)
	start := time.Now()
	posts, err := run(t, crawlerConfig(), htmlSource(s.URL+"/thread"))
	if err != nil || len(posts) != 4 {
		t.Fatalf("%d posts, %v", len(posts), err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("two pages in %v despite Crawl-delay: 1", d)
	}
}

// TestRobotsCachedPerPass: one robots.txt request per host per pass, and a
// new one on the next pass (a changed robots.txt is seen).
func TestRobotsCachedPerPass(t *testing.T) {
	s := newSite(t, "User-agent: *\nAllow: /\n")
	s.serveThread(t)
	src, err := newTestSource(crawlerConfig(), htmlSource(s.URL+"/thread"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := src.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, h := range s.hits {
		if h == "/robots.txt" {
			n++
		}
	}
	if n != 2 || len(s.hits) != 6 {
		t.Errorf("robots.txt fetched %d times in 2 passes; requests %v", n, s.hits)
	}
}

// TestSSRFGuardInSource: a source without allow_private cannot reach a
// loopback server, and nothing reaches it.
func TestSSRFGuardInSource(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		s := newSite(t, "")
		s.serveThread(t)
		src := htmlSource(s.URL + "/thread")
		src.AllowPrivate = false
		src.IgnoreRobots = ignore
		_, err := run(t, crawlerConfig(), src)
		var be *netguard.BlockedError
		if !errors.As(err, &be) || be.Reason != "loopback" {
			t.Fatalf("ignore_robots=%v: error %v, want *netguard.BlockedError", ignore, err)
		}
		if !strings.HasPrefix(err.Error(), "source forum: GET "+s.URL+"/thread: ") {
			t.Errorf("error %q does not name the source and URL", err)
		}
		if len(s.hits) != 0 {
			t.Errorf("server saw %v", s.hits)
		}
	}
}

func TestContextCancelled(t *testing.T) {
	s := newSite(t, "")
	release := make(chan struct{})
	s.mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	src, err := newTestSource(crawlerConfig(), htmlSource(s.URL+"/slow"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = src.Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Run took %v after cancel", d)
	}
}

func TestNewSourceValidation(t *testing.T) {
	cases := []struct {
		name string
		src  config.Source
		want string
	}{
		{"no id", config.Source{Kind: "feed", URL: "https://a.example/"}, "source without id"},
		{"bad kind", config.Source{ID: "x", Kind: "api", URL: "https://a.example/"}, `kind: "api"`},
		{"relative url", config.Source{ID: "x", Kind: "feed", URL: "/feed"}, "not an absolute http(s) URL"},
		{"ftp url", config.Source{ID: "x", Kind: "feed", URL: "ftp://a.example/feed"}, "not an absolute http(s) URL"},
		{"no item", config.Source{ID: "x", Kind: "html", URL: "https://a.example/"}, "html.item: a selector is required"},
		{"bad selector", config.Source{ID: "x", Kind: "html", URL: "https://a.example/", HTML: config.HTMLSelectors{Item: "div", Text: "p[["}}, "html.text: bad selector"},
	}
	for _, c := range cases {
		_, err := newTestSource(crawlerConfig(), c.src, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// TestCollyEnvironmentIgnored: colly reads COLLY_* variables after its
// options; none of them may change how we crawl.
func TestCollyEnvironmentIgnored(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("COLLY_USER_AGENT", "evil-bot")
	t.Setenv("COLLY_MAX_BODY_SIZE", "10")
	t.Setenv("COLLY_CACHE_DIR", cache)
	t.Setenv("COLLY_MAX_DEPTH", "0")
	t.Setenv("COLLY_ALLOWED_DOMAINS", "elsewhere.example")
	t.Setenv("COLLY_IGNORE_ROBOTSTXT", "n")
	s := newSite(t, "")
	s.serveThread(t)
	posts, err := run(t, crawlerConfig(), htmlSource(s.URL+"/thread"))
	if err != nil || len(posts) != 4 {
		t.Fatalf("%d posts, %v", len(posts), err)
	}
	if !bytes.Equal(posts[0].Fetch.Body, testdata(t, "thread_p1.html")) {
		t.Error("body truncated by COLLY_MAX_BODY_SIZE")
	}
	for _, ua := range s.uas {
		if ua != testUA {
			t.Errorf("User-Agent %q", ua)
		}
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("colly cached responses in %s", cache)
	}
}

// TestTLSPeerChainRecorded: over https the server's certificate chain goes
// into the Fetch, for the evidence manifest's fingerprint.
func TestTLSPeerChainRecorded(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		fmt.Fprint(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>株式会社サンプル</title><link>https://example.jp/1</link><description>本文</description></item></channel></rss>`)
	}))
	defer srv.Close()
	rec := &recorder{next: srv.Client().Transport}
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := rec.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	f := rec.take().toFetch(srv.URL)
	if len(f.TLSPeerCertificates) == 0 || !bytes.Equal(f.TLSPeerCertificates[0], srv.Certificate().Raw) {
		t.Fatal("the server certificate was not recorded")
	}
}
