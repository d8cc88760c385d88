package monitor

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mimamori/config"
	"mimamori/evidence"
	"mimamori/mention"
)

// runUntil starts Run and waits until ready (the evidence worker's first
// pass anchored the head, or is asking the TSA): with the retry interval
// at an hour, a bundle stored after that is anchored only at shutdown. It
// returns the function that stops Run and returns its error.
func runUntil(t *testing.T, m *Monitor, ready func() bool) (cancel func() error) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !ready() {
		if time.Now().After(deadline) {
			stop()
			<-done
			t.Fatal("the evidence worker did not anchor the head within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return func() error { stop(); return <-done }
}

func anchorConfig(tsaURL string) func(*config.Config) {
	return func(c *config.Config) {
		c.Evidence.DisableRender = true
		c.Evidence.RetryInterval = time.Hour
		c.Evidence.RecheckInterval = -1
		c.Evidence.TSA.URL = tsaURL
		c.Evidence.TSA.Timeout = time.Minute // longer than any wait here: the shutdown bound must be what stops a hanging TSA
	}
}

// TestRunAnchorsAtShutdown: the daemon anchors the head on its schedule
// and again when it stops, after the workers, so a bundle stored since the
// last scheduled anchor is anchored before the process exits.
func TestRunAnchorsAtShutdown(t *testing.T) {
	ctx := context.Background()
	m, _ := testMonitor(t, anchorConfig(""))
	root := m.EvidenceDir()
	if s := m.pipeline.Process(ctx, "forum", []mention.Post{post(1, "株式会社サンプルは詐欺会社")}); s.Alerts != 1 {
		t.Fatalf("summary %+v", s)
	}
	stop := runUntil(t, m, func() bool { as, _, _, _ := evidence.ReadAnchors(root); return len(as) == 1 })
	if s := m.pipeline.Process(ctx, "forum", []mention.Post{post(2, "サンプル社の佐藤花子、見かけたら殺す")}); s.Alerts != 1 {
		t.Fatalf("summary %+v", s)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	as, _, _, err := evidence.ReadAnchors(root)
	head, _ := evidence.ReadChainHead(root)
	if err != nil || len(as) != 2 || as[0].Reason != evidence.AnchorSchedule || as[1].Reason != evidence.AnchorShutdown ||
		as[1].Head != head || as[1].Token.Status != evidence.AnchorTokenNone {
		t.Fatalf("anchors %+v (%v), head %+v", as, err, head)
	}
	if rep, _ := evidence.VerifyChain(root, nil, nil); !rep.OK() || rep.Anchors.Checked != 2 || rep.Anchors.Newest.N != 2 {
		t.Fatalf("verify: %+v %v", rep.Anchors, rep.Problems)
	}
}

// TestShutdownAnchorIsBounded: a TSA that accepts the request and never
// answers does not hold the daemon's exit: the shutdown anchor gives up
// after its timeout and is recorded with its token failed.
func TestShutdownAnchorIsBounded(t *testing.T) {
	var hang atomic.Bool
	release := make(chan struct{})
	tsa := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server notices the client giving up
		if !hang.Load() {
			http.Error(w, "refused", http.StatusServiceUnavailable) // down, quickly
			return
		}
		select { // hangs until the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(tsa.Close)
	t.Cleanup(func() { close(release) })
	ctx := context.Background()
	m, _ := testMonitor(t, anchorConfig(tsa.URL))
	m.anchorTimeout = 500 * time.Millisecond
	root := m.EvidenceDir()
	m.pipeline.Process(ctx, "forum", []mention.Post{post(1, "株式会社サンプルは詐欺会社")})
	stop := runUntil(t, m, func() bool { as, _, _, _ := evidence.ReadAnchors(root); return len(as) == 1 })
	m.pipeline.Process(ctx, "forum", []mention.Post{post(2, "サンプル社の佐藤花子、見かけたら殺す")})
	hang.Store(true)
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("shutdown took %s with a hanging TSA", took)
	}
	as, _, _, _ := evidence.ReadAnchors(root)
	head, _ := evidence.ReadChainHead(root)
	if len(as) != 2 || as[0].Token.Status != evidence.AnchorTokenFailed || !strings.Contains(as[0].Token.Error, "HTTP 503") {
		t.Fatalf("anchors %+v", as)
	}
	last := as[1]
	if last.Reason != evidence.AnchorShutdown || last.Head != head || last.Token.Status != evidence.AnchorTokenFailed ||
		!strings.Contains(last.Token.Error, "deadline exceeded") {
		t.Fatalf("shutdown anchor %+v, head %+v", last, head)
	}
}
