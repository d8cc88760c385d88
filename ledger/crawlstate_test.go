package ledger

import (
	"context"
	"path/filepath"
	"testing"
)

// TestCrawlStateSurvivesReopen: values saved by PutState are read back
// after the ledger is closed and opened again; an empty value deletes.
func TestCrawlStateSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := l.GetState(ctx, "forum", "since"); ok || err != nil {
		t.Fatalf("empty store: ok=%v err=%v", ok, err)
	}
	for _, kv := range [][3]string{
		{"forum", "last:https://bbs.example.jp/t/1", "41"},
		{"forum", "last:https://bbs.example.jp/t/1", "42"}, // overwrite
		{"forum", "backoff_until", "2024-05-01T00:00:00Z"},
		{"x", "since", "1790000000000000000"},
	} {
		if err := l.PutState(ctx, kv[0], kv[1], kv[2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.PutState(ctx, "forum", "backoff_until", ""); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if l, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if v, ok, err := l.GetState(ctx, "forum", "last:https://bbs.example.jp/t/1"); v != "42" || !ok || err != nil {
		t.Errorf("last = %q %v %v", v, ok, err)
	}
	if _, ok, _ := l.GetState(ctx, "forum", "backoff_until"); ok {
		t.Error("deleted key still there")
	}
	all, err := l.CrawlState(ctx, "x")
	if err != nil || len(all) != 1 || all["since"] != "1790000000000000000" {
		t.Errorf("CrawlState(x) = %v, %v", all, err)
	}
}
