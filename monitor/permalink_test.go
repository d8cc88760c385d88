package monitor

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"mimamori/config"
	"mimamori/crawler"
	"mimamori/evidence"
	"mimamori/mention"
)

// robotsHits counts the robots.txt requests permalinkSite answered.
var robotsHits atomic.Int32

// permalinkSite is a news site whose feed lists posts published on pages
// of their own: one that shows the post, one gone (404), one behind a
// login page (200 without the post), one robots.txt forbids.
func permalinkSite(t *testing.T) *httptest.Server {
	t.Helper()
	texts := map[string]string{
		"/a/ok":      "株式会社サンプルは客を騙して金を巻き上げる詐欺会社だ",
		"/a/gone":    "株式会社サンプルは客を騙して金を巻き上げる詐欺会社。絶対に許さない",
		"/a/login":   "株式会社サンプルは客を騙して金を巻き上げる詐欺会社、みんな気をつけろ",
		"/private/x": "株式会社サンプルは客を騙して金を巻き上げる詐欺会社と聞いた",
	}
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/robots.txt":
			robotsHits.Add(1)
			fmt.Fprint(w, "User-agent: *\nDisallow: /private/\n")
		case "/feed.xml":
			w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
			var b strings.Builder
			b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>ニュース</title>`)
			for _, p := range []string{"/a/ok", "/a/gone", "/a/login", "/private/x"} {
				fmt.Fprintf(&b, `<item><title>記事</title><link>%s%s</link><description>%s</description><pubDate>Mon, 07 Dec 2026 10:00:00 +0900</pubDate></item>`,
					srv.URL, p, texts[p])
			}
			b.WriteString(`</channel></rss>`)
			fmt.Fprint(w, b.String())
		case "/a/ok":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!DOCTYPE html><html><head><title>記事</title></head><body><h1>記事</h1><p class="by">ブログ主 2026/12/07</p><p>%s</p></body></html>`, texts[r.URL.Path])
		case "/a/login":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!DOCTYPE html><html><body><form><p>続きを読むにはログインしてください</p><input name="id"></form></body></html>`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestFeedPostEvidenceIsItsOwnPage: an alert from a feed keeps the post's
// own page as the primary capture (raw bytes, first WARC response) and the
// feed as a second record; a permalink that answers 404, shows a login
// page or is forbidden by robots.txt leaves the feed as the primary
// capture and the manifest says why, keeping what the permalink answered.
func TestFeedPostEvidenceIsItsOwnPage(t *testing.T) {
	srv := permalinkSite(t)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Evidence.DisableRender = true
	cfg.Crawler.Delay = time.Millisecond
	cfg.Targets = []mention.Target{{ID: "company", Kind: mention.KindCompany, Name: "株式会社サンプル", Aliases: []string{"サンプル社"}}}
	cfg.Sources = []config.Source{{ID: "news", Kind: config.SourceFeed, URL: srv.URL + "/feed.xml", AllowPrivate: true}}
	m, _ := newTestMonitor(t, Options{Config: cfg, Log: zap.NewNop(),
		NewCrawler: func(deps crawler.Options) (Crawler, error) { return NewCrawler(cfg, deps) }})
	ctx := context.Background()
	if _, err := m.Once(ctx); err != nil {
		t.Fatal(err)
	}
	// One robots.txt for the feed's pass, one for the four permalinks.
	if n := robotsHits.Load(); n != 2 {
		t.Errorf("robots.txt asked %d times, want 2 (the pass, then the permalinks share one)", n)
	}
	ms, err := m.ledger.AlertedMentions(ctx, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]mention.Mention{}
	for _, mn := range ms {
		byPath[strings.TrimPrefix(mn.URL, srv.URL)] = mn
	}
	cases := []struct {
		path       string
		captured   bool
		status     int
		reason     string
		answerKept bool
	}{
		{"/a/ok", true, 200, "", false},
		{"/a/gone", false, 404, "HTTP 404", true},
		{"/a/login", false, 200, "does not show the post", true},
		{"/private/x", false, 0, "robots.txt", false},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			mn, ok := byPath[c.path]
			if !ok || mn.Evidence == nil {
				t.Fatalf("no alerted mention with evidence for %s: %+v", c.path, byPath)
			}
			dir := mn.Evidence.Path
			man, _, err := evidence.ReadManifest(dir)
			if err != nil {
				t.Fatal(err)
			}
			pc := man.Permalink
			if pc == nil || pc.URL != srv.URL+c.path || (pc.Status == evidence.PermalinkCaptured) != c.captured ||
				pc.StatusCode != c.status || !strings.Contains(pc.Reason, c.reason) {
				t.Fatalf("manifest permalink: %+v", pc)
			}
			raw := mustGlobOne(t, filepath.Join(dir, "raw", "response.*"))
			warc, err := os.ReadFile(filepath.Join(dir, evidence.WARCName))
			if err != nil {
				t.Fatal(err)
			}
			first := firstResponseTarget(warc)
			if c.captured {
				// The page is the primary capture, the feed the second record.
				if !strings.HasSuffix(raw, ".html") || man.FinalURL != srv.URL+c.path || first != srv.URL+c.path {
					t.Errorf("primary capture: raw %s, final URL %s, first WARC response %s", raw, man.FinalURL, first)
				}
				if man.Listing == nil || man.Listing.FinalURL != srv.URL+"/feed.xml" || !hasRole(man, evidence.RoleListingRaw) ||
					!bytes.Contains(warc, []byte("WARC-Target-URI: "+srv.URL+"/feed.xml")) {
					t.Errorf("the feed is not kept as a second record: %+v", man.Listing)
				}
			} else {
				if !strings.HasSuffix(raw, ".xml") || first != srv.URL+"/feed.xml" || man.Listing != nil {
					t.Errorf("without the page the feed is the primary capture: raw %s, first WARC response %s", raw, first)
				}
				if hasRole(man, evidence.RolePermalinkRaw) != c.answerKept {
					t.Errorf("permalink answer kept: %v, want %v", hasRole(man, evidence.RolePermalinkRaw), c.answerKept)
				}
			}
			if r, _ := evidence.NewStore(m.EvidenceDir(), "t").Verify(dir); !r.OK() {
				t.Errorf("bundle does not verify: %+v", r.Problems)
			}
		})
	}
}

func mustGlobOne(t *testing.T, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(pattern)
	if len(m) != 1 {
		t.Fatalf("%s: %d files", pattern, len(m))
	}
	return m[0]
}

func hasRole(man evidence.Manifest, role string) bool {
	for _, f := range man.Files {
		if f.Role == role {
			return true
		}
	}
	return false
}

// firstResponseTarget returns the target URI of the first WARC response.
func firstResponseTarget(warc []byte) string {
	i := bytes.Index(warc, []byte("WARC-Type: response\r\n"))
	if i < 0 {
		return ""
	}
	rest := warc[i:]
	j := bytes.Index(rest, []byte("WARC-Target-URI: "))
	if j < 0 {
		return ""
	}
	line := rest[j+len("WARC-Target-URI: "):]
	return string(line[:bytes.IndexByte(line, '\r')])
}
