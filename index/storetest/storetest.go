// Package storetest is the conformance suite every index.Store
// implementation must pass: the embedded store and Elasticsearch run the
// same cases.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"mimamori/index"
	"mimamori/mention"
)

// Refresher is implemented by stores whose writes become searchable only
// after a refresh (Elasticsearch). The suite calls it after writes.
type Refresher interface {
	Refresh(ctx context.Context) error
}

// Run runs the suite. open must return a new, empty store each call.
func Run(t *testing.T, open func(t *testing.T) index.Store) {
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	mk := func(id, text string, sev mention.Severity, cats, targets []string, seen time.Time) mention.Mention {
		return mention.Mention{
			ID: id, SourceID: "forum", Site: "forum.example.jp", URL: "https://forum.example.jp/t/1#" + id,
			Author: "名無しさん", Text: text, Published: seen, FirstSeen: seen, LastSeen: seen, Version: 1,
			ContentHash: mention.ContentHash("", text, "名無しさん"), Alert: sev.Rank() >= 1, Severity: sev,
			Categories: cats, Targets: targets, Status: mention.StatusNew,
			Matches: []mention.Match{{Category: "defamation", Rule: "r1", Term: "詐欺", Start: 0, End: 2, Target: "company"}},
		}
	}
	ctx := context.Background()
	refresh := func(t *testing.T, s index.Store) {
		t.Helper()
		if r, ok := s.(Refresher); ok {
			if err := r.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	put := func(t *testing.T, s index.Store, ms ...mention.Mention) {
		t.Helper()
		if err := s.Put(ctx, ms); err != nil {
			t.Fatal(err)
		}
		refresh(t, s)
	}
	search := func(t *testing.T, s index.Store, q index.Query) []string {
		t.Helper()
		ms, total, err := s.Search(ctx, q)
		if err != nil {
			t.Fatalf("search %+v: %v", q, err)
		}
		if total != len(ms) {
			t.Fatalf("search %+v: total %d but %d returned", q, total, len(ms))
		}
		ids := make([]string, len(ms))
		for i, m := range ms {
			ids[i] = m.ID
		}
		return ids
	}

	t.Run("put and get round-trip", func(t *testing.T) {
		s := open(t)
		m := mk("a1", "株式会社サンプルは詐欺会社", mention.SeverityHigh, []string{"defamation"}, []string{"company"}, t0)
		put(t, s, m)
		got, err := s.Get(ctx, "a1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Text != m.Text || got.Version != 1 || !got.FirstSeen.Equal(t0) || got.Severity != mention.SeverityHigh ||
			len(got.Matches) != 1 || got.Matches[0].Term != "詐欺" || got.Status != mention.StatusNew {
			t.Fatalf("round-trip changed the mention: %+v", got)
		}
	})
	t.Run("unknown id is ErrNotFound", func(t *testing.T) {
		s := open(t)
		if _, err := s.Get(ctx, "nope"); !errors.Is(err, index.ErrNotFound) {
			t.Fatalf("want ErrNotFound, got %v", err)
		}
	})
	t.Run("same id twice is one document", func(t *testing.T) {
		s := open(t)
		m := mk("d1", "同じ投稿", mention.SeverityInfo, nil, nil, t0)
		put(t, s, m)
		put(t, s, m)
		if ids := search(t, s, index.Query{}); len(ids) != 1 {
			t.Fatalf("want 1 document, got %v", ids)
		}
	})
	t.Run("edit replaces and keeps first seen; stale version ignored", func(t *testing.T) {
		s := open(t)
		v1 := mk("e1", "最初の本文", mention.SeverityInfo, nil, nil, t0)
		put(t, s, v1)
		v2 := v1
		v2.Version, v2.Text, v2.FirstSeen, v2.LastSeen = 2, "編集後の本文 詐欺", t0.Add(time.Hour), t0.Add(time.Hour)
		put(t, s, v2)
		got, err := s.Get(ctx, "e1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 2 || got.Text != v2.Text || !got.FirstSeen.Equal(t0) {
			t.Fatalf("edit: version %d text %q first_seen %v", got.Version, got.Text, got.FirstSeen)
		}
		put(t, s, v1) // a late replay of version 1
		got, _ = s.Get(ctx, "e1")
		if got.Version != 2 {
			t.Fatalf("stale version overwrote the edit: %+v", got)
		}
		if ids := search(t, s, index.Query{Text: "最初"}); len(ids) != 0 {
			t.Fatalf("old text still searchable: %v", ids)
		}
		if ids := search(t, s, index.Query{Text: "編集"}); len(ids) != 1 {
			t.Fatalf("new text not searchable: %v", ids)
		}
	})
	t.Run("search filters", func(t *testing.T) {
		s := open(t)
		put(t, s,
			mk("s1", "ヒカリネットは詐欺会社だ", mention.SeverityHigh, []string{"defamation"}, []string{"company"}, t0),
			mk("s2", "田中陽子を殺す", mention.SeverityCritical, []string{"threat"}, []string{"staff-tanaka"}, t0.Add(time.Hour)),
			mk("s3", "サポートの対応が遅い", mention.SeverityInfo, []string{"complaint"}, []string{"company"}, t0.Add(2*time.Hour)),
			mk("s4", "Sample Inc. is a scam", mention.SeverityHigh, []string{"defamation"}, []string{"company"}, t0.Add(3*time.Hour)),
		)
		cases := []struct {
			name string
			q    index.Query
			want []string // newest first
		}{
			{"everything, newest first", index.Query{}, []string{"s4", "s3", "s2", "s1"}},
			{"two-character Japanese word", index.Query{Text: "詐欺"}, []string{"s1"}},
			{"Japanese phrase across particles", index.Query{Text: "対応が遅い"}, []string{"s3"}},
			{"staff name", index.Query{Text: "田中"}, []string{"s2"}},
			{"English word, any case", index.Query{Text: "SCAM"}, []string{"s4"}},
			{"full-width query matches half-width text", index.Query{Text: "ｓｃａｍ"}, []string{"s4"}},
			{"no hit", index.Query{Text: "横領"}, nil},
			{"category", index.Query{Category: "defamation"}, []string{"s4", "s1"}},
			{"target", index.Query{Target: "staff-tanaka"}, []string{"s2"}},
			{"min severity", index.Query{MinSeverity: mention.SeverityCritical}, []string{"s2"}},
			{"alert only", index.Query{AlertOnly: true}, []string{"s4", "s2", "s1"}},
			{"time range", index.Query{Since: t0.Add(30 * time.Minute), Until: t0.Add(150 * time.Minute)}, []string{"s3", "s2"}},
			{"text and category", index.Query{Text: "詐欺", Category: "threat"}, nil},
			{"limit", index.Query{Limit: 2}, nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if tc.name == "limit" {
					ms, total, err := s.Search(ctx, tc.q)
					if err != nil || len(ms) != 2 || total != 4 {
						t.Fatalf("limit 2: %d returned, total %d, err %v", len(ms), total, err)
					}
					return
				}
				got := search(t, s, tc.q)
				if fmt.Sprint(got) != fmt.Sprint(tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			})
		}
	})
	t.Run("triage status", func(t *testing.T) {
		s := open(t)
		put(t, s, mk("t1", "詐欺会社", mention.SeverityHigh, []string{"defamation"}, []string{"company"}, t0))
		if err := s.SetStatus(ctx, "t1", mention.StatusEscalated, "弁護士に相談"); err != nil {
			t.Fatal(err)
		}
		refresh(t, s)
		got, _ := s.Get(ctx, "t1")
		if got.Status != mention.StatusEscalated || got.StatusNote != "弁護士に相談" {
			t.Fatalf("status not kept: %q %q", got.Status, got.StatusNote)
		}
		if ids := search(t, s, index.Query{Status: mention.StatusEscalated}); len(ids) != 1 {
			t.Fatalf("status filter: %v", ids)
		}
		if err := s.SetStatus(ctx, "t1", "bogus", ""); err == nil {
			t.Fatal("invalid status accepted")
		}
		if err := s.SetStatus(ctx, "missing", mention.StatusClosed, ""); !errors.Is(err, index.ErrNotFound) {
			t.Fatalf("unknown id: want ErrNotFound, got %v", err)
		}
	})
	t.Run("evidence chain heads", func(t *testing.T) {
		s := open(t)
		r, ok := s.(index.ChainHeadRecorder)
		if !ok {
			t.Skip("store keeps no chain heads")
		}
		for _, seq := range []int64{1, 2, 2} {
			h := index.ChainHead{Seq: seq, LineSHA256: fmt.Sprintf("%064d", seq), Position: seq, BundleID: fmt.Sprint("b", seq),
				At: t0, Recorded: t0.Add(time.Duration(seq) * time.Minute)}
			if err := r.RecordChainHead(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
		hs, err := r.ChainHeads(ctx, 10)
		if err != nil || len(hs) != 2 || hs[0].Seq != 2 || hs[1].LineSHA256 != fmt.Sprintf("%064d", 1) || !hs[1].At.Equal(t0) {
			t.Fatalf("chain heads: %+v %v", hs, err)
		}
	})
}
