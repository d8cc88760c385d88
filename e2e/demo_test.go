package e2e

import (
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"mimamori/demo"
	"mimamori/evidence"
)

// TestDemoOnceAlertsOnlyAbusivePosts is the README's quick start: the demo
// writes one .eml per defamatory or threatening sample post and nothing
// for complaints, praise and news; every bundle verifies, and a changed
// byte makes verify fail naming the file.
func TestDemoOnceAlertsOnlyAbusivePosts(t *testing.T) {
	dir := t.TempDir()
	out, code := mimamori(t, "demo", "--once", "--dir", dir)
	if code != 0 {
		t.Fatalf("demo --once exited %d:\n%s", code, out)
	}
	want := 0
	for _, p := range demo.NewSite().Posts() {
		if p.Alertable {
			want++
		}
	}
	// Exactly the alertable posts were mailed, once each: compare mention ids.
	base := regexp.MustCompile(`sample site: (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(out)
	if base == nil {
		t.Fatalf("demo did not print the sample site URL:\n%s", out)
	}
	wantIDs := expectedAlertIDs(demo.NewSite(), base[1])
	got := outboxMentions(t, filepath.Join(dir, "data", "outbox"))
	for id, n := range got {
		if _, ok := wantIDs[id]; !ok || n != 1 {
			t.Errorf("mention %s alerted %d times; abusive sample post: %v", id, n, ok)
		}
	}
	if len(got) != len(wantIDs) {
		t.Errorf("alerted %d mentions, want the %d abusive posts:\n%s", len(got), len(wantIDs), out)
	}
	var bundles []string
	filepath.WalkDir(filepath.Join(dir, "data", "evidence"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "manifest.json" {
			bundles = append(bundles, filepath.Dir(p))
		}
		return nil
	})
	if len(bundles) != want {
		t.Fatalf("want %d evidence bundles, got %d", want, len(bundles))
	}
	for _, b := range bundles {
		if out, code := mimamori(t, "evidence", "verify", b); code != 0 {
			t.Fatalf("fresh bundle does not verify:\n%s", out)
		}
	}
	// Every bundle holds a WARC response for the post's own page: the
	// thread page a forum post was read from, the article page of a news
	// item (its listing, the feed, kept as a second record).
	for _, b := range bundles {
		man, _, err := evidence.ReadManifest(b)
		if err != nil {
			t.Fatal(err)
		}
		page, frag, _ := strings.Cut(man.URL, "#")
		warc, err := os.ReadFile(filepath.Join(b, evidence.WARCName))
		if err != nil {
			t.Fatal(err)
		}
		if frag != "" { // a thread post: the page it was read from holds it
			page = man.FinalURL
			if raw, _ := filepath.Glob(filepath.Join(b, "raw", "response.html")); len(raw) != 1 || !strings.Contains(string(mustReadFile(t, raw[0])), `id="`+frag+`"`) {
				t.Errorf("bundle of %s: the page captured (%s) does not hold the post", man.URL, page)
			}
		}
		if !strings.Contains(string(warc), "WARC-Type: response\r\n") || !strings.Contains(string(warc), "WARC-Target-URI: "+page+"\r\n") {
			t.Errorf("bundle of %s has no WARC response for %s", man.URL, page)
		}
		// Its screenshot shows that post marked (derived image beside the
		// full page, which stays as rendered).
		if man.Render == nil || man.Render.Status != "rendered" || man.Render.Marked == nil || man.Render.Marked.Located == "" {
			t.Errorf("bundle of %s: no marked image of the post: %+v", man.URL, man.Render)
		} else if _, err := os.Stat(filepath.Join(b, evidence.MarkedName)); err != nil {
			t.Errorf("bundle of %s: %v", man.URL, err)
		}
		if strings.Contains(man.URL, "/news/") {
			if man.Permalink == nil || man.Permalink.Status != evidence.PermalinkCaptured || man.Listing == nil ||
				!strings.HasSuffix(man.Listing.FinalURL, demo.FeedPath) || man.FinalURL != page {
				t.Errorf("news alert %s: the article page is not the primary capture: permalink %+v listing %+v final %s",
					man.URL, man.Permalink, man.Listing, man.FinalURL)
			}
		}
	}
	raws, _ := filepath.Glob(filepath.Join(bundles[0], "raw", "response.*"))
	if len(raws) != 1 {
		t.Fatalf("bundle %s has no raw response", bundles[0])
	}
	data, _ := os.ReadFile(raws[0])
	data[len(data)/2] ^= 0x20
	os.WriteFile(raws[0], data, 0o600)
	out, code = mimamori(t, "evidence", "verify", bundles[0])
	if code != 1 || !strings.Contains(out, "raw/"+filepath.Base(raws[0])) {
		t.Fatalf("verify after a flipped byte: exit %d, want 1 naming the file:\n%s", code, out)
	}
}

// TestDemoRerunAlertsNothingTwice: the README promises that running the
// demo again in the same folder alerts nothing twice. The sample site's
// address is part of every permalink (and so of every mention id): the
// rerun serves it at the address recorded on the first run. When that
// address is taken, the demo refuses clearly instead of alerting every
// post again under a new port.
func TestDemoRerunAlertsNothingTwice(t *testing.T) {
	dir := t.TempDir()
	count := func(glob string) int {
		m, _ := filepath.Glob(filepath.Join(dir, glob))
		return len(m)
	}
	out, code := mimamori(t, "demo", "--once", "--dir", dir)
	if code != 0 {
		t.Fatalf("first demo --once exited %d:\n%s", code, out)
	}
	mails, bundles := count("data/outbox/*.eml"), count("data/evidence/*/*/*/manifest.json")
	if mails == 0 || bundles == 0 {
		t.Fatalf("first run wrote %d mails and %d bundles:\n%s", mails, bundles, out)
	}
	first := regexp.MustCompile(`sample site: (\S+?)/forum`).FindStringSubmatch(out)
	out, code = mimamori(t, "demo", "--once", "--dir", dir)
	if code != 0 {
		t.Fatalf("second demo --once exited %d:\n%s", code, out)
	}
	if second := regexp.MustCompile(`sample site: (\S+?)/forum`).FindStringSubmatch(out); first == nil || second == nil || first[1] != second[1] {
		t.Fatalf("the rerun served the sample site at %v, the first run at %v", second, first)
	}
	if n := count("data/outbox/*.eml"); n != mails {
		t.Errorf("rerun in the same folder: %d mails, want the first run's %d (nothing alerted twice)\n%s", n, mails, out)
	}
	if n := count("data/evidence/*/*/*/manifest.json"); n != bundles {
		t.Errorf("rerun in the same folder: %d bundles, want the first run's %d", n, bundles)
	}
	if !strings.Contains(out, "new 0,") {
		t.Errorf("rerun reports new posts:\n%s", out)
	}

	// The recorded address taken by someone else: a clear refusal, no mail.
	b, err := os.ReadFile(filepath.Join(dir, "demo-site.url"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", strings.TrimPrefix(strings.TrimSpace(string(b)), "http://"))
	if err != nil {
		t.Fatalf("occupy the recorded address: %v", err)
	}
	defer ln.Close()
	out, code = mimamori(t, "demo", "--once", "--dir", dir)
	if code == 0 || !strings.Contains(out, "demo-site.url") || !strings.Contains(out, "taken") {
		t.Errorf("demo with its recorded address taken: exit %d, want a refusal naming demo-site.url:\n%s", code, out)
	}
	if n := count("data/outbox/*.eml"); n != mails {
		t.Errorf("refused rerun wrote mails: %d, want %d", n, mails)
	}
}

// TestBadSourcesDoNotStopGoodOnes: a page that is not HTML, a truncated
// feed and an unreachable host each give a clear error naming the source,
// and the good source still alerts.
func TestBadSourcesDoNotStopGoodOnes(t *testing.T) {
	site := demo.NewSite()
	srv := httptest.NewServer(site)
	defer srv.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	yaml := demo.ConfigYAML(srv.URL, filepath.Join(dir, "data")) + fmt.Sprintf(`
  - id: not-html
    kind: html
    url: %s/broken/not-html
    allow_private: true
    html: {item: article, text: p}
  - id: truncated-feed
    kind: feed
    url: %s/broken/truncated.xml
    allow_private: true
  - id: unreachable
    kind: feed
    url: http://%s/feed.xml
    allow_private: true
  - id: refused-private
    kind: feed
    url: %s/news/feed.xml
`, srv.URL, srv.URL, closed, srv.URL)
	// The sources list is the last block of the demo config before alert:,
	// so move alert: after the appended sources.
	i := strings.Index(yaml, "alert:")
	j := strings.Index(yaml[i:], "\n  - id: not-html")
	yaml = yaml[:i] + yaml[i+j+1:] + yaml[i:i+j] + "\n"
	cfg := filepath.Join(dir, "mimamori.yaml")
	os.WriteFile(cfg, []byte(yaml), 0o600)
	if out, code := mimamori(t, "config", "check", "--config", cfg); code != 0 {
		t.Fatalf("config check: %s\n%s", out, yaml)
	}
	out, code := mimamori(t, "crawl", "--once", "--config", cfg)
	if code != 1 || !strings.Contains(out, "some sources failed") {
		t.Fatalf("crawl --once with failing sources: want exit 1 saying so, got %d:\n%s", code, out)
	}
	for _, want := range []struct{ source, text string }{
		{"not-html", "not an HTML page"},
		{"truncated-feed", "truncated.xml"},
		{"unreachable", closed},
		{"refused-private", "127.0.0.1"},
	} {
		found := false
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "source pass failed") && strings.Contains(line, `"`+want.source+`"`) && strings.Contains(line, want.text) {
				found = true
			}
		}
		if !found {
			t.Errorf("no clear error for source %s mentioning %q in:\n%s", want.source, want.text, out)
		}
	}
	if want, got := len(expectedAlertIDs(site, srv.URL)), len(outboxMentions(t, filepath.Join(dir, "data", "outbox"))); got != want {
		t.Fatalf("good sources: want %d alerts despite the bad ones, got %d:\n%s", want, got, out)
	}
}

// TestConfigCheckNamesEveryProblem: a malformed config is refused with the
// key and the problem of each mistake.
func TestConfigCheckNamesEveryProblem(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(cfg, []byte(`targets:
  - id: company
    kind: corporation
    name: 株式会社サンプル
sources:
  - id: a
    kind: feed
    url: https://example.jp/feed
  - id: b
    kind: html
    url: ftp://example.jp/
    html: {item: div}
  - id: c
    kind: feed
    url: /relative
alert:
  to: [not-an-address]
crawlr:
  interval: 1m
`), 0o600)
	out, code := mimamori(t, "config", "check", "--config", cfg)
	if code != 1 {
		t.Fatalf("want exit 1, got %d:\n%s", code, out)
	}
	for _, want := range []string{
		"targets[0].kind: \"corporation\" is not company, staff or product",
		"sources[1].url: not an absolute http(s) URL",
		"sources[1].html.text: required for an html source",
		"sources[2].url: not an absolute http(s) URL",
		"alert.to[0]: not an e-mail address",
		"crawlr: unknown key",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config check output lacks %q:\n%s", want, out)
		}
	}
}

func mustReadFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
