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
