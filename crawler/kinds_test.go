package crawler

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"

	"mimamori/config"
	"mimamori/crawler/fetch"
	"mimamori/internal/jst"
	"mimamori/internal/netguard"
	"mimamori/mention"
)

func jsonSource(url string, m config.JSONMapping) config.Source {
	return config.Source{ID: "api", Kind: config.SourceJSON, URL: url, AllowPrivate: true, JSON: m}
}

func toSJIS(t testing.TB, s string) []byte {
	t.Helper()
	b, _, err := transform.Bytes(japanese.ShiftJIS.NewEncoder(), []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func toEUCJP(t testing.TB, s string) []byte {
	t.Helper()
	b, _, err := transform.Bytes(japanese.EUCJP.NewEncoder(), []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func toISO2022JP(t testing.TB, s string) []byte {
	t.Helper()
	b, _, err := transform.Bytes(japanese.ISO2022JP.NewEncoder(), []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestJSONCursorPagination: a generic API paged by a cursor in the body,
// up to max_pages; each page's posts carry that page's raw bytes; the
// configured and default headers are sent.
func TestJSONCursorPagination(t *testing.T) {
	s := newSite(t, "")
	pages := map[string]string{
		"":   `{"items":[{"id":"3","body":"サンプル社は詐欺","user":{"name":"a"},"at":"2024-05-01T12:00:00+09:00","url":"/p/3"},{"id":"2","body":"  ","user":{"name":"b"}}],"next":"c2"}`,
		"c2": `{"items":[{"id":"1","body":"普通","user":{"name":"c"},"at":1714532400}],"next":"c3"}`,
		"c3": `{"items":[{"id":"0","body":"古い"}],"next":null}`,
	}
	var accept, version []string
	s.mux.HandleFunc("/api/items", func(w http.ResponseWriter, r *http.Request) {
		accept = append(accept, r.Header.Get("Accept"))
		version = append(version, r.Header.Get("X-Api-Version"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, pages[r.URL.Query().Get("cursor")])
	})
	src := jsonSource(s.URL+"/api/items?q=%E3%82%B5", config.JSONMapping{
		Items: "items", Text: "body", Author: "user.name", Time: "at", Permalink: "url", ID: "id",
		Cursor: "next", CursorParam: "cursor",
	})
	src.MaxPages = 2
	src.Headers = map[string]string{"x-api-version": "2024-05"}
	posts, err := run(t, crawlerConfig(), src)
	if err != nil || len(posts) != 2 {
		t.Fatalf("%d posts, %v", len(posts), err)
	}
	checkPost(t, 0, posts[0], post{permalink: s.URL + "/p/3", author: "a", text: "サンプル社は詐欺",
		published: time.Date(2024, 5, 1, 12, 0, 0, 0, jst.Zone)})
	// No permalink: the source URL with the id as fragment, stable across cursors.
	checkPost(t, 1, posts[1], post{permalink: s.URL + "/api/items?q=%E3%82%B5#1", author: "c", text: "普通",
		published: time.Unix(1714532400, 0)})
	if posts[1].Fetch.RequestURL != s.URL+"/api/items?cursor=c2&q=%E3%82%B5" || !bytes.Equal(posts[1].Fetch.Body, []byte(pages["c2"])) {
		t.Errorf("page 2 fetch %s %q", posts[1].Fetch.RequestURL, posts[1].Fetch.Body)
	}
	if s.requested("/api/items?cursor=c3&q=%E3%82%B5") {
		t.Error("page limit not honoured")
	}
	if accept[0] != "application/json" || version[0] != "2024-05" {
		t.Errorf("headers: Accept %q, X-Api-Version %q", accept, version)
	}
}

// TestJSONSecretStaysHome: the secret goes only to the start URL's origin
// (not to a next_url elsewhere, not across a redirect), never into the
// evidence, errors or logs; a missing variable fails at start-up.
func TestJSONSecretStaysHome(t *testing.T) {
	const secret = "s3cr3t-api-key-value"
	other := newSite(t, "")
	var otherKeys []string
	other.mux.HandleFunc("/more", func(w http.ResponseWriter, r *http.Request) {
		otherKeys = append(otherKeys, r.Header.Get("X-Api-Key")+r.Header.Get("Authorization"))
		fmt.Fprint(w, `{"items":[{"t":"elsewhere"}]}`)
	})
	s := newSite(t, "")
	var keys []string
	s.mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		keys = append(keys, r.Header.Get("X-Api-Key"))
		fmt.Fprintf(w, `{"items":[{"t":"home"}],"next":%q}`, other.URL+"/more")
	})
	s.mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/more", http.StatusFound)
	})
	src := jsonSource(s.URL+"/api", config.JSONMapping{Items: "items", Text: "t", NextURL: "next", Error: "nothing"})
	src.Auth = config.SourceAuth{Type: config.AuthHeader, Header: "X-Api-Key", Env: "TEST_API_KEY"}
	// allow_private opens the source's own host only: the other "host"
	// (another loopback port) is listed.
	src.AllowHosts = []string{strings.TrimPrefix(other.URL, "http://")}
	if _, err := newTestSource(crawlerConfig(), src, Options{}); err == nil || !strings.Contains(err.Error(), "TEST_API_KEY is not set") {
		t.Fatalf("missing secret: %v", err)
	}
	t.Setenv("TEST_API_KEY", secret)
	core, logs := observer.New(zap.DebugLevel)
	posts, err := runSource(t, src, Options{Logger: zap.New(core)})
	if err != nil || len(posts) != 2 {
		t.Fatalf("%d posts, %v", len(posts), err)
	}
	if keys[0] != secret || otherKeys[0] != "" {
		t.Errorf("home got %q, other host got %q", keys, otherKeys)
	}
	src.URL = s.URL + "/moved"
	if _, err := runSource(t, src, Options{}); err != nil {
		t.Fatal(err)
	}
	if otherKeys[1] != "" {
		t.Errorf("secret followed a redirect to another origin: %q", otherKeys[1])
	}
	for _, p := range posts {
		if strings.Contains(fmt.Sprint(p.Fetch.RequestHeader, p.Fetch.RequestURL), secret) {
			t.Error("secret in evidence")
		}
	}
	for _, e := range logs.All() {
		if strings.Contains(fmt.Sprint(e.Message, e.ContextMap()), secret) {
			t.Errorf("secret logged: %s", e.Message)
		}
	}
}

// TestConditionalGet: validators are saved only by Commit; then the feed
// is asked with If-None-Match and If-Modified-Since and a 304 is "no new
// posts", not an error; a thread whose first page is unchanged still
// goes on to its next page through the remembered link.
func TestConditionalGet(t *testing.T) {
	s := newSite(t, "")
	rss := testdata(t, "news_rss.xml")
	var conds []string
	s.mux.HandleFunc("/rss", func(w http.ResponseWriter, r *http.Request) {
		conds = append(conds, r.Header.Get("If-None-Match")+"|"+r.Header.Get("If-Modified-Since"))
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", "Wed, 01 May 2024 03:00:00 GMT")
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Write(rss)
	})
	reg := prometheus.NewRegistry()
	state := NewMemoryState()
	src, err := newTestSource(crawlerConfig(), config.Source{ID: "news", Kind: config.SourceFeed, URL: s.URL + "/rss", AllowPrivate: true},
		Options{State: state, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b, err := src.Run(ctx) // not committed: the handler did not accept
	if err != nil || len(b.Posts) == 0 || b.Commit == nil {
		t.Fatalf("%d posts, %v", len(b.Posts), err)
	}
	if len(state.Snapshot("news")) != 0 {
		t.Fatal("state saved before Commit")
	}
	b, _ = src.Run(ctx)
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	b, err = src.Run(ctx)
	if err != nil || len(b.Posts) != 0 {
		t.Fatalf("304 pass: %d posts, %v", len(b.Posts), err)
	}
	want := []string{"|", "|", `"v1"|Wed, 01 May 2024 03:00:00 GMT`}
	if strings.Join(conds, " ") != strings.Join(want, " ") {
		t.Errorf("conditional headers %q, want %q", conds, want)
	}
	if n := testutil.ToFloat64(src.metrics.pages.WithLabelValues("news", "304")); n != 1 {
		t.Errorf("304 pages metric %v", n)
	}

	// A paginated thread: page 1 unchanged, page 2 still read.
	p1, p2 := testdata(t, "thread_p1.html"), testdata(t, "thread_p2.html")
	s.mux.HandleFunc("/thread", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.URL.Query().Get("page") == "2" {
			w.Write(p2)
			return
		}
		if r.Header.Get("If-None-Match") == `"p1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"p1"`)
		w.Write(p1)
	})
	posts, err := runSource(t, htmlSource(s.URL+"/thread"), Options{State: state})
	if err != nil || len(posts) != 4 {
		t.Fatalf("thread: %d posts, %v", len(posts), err)
	}
	posts, err = runSource(t, htmlSource(s.URL+"/thread"), Options{State: state})
	if err != nil || len(posts) != 2 || posts[0].Permalink != s.URL+"/biz/1714520000/4" {
		t.Fatalf("thread after 304: %d posts, %v", len(posts), err)
	}
}

// TestSchedulerCommitsOnlyAcceptedPosts: the crawl state advances only
// when the handler accepted the pass's posts.
func TestSchedulerCommitsOnlyAcceptedPosts(t *testing.T) {
	s := newSite(t, "")
	s.mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `[{"id":"7","t":"a"},{"id":"9","t":"b"}]`)
	})
	state := NewMemoryState()
	src, err := newTestSource(crawlerConfig(), jsonSource(s.URL+"/api", config.JSONMapping{Text: "t", ID: "id", Incremental: true}), Options{State: state})
	if err != nil {
		t.Fatal(err)
	}
	accept := errors.New("index down")
	var got []int
	sch, _ := NewScheduler([]Runner{src}, func(_ context.Context, _ string, posts []mention.Post, _ error) error {
		got = append(got, len(posts))
		return accept
	}, SchedulerOptions{})
	for range 2 {
		sch.RunOnce(context.Background())
	}
	if len(state.Snapshot("api")) != 0 || got[1] != 2 {
		t.Fatalf("refused posts: state %v, second pass %d posts", state.Snapshot("api"), got[1])
	}
	accept = nil
	sch.RunOnce(context.Background())
	sch.RunOnce(context.Background())
	if state.Snapshot("api")[keySince] != "9" || got[3] != 0 {
		t.Errorf("accepted posts: state %v, next pass %d posts", state.Snapshot("api"), got[3])
	}
}

