package monitor

import (
	"bytes"
	"context"
	"mime"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"mimamori/config"
	"mimamori/crawler"
	"mimamori/demo"
	"mimamori/evidence"
	"mimamori/ledger"
	"mimamori/mention"
)

// demoMonitor runs the daemon code against the demo site with a real
// crawler, rendering off, and the evidence root at evidenceDir.
func demoMonitor(t *testing.T, clock *fakeClock, evidenceDir string) (*Monitor, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(demo.NewSite())
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	path, err := demo.WriteConfig(dir, srv.URL, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Evidence.DisableRender = true
	cfg.Evidence.Dir = evidenceDir
	m, _ := newTestMonitor(t, Options{Config: cfg, Log: zap.NewNop(), Now: clock.Now,
		NewCrawler: func(deps crawler.Options) (Crawler, error) { return NewCrawler(cfg, deps) }})
	return m, srv
}

// capturesPerMention counts the capture bundles the chain names per mention.
func capturesPerMention(t *testing.T, root string) map[string]int {
	t.Helper()
	entries, _, _, err := evidence.ReadChain(root)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, e := range entries {
		if e.Type == evidence.EntryBundle && e.Kind == evidence.KindCapture {
			n[e.MentionID]++
		}
	}
	return n
}

// TestDiskFullBurstEndsWithOneBundleEach: the evidence disk is full while
// a pass alerts every abusive post of the site; the alerts go out, the
// failed captures are queued; once the disk is free the retry captures
// each post again from the site, links the bundle to its alert and tells
// the legal team. Every alert ends with one bundle, none with two, and the
// chain verifies. Another pass and another retry change nothing.
func TestDiskFullBurstEndsWithOneBundleEach(t *testing.T) {
	tests := diskFullSetups
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clock := &fakeClock{t: time.Now()}
			m, _ := demoMonitor(t, clock, filepath.Join(t.TempDir(), "evidence"))
			full, free := tt.setup(t, m)
			full()
			s, err := m.Once(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if s.Alerts == 0 {
				t.Fatalf("no alerts: %+v", s)
			}
			alerted, err := m.ledger.AlertedMentions(ctx, clock.Now().Add(-time.Hour))
			if err != nil || len(alerted) != s.Alerts {
				t.Fatalf("%d alerted mentions (%v), want %d", len(alerted), err, s.Alerts)
			}
			for _, mn := range alerted {
				if mn.Evidence != nil {
					t.Fatalf("a bundle was stored on a full disk: %+v", mn.Evidence)
				}
			}
			if qs, _ := m.ledger.CaptureRetries(ctx); len(qs) != s.Alerts {
				t.Fatalf("%d captures queued, want %d", len(qs), s.Alerts)
			}
			// Still full: the retry waits, nothing is lost.
			clock.Add(2 * time.Minute)
			if rep, _ := m.RetryCaptures(ctx); rep.Stored != 0 || rep.Waiting != s.Alerts {
				t.Fatalf("retry on a full disk: %+v", rep)
			}
			free()
			clock.Add(10 * time.Minute)
			rep, err := m.RetryCaptures(ctx)
			if err != nil || rep.Stored != s.Alerts {
				t.Fatalf("retry after the disk was freed: %+v %v", rep, err)
			}
			evRoot := m.EvidenceDir()
			if c, ok := m.pipeline.evidence.(*diskFullCapturer); ok {
				evRoot = c.next.(*evidence.Store).Root()
			} else if st, ok := m.pipeline.evidence.(*evidence.Store); ok {
				evRoot = st.Root()
			}
			for _, mn := range alerted {
				got, _ := m.ledger.Mention(ctx, mn.ID)
				if got.Evidence == nil {
					t.Errorf("mention %s ends without a bundle", mn.ID)
					continue
				}
				if r, _ := evidence.NewStore(evRoot, "t").Verify(got.Evidence.Path); !r.OK() {
					t.Errorf("late bundle of %s does not verify: %+v", mn.ID, r.Problems)
				}
			}
			// The legal team is told, once per post.
			evs, _ := m.ledger.AlertEvents(ctx, 1000)
			told := 0
			for _, e := range evs {
				if e.Kind == ledger.AlertKindEvidence {
					told++
				}
			}
			if told != s.Alerts {
				t.Errorf("%d evidence_secured alerts, want %d", told, s.Alerts)
			}
			// ... in a mail of its own, saying what happened.
			if err := m.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if n := outboxSubjects(t, m.cfg.OutboxDir(), "証拠を後から保全しました"); n != s.Alerts {
				t.Errorf("%d mails say the evidence was secured late, want %d", n, s.Alerts)
			}
			// Another pass and another retry: no second bundle.
			if _, err := m.Once(ctx); err != nil {
				t.Fatal(err)
			}
			clock.Add(time.Hour)
			if rep, _ := m.RetryCaptures(ctx); rep.Stored+rep.Waiting != 0 {
				t.Errorf("second retry: %+v", rep)
			}
			for id, n := range capturesPerMention(t, evRoot) {
				if n != 1 {
					t.Errorf("mention %s has %d capture bundles, want 1", id, n)
				}
			}
			if len(capturesPerMention(t, evRoot)) != s.Alerts {
				t.Errorf("captures for %d mentions, want %d", len(capturesPerMention(t, evRoot)), s.Alerts)
			}
			if crep, err := evidence.VerifyChain(evRoot, nil, nil); err != nil || !crep.OK() {
				t.Errorf("verify --chain: %+v %v", crep.Problems, err)
			}
		})
	}
}

