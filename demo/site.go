// Package demo serves a small local sample site — a forum thread and a news
// feed with Japanese posts about a sample company — for `mimamori demo` and
// for end-to-end tests. Posts can be added while it runs, as on a live site.
package demo

import (
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"mimamori/internal/jst"
)

// Post is one sample post.
type Post struct {
	ID     int
	Author string
	Time   time.Time
	Title  string // feed items only
	Text   string
	// Alertable says whether the legal team should be alerted (for tests
	// and the demo's own summary).
	Alertable bool
}

// Site is the sample site. The zero value is not usable; call NewSite.
type Site struct {
	mu       sync.Mutex
	thread   []Post
	news     []Post
	perPage  int
	hits     map[string]int
	failNext map[string]int
}

// NewSite returns a site with the default sample posts.
func NewSite() *Site {
	base := time.Date(2026, 11, 20, 9, 0, 0, 0, jst.Zone)
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	s := &Site{perPage: 4, hits: map[string]int{}, failNext: map[string]int{}}
	s.thread = []Post{
		{1, "名無しさん", at(0), "", "サンプル社のサポート、電話がつながるまで30分待たされた。対応が遅すぎる。改善してほしい。", false},
		{2, "ユーザーA", at(1), "", "サンプル社の新しいプラン、料金が安くて助かってます。店員さんも親切でした。", false},
		{3, "名無しさん", at(2), "", "サンプル社の佐藤花子、今度店で見かけたら殺す", true},
		{4, "通りすがり", at(3), "", "株式会社サンプルは客を騙して金を巻き上げる詐欺会社", true},
		{5, "名無しさん", at(4), "", "サンプル社の解約手続きが分かりにくい。説明をもう少し丁寧にしてほしい。", false},
		{6, "名無しさん", at(5), "", "サンプル社の佐藤花子の自宅住所を特定した。晒してやる", true},
		{7, "ユーザーB", at(6), "", "料金の返金をサンプル社に正式に求めるつもり。消費者センターにも相談します。", false},
	}
	s.news = []Post{
		{101, "サンプル新聞", at(-24), "株式会社サンプル、新料金プランを発表", "株式会社サンプルは20日、月額料金を引き下げた新プランを発表した。", false},
		{102, "サンプル新聞", at(-12), "サンプル社 顧客満足度調査で上位に", "調査会社の発表によると、サンプル社は顧客満足度で上位に入った。", false},
		{103, "匿名ブログ", at(7), "サンプル社に電凸しよう", "みんなでサンプル社に抗議電話を殺到させよう。業務を止めてやれ。", true},
	}
	return s
}

// AddThreadPost appends a post to the forum thread, as a new reply.
func (s *Site) AddThreadPost(author, text string, alertable bool) Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := Post{ID: len(s.thread) + 1, Author: author, Time: time.Now().In(jst.Zone).Truncate(time.Second), Text: text, Alertable: alertable}
	s.thread = append(s.thread, p)
	return p
}

// EditThreadPost replaces the text of a thread post.
func (s *Site) EditThreadPost(id int, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.thread {
		if s.thread[i].ID == id {
			s.thread[i].Text = text
		}
	}
}

// Posts returns every post on the site, thread first.
func (s *Site) Posts() []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append(append([]Post(nil), s.thread...), s.news...)
}

