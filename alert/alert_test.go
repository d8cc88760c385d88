package alert

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wneessen/go-mail"
	"go.uber.org/zap"

	"mimamori/ledger"
	"mimamori/mention"
)

func sample() Alert {
	at := time.Date(2026, 11, 27, 3, 4, 5, 0, time.UTC) // 12:04:05 JST
	return Alert{ID: "m1-new", Kind: "new", Created: at, Mention: mention.Mention{
		ID: "m1", SourceID: "forum", Site: "サンプル掲示板", URL: "https://forum.example.jp/t/1#p3", Author: "名無しさん",
		Text: "サンプル社の佐藤花子、今度見かけたら殺す", Published: at.Add(-time.Hour), FirstSeen: at,
		Severity: mention.SeverityCritical, Score: 9, Categories: []string{"threat"}, Targets: []string{"staff-sato"},
		Matches: []mention.Match{{Category: "threat", Rule: "threat.kill", Term: "殺す", Start: 18, End: 20, Target: "staff-sato"}},
	}}
}

func renderer(lang string) *Renderer {
	return &Renderer{From: "mimamori@example.jp", To: []string{"legal@example.jp"}, Language: lang, AttachRawMax: 1 << 20,
		Targets: map[string]mention.Target{"staff-sato": {ID: "staff-sato", Kind: mention.KindStaff, Name: "佐藤花子"}}}
}

func TestRenderJapanese(t *testing.T) {
	r := renderer("ja")
	a := sample()
	if s := r.Subject(a); s != "【mimamori 緊急】脅迫・暴力の予告：佐藤花子（スタッフ） への投稿" {
		t.Errorf("subject: %s", s)
	}
	body := r.Body(a)
	for _, want := range []string{
		"重大度　: 緊急（critical）", "対象　　: 佐藤花子（スタッフ）", "URL　　　: https://forum.example.jp/t/1#p3",
		"投稿者　 : 名無しさん", "投稿日時 : 2026年11月27日 11:04:05 JST", "検知日時 : 2026年11月27日 12:04:05 JST",
		"> サンプル社の佐藤花子、今度見かけたら殺す", "脅迫・暴力の予告「殺す」", "保全できませんでした",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if en := renderer("en").Subject(a); !strings.HasPrefix(en, "[mimamori CRITICAL] threat of violence") {
		t.Errorf("english subject: %s", en)
	}
}

type memOutbox struct {
	due    []ledger.PendingAlert
	sent   map[string]int
	failed map[string]time.Time
}

func (o *memOutbox) DueAlerts(ctx context.Context, now time.Time, limit int) ([]ledger.PendingAlert, error) {
	var out []ledger.PendingAlert
	for _, p := range o.due {
		if o.sent[p.ID] == 0 && !o.failed[p.ID].After(now) {
			out = append(out, p)
		}
	}
	return out, nil
}
func (o *memOutbox) MarkSent(ctx context.Context, id string, at time.Time, via string) error {
	o.sent[id]++
	return nil
}
func (o *memOutbox) MarkFailed(ctx context.Context, id string, cause error, next time.Time) error {
	o.failed[id] = next
	return nil
}

func TestFileOutboxWritesOnceAndDispatcherRetries(t *testing.T) {
	dir := t.TempDir()
	ob := NewFileOutbox(dir)
	r := renderer("ja")
	a := sample()
	msg, err := r.Message(a, a.Created)
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Send(context.Background(), a.ID, msg); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(ob.Path(a.ID))
	msg2, _ := r.Message(a, a.Created.Add(time.Hour))
	if err := ob.Send(context.Background(), a.ID, msg2); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(ob.Path(a.ID))
	if !bytes.Equal(first, second) {
		t.Fatal("a second send rewrote the delivered .eml")
	}
	if !bytes.Contains(first, []byte("Message-ID: <m1-new@mimamori.invalid>")) {
		t.Errorf("no deterministic Message-ID in:\n%s", first[:400])
	}

	// The dispatcher retries a failing sender later, and marks sent only on success.
	out := &memOutbox{due: []ledger.PendingAlert{{ID: a.ID, Kind: a.Kind, Created: a.Created, Mention: a.Mention}},
		sent: map[string]int{}, failed: map[string]time.Time{}}
	dst := NewFileOutbox(filepath.Join(t.TempDir(), "missing-parent"))
	bad := &failing{Sender: dst, left: 2}
	now := a.Created
	d := NewDispatcher(out, r, bad, time.Minute, time.Hour, zap.NewNop())
	d.now = func() time.Time { return now }
	for i := 0; i < 2; i++ {
		if n, _ := d.Flush(context.Background()); n != 0 {
			t.Fatal("sent while the sender fails")
		}
		if out.sent[a.ID] != 0 || !out.failed[a.ID].After(now) {
			t.Fatal("failure not recorded with a later retry time")
		}
		now = out.failed[a.ID]
	}
	if n, _ := d.Flush(context.Background()); n != 1 || out.sent[a.ID] != 1 {
		t.Fatalf("not delivered after the sender recovered: n=%d sent=%d", n, out.sent[a.ID])
	}
	if _, err := os.Stat(dst.Path(a.ID)); err != nil {
		t.Fatal(err)
	}
}

type failing struct {
	Sender
	left int
}

func (f *failing) Send(ctx context.Context, id string, msg *mail.Msg) error {
	if f.left > 0 {
		f.left--
		return errors.New("connection refused")
	}
	return f.Sender.Send(ctx, id, msg)
}