// cancelAfterCapture captures, then cancels the pass's context, so the
// ledger commit that follows fails: a capture whose commit failed.
type cancelAfterCapture struct {
	Capturer
	cancel context.CancelFunc
}

func (c *cancelAfterCapture) CaptureWith(ctx context.Context, m mention.Mention, f *mention.Fetch, o evidence.CaptureOptions) (evidence.Result, error) {
	r, err := c.Capturer.CaptureWith(ctx, m, f, o)
	c.cancel()
	return r, err
}

// TestCommitFailureAfterCaptureKeepsOneBundle: when the ledger commit
// fails after a capture, the next pass links the stored bundle instead of
// capturing a second one.
func TestCommitFailureAfterCaptureKeepsOneBundle(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	m, _ := testMonitor(t, func(c *config.Config) { c.Evidence.DisableRender = true })
	m.now = clock.Now
	m.pipeline.now = clock.Now
	p := post(2, "サンプル社の佐藤花子、見かけたら殺す")
	ctx, cancel := context.WithCancel(context.Background())
	real := m.pipeline.evidence
	m.pipeline.evidence = &cancelAfterCapture{Capturer: real, cancel: cancel}
	if s := m.pipeline.Process(ctx, "forum", []mention.Post{p}); s.Errors != 1 || s.Alerts != 0 {
		t.Fatalf("the commit was meant to fail: %+v", s)
	}
	if n := capturesPerMention(t, m.EvidenceDir()); len(n) != 1 {
		t.Fatalf("captures before the next pass: %v", n)
	}
	m.pipeline.evidence = real
	if s := m.pipeline.Process(context.Background(), "forum", []mention.Post{p}); s.Alerts != 1 || s.Errors != 0 {
		t.Fatalf("next pass: %+v", s)
	}
	for id, n := range capturesPerMention(t, m.EvidenceDir()) {
		if n != 1 {
			t.Fatalf("mention %s has %d capture bundles, want 1", id, n)
		}
	}
	got, err := m.ledger.Mention(context.Background(), mention.ID("forum", p.Permalink))
	if err != nil || got.Evidence == nil {
		t.Fatalf("the stored bundle is not linked: %+v %v", got.Evidence, err)
	}
	if _, err := os.Stat(got.Evidence.Path); err != nil {
		t.Fatal(err)
	}
}

// outboxSubjects counts the mails in the file outbox whose decoded subject
// contains sub.
func outboxSubjects(t *testing.T, dir, sub string) int {
	t.Helper()
	emls, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	n := 0
	for _, e := range emls {
		b, err := os.ReadFile(e)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(subj, sub) {
			n++
		}
	}
	return n
}