// TestBackoff: 503 with Retry-After stops the pass and the source; the
// pause is saved, so a restarted source waits too, without a request; a
// 429 without Retry-After waits a minute, then doubles; the host pause
// holds other sources on that host.
func TestBackoff(t *testing.T) {
	s := newSite(t, "")
	var hits atomic.Int32
	status, retry := http.StatusServiceUnavailable, "3600"
	s.mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if retry != "" {
			w.Header().Set("Retry-After", retry)
		}
		w.WriteHeader(status)
		fmt.Fprint(w, "maintenance")
	})
	state := NewMemoryState()
	hosts := NewHostLimiter(1)
	src := jsonSource(s.URL+"/api", config.JSONMapping{Text: "t"})
	a, _ := newTestSource(crawlerConfig(), src, Options{State: state, Hosts: hosts})
	_, err := runOnce(t, a)
	var bo *BackoffError
	var se *StatusError
	if !errors.As(err, &bo) || !errors.As(err, &se) || se.Code != 503 || ErrorKind(err) != KindRateLimited {
		t.Fatalf("error %v", err)
	}
	if d := time.Until(bo.Until); d < 59*time.Minute || d > time.Hour {
		t.Errorf("until %v", bo.Until)
	}
	if !strings.Contains(err.Error(), "HTTP status 503 Service Unavailable: maintenance; backing off until") {
		t.Errorf("error text %q", err)
	}
	restarted, _ := newTestSource(crawlerConfig(), src, Options{State: state})
	if !restarted.NotBefore().Equal(a.NotBefore()) {
		t.Errorf("restart forgot the back-off: %v vs %v", restarted.NotBefore(), a.NotBefore())
	}
	before := hits.Load()
	if _, err := runOnce(t, restarted); !errors.As(err, &bo) || hits.Load() != before {
		t.Errorf("pass during back-off: %v, %d requests", err, hits.Load()-before)
	}
	// Another source on the host: paused too, no request.
	other := jsonSource(s.URL+"/api", config.JSONMapping{Text: "t"})
	other.ID = "api-2"
	if _, err := runSource(t, other, Options{Hosts: hosts}); !errors.As(err, &bo) || hits.Load() != before {
		t.Errorf("other source on the host: %v", err)
	}

	status, retry = http.StatusTooManyRequests, ""
	fresh, _ := newTestSource(crawlerConfig(), src, Options{})
	runOnce(t, fresh)
	if d := time.Until(fresh.NotBefore()); d < 55*time.Second || d > time.Minute {
		t.Errorf("first 429 without Retry-After: wait %v, want 1m", d)
	}
	fresh.mu.Lock()
	fresh.backoffUntil = time.Time{} // as if the minute had passed
	fresh.mu.Unlock()
	fresh.hosts = NewHostLimiter(1)
	runOnce(t, fresh)
	if d := time.Until(fresh.NotBefore()); d < 115*time.Second || d > 2*time.Minute {
		t.Errorf("second 429 in a row: wait %v, want 2m", d)
	}
	status, retry = http.StatusTooManyRequests, time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat)
	dated, _ := newTestSource(crawlerConfig(), src, Options{})
	runOnce(t, dated)
	if d := time.Until(dated.NotBefore()); d < 85*time.Second || d > 91*time.Second {
		t.Errorf("Retry-After date: wait %v", d)
	}
}

