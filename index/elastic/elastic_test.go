package elastic

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"mimamori/config"
	"mimamori/index"
	"mimamori/index/storetest"
	"mimamori/mention"
)

// esURL returns the test node's URL. Without one the tests skip, except
// under CI, where a missing node is a failure.
func esURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("MIMAMORI_TEST_ES_URL")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("MIMAMORI_TEST_ES_URL is not set under CI: start a node with scripts/es-node.sh start")
		}
		t.Skip("MIMAMORI_TEST_ES_URL is not set (scripts/es-node.sh start prints it)")
	}
	return strings.TrimRight(u, "/")
}

// raw sends an admin request straight to the node.
func raw(t testing.TB, method, u string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, data
}

// testConfig returns a configuration with a fresh index prefix and removes
// everything under that prefix when the test ends.
func testConfig(t testing.TB) config.ElasticsearchConfig {
	t.Helper()
	base := esURL(t)
	var b [5]byte
	_, _ = rand.Read(b[:])
	prefix := "mimamori-test-" + hex.EncodeToString(b[:])
	t.Cleanup(func() { cleanup(t, base, prefix) })
	return config.ElasticsearchConfig{Addresses: []string{base}, IndexPrefix: prefix, Analyzer: "standard"}
}

func cleanup(t testing.TB, base, prefix string) {
	st, data := raw(t, http.MethodGet, base+"/_cat/indices/"+prefix+"-*?h=index&format=json&expand_wildcards=all", nil)
	if st == 200 {
		var rows []struct{ Index string }
		_ = json.Unmarshal(data, &rows)
		for _, r := range rows {
			raw(t, http.MethodDelete, base+"/"+r.Index, nil)
		}
	}
	raw(t, http.MethodDelete, base+"/"+prefix+".chain-heads,"+prefix+".alert-claims?ignore_unavailable=true", nil)
	raw(t, http.MethodDelete, base+"/_index_template/"+prefix+"-template", nil)
}

