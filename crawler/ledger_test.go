package crawler

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"

	"mimamori/config"
	"mimamori/ledger"
)

var _ StateStore = (*ledger.Ledger)(nil)

// TestStateInLedgerSurvivesRestart: with the ledger as state store, the
// last id read is still known after the ledger is reopened by a new
// process's source.
func TestStateInLedgerSurvivesRestart(t *testing.T) {
	s := newSite(t, "")
	items := `[{"id":"1","t":"一"},{"id":"2","t":"二"}]`
	s.mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, items) })
	src := jsonSource(s.URL+"/api", config.JSONMapping{Text: "t", ID: "id", Incremental: true})
	path := filepath.Join(t.TempDir(), "mimamori.db")
	l, err := ledger.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if posts, err := runSource(t, src, Options{State: l}); err != nil || len(posts) != 2 {
		t.Fatalf("%d posts, %v", len(posts), err)
	}
	l.Close()
	items = `[{"id":"1","t":"一"},{"id":"2","t":"二"},{"id":"3","t":"三"}]`
	l, err = ledger.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	posts, err := runSource(t, src, Options{State: l})
	if err != nil || len(posts) != 1 || posts[0].Text != "三" {
		t.Fatalf("after restart: %+v, %v", posts, err)
	}
	if v, ok, _ := l.GetState(context.Background(), "api", keySince); !ok || v != "3" {
		t.Errorf("since = %q", v)
	}
}