func TestRetryAfterHeaders(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		h    map[string]string
		want time.Duration
		ok   bool
	}{
		{map[string]string{"Retry-After": "120"}, 2 * time.Minute, true},
		{map[string]string{"Retry-After": "Wed, 01 May 2024 12:05:00 GMT"}, 5 * time.Minute, true},
		{map[string]string{"Retry-After": "Wed, 01 May 2024 11:00:00 GMT"}, 0, true},                                    // in the past
		{map[string]string{"x-rate-limit-reset": fmt.Sprint(now.Add(15 * time.Minute).Unix())}, 15 * time.Minute, true}, // X
		{map[string]string{"x-ratelimit-reset": "412"}, 412 * time.Second, true},                                        // Reddit
		{map[string]string{"X-RateLimit-Reset": "2024-05-01T12:00:30.916474Z"}, 30916474 * time.Microsecond, true},      // Mastodon
		{map[string]string{"RateLimit-Reset": fmt.Sprint(now.Add(time.Minute).Unix())}, time.Minute, true},              // Bluesky
		{map[string]string{"Retry-After": "soon"}, 0, false},
		{map[string]string{}, 0, false},
	}
	for i, c := range cases {
		h := http.Header{}
		for k, v := range c.h {
			h.Set(k, v)
		}
		got, ok := retryAfter(h, now)
		if got != c.want || ok != c.ok {
			t.Errorf("case %d %v: %v %v, want %v %v", i, c.h, got, ok, c.want, c.ok)
		}
	}
}

