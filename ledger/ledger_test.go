package ledger

import (
	"context"
	"errors"
	"fmt"
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
	due, err := l.PendingAlerts(ctx, 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("pending alerts: %d %v", len(due), err)
	}
	if due[0].Mention.Version != 2 {
		t.Errorf("alert carries stale mention version %d", due[0].Mention.Version)
	}
	// An edit that raises the severity re-alerts once; the same severity again does not.
	up := mk("a", "詐欺会社、殺す", t0.Add(4*time.Hour))
	up.Severity = mention.SeverityCritical
	if r, _ = l.Accept(ctx, up, true); !r.Alerted {
		t.Fatal("severity rise did not re-alert")
	}
	up.Text, up.ContentHash = "詐欺会社、殺すぞ", mention.ContentHash("", "詐欺会社、殺すぞ", "")
	if r, _ = l.Accept(ctx, up, true); r.Alerted {
		t.Fatal("an edit at the same severity re-alerted")
	}
	// The index spool holds every accepted version, in order, each as it was.
	jobs, err := l.PendingIndex(ctx, 100)
	if err != nil || len(jobs) != 6 {
		t.Fatalf("index jobs: %d %v", len(jobs), err)
	}
	var versionsOfA []int
	for _, j := range jobs {
		if j.Mention.ID == "a" {
			versionsOfA = append(versionsOfA, j.Mention.Version)
		}
	}
	if fmt.Sprint(versionsOfA) != "[1 2 3 4]" {
		t.Fatalf("versions of a in the spool: %v, want every version in order", versionsOfA)
	}
	var last int64
	for _, j := range jobs {
		last = max(last, j.Seq)
	}
	if err := l.AckIndex(ctx, last); err != nil {
		t.Fatal(err)
	}
	if b, _ := l.IndexBacklog(ctx); b.Jobs != 0 {
		t.Fatalf("backlog after ack: %+v", b)
	}
}

func TestNotificationLifecycle(t *testing.T) {
	ctx := context.Background()
	l := open(t)
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	l.Accept(ctx, mk("a", "x", t0), true)
	l.Accept(ctx, mk("b", "y", t0), true)
	// Both alerts of one group land in one notification, due after the window.
	for _, id := range []string{"a", "b"} {
		if err := l.RouteAlert(ctx, AlertID(id, AlertKindNew), t0, "", []Placement{{Route: "legal", Kind: "group",
			GroupKey: "thread", Due: t0.Add(time.Minute), MaxItems: 10}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, _ := l.ClaimDue(ctx, t0.Add(30*time.Second), time.Minute); ok {
		t.Fatal("claimed before due")
	}
	n, ok, err := l.ClaimDue(ctx, t0.Add(time.Minute), 5*time.Minute)
	if err != nil || !ok || len(n.Alerts) != 2 || n.Attempts != 1 {
		t.Fatalf("claim: ok=%v err=%v %+v", ok, err, n)
	}
	// Claimed: not due again until the lease ends (a crash mid-send resends then).
	if _, ok, _ := l.ClaimDue(ctx, t0.Add(2*time.Minute), time.Minute); ok {
		t.Fatal("claimed twice within the lease")
	}
	ff, err := l.MarkFailed(ctx, n.ID, errors.New("connection refused"), t0.Add(2*time.Minute), t0.Add(3*time.Minute))
	if err != nil || !ff.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("mark failed: %v %v", ff, err)
	}
	n, ok, _ = l.ClaimDue(ctx, t0.Add(3*time.Minute), time.Minute)
	if !ok || n.Attempts != 2 {
		t.Fatalf("retry not due: %+v", n)
	}
	l.MarkSent(ctx, n.ID, t0.Add(3*time.Minute), "smtp")
	if _, ok, _ := l.ClaimDue(ctx, t0.Add(time.Hour), time.Minute); ok {
		t.Fatal("sent notification still due")
	}
	// Routing the same alert again changes nothing.
	l.RouteAlert(ctx, AlertID("a", AlertKindNew), t0, "", []Placement{{Route: "legal", Kind: "single", Due: t0}})
	if ns, _ := l.Notifications(ctx, "", 10); len(ns) != 1 {
		t.Fatalf("re-routing created notifications: %d", len(ns))
	}
}

func TestSilenceAndPersistentAuthor(t *testing.T) {
	ctx := context.Background()
	l := open(t)
	l.SetPolicy(Policy{PersistentWindow: 24 * time.Hour, PersistentThreshold: 3, AnonymousAuthors: []string{"名無しさん"}})
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	post := func(id, author string, at time.Time) Result {
		m := mk(id, "攻撃"+id, at)
		m.Author, m.Site, m.Targets = author, "forum.example.jp", []string{"staff-sato"}
		r, err := l.Accept(ctx, m, true)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if post("p1", "troll", t0).Escalated || post("p2", "troll", t0.Add(time.Hour)).Escalated {
		t.Fatal("escalated below the threshold")
	}
	if !post("p3", "troll", t0.Add(2*time.Hour)).Escalated {
		t.Fatal("third post within the window did not escalate")
	}
	if post("p4", "troll", t0.Add(3*time.Hour)).Escalated {
		t.Fatal("escalated twice within one window")
	}
	for i, at := range []time.Duration{0, time.Hour, 2 * time.Hour} {
		if post(fmt.Sprintf("n%d", i), "名無しさん", t0.Add(at)).Escalated {
			t.Fatal("anonymous posts escalated as one author")
		}
	}
	// Outside the window the count starts over.
	if post("p5", "troll", t0.Add(30*time.Hour)).Escalated {
		t.Fatal("escalated on one post after the window")
	}

	s := Silence{ID: "s1", Author: "troll", Created: t0, Expires: t0.Add(7 * 24 * time.Hour)}
	if err := l.AddSilence(ctx, s); err != nil {
		t.Fatal(err)
	}
	active, _ := l.Silences(ctx, t0.Add(time.Hour))
	m := mk("z", "x", t0)
	m.Author = "TROLL"
	if len(active) != 1 || !active[0].Matches(&m, t0.Add(time.Hour)) || active[0].Matches(&m, t0.Add(8*24*time.Hour)) {
		t.Fatalf("silence matching wrong: %+v", active)
	}
	if err := l.ExpireSilence(ctx, "s1", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if active, _ := l.Silences(ctx, t0.Add(3*time.Hour)); len(active) != 0 {
		t.Fatal("expired silence still active")
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