func setupStore(t testing.TB, cfg config.ElasticsearchConfig, opts Options) *Store {
	t.Helper()
	ctx := context.Background()
	log := zaptest.NewLogger(t)
	if err := Setup(ctx, cfg, log); err != nil {
		t.Fatal(err)
	}
	s, err := OpenWithOptions(ctx, cfg, log, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func mk(id string, version int, text string) mention.Mention {
	return mention.Mention{
		ID: id, SourceID: "forum", Site: "forum.example.jp", URL: "https://forum.example.jp/t/1#" + id,
		Author: "名無しさん", Text: text, Published: t0, FirstSeen: t0, LastSeen: t0, Version: version,
		ContentHash: mention.ContentHash("", text, "名無しさん"), Alert: true, Severity: mention.SeverityHigh,
		Categories: []string{"defamation"}, Targets: []string{"company"}, Status: mention.StatusNew,
		Matches: []mention.Match{{Category: "defamation", Rule: "r1", Term: "詐欺", Start: 0, End: 2, Target: "company"}},
	}
}

// where returns the concrete indices holding id, searching through the
// alias.
func where(t *testing.T, s *Store, id string) []string {
	t.Helper()
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	base := s.cfg.Addresses[0]
	st, data := raw(t, http.MethodPost, base+"/"+s.prefix+"/_search", map[string]any{
		"query": map[string]any{"ids": map[string]any{"values": []string{id}}}, "_source": false,
	})
	if st != 200 {
		t.Fatalf("search %s: %d %s", id, st, data)
	}
	var res struct {
		Hits struct {
			Hits []struct {
				Index string `json:"_index"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range res.Hits.Hits {
		out = append(out, h.Index)
	}
	return out
}

func historyDoc(t *testing.T, s *Store, id string) (mention.Mention, bool) {
	t.Helper()
	st, data := raw(t, http.MethodGet, s.cfg.Addresses[0]+"/"+s.historyIndex()+"/_doc/"+url.PathEscape(id), nil)
	if st == 404 {
		return mention.Mention{}, false
	}
	var res struct {
		Source mention.Mention `json:"_source"`
	}
	if st != 200 || json.Unmarshal(data, &res) != nil {
		t.Fatalf("history %s: %d %s", id, st, data)
	}
	return res.Source, true
}

func TestConformance(t *testing.T) {
	esURL(t)
	storetest.Run(t, func(t *testing.T) index.Store {
		return setupStore(t, testConfig(t), Options{})
	})
}

func TestSetupIsIdempotentAndStrict(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	for range 2 {
		if err := Setup(ctx, cfg, zaptest.NewLogger(t)); err != nil {
			t.Fatal(err)
		}
	}
	base := cfg.Addresses[0]
	st, data := raw(t, http.MethodGet, base+"/_alias/"+cfg.IndexPrefix, nil)
	if st != 200 || !strings.Contains(string(data), `"`+cfg.IndexPrefix+`-000001"`) || !strings.Contains(string(data), `"is_write_index":true`) {
		t.Fatalf("alias: %d %s", st, data)
	}
	if strings.Contains(string(data), "000002") {
		t.Fatalf("second setup rolled over: %s", data)
	}
	st, data = raw(t, http.MethodGet, base+"/"+cfg.IndexPrefix+"-000001/_mapping", nil)
	var mp map[string]struct {
		Mappings struct {
			Dynamic    string                    `json:"dynamic"`
			Meta       map[string]any            `json:"_meta"`
			Properties map[string]map[string]any `json:"properties"`
		} `json:"mappings"`
	}
	if st != 200 || json.Unmarshal(data, &mp) != nil {
		t.Fatalf("mapping: %d %s", st, data)
	}
	m := mp[cfg.IndexPrefix+"-000001"].Mappings
	if m.Dynamic != "strict" || metaVersion(m.Meta) != MappingVersion {
		t.Fatalf("mapping not strict or without version: %s", data)
	}
	for field, typ := range map[string]string{
		"id": "keyword", "url": "keyword", "author": "keyword", "text": "text", "title": "text",
		"first_seen": "date", "version": "integer", "score": "float", "alert": "boolean", "severity_rank": "integer",
		"matches": "object", "evidence": "object", "status": "keyword", "status_note": "text",
	} {
		got, _ := m.Properties[field]["type"].(string)
		if got == "" && typ == "object" && m.Properties[field]["properties"] != nil {
			got = "object"
		}
		if got != typ {
			t.Errorf("field %s: type %q, want %q", field, got, typ)
		}
	}
	if st, _ := raw(t, http.MethodHead, base+"/"+cfg.IndexPrefix+"-history", nil); st != 200 {
		t.Fatalf("history index: %d", st)
	}
}

func TestOpenRequiresSetup(t *testing.T) {
	cfg := testConfig(t)
	_, err := Open(context.Background(), cfg, zaptest.NewLogger(t))
	if !errors.Is(err, ErrSetupRequired) || !strings.Contains(err.Error(), "mimamori setup elasticsearch") {
		t.Fatalf("open without setup: %v", err)
	}
	t.Log(err)
}

func TestOpenDetectsTemplateMismatch(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	log := zaptest.NewLogger(t)
	if err := Setup(ctx, cfg, log); err != nil {
		t.Fatal(err)
	}
	base := cfg.Addresses[0]
	tmpl := base + "/_index_template/" + cfg.IndexPrefix + "-template"

	// An older mimamori installed the template: mapping version 0.
	st, data := raw(t, http.MethodGet, tmpl, nil)
	var got struct {
		IndexTemplates []struct {
			IndexTemplate map[string]any `json:"index_template"`
		} `json:"index_templates"`
	}
	if st != 200 || json.Unmarshal(data, &got) != nil || len(got.IndexTemplates) != 1 {
		t.Fatalf("template: %d %s", st, data)
	}
	old := got.IndexTemplates[0].IndexTemplate
	old["_meta"].(map[string]any)["mimamori_mapping_version"] = MappingVersion - 1
	if st, data := raw(t, http.MethodPut, tmpl, old); st != 200 {
		t.Fatalf("put old template: %d %s", st, data)
	}
	_, err := Open(ctx, cfg, log)
	if !errors.Is(err, ErrSetupRequired) || !strings.Contains(err.Error(), "mapping version") ||
		!strings.Contains(err.Error(), "mimamori setup elasticsearch") {
		t.Fatalf("open with an old template: %v", err)
	}
	t.Log(err)

	// The configuration asks for another analyzer than the template has.
	if err := Setup(ctx, cfg, log); err != nil {
		t.Fatal(err)
	}
	other := cfg
	other.Analyzer = "kuromoji"
	if _, err := Open(ctx, other, log); !errors.Is(err, ErrSetupRequired) || !strings.Contains(err.Error(), "analyzer") {
		t.Fatalf("open with another analyzer: %v", err)
	}

	// The template is gone.
	raw(t, http.MethodDelete, tmpl, nil)
	if _, err := Open(ctx, cfg, log); !errors.Is(err, ErrSetupRequired) {
		t.Fatalf("open without template: %v", err)
	}

	// Setup again repairs it, without a new index.
	if err := Setup(ctx, cfg, log); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, cfg, log)
	if err != nil {
		t.Fatalf("open after setup: %v", err)
	}
	s.Close()
}

func TestSetupCJKMissingIsClear(t *testing.T) {
	cfg := testConfig(t)
	cfg.Analyzer = "cjk"
	err := Setup(context.Background(), cfg, zaptest.NewLogger(t))
	if !errors.Is(err, ErrAnalyzerUnavailable) {
		t.Fatalf("want ErrAnalyzerUnavailable, got %v", err)
	}
	for _, want := range []string{`"cjk"`, "analysis-common", "standard"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
	t.Log(err)
	if st, _ := raw(t, http.MethodGet, cfg.Addresses[0]+"/_index_template/"+cfg.IndexPrefix+"-template", nil); st != 404 {
		t.Fatalf("a template was installed anyway (%d)", st)
	}
}

func TestRolloverKeepsIDsUnique(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	s := setupStore(t, cfg, Options{maxDocs: 1})
	first := cfg.IndexPrefix + "-000001"
	second := cfg.IndexPrefix + "-000002"

	if rolled, err := s.MaybeRollover(ctx); err != nil || rolled {
		t.Fatalf("empty write index rolled over: %v %v", rolled, err)
	}
	v1 := mk("r1", 1, "最初の本文")
	if err := s.Put(ctx, []mention.Mention{v1}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStatus(ctx, "r1", mention.StatusReviewing, "確認中"); err != nil {
		t.Fatal(err)
	}
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	rolled, err := s.MaybeRollover(ctx)
	if err != nil || !rolled {
		t.Fatalf("rollover: %v %v", rolled, err)
	}
	if w, _ := s.writeIndex(ctx); w != second {
		t.Fatalf("write index %s, want %s", w, second)
	}
	if rolled, err := s.MaybeRollover(ctx); err != nil || rolled {
		t.Fatalf("new, empty write index rolled over: %v %v", rolled, err)
	}

	// The post is edited after the rollover.
	v2 := v1
	v2.Version, v2.Text, v2.FirstSeen, v2.LastSeen = 2, "編集後の本文", t0.Add(time.Hour), t0.Add(time.Hour)
	if err := s.Put(ctx, []mention.Mention{v2, mk("r2", 1, "新しい投稿")}); err != nil {
		t.Fatal(err)
	}
	if got := where(t, s, "r1"); !slices.Equal(got, []string{first}) {
		t.Fatalf("r1 is in %v, want only %s", got, first)
	}
	if got := where(t, s, "r2"); !slices.Equal(got, []string{second}) {
		t.Fatalf("r2 is in %v, want %s", got, second)
	}
	got, err := s.Get(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || got.Text != v2.Text || !got.FirstSeen.Equal(t0) || got.Status != mention.StatusReviewing || got.StatusNote != "確認中" {
		t.Fatalf("after the edit: %+v", got)
	}
	h, ok := historyDoc(t, s, "r1-v1")
	if !ok || h.Version != 1 || h.Text != v1.Text || h.Status != mention.StatusReviewing {
		t.Fatalf("history of r1 v1: %v %+v", ok, h)
	}

	// A late replay of v1 and a replay of v2 change nothing.
	if err := s.Put(ctx, []mention.Mention{v1, v2}); err != nil {
		t.Fatal(err)
	}
	if got := where(t, s, "r1"); len(got) != 1 {
		t.Fatalf("r1 is in %v", got)
	}
	if got, _ := s.Get(ctx, "r1"); got.Version != 2 {
		t.Fatalf("stale replay won: %+v", got)
	}
	ms, total, err := s.Search(ctx, index.Query{Text: "本文"})
	if err != nil || total != 1 || ms[0].ID != "r1" {
		t.Fatalf("search: %d %v %v", total, ms, err)
	}
}

func TestEditAfterTriageAndVersionsInOneBatch(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	s := setupStore(t, cfg, Options{})

	// A status change bumps Elasticsearch's _version; the next edit must
	// still win.
	v1 := mk("e1", 1, "一版")
	if err := s.Put(ctx, []mention.Mention{v1}); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{mention.StatusReviewing, mention.StatusEscalated} {
		if err := s.SetStatus(ctx, "e1", st, "弁護士"); err != nil {
			t.Fatal(err)
		}
	}
	v2 := v1
	v2.Version, v2.Text = 2, "二版"
	if err := s.Put(ctx, []mention.Mention{v2}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "e1")
	if err != nil || got.Version != 2 || got.Text != "二版" || got.Status != mention.StatusEscalated {
		t.Fatalf("edit after triage: %+v %v", got, err)
	}

	// Three versions of one post in one batch, out of order: each
	// superseded one is in the history.
	a1, a2, a3 := mk("m1", 1, "v1"), mk("m1", 2, "v2"), mk("m1", 3, "v3")
	if err := s.Put(ctx, []mention.Mention{a3, a1, a2, a1}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "m1"); got.Version != 3 || got.Text != "v3" {
		t.Fatalf("batch: %+v", got)
	}
	for _, id := range []string{"m1-v1", "m1-v2", "e1-v1"} {
		if _, ok := historyDoc(t, s, id); !ok {
			t.Errorf("history %s missing", id)
		}
	}

	// Seeing the same version again only moves last_seen.
	again := a3
	again.LastSeen = t0.Add(48 * time.Hour)
	if err := s.Put(ctx, []mention.Mention{again}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "m1"); !got.LastSeen.Equal(again.LastSeen) || got.Version != 3 {
		t.Fatalf("last_seen not updated: %+v", got)
	}
}

func TestRetention(t *testing.T) {
	cfg := testConfig(t)
	cfg.Retention = time.Hour
	ctx := context.Background()
	s := setupStore(t, cfg, Options{maxDocs: 1})
	for i := range 2 {
		if err := s.Put(ctx, []mention.Mention{mk(fmt.Sprint("k", i), 1, "本文")}); err != nil {
			t.Fatal(err)
		}
		if err := s.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if rolled, err := s.MaybeRollover(ctx); err != nil || !rolled {
			t.Fatalf("rollover %d: %v %v", i, rolled, err)
		}
	}
	p := cfg.IndexPrefix
	if got, err := s.ApplyRetention(ctx, time.Now()); err != nil || len(got) != 0 {
		t.Fatalf("retention deleted young indices: %v %v", got, err)
	}
	got, err := s.ApplyRetention(ctx, time.Now().Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{p + "-000001", p + "-000002"}; !slices.Equal(got, want) {
		t.Fatalf("deleted %v, want %v", got, want)
	}
	base := cfg.Addresses[0]
	for _, idx := range []string{p + "-000003", p + "-history"} {
		if st, _ := raw(t, http.MethodHead, base+"/"+idx, nil); st != 200 {
			t.Fatalf("%s was deleted (%d)", idx, st)
		}
	}
	if _, err := s.Get(ctx, "k0"); !errors.Is(err, index.ErrNotFound) {
		t.Fatalf("k0 should have gone with its index: %v", err)
	}
	// The store still works on the remaining write index.
	if err := s.Put(ctx, []mention.Mention{mk("k9", 1, "残る")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "k9"); err != nil {
		t.Fatal(err)
	}
}

type deadLetter struct {
	id     string
	status int
	reason string
}

func TestDeadLetter(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	var mu sync.Mutex
	var dead []deadLetter
	s := setupStore(t, cfg, Options{DeadLetter: func(m mention.Mention, status int, reason string) {
		mu.Lock()
		defer mu.Unlock()
		dead = append(dead, deadLetter{m.ID, status, reason})
	}})

	// A permalink with a 40 kB tracking query string: Lucene refuses a
	// keyword term longer than 32766 bytes, so Elasticsearch answers 400 for
	// this item only.
	huge := mk("huge", 1, "長いURLの投稿")
	huge.URL = "https://forum.example.jp/t/1?utm=" + strings.Repeat("a", 40000)
	noID := mk("", 1, "idのない投稿")
	batch := []mention.Mention{mk("ok1", 1, "一"), huge, noID, mk("ok2", 1, "二")}
	if err := s.Put(ctx, batch); err != nil {
		t.Fatalf("a refused item failed the batch: %v", err)
	}
	for _, id := range []string{"ok1", "ok2"} {
		if _, err := s.Get(ctx, id); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	if _, err := s.Get(ctx, "huge"); !errors.Is(err, index.ErrNotFound) {
		t.Fatalf("huge: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(dead, func(a, b deadLetter) int { return strings.Compare(a.id, b.id) })
	if len(dead) != 2 || dead[0].id != "" || dead[0].status != 0 || dead[1].id != "huge" || dead[1].status != 400 ||
		!strings.Contains(dead[1].reason, "url") {
		t.Fatalf("dead letters: %+v", dead)
	}
	t.Logf("dead letter: %d %.300s", dead[1].status, dead[1].reason)
}

// proxy is a reverse proxy to the real node that answers 429 to the first
// _bulk request and passes everything else through untouched.
type proxy struct {
	*httptest.Server
	bulks, rejected atomic.Int32
}

func newProxy(t *testing.T, target string) *proxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &proxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_bulk" && p.bulks.Add(1) == 1 {
			p.rejected.Add(1)
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"error":{"root_cause":[{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}],"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"},"status":429}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func TestRetryOn429(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"by the client transport", Options{}},
		{"by Put itself", Options{transportRetries: -1, BackoffMin: 50 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			ctx := context.Background()
			if err := Setup(ctx, cfg, zaptest.NewLogger(t)); err != nil {
				t.Fatal(err)
			}
			p := newProxy(t, cfg.Addresses[0])
			viaProxy := cfg
			viaProxy.Addresses = []string{p.URL}
			s, err := OpenWithOptions(ctx, viaProxy, zaptest.NewLogger(t), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Put(ctx, []mention.Mention{mk("q1", 1, "一"), mk("q2", 1, "二")}); err != nil {
				t.Fatalf("put through a 429: %v", err)
			}
			if p.rejected.Load() != 1 || p.bulks.Load() != 2 {
				t.Fatalf("proxy: %d rejected, %d bulk requests", p.rejected.Load(), p.bulks.Load())
			}
			for _, id := range []string{"q1", "q2"} {
				if _, err := s.Get(ctx, id); err != nil {
					t.Fatalf("%s: %v", id, err)
				}
			}
		})
	}
}

func TestPutWhenClusterDown(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	if err := Setup(ctx, cfg, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(cfg.Addresses[0])
	front := httptest.NewServer(httputil.NewSingleHostReverseProxy(u))
	viaProxy := cfg
	viaProxy.Addresses = []string{front.URL}
	s, err := OpenWithOptions(ctx, viaProxy, zaptest.NewLogger(t), Options{MaxAttempts: 2, BackoffMin: 10 * time.Millisecond, transportRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	front.Close() // the cluster goes away
	err = s.Put(ctx, []mention.Mention{mk("x1", 1, "一")})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("want ErrUnavailable, got %v", err)
	}
	t.Log(err)
}

// TestClaimAlertOnce: of several daemons claiming one alert id at once,
// exactly one wins.
func TestClaimAlertOnce(t *testing.T) {
	s := setupStore(t, testConfig(t), Options{})
	ctx := context.Background()
	wins := make(chan bool, 8)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ok, err := s.ClaimAlert(ctx, "mention-1-new", fmt.Sprint("daemon-", i))
			if err != nil {
				t.Error(err)
			}
			wins <- ok
		}(i)
	}
	wg.Wait()
	close(wins)
	n := 0
	for ok := range wins {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d daemons won the claim, want 1", n)
	}
}

// TestTriageReachesTheIndex: the ledger re-enqueues a triaged mention at
// the same version; the status must reach the document.
func TestTriageReachesTheIndex(t *testing.T) {
	s := setupStore(t, testConfig(t), Options{})
	ctx := context.Background()
	m := mk("tri", 1, "サンプル社は詐欺会社")
	if err := s.Put(ctx, []mention.Mention{m}); err != nil {
		t.Fatal(err)
	}
	m.Status, m.StatusNote = mention.StatusEscalated, "弁護士へ"
	if err := s.Put(ctx, []mention.Mention{m}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "tri")
	if err != nil || got.Status != mention.StatusEscalated || got.StatusNote != "弁護士へ" || got.Version != 1 {
		t.Fatalf("after a same-version triage put: %+v %v", got, err)
	}
}