// TestRobotsDisallowJSON: robots.txt applies to API paths too.
func TestRobotsDisallowJSON(t *testing.T) {
	s := newSite(t, "User-agent: *\nDisallow: /api/\n")
	s.mux.HandleFunc("/api/search", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `[{"t":"x"}]`) })
	src := jsonSource(s.URL+"/api/search", config.JSONMapping{Text: "t"})
	_, err := run(t, crawlerConfig(), src)
	if !errors.Is(err, ErrRobotsDisallowed) || s.requested("/api/search") || ErrorKind(err) != KindRobots {
		t.Fatalf("error %v", err)
	}
	src.IgnoreRobots = true
	if posts, err := run(t, crawlerConfig(), src); err != nil || len(posts) != 1 {
		t.Fatalf("ignore_robots: %d posts, %v", len(posts), err)
	}
}

// TestHTMLFollowAndIncremental: a board page lists threads; each thread
// is read with the detail selectors, incrementally by post number; a
// thread that is gone is skipped.
func TestHTMLFollowAndIncremental(t *testing.T) {
	s := newSite(t, "")
	threads := map[string][]string{"/t/100": {"一", "二"}, "/t/200": {"三"}}
	s.mux.HandleFunc("/board", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<ul><li><a class="th" href="/t/100#new">スレ100</a></li><li><a class="th" href="/t/200">スレ200</a></li>
			<li><a class="th" href="/t/300">消えたスレ</a></li><li><a class="th" href="/t/100">重複</a></li></ul>`)
	})
	notModified := 0
	s.mux.HandleFunc("/t/", func(w http.ResponseWriter, r *http.Request) {
		posts, ok := threads[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		etag := fmt.Sprintf(`"%d"`, len(posts))
		if r.Header.Get("If-None-Match") == etag {
			notModified++
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<dl>")
		for i, p := range posts {
			fmt.Fprintf(w, `<dt>%d ：名無し</dt><dd>%s</dd>`, i+1, p)
		}
		fmt.Fprint(w, "</dl>")
	})
	src := config.Source{ID: "board", Kind: config.SourceHTML, URL: s.URL + "/board", AllowPrivate: true, MaxPages: 10,
		HTML: config.HTMLSelectors{Follow: "a.th", Detail: &config.HTMLSelectors{
			// XPath: the <dt> header and its <dd> body are siblings.
			Item: "//dt", Text: "./following-sibling::dd[1]", Number: ".", Author: ".",
		}}}
	state := NewMemoryState()
	posts, err := runSource(t, src, Options{State: state})
	if err != nil || len(posts) != 3 {
		t.Fatalf("%d posts, %v", len(posts), err)
	}
	if posts[1].Permalink != s.URL+"/t/100#2" || posts[1].Text != "二" || posts[2].Permalink != s.URL+"/t/200#1" {
		t.Errorf("posts %+v", posts)
	}
	threads["/t/100"] = append(threads["/t/100"], "四")
	posts, err = runSource(t, src, Options{State: state})
	if err != nil || len(posts) != 1 || posts[0].Text != "四" || posts[0].Permalink != s.URL+"/t/100#3" {
		t.Fatalf("second pass: %+v, %v", posts, err)
	}
	if notModified != 1 {
		t.Errorf("unchanged thread answered %d 304s, want 1", notModified)
	}
	posts, err = runSource(t, src, Options{State: state})
	if err != nil || len(posts) != 0 || notModified != 3 {
		t.Errorf("third pass: %d posts, %v, %d 304s", len(posts), err, notModified)
	}
	snap := state.Snapshot("board")
	if snap[keyLastPrefix+s.URL+"/t/100"] != "3" || snap[keyLastPrefix+s.URL+"/t/200"] != "1" {
		t.Errorf("state %v", snap)
	}
}

// TestXPathSelectors: the forum page read with XPath gives the same posts
// as with CSS.
func TestXPathSelectors(t *testing.T) {
	s := newSite(t, "")
	s.serveThread(t)
	css, err := run(t, crawlerConfig(), htmlSource(s.URL+"/thread"))
	if err != nil {
		t.Fatal(err)
	}
	src := htmlSource(s.URL + "/thread")
	src.HTML = config.HTMLSelectors{
		Item: "//article[contains(concat(' ', @class, ' '), ' post ')]", Text: ".//div[@class='message']",
		Author: ".//span[@class='name']", Time: ".//time", Permalink: ".//a[@class='num']/@href",
		Next: "//nav[contains(@class,'pager')]//a[contains(@class,'next')]",
	}
	xp, err := run(t, crawlerConfig(), src)
	if err != nil || len(xp) != len(css) {
		t.Fatalf("%d posts (css %d), %v", len(xp), len(css), err)
	}
	for i := range css {
		checkPost(t, i, xp[i], post{permalink: css[i].Permalink, author: css[i].Author, text: css[i].Text, published: css[i].Published})
	}
	if _, err := newTestSource(crawlerConfig(), config.Source{ID: "x", Kind: "html", URL: s.URL, HTML: config.HTMLSelectors{Item: "//div[", Text: "."}}, Options{}); err == nil ||
		!strings.Contains(err.Error(), `html.item: bad selector "//div["`) {
		t.Errorf("bad XPath: %v", err)
	}
}

// TestJapaneseCharsets: EUC-JP and ISO-2022-JP pages (by header or by
// <meta>), a Shift_JIS JSON API and an EUC-JP RSS feed decode; the raw
// bytes stay as served.
func TestJapaneseCharsets(t *testing.T) {
	const page = `<html><head>%s<title>掲示板</title></head><body><div class="p"><b class="n">名無しさん</b><p class="m">サンプル社の対応、最悪。ｶﾀｶﾅ①も読める</p></div></body></html>`
	const want = "サンプル社の対応、最悪。ｶﾀｶﾅ①も読める"
	cases := []struct {
		name, contentType, meta string
		encode                  func(testing.TB, string) []byte
	}{
		{"EUC-JP by header", "text/html; charset=EUC-JP", "", toEUCJP},
		{"EUC-JP by meta", "text/html", `<meta http-equiv="Content-Type" content="text/html; charset=euc-jp">`, toEUCJP},
		{"ISO-2022-JP by meta", "text/html", `<meta charset="ISO-2022-JP">`, toISO2022JP},
		{"ISO-2022-JP by header", "text/html; charset=iso-2022-jp", "", toISO2022JP},
		{"Shift_JIS by header", "text/html; charset=Shift_JIS", "", toSJIS},
		{"Windows-31J by meta", "text/html", `<meta charset="windows-31j">`, toSJIS},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := c.encode(t, fmt.Sprintf(page, c.meta))
			if c.name == "EUC-JP by header" && !bytes.Contains(body, []byte{0xa5, 0xb5}) { // サ in EUC-JP
				t.Fatal("not EUC-JP")
			}
			s := newSite(t, "")
			s.mux.HandleFunc("/bbs", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", c.contentType)
				w.Write(body)
			})
			src := config.Source{ID: "jp", Kind: config.SourceHTML, URL: s.URL + "/bbs", AllowPrivate: true,
				HTML: config.HTMLSelectors{Item: "div.p", Text: "p.m", Author: "b.n"}}
			posts, err := run(t, crawlerConfig(), src)
			if err != nil || len(posts) != 1 {
				t.Fatalf("%d posts, %v", len(posts), err)
			}
			if posts[0].Text != want || posts[0].Author != "名無しさん" {
				t.Errorf("got %q by %q", posts[0].Text, posts[0].Author)
			}
			if !bytes.Equal(posts[0].Fetch.Body, body) {
				t.Error("raw bytes changed")
			}
		})
	}
	t.Run("Shift_JIS JSON", func(t *testing.T) {
		body := toSJIS(t, `{"res":[{"no":1,"msg":"`+want+`"}]}`)
		s := newSite(t, "")
		s.mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json; charset=Shift_JIS")
			w.Write(body)
		})
		posts, err := run(t, crawlerConfig(), jsonSource(s.URL+"/api", config.JSONMapping{Items: "res", Text: "msg"}))
		if err != nil || len(posts) != 1 || posts[0].Text != want || !bytes.Equal(posts[0].Fetch.Body, body) {
			t.Fatalf("%+v, %v", posts, err)
		}
	})
	t.Run("EUC-JP RSS", func(t *testing.T) {
		body := toEUCJP(t, `<?xml version="1.0" encoding="EUC-JP"?><rss version="2.0"><channel><title>ニュース</title>`+
			`<item><title>サンプル社</title><link>https://news.example.jp/1</link><description>`+want+`</description></item></channel></rss>`)
		s := newSite(t, "")
		s.mux.HandleFunc("/rss", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/rss+xml")
			w.Write(body)
		})
		posts, err := run(t, crawlerConfig(), config.Source{ID: "rss", Kind: config.SourceFeed, URL: s.URL + "/rss", AllowPrivate: true})
		if err != nil || len(posts) != 1 || posts[0].Text != want || posts[0].Title != "サンプル社" {
			t.Fatalf("%+v, %v", posts, err)
		}
	})
}