// Hits returns how often path was requested.
func (s *Site) Hits(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// FailNext makes the next n requests to path answer 503.
func (s *Site) FailNext(path string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext[path] = n
}

// Paths of the sample site.
const (
	ThreadPath = "/forum/thread/1"
	FeedPath   = "/news/feed.xml"
)

// ServeHTTP serves the forum thread, the feed, robots.txt and a few broken
// resources used by tests (/broken/not-html, /broken/truncated.xml).
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits[r.URL.Path]++
	if n := s.failNext[r.URL.Path]; n > 0 {
		s.failNext[r.URL.Path] = n - 1
		s.mu.Unlock()
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	s.mu.Unlock()
	switch r.URL.Path {
	case "/robots.txt":
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "User-agent: *\nDisallow: /private/\n")
	case ThreadPath:
		s.serveThread(w, r)
	case FeedPath:
		s.serveFeed(w, r)
	case "/static/board.css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		fmt.Fprint(w, boardCSS)
	case "/broken/not-html":
		w.Header().Set("Content-Type", "application/pdf")
		fmt.Fprint(w, "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	case "/broken/truncated.xml":
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>途中で切れたフィード</title><item><title>サンプル社`)
	default:
		if id, ok := strings.CutPrefix(r.URL.Path, "/news/"); ok {
			if n, err := strconv.Atoi(id); err == nil && s.serveArticle(w, n) {
				return
			}
		}
		http.NotFound(w, r)
	}
}

// serveArticle serves the page of news item id (the feed item's link), as
// a news site or blog publishes it; false when there is no such item.
func (s *Site) serveArticle(w http.ResponseWriter, id int) bool {
	s.mu.Lock()
	var p *Post
	for i := range s.news {
		if s.news[i].ID == id {
			p = &s.news[i]
		}
	}
	var post Post
	if p != nil {
		post = *p
	}
	s.mu.Unlock()
	if p == nil {
		return false
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>%s - サンプル ニュース・ブログ</title>
<link rel="stylesheet" href="/static/board.css"></head>
<body><header class="board-header"><a href="/news/">サンプル ニュース・ブログ</a></header>
<main><article class="news" id="news%d">
<h1 class="thread-title">%s</h1>
<div class="post-meta"><span class="author">%s</span> <time datetime="%s">%s</time></div>
<div class="body"><p>%s</p></div>
</article></main><footer>サンプル ニュース・ブログ</footer></body></html>
`, html.EscapeString(post.Title), post.ID, html.EscapeString(post.Title), html.EscapeString(post.Author),
		post.Time.Format(time.RFC3339), post.Time.Format("2006/01/02 15:04"), html.EscapeString(post.Text))
	return true
}

// boardCSS styles the sample pages, so their screenshots look like a site.
const boardCSS = `body{font-family:sans-serif;margin:0;background:#f4f4f0;color:#222}
.board-header{background:#2d4a6b;color:#fff;padding:8px 16px}.board-header a{color:#fff}
main{max-width:860px;margin:16px auto;background:#fff;padding:16px 24px;border:1px solid #ddd}
.thread-title{font-size:20px;color:#a0282d}.notice{font-size:12px;color:#666;margin-bottom:12px}
.post{border-top:1px solid #eee;padding:10px 0}.post-meta{font-size:12px;color:#555}
.post-meta .author{color:#2a7a2a;font-weight:bold}.body{margin:6px 0 4px 12px;line-height:1.6}
.actions{font-size:11px}.pager{margin-top:12px}footer{text-align:center;font-size:12px;color:#888;padding:12px}
`

func (s *Site) serveThread(w http.ResponseWriter, r *http.Request) {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page < 1 {
		page = 1
	}
	s.mu.Lock()
	posts := append([]Post(nil), s.thread...)
	s.mu.Unlock()
	from, to := (page-1)*s.perPage, page*s.perPage
	if from > len(posts) {
		from = len(posts)
	}
	if to > len(posts) {
		to = len(posts)
	}
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>【総合】株式会社サンプルについて語るスレ Part12 - サンプル掲示板</title>
<link rel="stylesheet" href="/static/board.css"></head>
<body><header class="board-header"><a href="/">サンプル掲示板</a> &gt; <a href="/forum/">企業・サービス</a></header>
<main><h1 class="thread-title">【総合】株式会社サンプルについて語るスレ Part12</h1>
<div class="notice">誹謗中傷・個人情報の書き込みは禁止です。</div>
<div class="posts">
`)
	for _, p := range posts[from:to] {
		fmt.Fprintf(&b, `<article class="post" id="p%d">
  <div class="post-meta"><span class="num">%d</span> <span class="author">%s</span>
  <time datetime="%s">%s</time> <a class="permalink" href="%s#p%d">#</a></div>
  <div class="body">%s</div>
  <div class="actions"><a href="/report?p=%d">通報</a></div>
</article>
`, p.ID, p.ID, html.EscapeString(p.Author), p.Time.Format(time.RFC3339), p.Time.Format("2006/01/02 15:04"),
			ThreadPath, p.ID, html.EscapeString(p.Text), p.ID)
	}
	b.WriteString("</div>\n<nav class=\"pager\">")
	if to < len(posts) {
		fmt.Fprintf(&b, `<a class="next" rel="next" href="%s?page=%d">次のページ</a>`, ThreadPath, page+1)
	}
	b.WriteString("</nav></main><footer>サンプル掲示板 運営</footer></body></html>\n")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
	fmt.Fprint(w, b.String())
}

func (s *Site) serveFeed(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	posts := append([]Post(nil), s.news...)
	s.mu.Unlock()
	base := "http://" + r.Host
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>サンプル ニュース・ブログ</title><link>` + base + `/news/</link>
<description>株式会社サンプルに関するニュースとブログ</description><language>ja</language>
`)
	for i := len(posts) - 1; i >= 0; i-- {
		p := posts[i]
		fmt.Fprintf(&b, `<item><title>%s</title><link>%s/news/%d</link><guid isPermaLink="true">%s/news/%d</guid>
<dc:creator>%s</dc:creator><pubDate>%s</pubDate><description>%s</description></item>
`, html.EscapeString(p.Title), base, p.ID, base, p.ID, html.EscapeString(p.Author), p.Time.Format(time.RFC1123Z), html.EscapeString(p.Text))
	}
	b.WriteString("</channel></rss>\n")
	w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
	fmt.Fprint(w, b.String())
}
