package crawler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"
	"gopkg.in/yaml.v3"

	"mimamori/config"
	"mimamori/internal/jst"
	"mimamori/mention"
)

// presetSources loads deploy/presets/<file> the way config.Load decodes
// sources (weak typing, durations, unknown keys are errors), points every
// source at srv (scheme and host replaced; path and query kept), lets it
// reach srv (allow_hosts, not allow_private), and checks it with the
// config's own validation.
func presetSources(t *testing.T, file string, srv *httptest.Server) map[string]config.Source {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "presets", file))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Sources []map[string]any `yaml:"sources"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var srcs []config.Source
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result: &srcs, ErrorUnused: true, WeaklyTypedInput: true, TagName: "mapstructure",
		DecodeHook: mapstructure.StringToTimeDurationHookFunc(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(doc.Sources); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	cfg := config.Default()
	cfg.Targets = []mention.Target{{ID: "company", Kind: mention.KindCompany, Name: "株式会社サンプル"}}
	cfg.Sources = srcs
	for _, fe := range cfg.Validate() {
		if strings.HasPrefix(fe.Key, "sources") || strings.HasPrefix(fe.Key, "crawler") {
			t.Errorf("%s: %v", file, fe)
		}
	}
	local, _ := url.Parse(srv.URL)
	out := map[string]config.Source{}
	for _, s := range srcs {
		u, err := url.Parse(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		u.Scheme, u.Host = local.Scheme, local.Host
		s.URL = u.String()
		s.AllowHosts = []string{local.Host}
		out[s.ID] = s
	}
	return out
}

// runSource makes one pass of a source built with opts and commits it, as
// the Scheduler does after an accepting handler.
func runSource(t *testing.T, src config.Source, opts Options) ([]mention.Post, error) {
	t.Helper()
	s, err := newTestSource(crawlerConfig(), src, opts)
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	return runOnce(t, s)
}

func runOnce(t *testing.T, s *Source) ([]mention.Post, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := s.Run(ctx)
	if b.Commit != nil {
		if cerr := b.Commit(ctx); cerr != nil {
			t.Fatalf("commit: %v", cerr)
		}
	}
	return b.Posts, err
}

func fixture(t testing.TB, path string) []byte {
	t.Helper()
	return testdata(t, filepath.Join(filepath.FromSlash(path)))
}

// etagged serves body with an ETag and answers 304 to a matching
// If-None-Match; it counts the 304s.
func etagged(w http.ResponseWriter, r *http.Request, contentType string, body []byte, notModified *int) {
	etag := fmt.Sprintf(`W/"%x"`, len(body))
	if r.Header.Get("If-None-Match") == etag {
		*notModified++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("ETag", etag)
	w.Write(body)
}

type post struct {
	permalink, author, title, text string
	published                      time.Time
}

func checkPost(t *testing.T, i int, g mention.Post, w post) {
	t.Helper()
	if g.Permalink != w.permalink || g.Author != w.author || g.Title != w.title || g.Text != w.text || !g.Published.Equal(w.published) {
		t.Errorf("post %d:\n got %q %q %q %q %v\nwant %q %q %q %q %v", i,
			g.Permalink, g.Author, g.Title, g.Text, g.Published,
			w.permalink, w.author, w.title, w.text, w.published)
	}
}

// Test5chJSONPreset reads the real itest.5ch.net thread JSON (1,002
// comments): the first pass sees 990 of them, the next only the ten
// written since (the board's notices 1001 and 1002 never), the third gets
// a 304 and nothing; "last seen" advances only by Commit.
func Test5chJSONPreset(t *testing.T) {
	full := fixture(t, "fixtures/5ch-itest/applism_1517988732.json")
	var thread struct {
		TotalCount int               `json:"total_count"`
		Thread     json.RawMessage   `json:"thread"`
		Comments   []json.RawMessage `json:"comments"`
	}
	if err := json.Unmarshal(full, &thread); err != nil {
		t.Fatal(err)
	}
	thread.Comments, thread.TotalCount = thread.Comments[:990], 990
	partial, _ := json.Marshal(thread)

	s := newSite(t, "")
	body := partial
	notModified := 0
	var queries []string
	s.mux.HandleFunc("/public/newapi/client.php", func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		etagged(w, r, "application/json", body, &notModified)
	})
	src := presetSources(t, "5ch-thread.yaml", s.Server)["5ch-egg-applism-1517988732"]
	state := NewMemoryState()
	source, err := newTestSource(crawlerConfig(), src, Options{State: state})
	if err != nil {
		t.Fatal(err)
	}
	posts, err := runOnce(t, source)
	if err != nil {
		t.Fatal(err)
	}
	if len(posts) != 990 {
		t.Fatalf("first pass: %d posts, want 990", len(posts))
	}
	checkPost(t, 0, posts[1], post{
		permalink: "https://egg.5ch.net/test/read.cgi/applism/1517988732/2",
		author:    "名無しさん＠お腹いっぱい。 (ﾜｯﾁｮｲ 60.101.77.254) ID:T+wBkVi90",
		text:      posts[1].Text,
		published: time.Unix(1517988801, 0),
	})
	if !strings.HasPrefix(posts[1].Text, "質問の前にテンプレや>>1のwikiの「よくある質問」「小ネタ」を読みましょう\nQ.リセマラで何狙えばいいの？") {
		t.Errorf("post 2 text %q", posts[1].Text)
	}
	if !bytes.Equal(posts[0].Fetch.Body, partial) || posts[0].Fetch.StatusCode != 200 {
		t.Error("Fetch does not hold the raw response")
	}
	if got := state.Snapshot(src.ID)[keySince]; got != "990" {
		t.Errorf("since = %q after commit, want 990", got)
	}

	body = full
	posts, err = runOnce(t, source)
	if err != nil {
		t.Fatal(err)
	}
	if len(posts) != 10 || posts[0].Permalink != "https://egg.5ch.net/test/read.cgi/applism/1517988732/991" ||
		posts[9].Permalink != "https://egg.5ch.net/test/read.cgi/applism/1517988732/1000" {
		for _, p := range posts {
			t.Logf("%s", p.Permalink)
		}
		t.Fatalf("second pass: %d posts, want 991–1000", len(posts))
	}
	if posts[9].Text != ">>997\nドンマイ、俺も30万で出なかったよ、アマテラス" {
		t.Errorf("post 1000 text %q", posts[9].Text)
	}
	posts, err = runOnce(t, source)
	if err != nil || len(posts) != 0 || notModified != 1 {
		t.Errorf("third pass: %d posts, %v, %d 304s", len(posts), err, notModified)
	}
	if strings.Contains(strings.Join(queries, " "), "since") {
		t.Errorf("the itest API takes no since parameter: %v", queries)
	}
}

// Test5chHTMLPreset reads a Shift_JIS read.cgi thread, then only the
// posts after the last one seen through the resume URL; permalinks stay
// thread#number whatever URL the page came from.
func Test5chHTMLPreset(t *testing.T) {
	page := func(nums ...int) []byte {
		var b strings.Builder
		b.WriteString(`<html><head><meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS"><title>【自爆運営】ブレイブソード×ブレイズソウル★138</title></head><body><div class="thread">`)
		for _, n := range nums {
			fmt.Fprintf(&b, `<div class="post" id="%d" data-date="NG" data-userid="ID:T+wBkVi90" data-id="%d"><div class="meta"><span class="number">%d</span><span class="name"><b>名無しさん＠お腹いっぱい。</b></span><span class="date">2018/02/07(水) 16:32:%02d.12</span><span class="uid">ID:T+wBkVi90</span></div><div class="message"><span class="escaped"> レス%dの本文 <br> 二行目 </span></div></div>`, n, n, n, n, n)
		}
		b.WriteString(`</div></body></html>`)
		sjis, _, err := transform.Bytes(japanese.ShiftJIS.NewEncoder(), []byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		return sjis
	}
	s := newSite(t, "")
	posts := 3
	var paths []string
	s.mux.HandleFunc("/test/read.cgi/applism/1517988732/", func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		w.Header().Set("Content-Type", "text/html") // no charset: the <meta> decides
		from := 1
		if rest := strings.TrimPrefix(r.URL.Path, "/test/read.cgi/applism/1517988732/"); strings.HasSuffix(rest, "-") {
			fmt.Sscanf(rest, "%d-", &from)
		}
		nums := []int{1} // read.cgi always shows >>1
		for n := max(from, 2); n <= posts; n++ {
			nums = append(nums, n)
		}
		w.Write(page(nums...))
	})
	src := presetSources(t, "5ch-thread.yaml", s.Server)["5ch-egg-applism-1517988732-html"]
	state := NewMemoryState()
	got, err := runSource(t, src, Options{State: state})
	if err != nil || len(got) != 3 {
		t.Fatalf("first pass: %d posts, %v", len(got), err)
	}
	thread := s.URL + "/test/read.cgi/applism/1517988732/"
	checkPost(t, 0, got[2], post{permalink: thread + "#3", author: "名無しさん＠お腹いっぱい。",
		text: "レス3の本文\n二行目", published: time.Date(2018, 2, 7, 16, 32, 3, 120_000_000, jst.Zone)})
	posts = 5
	got, err = runSource(t, src, Options{State: state})
	if err != nil || len(got) != 2 || got[0].Permalink != thread+"#4" || got[1].Permalink != thread+"#5" {
		t.Fatalf("second pass: %d posts %v, %v", len(got), got, err)
	}
	if want := []string{"/test/read.cgi/applism/1517988732/", "/test/read.cgi/applism/1517988732/4-"}; strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Errorf("paths %v, want %v", paths, want)
	}
}