// TestNothingMatchedIsAnError: a redesigned page (no item matched) or an
// API whose items moved fails the pass, unless allow_empty; a required
// field missing fails it too.
func TestNothingMatchedIsAnError(t *testing.T) {
	s := newSite(t, "")
	s.mux.HandleFunc("/redesigned", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<div class="new-layout"><p>サンプル社</p></div>`)
	})
	s.mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"results":{"data":[{"t":"x"}]}}`)
	})
	_, err := run(t, crawlerConfig(), htmlSource(s.URL+"/redesigned"))
	if !errors.Is(err, ErrNoItems) || ErrorKind(err) != KindNoItems {
		t.Errorf("html: %v", err)
	}
	src := htmlSource(s.URL + "/redesigned")
	src.AllowEmpty = true
	if posts, err := run(t, crawlerConfig(), src); err != nil || len(posts) != 0 {
		t.Errorf("allow_empty: %v", err)
	}
	_, err = run(t, crawlerConfig(), jsonSource(s.URL+"/api", config.JSONMapping{Items: "data", Text: "t"}))
	if !errors.Is(err, ErrNoItems) || !strings.Contains(err.Error(), `json.items "data" is missing`) {
		t.Errorf("json: %v", err)
	}
	_, err = run(t, crawlerConfig(), jsonSource(s.URL+"/api", config.JSONMapping{Items: "results.data", Text: "t", Require: []string{"meta.count"}}))
	if !errors.Is(err, ErrMissingField) || !strings.Contains(err.Error(), "meta.count") {
		t.Errorf("require: %v", err)
	}
	_, err = run(t, crawlerConfig(), jsonSource(s.URL+"/redesigned", config.JSONMapping{Text: "t"}))
	if !errors.Is(err, ErrNotJSON) {
		t.Errorf("html answer to a json source: %v", err)
	}
}

