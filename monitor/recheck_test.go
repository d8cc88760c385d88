package monitor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"mimamori/config"
	"mimamori/evidence"
	"mimamori/mention"
)

// TestRecheckRecordsDeletion: an alerted post that disappears from its site
// gets a linked observation bundle saying so, once; the first capture is
// untouched.
func TestRecheckRecordsDeletion(t *testing.T) {
	var deleted, blocked atomic.Bool
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if blocked.Load() {
			http.Error(w, "forbidden", http.StatusForbidden) // a WAF, not an answer about the post
			return
		}
		if deleted.Load() {
			w.Write([]byte("<html><body><p>この投稿は削除されました</p></body></html>"))
			return
		}
		w.Write([]byte("<html><body><p>株式会社サンプルは詐欺会社</p></body></html>"))
	}))
	defer site.Close()
	m, _ := testMonitor(t, func(c *config.Config) {
		c.Sources = []config.Source{{ID: "forum", Kind: config.SourceHTML, URL: site.URL, AllowPrivate: true}}
		c.Evidence.DisableRender = true
	})
	ctx := context.Background()
	p := post(1, "株式会社サンプルは詐欺会社")
	p.Permalink = site.URL + "/t/1"
	if s := m.pipeline.Process(ctx, "forum", []mention.Post{p}); s.Alerts != 1 {
		t.Fatalf("summary %+v", s)
	}
	if n, err := m.Recheck(ctx); err != nil || n != 1 {
		t.Fatalf("first re-check: recorded %d, %v (want one 'unchanged')", n, err)
	}
	if n, _ := m.Recheck(ctx); n != 0 {
		t.Fatal("an unchanged post was recorded again at once")
	}
	blocked.Store(true)
	if n, _ := m.Recheck(ctx); n != 1 {
		t.Fatal("a 403 was not recorded as unreachable")
	}
	blocked.Store(false)
	deleted.Store(true)
	if n, _ := m.Recheck(ctx); n != 1 {
		t.Fatal("the deletion was not recorded")
	}
	if n, _ := m.Recheck(ctx); n != 0 {
		t.Fatal("the deletion was recorded twice")
	}
	var observations []string
	filepath.WalkDir(m.EvidenceDir(), func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "observation.json" {
			b, _ := os.ReadFile(path)
			observations = append(observations, string(b))
		}
		return nil
	})
	if len(observations) != 3 || !strings.Contains(strings.Join(observations, ""), `"unreachable"`) || !strings.Contains(strings.Join(observations, ""), `"deleted"`) {
		t.Fatalf("observations: %v", observations)
	}
	mn, _ := m.ledger.Mention(ctx, mention.ID("forum", p.Permalink))
	if r, err := evidence.Verify(mn.Evidence.Path, mn.Evidence.ManifestSHA256); err != nil || !r.OK() {
		t.Fatalf("the first capture changed: %+v %v", r, err)
	}

}

// observations returns the observation.json files under the evidence root.
func observations(t *testing.T, m *Monitor) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(m.EvidenceDir(), func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "observation.json" {
			b, _ := os.ReadFile(path)
			out = append(out, string(b))
		}
		return nil
	})
	return out
}

// TestRecheckUsesSourceFetchRules: a re-check fetches with exactly the
// source's fetch rules, so a post on an allow_hosts or allow_private local
// source that is online is recorded "unchanged", not "unreachable"; and a
// re-check our own guard refuses (another loopback port, the metadata
// service, a source that does not allow the host) records nothing.
func TestRecheckUsesSourceFetchRules(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html><body><p>株式会社サンプルは詐欺会社</p></body></html>"))
	}))
	defer other.Close()
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, other.URL+"/t/1", http.StatusFound)
			return
		case "/metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<html><body><p>株式会社サンプルは詐欺会社</p></body></html>"))
	}))
	defer site.Close()
	host := strings.TrimPrefix(site.URL, "http://")
	for _, c := range []struct {
		name string
		src  config.Source
		path string
		want string // observation kind; "" means nothing recorded
	}{
		{"allow_hosts, online", config.Source{AllowHosts: []string{host}}, "/t/1", evidence.ObservedUnchanged},
		{"allow_private, online", config.Source{AllowPrivate: true}, "/t/1", evidence.ObservedUnchanged},
		{"allow_private, same-host redirect", config.Source{AllowPrivate: true}, "/t/1?r", evidence.ObservedUnchanged},
		{"allow_private, redirect to another port", config.Source{AllowPrivate: true}, "/moved", ""},
		{"allow_private, redirect to metadata", config.Source{AllowPrivate: true}, "/metadata", ""},
		{"nothing allowed", config.Source{}, "/t/1", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, _ := testMonitor(t, func(cfg *config.Config) {
				c.src.ID, c.src.Kind, c.src.URL = "intranet", config.SourceHTML, site.URL+"/"
				cfg.Sources = []config.Source{c.src}
				cfg.Evidence.DisableRender = true
			})
			ctx := context.Background()
			p := post(1, "株式会社サンプルは詐欺会社")
			p.SourceID, p.Permalink = "intranet", site.URL+c.path
			if s := m.pipeline.Process(ctx, "intranet", []mention.Post{p}); s.Alerts != 1 {
				t.Fatalf("summary %+v", s)
			}
			n, err := m.Recheck(ctx)
			if err != nil {
				t.Fatal(err)
			}
			obs := observations(t, m)
			if c.want == "" {
				if n != 0 || len(obs) != 0 {
					t.Fatalf("a re-check our guard refused was recorded (%d): %v", n, obs)
				}
				return
			}
			if n != 1 || len(obs) != 1 || !strings.Contains(obs[0], `"kind": "`+c.want+`"`) {
				t.Fatalf("recorded %d: %v, want one %q", n, obs, c.want)
			}
		})
	}
}
