package ledger

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"mimamori/mention"
)

func open(t *testing.T) *Ledger {
	t.Helper()
	l, err := Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func mk(id, text string, at time.Time) mention.Mention {
	return mention.Mention{ID: id, SourceID: "s", URL: "https://x.jp/" + id, Text: text, FirstSeen: at, LastSeen: at,
		ContentHash: mention.ContentHash("", text, ""), Severity: mention.SeverityHigh}
}

func TestAcceptLifecycle(t *testing.T) {
	ctx := context.Background()
	l := open(t)
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

	r, err := l.Accept(ctx, mk("a", "詐欺会社", t0), true)
	if err != nil || r.Outcome != Created || !r.Alerted || r.Mention.Version != 1 {
		t.Fatalf("first accept: %+v %v", r, err)
	}
	// Same content again (a re-crawl): nothing new, no second alert.
	r, err = l.Accept(ctx, mk("a", "詐欺会社", t0.Add(time.Hour)), true)
	if err != nil || r.Outcome != Unchanged || r.Alerted {
		t.Fatalf("re-crawl: %+v %v", r, err)
	}
	// An edit: version 2, first_seen kept, still no second alert.
	r, err = l.Accept(ctx, mk("a", "詐欺会社（追記あり）", t0.Add(2*time.Hour)), true)
	if err != nil || r.Outcome != Updated || r.Alerted || r.Mention.Version != 2 || !r.Mention.FirstSeen.Equal(t0) {
		t.Fatalf("edit: %+v %v", r, err)
	}
	// A post that was not alertable and becomes alertable by an edit alerts once.
	if r, _ = l.Accept(ctx, mk("b", "普通の感想", t0), false); r.Alerted {
		t.Fatal("non-alertable post alerted")
	}
	if r, _ = l.Accept(ctx, mk("b", "編集して脅迫", t0.Add(time.Hour)), true); !r.Alerted {
		t.Fatal("post edited into an attack did not alert")
	}
	due, err := l.DueAlerts(ctx, t0.Add(3*time.Hour), 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("due alerts: %d %v", len(due), err)
	}
	if due[0].Mention.Version != 2 {
		t.Errorf("alert carries stale mention version %d", due[0].Mention.Version)
	}
	// Index spool holds every accepted version, collapsed per mention.
	jobs, err := l.PendingIndex(ctx, 100)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("index jobs: %d %v", len(jobs), err)
	}
	if err := l.AckIndex(ctx, jobs[len(jobs)-1].Seq); err != nil {
		t.Fatal(err)
	}
	if b, _ := l.IndexBacklog(ctx); b.Jobs != 0 {
		t.Fatalf("backlog after ack: %+v", b)
	}
}

func TestOutboxRetryAndSent(t *testing.T) {
	ctx := context.Background()
	l := open(t)
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	l.Accept(ctx, mk("a", "x", t0), true)
	id := AlertID("a", AlertKindNew)
	if err := l.MarkFailed(ctx, id, errors.New("connection refused"), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if due, _ := l.DueAlerts(ctx, t0.Add(30*time.Second), 10); len(due) != 0 {
		t.Fatal("alert due before its retry time")
	}
	due, _ := l.DueAlerts(ctx, t0.Add(time.Minute), 10)
	if len(due) != 1 || due[0].Attempts != 1 {
		t.Fatalf("retry not due: %+v", due)
	}
	l.MarkSent(ctx, id, t0.Add(time.Minute), "smtp")
	if due, _ := l.DueAlerts(ctx, t0.Add(time.Hour), 10); len(due) != 0 {
		t.Fatal("sent alert still due")
	}
	as, _ := l.Alerts(ctx)
	if len(as) != 1 || as[0].State != AlertSent || as[0].Attempts != 2 {
		t.Fatalf("alert record: %+v", as)
	}
}

// TestConcurrentAcceptAlertsOnce: two daemons sharing one ledger file
// accept the same post at once; exactly one alert exists.
func TestConcurrentAcceptAlertsOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	t0 := time.Now()
	var wg sync.WaitGroup
	alerted := make(chan bool, 20)
	for i := 0; i < 10; i++ {
		for _, l := range []*Ledger{a, b} {
			wg.Add(1)
			go func(l *Ledger) {
				defer wg.Done()
				r, err := l.Accept(ctx, mk("same", "殺す", t0), true)
				if err != nil {
					t.Error(err)
				}
				alerted <- r.Alerted
			}(l)
		}
	}
	wg.Wait()
	close(alerted)
	n := 0
	for x := range alerted {
		if x {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("want exactly 1 alert, got %d", n)
	}
}