// TestFailingHook: OnFailing fires once per streak, when the source has
// failed for alert_after (across a restart: the streak is saved), and
// OnRecovered when it succeeds again.
func TestFailingHook(t *testing.T) {
	s := newSite(t, "")
	broken := true
	s.mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		if broken {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, `[{"t":"ok"}]`)
	})
	now := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	type call struct {
		id    string
		since time.Time
		err   string
	}
	var failing, recovered []call
	reg := prometheus.NewRegistry()
	state := NewMemoryState()
	opts := Options{State: state, Registerer: reg, Now: clock,
		OnFailing: func(id string, since time.Time, err error) {
			failing = append(failing, call{id, since, err.Error()})
		},
		OnRecovered: func(id string, since time.Time) { recovered = append(recovered, call{id, since, ""}) },
	}
	src := jsonSource(s.URL+"/api", config.JSONMapping{Text: "t"})
	src.AlertAfter = time.Hour
	a, _ := newTestSource(crawlerConfig(), src, opts)
	for _, at := range []time.Duration{0, 30 * time.Minute, 61 * time.Minute, 2 * time.Hour} {
		now = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).Add(at)
		runOnce(t, a)
	}
	start := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	if len(failing) != 1 || failing[0].since != start || !strings.Contains(failing[0].err, "HTTP status 500 Internal Server Error: boom") {
		t.Fatalf("OnFailing calls %+v", failing)
	}
	if g := testutil.ToFloat64(a.metrics.failing.WithLabelValues("api")); g != 1 {
		t.Errorf("failing gauge %v", g)
	}
	if n := testutil.ToFloat64(a.metrics.errors.WithLabelValues("api", KindHTTP5xx)); n != 4 {
		t.Errorf("errors metric %v", n)
	}
	// Restart: the streak and its report are remembered.
	b, _ := newTestSource(crawlerConfig(), src, opts)
	now = start.Add(3 * time.Hour)
	runOnce(t, b)
	if len(failing) != 1 {
		t.Errorf("reported again after restart: %+v", failing)
	}
	broken = false
	runOnce(t, b)
	if len(recovered) != 1 || recovered[0].since != start {
		t.Errorf("OnRecovered calls %+v", recovered)
	}
	if g := testutil.ToFloat64(b.metrics.failing.WithLabelValues("api")); g != 0 {
		t.Errorf("failing gauge after recovery %v", g)
	}
	if g := testutil.ToFloat64(b.metrics.lastSuccess.WithLabelValues("api")); g != float64(now.Unix()) {
		t.Errorf("last success %v", g)
	}
	if len(state.Snapshot("api")) != 0 {
		t.Errorf("health state left after recovery: %v", state.Snapshot("api"))
	}
	// A new streak is reported again.
	broken = true
	runOnce(t, b)
	now = now.Add(2 * time.Hour)
	runOnce(t, b)
	if len(failing) != 2 {
		t.Errorf("second streak: %+v", failing)
	}
}

