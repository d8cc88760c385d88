package monitor

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"mimamori/config"
	"mimamori/detect"
	"mimamori/evidence"
	"mimamori/index"
	"mimamori/index/embedded"
	"mimamori/mention"
)

func testMonitor(t *testing.T, mutate func(*config.Config)) (*Monitor, index.Store) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Targets = []mention.Target{
		{ID: "company", Kind: mention.KindCompany, Name: "株式会社サンプル", Aliases: []string{"サンプル社"}},
		{ID: "staff-sato", Kind: mention.KindStaff, Name: "佐藤花子"},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	return newTestMonitor(t, Options{Config: cfg, Log: zap.NewNop()})
}

// newTestMonitor builds a monitor on opts.Config with the shipped detector
// and an embedded store in its data dir, closed when the test ends.
func newTestMonitor(t *testing.T, opts Options) (*Monitor, index.Store) {
	t.Helper()
	det, err := detect.New(opts.Config.Targets, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := embedded.Open(filepath.Join(opts.Config.DataDir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	opts.Detector, opts.Store = det, store
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, store
}

func post(id int, text string) mention.Post {
	return mention.Post{SourceID: "forum", Permalink: "https://forum.example.jp/t/1#p" + string(rune('0'+id)), Author: "名無し",
		Text: text, Fetch: &mention.Fetch{RequestURL: "https://forum.example.jp/t/1", FinalURL: "https://forum.example.jp/t/1",
			Method: "GET", StatusCode: 200, Header: http.Header{"Content-Type": {"text/html"}}, FetchedAt: time.Now(), Body: []byte("<html>…</html>")}}
}

func TestPipelineIndexesEverythingAndAlertsAttacks(t *testing.T) {
	ctx := context.Background()
	m, store := testMonitor(t, nil)
	s := m.pipeline.Process(ctx, "forum", []mention.Post{
		post(1, "サンプル社の対応が遅い。改善してほしい"),
		post(2, "サンプル社の佐藤花子、見かけたら殺す"),
	})
	if s.Created != 2 || s.Alerts != 1 || s.Errors != 0 {
		t.Fatalf("summary %+v", s)
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	all, total, err := store.Search(ctx, index.Query{})
	if err != nil || total != 2 {
		t.Fatalf("index holds %d mentions (%v), want both", total, err)
	}
	for _, mn := range all {
		if mn.Alert && (mn.Evidence == nil || len(mn.TargetKinds) == 0 || mn.TargetKinds[0] != "staff") {
			t.Errorf("alerted mention lacks evidence or target kind: %+v", mn)
		}
	}
	emls, _ := filepath.Glob(filepath.Join(m.cfg.OutboxDir(), "*.eml"))
	if len(emls) != 1 {
		t.Fatalf("want 1 alert mail, got %d", len(emls))
	}
	// The same posts again: nothing new, nothing re-alerted.
	s = m.pipeline.Process(ctx, "forum", []mention.Post{post(1, "サンプル社の対応が遅い。改善してほしい"), post(2, "サンプル社の佐藤花子、見かけたら殺す")})
	if s.Unchanged != 2 || s.Alerts != 0 {
		t.Fatalf("re-crawl: %+v", s)
	}
}

// TestEvidenceFailureStillAlerts: when the evidence store cannot write
// (here a file stands where its folder should be), the alert still goes
// out and says so.
func TestEvidenceFailureStillAlerts(t *testing.T) {
	ctx := context.Background()
	m, _ := testMonitor(t, nil)
	os.WriteFile(m.EvidenceDir(), []byte("not a folder"), 0o600)
	s := m.pipeline.Process(ctx, "forum", []mention.Post{post(3, "株式会社サンプルは詐欺会社")})
	if s.Alerts != 1 {
		t.Fatalf("summary %+v", s)
	}
	m.Flush(ctx)
	emls, _ := filepath.Glob(filepath.Join(m.cfg.OutboxDir(), "*.eml"))
	if len(emls) != 1 {
		t.Fatalf("want the alert despite the evidence failure, got %d mails", len(emls))
	}
}

// TestSpoolFullKeepsAlertablePosts: with the index spool over its cap,
// alertable posts are still accepted and alerted; the rest wait for a
// later pass.
func TestSpoolFullKeepsAlertablePosts(t *testing.T) {
	ctx := context.Background()
	m, _ := testMonitor(t, nil)
	m.pipeline.spoolMax = 1                                                     // any backlog is over the cap
	m.pipeline.Process(ctx, "forum", []mention.Post{post(1, "サンプル社、料金が安くて良い")}) // fills the spool (not drained)
	s := m.pipeline.Process(ctx, "forum", []mention.Post{post(2, "サンプル社の対応が遅い"), post(3, "サンプル社の佐藤花子を殺す")})
	if s.Deferred != 1 || s.Alerts != 1 || s.Created != 1 {
		t.Fatalf("spool full: %+v", s)
	}
	if known, _, _ := m.ledger.Known(ctx, mention.ID("forum", post(2, "").Permalink)); known != "" {
		t.Fatal("a deferred post was accepted")
	}
}

// TestChainHeadInIndex: after a capture the evidence chain head is written
// to the index, where a later rewrite of the chain can be checked against it.
func TestChainHeadInIndex(t *testing.T) {
	ctx := context.Background()
	m, store := testMonitor(t, func(c *config.Config) { c.Evidence.DisableRender = true })
	m.pipeline.Process(ctx, "forum", []mention.Post{post(4, "株式会社サンプルは詐欺会社")})
	m.recordChainHead(ctx, evidence.AnchorSchedule)
	hs, err := store.(index.ChainHeadRecorder).ChainHeads(ctx, 5)
	if err != nil || len(hs) != 1 || hs[0].Seq < 1 || len(hs[0].LineSHA256) != 64 || hs[0].BundleID == "" {
		t.Fatalf("chain heads in the index: %+v %v", hs, err)
	}
}