// TestMastodonPresets: the tag timeline follows the Link header over the
// recorded pages, then asks with since_id; the search sends the token
// and reads statuses; an error body's message is shown.
func TestMastodonPresets(t *testing.T) {
	s := newSite(t, "")
	tag := fixture(t, "fixtures/mastodon/timelines-tag-hoot.json")
	public := fixture(t, "fixtures/mastodon/timelines-public.json")
	var tagQueries []string
	s.mux.HandleFunc("/api/v1/timelines/tag/", func(w http.ResponseWriter, r *http.Request) {
		tagQueries = append(tagQueries, r.URL.RawQuery)
		base := s.URL + r.URL.Path
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		q := r.URL.Query()
		switch {
		case q.Get("since_id") != "":
			w.Write([]byte("[]"))
		case q.Get("max_id") == "":
			// Recorded: <…?max_id=117020593741189701>; rel="next", <…?min_id=…>; rel="prev"
			w.Header().Set("Link", `<`+base+`?max_id=117020593741189701>; rel="next", <`+base+`?min_id=117020593741189701>; rel="prev"`)
			w.Write(tag)
		case q.Get("max_id") == "117020593741189701":
			w.Header().Set("Link", `<`+base+`?max_id=117020574694606796>; rel="next", <`+base+`?min_id=117020593378945190>; rel="prev"`)
			w.Write(public)
		default:
			w.Write([]byte("[]"))
		}
	})
	var statuses []json.RawMessage
	if err := json.Unmarshal(public, &statuses); err != nil {
		t.Fatal(err)
	}
	search, _ := json.Marshal(map[string]any{"accounts": []any{}, "statuses": statuses, "hashtags": []any{}, "collections": []any{}})
	s.mux.HandleFunc("/api/v2/search", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if r.Header.Get("Authorization") != "Bearer mastodon-token-123" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"The access token is invalid"}`))
			return
		}
		w.Write(search)
	})
	srcs := presetSources(t, "mastodon.yaml", s.Server)

	state := NewMemoryState()
	tagSrc := srcs["mastodon-social-tag-sample"]
	posts, err := runSource(t, tagSrc, Options{State: state})
	if err != nil || len(posts) != 9 {
		t.Fatalf("tag timeline: %d posts, %v", len(posts), err)
	}
	checkPost(t, 0, posts[0], post{
		permalink: "http://localhost:3000/@mastodonpy_test_2/117020593741189701", author: "mastodonpy_test_2",
		text: "#hoot (hashtag toot)", published: time.Date(2026, 8, 1, 13, 55, 55, 867_000_000, time.UTC)})
	if posts[2].Text != "you can't say that on television" || posts[2].Author != "admin" {
		t.Errorf("post 2: %+v", posts[2])
	}
	if got := state.Snapshot(tagSrc.ID)[keySince]; got != "117020593741189701" {
		t.Errorf("since = %q", got)
	}
	posts, err = runSource(t, tagSrc, Options{State: state})
	if err != nil || len(posts) != 0 {
		t.Errorf("second pass: %d posts, %v", len(posts), err)
	}
	if last := tagQueries[len(tagQueries)-1]; !strings.Contains(last, "since_id=117020593741189701") || !strings.Contains(last, "limit=40") {
		t.Errorf("second pass asked %q", last)
	}

	searchSrc := srcs["mastodon-social-search-sample"]
	if _, err := newTestSource(crawlerConfig(), searchSrc, Options{}); err == nil || !strings.Contains(err.Error(), "MASTODON_ACCESS_TOKEN is not set") {
		t.Errorf("missing token: %v", err)
	}
	t.Setenv("MASTODON_ACCESS_TOKEN", "wrong-token-999")
	_, err = runSource(t, searchSrc, Options{})
	if err == nil || !strings.Contains(err.Error(), "HTTP status 401 Unauthorized: The access token is invalid") {
		t.Errorf("401: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "wrong-token-999") {
		t.Error("token in error")
	}
	t.Setenv("MASTODON_ACCESS_TOKEN", "mastodon-token-123")
	posts, err = runSource(t, searchSrc, Options{})
	if err != nil || len(posts) != 8 {
		t.Fatalf("search: %d posts, %v", len(posts), err)
	}
	if h := posts[0].Fetch.RequestHeader; h.Get("Authorization") != "" {
		t.Error("token recorded in evidence")
	}
}

// TestBlueskyPreset pages the two recorded searchPosts responses by
// cursor, builds bsky.app permalinks, and maps XRPC errors and the
// RateLimit-Reset header.
func TestBlueskyPreset(t *testing.T) {
	s := newSite(t, "")
	p1, p2 := fixture(t, "fixtures/bluesky/searchPosts-page1.json"), fixture(t, "fixtures/bluesky/searchPosts-page2.json")
	mode := "ok"
	var cursors []string
	s.mux.HandleFunc("/xrpc/app.bsky.feed.searchPosts", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		switch mode {
		case "400":
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"InvalidRequest","message":"Error: Params must have the property \"q\""}`))
			return
		case "429":
			w.Header().Set("RateLimit-Limit", "3000")
			w.Header().Set("RateLimit-Remaining", "0")
			w.Header().Set("RateLimit-Reset", fmt.Sprint(time.Now().Add(300*time.Second).Unix()))
			w.Header().Set("RateLimit-Policy", "3000;w=300")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}`))
			return
		}
		c := r.URL.Query().Get("cursor")
		cursors = append(cursors, c)
		if c == "" {
			w.Write(p1)
		} else {
			w.Write(p2) // its cursor is "25" again: the pass stops there
		}
	})
	src := presetSources(t, "bluesky-search.yaml", s.Server)["bluesky-search-sample"]
	posts, err := runSource(t, src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(posts) != 48 || strings.Join(cursors, ",") != ",25" {
		t.Fatalf("%d posts, cursors %q", len(posts), cursors)
	}
	checkPost(t, 0, posts[0], post{
		permalink: "https://bsky.app/profile/planetcarnival.bsky.social/post/3kghpycppiw2n",
		author:    "PlanetCarnival @planetcarnival.bsky.social",
		text:      "I was upset last year when redistricting meant he was no longer my representative.\n(Athough, TBH, the district was pretty Gerrymandered...or Jerrymandered, as it were).",
		published: time.Date(2023, 12, 14, 0, 37, 20, 615_000_000, time.UTC)})
	if p := posts[23]; p.Permalink != "https://bsky.app/profile/socpaperbot.bsky.social/post/3lpk2u6qo222m" ||
		!strings.HasPrefix(p.Text, "Ends Versus Means: Public Opinion on Congressional Redistricting https://osf.io/v87fn") {
		t.Errorf("page 2 first post: %+v", p)
	}
	if !bytes.Equal(posts[23].Fetch.Body, p2) || posts[0].Fetch == posts[23].Fetch {
		t.Error("page 2 posts do not carry page 2's bytes")
	}

	mode = "400"
	_, err = runSource(t, src, Options{})
	if err == nil || !strings.HasSuffix(err.Error(), `HTTP status 400 Bad Request: Error: Params must have the property "q"`) {
		t.Errorf("400: %v", err)
	}
	mode = "429"
	source, _ := newTestSource(crawlerConfig(), src, Options{})
	_, err = runOnce(t, source)
	var bo *BackoffError
	if !errors.As(err, &bo) || bo.Until.Before(time.Now().Add(290*time.Second)) || bo.Until.After(time.Now().Add(301*time.Second)) {
		t.Errorf("429: %v", err)
	}
	if !strings.Contains(err.Error(), "Rate Limit Exceeded") || ErrorKind(err) != KindRateLimited {
		t.Errorf("429 error %q kind %s", err, ErrorKind(err))
	}
}

// TestRedditPreset pages the Listing by "after"; a link post's title is
// its text; x-ratelimit-reset (seconds) sets the back-off.
func TestRedditPreset(t *testing.T) {
	s := newSite(t, "")
	p1, p2 := testdata(t, "presets/reddit-page1.json"), testdata(t, "presets/reddit-page2.json")
	limited := false
	s.mux.HandleFunc("/search.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		if limited {
			w.Header().Set("x-ratelimit-used", "100")
			w.Header().Set("x-ratelimit-remaining", "0.0")
			w.Header().Set("x-ratelimit-reset", "412")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write(testdata(t, "presets/reddit-429.json"))
			return
		}
		if r.URL.Query().Get("q") != `"Sample Inc"` || r.URL.Query().Get("sort") != "new" {
			t.Errorf("query %q", r.URL.RawQuery)
		}
		if r.URL.Query().Get("after") == "t3_1cgx0zz" {
			w.Write(p2)
			return
		}
		w.Write(p1)
	})
	src := presetSources(t, "reddit-search.yaml", s.Server)["reddit-search-sample"]
	posts, err := runSource(t, src, Options{})
	if err != nil || len(posts) != 3 {
		t.Fatalf("%d posts, %v", len(posts), err)
	}
	checkPost(t, 0, posts[0], post{
		permalink: "https://www.reddit.com/r/japanlife/comments/1cgx2ab/sample_inc_customer_support/",
		author:    "tokyo_expat_42", title: "Sample Inc customer support",
		text:      "Has anyone dealt with Sample Inc support? They kept me on hold for an hour.\nEdit: they called back.",
		published: time.Unix(1714561200, 0)})
	checkPost(t, 1, posts[1], post{
		permalink: "https://www.reddit.com/r/newsokur/comments/1cgx0zz/sample_inc_apologizes_for_the_outage/",
		author:    "news_bot_jp", title: "サンプル社、新サービスの障害を謝罪", text: "サンプル社、新サービスの障害を謝罪",
		published: time.Unix(1714557600, 0)})
	limited = true
	source, _ := newTestSource(crawlerConfig(), src, Options{})
	_, err = runOnce(t, source)
	var bo *BackoffError
	if !errors.As(err, &bo) || time.Until(bo.Until) < 400*time.Second || time.Until(bo.Until) > 413*time.Second {
		t.Errorf("429: %v", err)
	}
	if !strings.Contains(err.Error(), "HTTP status 429 Too Many Requests: Too Many Requests") {
		t.Errorf("429 message: %v", err)
	}
	if nb := source.NotBefore(); !nb.Equal(bo.Until) {
		t.Errorf("NotBefore %v, want %v", nb, bo.Until)
	}
}

// TestYouTubePreset sends the key in X-Goog-Api-Key (never in the URL or
// the evidence), pages by pageToken and shows Google's error messages.
func TestYouTubePreset(t *testing.T) {
	const key = "AIzaSyTESTKEY0000000000000000000000000"
	s := newSite(t, "")
	errBody := ""
	s.mux.HandleFunc("/youtube/v3/commentThreads", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		if r.Header.Get("X-Goog-Api-Key") != key || r.URL.Query().Get("key") != "" {
			t.Errorf("key header %q, query %q", r.Header.Get("X-Goog-Api-Key"), r.URL.RawQuery)
		}
		switch errBody {
		case "400":
			w.WriteHeader(http.StatusBadRequest)
			w.Write(testdata(t, "presets/youtube-400-keyInvalid.json"))
			return
		case "403":
			w.WriteHeader(http.StatusForbidden)
			w.Write(testdata(t, "presets/youtube-403-commentsDisabled.json"))
			return
		}
		if r.URL.Query().Get("pageToken") != "" {
			w.Write(testdata(t, "presets/youtube-page2.json"))
			return
		}
		w.Write(testdata(t, "presets/youtube-page1.json"))
	})
	t.Setenv("YOUTUBE_API_KEY", key)
	src := presetSources(t, "youtube-comments.yaml", s.Server)["youtube-comments-VIDEO_ID"]
	posts, err := runSource(t, src, Options{})
	if err != nil || len(posts) != 3 {
		t.Fatalf("%d posts, %v", len(posts), err)
	}
	checkPost(t, 1, posts[1], post{
		permalink: "https://www.youtube.com/watch?v=dQw4w9WgXcQ&lc=UgwQ7y5pRk2mN0vB8xF4AaABAg", author: "@anon-2024",
		text: "この店員の顔、隠し撮りしてネットに晒そうぜ\nどうせクビだろ", published: time.Date(2024, 5, 1, 8, 2, 11, 0, time.UTC)})
	for _, p := range posts {
		if strings.Contains(p.Fetch.RequestURL+fmt.Sprint(p.Fetch.RequestHeader), key) {
			t.Fatal("API key recorded in evidence")
		}
	}
	for code, want := range map[string]string{
		"400": "HTTP status 400 Bad Request: API key not valid. Please pass a valid API key.",
		"403": "HTTP status 403 Forbidden: The video identified by the videoId parameter has disabled comments.",
	} {
		errBody = code
		_, err := runSource(t, src, Options{})
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("%s: %v", code, err)
		}
	}
}

// TestXPreset joins authors from includes.users, pages by next_token,
// asks with since_id afterwards (an empty answer has no "data": not an
// error), and maps 401 and 429 with x-rate-limit-reset.
func TestXPreset(t *testing.T) {
	const token = "AAAAAAAAAAAAAAAAAAAAAtestbearer%2Btoken"
	s := newSite(t, "")
	mode := ""
	var queries []url.Values
	s.mux.HandleFunc("/2/tweets/search/recent", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		q := r.URL.Query()
		queries = append(queries, q)
		switch {
		case r.Header.Get("Authorization") != "Bearer "+token:
			w.WriteHeader(http.StatusUnauthorized)
			w.Write(testdata(t, "presets/x-401.json"))
		case mode == "429":
			w.Header().Set("x-rate-limit-limit", "450")
			w.Header().Set("x-rate-limit-remaining", "0")
			w.Header().Set("x-rate-limit-reset", fmt.Sprint(time.Now().Add(15*time.Minute).Unix()))
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write(testdata(t, "presets/x-429.json"))
		case q.Get("since_id") != "":
			w.Write(testdata(t, "presets/x-search-empty.json"))
		case q.Get("next_token") == "b26v89c19zqg8o3fpzbmf6bm2d6o6jw7hvx6oe9y1wqh9":
			w.Write(testdata(t, "presets/x-search-page2.json"))
		default:
			w.Write(testdata(t, "presets/x-search-page1.json"))
		}
	})
	src := presetSources(t, "x-recent-search.yaml", s.Server)["x-recent-search-sample"]
	t.Setenv("X_BEARER_TOKEN", "not-the-token")
	_, err := runSource(t, src, Options{})
	if err == nil || !strings.HasSuffix(err.Error(), "HTTP status 401 Unauthorized: Unauthorized") || ErrorKind(err) != KindAuth {
		t.Errorf("401: %v", err)
	}
	t.Setenv("X_BEARER_TOKEN", token)
	state := NewMemoryState()
	posts, err := runSource(t, src, Options{State: state})
	if err != nil || len(posts) != 3 {
		t.Fatalf("%d posts, %v", len(posts), err)
	}
	checkPost(t, 1, posts[1], post{
		permalink: "https://x.com/i/web/status/1785619902561054882", author: "anon_98765",
		text:      "@sample_support サンプル社の窓口の田中、絶対に許さない。住所調べて晒してやる https://t.co/AbCdEfGhIj",
		published: time.Date(2024, 5, 1, 12, 24, 42, 0, time.UTC)})
	if posts[2].Author != "yamada_t" {
		t.Errorf("page 2 author %q", posts[2].Author)
	}
	if q := queries[1]; q.Get("query") != `"サンプル社" -is:retweet` || q.Get("expansions") != "author_id" {
		t.Errorf("query %v", q)
	}
	posts, err = runSource(t, src, Options{State: state})
	if err != nil || len(posts) != 0 {
		t.Errorf("since pass: %d posts, %v", len(posts), err)
	}
	if got := queries[len(queries)-1].Get("since_id"); got != "1785621236367167831" {
		t.Errorf("since_id %q", got)
	}
	mode = "429"
	_, err = runSource(t, src, Options{State: state})
	var bo *BackoffError
	if !errors.As(err, &bo) || time.Until(bo.Until) < 14*time.Minute {
		t.Errorf("429: %v", err)
	}
}

// TestGoogleAlertsPreset unwraps the google.com/url links of the Atom
// feed.
func TestGoogleAlertsPreset(t *testing.T) {
	s := newSite(t, "")
	s.mux.HandleFunc("/alerts/feeds/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml; charset=UTF-8")
		w.Write(testdata(t, "presets/google-alerts.atom"))
	})
	src := presetSources(t, "google-alerts.yaml", s.Server)["google-alerts-sample"]
	posts, err := runSource(t, src, Options{})
	if err != nil || len(posts) != 2 {
		t.Fatalf("%d posts, %v", len(posts), err)
	}
	checkPost(t, 0, posts[0], post{
		permalink: "https://news.example.jp/articles/2024/05/01/001.html", title: "サンプル社、新サービスの障害を謝罪",
		text: "サンプル社は1日、同社の新サービスで発生した障害について謝罪した。復旧の見通しは ...", published: time.Date(2024, 5, 1, 4, 13, 27, 0, time.UTC)})
	if posts[1].Permalink != "https://blog.example.com/entry/2024/05/01/090000" {
		t.Errorf("post 1 permalink %q", posts[1].Permalink)
	}
}

// TestHatenaPresets: jsonlite comments (empty ones skipped; "null" for an
// unbookmarked page is no error) and the search RSS 1.0.
func TestHatenaPresets(t *testing.T) {
	s := newSite(t, "")
	body := testdata(t, "presets/hatena-jsonlite.json")
	s.mux.HandleFunc("/entry/jsonlite/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("url") != "https://www.example.co.jp/news/2024/05/01/statement.html" {
			t.Errorf("url parameter %q", r.URL.Query().Get("url"))
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(body)
	})
	s.mux.HandleFunc("/q/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		w.Write(testdata(t, "presets/hatena-search.rdf"))
	})
	srcs := presetSources(t, "hatena-bookmark.yaml", s.Server)
	posts, err := runSource(t, srcs["hatena-bookmark-comments-sample"], Options{})
	if err != nil || len(posts) != 2 {
		t.Fatalf("%d posts, %v", len(posts), err)
	}
	checkPost(t, 1, posts[1], post{
		permalink: "https://b.hatena.ne.jp/entry/4749651293418237378/comment/hatena_user3", author: "hatena_user3",
		text: "社長も社員も全員クズ。燃やしてしまえ", published: time.Date(2024, 5, 1, 12, 50, 0, 0, jst.Zone)})
	body = []byte("null")
	if posts, err := runSource(t, srcs["hatena-bookmark-comments-sample"], Options{}); err != nil || len(posts) != 0 {
		t.Errorf("null: %d posts, %v", len(posts), err)
	}
	posts, err = runSource(t, srcs["hatena-bookmark-search-sample"], Options{})
	if err != nil || len(posts) != 2 {
		t.Fatalf("search: %d posts, %v", len(posts), err)
	}
	checkPost(t, 0, posts[0], post{
		permalink: "https://anond.hatelabo.jp/20240501120000", title: "サンプル社で働いてたけど質問ある？",
		text: "窓口の鈴木って人がとにかく無能で……", published: time.Date(2024, 5, 1, 12, 0, 0, 0, jst.Zone)})
}

// TestPresetsAllLoad: every preset file decodes and validates, and every
// source builds (secrets set).
func TestPresetsAllLoad(t *testing.T) {
	for _, env := range []string{"MASTODON_ACCESS_TOKEN", "YOUTUBE_API_KEY", "X_BEARER_TOKEN"} {
		t.Setenv(env, "test-secret")
	}
	files, _ := filepath.Glob(filepath.Join("..", "deploy", "presets", "*.yaml"))
	if len(files) < 8 {
		t.Fatalf("%d preset files", len(files))
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	n := 0
	for _, f := range files {
		for id, src := range presetSources(t, filepath.Base(f), srv) {
			if _, err := newTestSource(crawlerConfig(), src, Options{}); err != nil {
				t.Errorf("%s: %s: %v", filepath.Base(f), id, err)
			}
			n++
		}
	}
	if n < 11 {
		t.Errorf("%d preset sources", n)
	}
}