// TestMetricsShared: sources built with one registerer share the
// collectors; a pass counts pages and posts.
func TestMetricsShared(t *testing.T) {
	s := newSite(t, "")
	s.serveThread(t)
	reg := prometheus.NewRegistry()
	cfg := crawlerConfig()
	a, b := htmlSource(s.URL+"/thread"), htmlSource(s.URL+"/thread")
	b.ID = "forum-2"
	runners, err := newTestSources(cfg, []config.Source{a, b}, Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runners {
		if _, err := r.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	m := runners[0].(*Source).metrics
	if n := testutil.ToFloat64(m.pages.WithLabelValues("forum-2", "2xx")); n != 2 {
		t.Errorf("pages %v", n)
	}
	if n := testutil.ToFloat64(m.posts.WithLabelValues("forum")); n != 4 {
		t.Errorf("posts %v", n)
	}
	if runners[0].(*Source).hosts != runners[1].(*Source).hosts {
		t.Error("NewSources does not share the host limiter")
	}
	if n, err := testutil.GatherAndCount(reg, "mimamori_crawler_last_success_timestamp_seconds"); err != nil || n != 2 {
		t.Errorf("last success series %d, %v", n, err)
	}
}

// TestHostPoliteness: two sources on one host never have two requests in
// flight (host_concurrency 1) and keep the delay between requests.
func TestHostPoliteness(t *testing.T) {
	s := newSite(t, "")
	var inFlight, peak atomic.Int32
	var mu sync.Mutex
	var starts []time.Time
	s.mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		if n > peak.Load() {
			peak.Store(n)
		}
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		fmt.Fprintf(w, `{"items":[{"t":"x"}],"next":"%d"}`, len(starts))
	})
	cfg := crawlerConfig()
	cfg.Delay = 50 * time.Millisecond
	var srcs []config.Source
	for _, id := range []string{"a", "b"} {
		src := jsonSource(s.URL+"/api", config.JSONMapping{Items: "items", Text: "t", Cursor: "next", CursorParam: "c"})
		src.ID, src.MaxPages = id, 3
		srcs = append(srcs, src)
	}
	runners, err := newTestSources(cfg, srcs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sch, _ := NewScheduler(runners, nil, SchedulerOptions{Concurrency: 2})
	if err := sch.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if peak.Load() != 1 || len(starts) != 6 {
		t.Errorf("peak %d in flight, %d requests", peak.Load(), len(starts))
	}
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < 65*time.Millisecond {
			t.Errorf("requests %d and %d %v apart (20ms answer + 50ms delay)", i-1, i, gap)
		}
	}
}

