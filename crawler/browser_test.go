package crawler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"mimamori/config"
	"mimamori/internal/netguard"
)

// needChromium returns Debian's Chromium, skipping the test when it is
// missing, except in CI (CI set), where a missing browser is a failure.
func needChromium(t *testing.T) string {
	t.Helper()
	const path = DefaultBrowserPath
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and %s is missing: install Debian's chromium", path)
		}
		t.Skipf("%s not installed", path)
	}
	return path
}

// jsPage renders its posts only from JavaScript, after a fetch() of the
// same origin; the HTML as served has none.
const jsPage = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>レビュー</title></head><body>
<div id="app">読み込み中…</div><img src="/logo.png">
<script>
fetch('/api/reviews').then(r => r.json()).then(list => {
  const app = document.getElementById('app');
  app.textContent = '';
  for (const r of list) {
    const d = document.createElement('div');
    d.className = 'review';
    d.id = 'r' + r.id;
    d.innerHTML = '<span class="user"></span><p class="body"></p><a class="link" href="/reviews/' + r.id + '">#</a>';
    d.querySelector('.user').textContent = r.user;
    d.querySelector('.body').textContent = r.body;
    app.appendChild(d);
  }
});
%s
</script></body></html>`

func browserSite(t *testing.T, extraJS string) (*site, []byte, config.Source) {
	s := newSite(t, "")
	page := []byte(fmt.Sprintf(jsPage, extraJS))
	s.mux.HandleFunc("/shop", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("X-Shop", "1")
		w.Write(page)
	})
	s.mux.HandleFunc("/api/reviews", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `[{"id":1,"user":"たろう","body":"店員の態度が最悪。二度と行かない。"},{"id":2,"user":"はなこ","body":"普通でした"}]`)
	})
	s.mux.HandleFunc("/logo.png", func(w http.ResponseWriter, r *http.Request) {
		t.Error("image fetched: images are refused to the browser")
	})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "http://"))
	src := config.Source{ID: "reviews", Kind: config.SourceBrowser, URL: s.URL + "/shop",
		AllowHosts: []string{"127.0.0.1:" + port},
		HTML:       config.HTMLSelectors{Item: "div.review", Text: "p.body", Author: ".user", Permalink: "a.link"},
		Browser:    config.BrowserOptions{Timeout: 30 * time.Second}}
	return s, page, src
}

// TestBrowserRendersJavaScript: the selectors apply to the rendered DOM;
// the posts' Fetch keeps the raw HTTP body of the document.
func TestBrowserRendersJavaScript(t *testing.T) {
	needChromium(t)
	s, page, src := browserSite(t, "")
	posts, err := run(t, crawlerConfig(), src)
	if err != nil || len(posts) != 2 {
		t.Fatalf("%d posts, %v", len(posts), err)
	}
	checkPost(t, 0, posts[0], post{permalink: s.URL + "/reviews/1", author: "たろう", text: "店員の態度が最悪。二度と行かない。"})
	f := posts[0].Fetch
	if !bytes.Equal(f.Body, page) || f.StatusCode != 200 || f.FinalURL != s.URL+"/shop" || f.Header.Get("X-Shop") != "1" {
		t.Errorf("fetch %d %s %q", f.StatusCode, f.FinalURL, f.Body)
	}
	if ua := f.RequestHeader.Get("User-Agent"); ua != testUA {
		t.Errorf("User-Agent %q", ua)
	}
}

// TestBrowserSSRF: a start URL on loopback without permission is refused
// before Chromium starts; subrequests of an allowed page to the metadata
// address and private networks are refused by the guard (the page still
// renders); a redirect of the document to a private address is a clear
// refusal. TestMain's safety net proves nothing left this machine.
func TestBrowserSSRF(t *testing.T) {
	needChromium(t)
	s, _, src := browserSite(t, `
fetch('http://169.254.169.254/latest/meta-data/iam/security-credentials/').catch(() => {});
fetch('http://10.0.0.1/internal').catch(() => {});
const sc = document.createElement('script'); sc.src = 'http://192.168.0.1/x.js'; document.head.appendChild(sc);`)
	s.mux.HandleFunc("/go", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://10.0.0.1/admin", http.StatusFound)
	})

	noPerm := src
	noPerm.AllowHosts = nil
	start := time.Now()
	_, err := run(t, crawlerConfig(), noPerm)
	var be *netguard.BlockedError
	if !errors.As(err, &be) || be.Reason != "loopback" || time.Since(start) > 2*time.Second {
		t.Fatalf("loopback start URL: %v", err)
	}

	core, logs := observer.New(zap.InfoLevel)
	source, err := newTestSource(crawlerConfig(), src, Options{Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := source.Run(ctx)
	if err != nil || len(b.Posts) != 2 {
		t.Fatalf("page with hostile subrequests: %d posts, %v", len(b.Posts), err)
	}
	refused := map[string]string{}
	for _, e := range logs.FilterMessage("browser: request refused by the SSRF guard").All() {
		m := e.ContextMap()
		refused[m["host"].(string)] = m["reason"].(string)
	}
	for host, reason := range map[string]string{"169.254.169.254": "link-local (cloud metadata)", "10.0.0.1": "private", "192.168.0.1": "private"} {
		if refused[host] != reason {
			t.Errorf("%s: refusal %q, want %q (all: %v)", host, refused[host], reason, refused)
		}
	}

	redirect := src
	redirect.URL = s.URL + "/go"
	_, err = run(t, crawlerConfig(), redirect)
	if !errors.As(err, &be) || be.Reason != "private" || !strings.Contains(err.Error(), "SSRF guard") {
		t.Fatalf("redirect to a private address: %v", err)
	}
}

// TestBrowserRobotsAndMissingChromium: robots.txt applies before the
// browser starts; a missing Chromium is a clear error.
func TestBrowserRobotsAndMissingChromium(t *testing.T) {
	s, _, src := browserSite(t, "")
	cfg := crawlerConfig()
	cfg.BrowserPath = "/nonexistent/chromium"
	_, err := run(t, cfg, src)
	if !errors.Is(err, ErrBrowser) || !strings.Contains(err.Error(), "Chromium not found at /nonexistent/chromium") {
		t.Errorf("missing browser: %v", err)
	}
	needChromium(t)
	s.robots = text("User-agent: *\nDisallow: /shop\n")
	_, err = run(t, crawlerConfig(), src)
	if !errors.Is(err, ErrRobotsDisallowed) || s.requested("/shop") {
		t.Errorf("robots: %v", err)
	}
}