// TestSSRFJSONKind: the json kind refuses loopback without permission,
// allow_hosts opens exactly one host:port, and cursors, next URLs and
// redirects to private, link-local (metadata) and loopback addresses are
// refused before any connection (TestMain's safety net fails the run if
// anything off this host is dialled).
func TestSSRFJSONKind(t *testing.T) {
	s := newSite(t, "")
	next := ""
	s.mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"items":[{"t":"ok"}],"next":%q}`, next)
	})
	s.mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, next, http.StatusFound)
	})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "http://"))
	m := config.JSONMapping{Items: "items", Text: "t", NextURL: "next"}
	src := config.Source{ID: "api", Kind: config.SourceJSON, URL: s.URL + "/api", JSON: m}
	_, err := run(t, crawlerConfig(), src)
	var be *netguard.BlockedError
	if !errors.As(err, &be) || be.Reason != "loopback" || len(s.hits) != 0 || ErrorKind(err) != KindBlocked {
		t.Fatalf("no permission: %v, hits %v", err, s.hits)
	}
	src.AllowHosts = []string{"127.0.0.1:" + port}
	for _, c := range []struct{ next, reason string }{
		{"http://169.254.169.254/latest/meta-data/iam/security-credentials/", "link-local (cloud metadata)"},
		{"http://10.0.0.1/internal", "private"},
		{"http://192.168.1.1:8080/admin", "private"},
		{"http://localhost:" + port + "/api", "loopback"}, // a name resolving to loopback, not the allowed one
		{"http://[::1]:" + port + "/api", "loopback"},
		{"http://127.0.0.1:1/other-port", "loopback"},
	} {
		next = c.next
		for _, start := range []string{"/api", "/redirect"} {
			src.URL = s.URL + start
			posts, err := run(t, crawlerConfig(), src)
			if strings.Contains(c.next, "[::1]") && err != nil && strings.Contains(err.Error(), "connect: cannot assign") {
				continue // no IPv6 here: nothing was sent either
			}
			if !errors.As(err, &be) || be.Reason != c.reason {
				t.Errorf("%s via %s: %v (posts %d)", c.next, start, err, len(posts))
				continue
			}
			if !strings.Contains(err.Error(), "SSRF guard") {
				t.Errorf("refusal does not say why: %v", err)
			}
			if start == "/api" && len(posts) != 1 {
				t.Errorf("%s: the first page's posts are lost (%d)", c.next, len(posts))
			}
		}
	}
}

// TestConfigValidation: the config keys this package adds are checked
// with a message naming the key.
func TestConfigValidation(t *testing.T) {
	base := func() config.Config {
		c := config.Default()
		c.Targets = []mention.Target{{ID: "c", Kind: mention.KindCompany, Name: "株式会社サンプル"}}
		return c
	}
	cases := []struct {
		name string
		src  config.Source
		want string
	}{
		{"bad cron", config.Source{ID: "a", Kind: "feed", URL: "https://a.example/", Cron: "61 * * * *"},
			`sources[0].cron: cron "61 * * * *": minute field "61": 61 out of range 0-59`},
		{"cron and interval", config.Source{ID: "a", Kind: "feed", URL: "https://a.example/", Cron: "@hourly", Interval: time.Hour},
			"sources[0].cron: set interval or cron, not both"},
		{"secret in headers", config.Source{ID: "a", Kind: "feed", URL: "https://a.example/", Headers: map[string]string{"authorization": "Bearer x"}},
			"sources[0].headers.authorization: secrets do not belong in headers"},
		{"auth without env", config.Source{ID: "a", Kind: "feed", URL: "https://a.example/", Auth: config.SourceAuth{Type: "bearer"}},
			"sources[0].auth.env: the name of the environment variable"},
		{"header auth without name", config.Source{ID: "a", Kind: "feed", URL: "https://a.example/", Auth: config.SourceAuth{Type: "header", Env: "K"}},
			"sources[0].auth.header: a header name is required"},
		{"json without text", config.Source{ID: "a", Kind: "json", URL: "https://a.example/"},
			"sources[0].json.text: required for a json source"},
		{"cursor without param", config.Source{ID: "a", Kind: "json", URL: "https://a.example/", JSON: config.JSONMapping{Text: "t", Cursor: "next"}},
			"sources[0].json.cursor: cursor and cursor_param go together"},
		{"since without id", config.Source{ID: "a", Kind: "json", URL: "https://a.example/", JSON: config.JSONMapping{Text: "t", SinceParam: "since_id"}},
			"sources[0].json.id: required for incremental reading"},
		{"follow without detail", config.Source{ID: "a", Kind: "html", URL: "https://a.example/", HTML: config.HTMLSelectors{Follow: "a"}},
			"sources[0].html.detail: required with html.follow"},
		{"resume without number", config.Source{ID: "a", Kind: "html", URL: "https://a.example/", HTML: config.HTMLSelectors{Item: "p", Text: "p", Resume: "{url}{next}-"}},
			"sources[0].html.resume: needs html.number"},
		{"browser without item", config.Source{ID: "a", Kind: "browser", URL: "https://a.example/"},
			"sources[0].html.item: required for an html source"},
		{"bad allow_hosts", config.Source{ID: "a", Kind: "feed", URL: "https://a.example/", AllowHosts: []string{"http://intranet/"}},
			`sources[0].allow_hosts[0]: "http://intranet/" is not a host or host:port`},
	}
	for _, c := range cases {
		cfg := base()
		cfg.Sources = []config.Source{c.src}
		var got []string
		for _, fe := range cfg.Validate() {
			got = append(got, fe.Error())
		}
		if !strings.Contains(strings.Join(got, "\n"), c.want) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	cfg := base()
	cfg.Sources = []config.Source{{ID: "ok", Kind: "json", URL: "https://a.example/", Cron: "CRON_TZ=Asia/Tokyo */10 8-20 * * mon-fri",
		Auth: config.SourceAuth{Type: "bearer", Env: "X_BEARER_TOKEN"}, JSON: config.JSONMapping{Text: "t"}}}
	for _, fe := range cfg.Validate() {
		if strings.HasPrefix(fe.Key, "sources") {
			t.Errorf("valid source refused: %v", fe)
		}
	}
}

// TestCronSource: a source with a cron expression has a cron schedule.
func TestCronSource(t *testing.T) {
	src, err := newTestSource(crawlerConfig(), config.Source{ID: "c", Kind: "feed", URL: "https://a.example/", Cron: "*/20 * * * *"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sc := src.Schedule()
	at := time.Date(2024, 5, 1, 12, 5, 0, 0, time.UTC)
	if sc.Cron == nil || !sc.Cron.Next(at).Equal(time.Date(2024, 5, 1, 12, 20, 0, 0, time.UTC)) {
		t.Errorf("schedule %+v", sc)
	}
}

// TestDecompressionBombRefused: a gzip body that expands past the ratio
// is refused with a clear error.
func TestDecompressionBombRefused(t *testing.T) {
	s := newSite(t, "")
	var bomb bytes.Buffer
	zw := gzipWriter(&bomb)
	zw.Write(bytes.Repeat([]byte(" "), 8<<20))
	zw.Close()
	s.mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "application/json")
		w.Write(bomb.Bytes())
	})
	_, err := run(t, crawlerConfig(), jsonSource(s.URL+"/api", config.JSONMapping{Text: "t"}))
	var dr *fetch.DecompressionRatioError
	if !errors.As(err, &dr) || ErrorKind(err) != KindDecompressed || !strings.Contains(err.Error(), "decompression bomb") {
		t.Fatalf("error %v", err)
	}
}

func gzipWriter(w *bytes.Buffer) *gzip.Writer { return gzip.NewWriter(w) }
