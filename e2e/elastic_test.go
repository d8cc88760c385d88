package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mimamori/demo"
)

func esURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("MIMAMORI_TEST_ES_URL")
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("MIMAMORI_TEST_ES_URL is not set: scripts/test.sh starts the Elasticsearch node")
		}
		t.Skip("MIMAMORI_TEST_ES_URL not set; run scripts/test.sh")
	}
	return u
}

func esDo(t *testing.T, method, url string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// esIDs returns the _id of every document behind the alias, refreshed.
func esIDs(t *testing.T, base, alias string) []string {
	t.Helper()
	esDo(t, "POST", base+"/"+alias+"/_refresh", nil)
	var r struct {
		Hits struct {
			Hits []struct {
				ID string `json:"_id"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if code := esDo(t, "GET", base+"/"+alias+"/_search?size=1000&_source=false", &r); code != 200 {
		return nil
	}
	var ids []string
	for _, h := range r.Hits.Hits {
		ids = append(ids, h.ID)
	}
	return ids
}

func esNode(t *testing.T, verb string) {
	t.Helper()
	cmd := exec.Command("../scripts/es-node.sh", verb)
	cmd.Stderr = os.Stderr
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("es-node.sh %s: %v\n%s", verb, err, out)
	}
}

// TestElasticsearchOutageLosesNothing runs the daemon on the real
// Elasticsearch node, stops the node while posts keep arriving, and starts
// it again: alerts keep flowing during the outage, and afterwards every
// mention is in the index exactly once and none was alerted twice.
func TestElasticsearchOutageLosesNothing(t *testing.T) {
	base := esURL(t)
	prefix := fmt.Sprintf("mimamori-e2e-%d", rand.IntN(1e9))
	t.Cleanup(func() {
		esDo(t, "DELETE", base+"/"+prefix+"-*", nil)
		esDo(t, "DELETE", base+"/_index_template/"+prefix+"-template", nil)
	})
	site := demo.NewSite()
	srv := httptest.NewServer(site)
	defer srv.Close()
	dir := t.TempDir()
	yaml := demo.ConfigYAML(srv.URL, filepath.Join(dir, "data")) + fmt.Sprintf(`index:
  backend: elasticsearch
  elasticsearch:
    addresses: [%s]
    index_prefix: %s
`, base, prefix)
	yaml = strings.Replace(yaml, "interval: 15s", "interval: 10s", 1)
	cfg := filepath.Join(dir, "mimamori.yaml")
	os.WriteFile(cfg, []byte(yaml), 0o600)

	// Start-up refuses an index without this version's template.
	if out, code := mimamori(t, "crawl", "--once", "--config", cfg); code == 0 || !strings.Contains(out, "mimamori setup elasticsearch") {
		t.Fatalf("crawl before setup: want a clear error naming the setup command, got %d:\n%s", code, out)
	}
	if out, code := mimamori(t, "setup", "elasticsearch", "--config", cfg); code != 0 {
		t.Fatalf("setup: %s", out)
	}

	d := startDaemon(t, cfg)
	outbox := filepath.Join(dir, "data", "outbox")
	want := len(expectedAlertIDs(site, srv.URL))
	waitFor(t, 60*time.Second, "first pass indexed", func() bool {
		return len(esIDs(t, base, prefix)) == len(site.Posts())
	})

	esNode(t, "halt")
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			esNode(t, "resume")
		}
	})
	site.AddThreadPost("名無しさん", "サンプル社の佐藤花子、家まで行くからな。覚悟しとけ", true)
	site.AddThreadPost("ユーザーD", "サンプル社のアプリ、使いやすくなった", false)
	site.AddThreadPost("ユーザーE", "サンプル社の窓口、もう少し営業時間を長くしてほしい", false)
	site.EditThreadPost(2, "サンプル社の新しいプラン、料金が安くて助かってます。（追記）店員さんも親切でした。")
	want++
	// Alerts do not wait for the index.
	waitFor(t, 60*time.Second, "alert during the outage", func() bool {
		return len(outboxMentions(t, outbox)) == want
	})
	d.WaitLog(t, "index store unavailable", 60*time.Second)

	esNode(t, "resume")
	resumed = true
	waitFor(t, 120*time.Second, "spool drained into the index", func() bool {
		return len(esIDs(t, base, prefix)) == len(site.Posts())
	})
	time.Sleep(2 * time.Second)
	d.Stop(t)

	ids := esIDs(t, base, prefix)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("mention %s indexed twice", id)
		}
		seen[id] = true
	}
	if len(ids) != len(site.Posts()) {
		t.Fatalf("index holds %d mentions, site has %d posts", len(ids), len(site.Posts()))
	}
	for id, n := range outboxMentions(t, outbox) {
		if n != 1 {
			t.Errorf("mention %s alerted %d times", id, n)
		}
	}
	if got := len(outboxMentions(t, outbox)); got != want {
		t.Fatalf("want %d alerted mentions, got %d", want, got)
	}
	// The edit is in the index as version 2, with version 1 in the history.
	var hist struct {
		Count int `json:"count"`
	}
	esDo(t, "POST", base+"/"+prefix+"-history/_refresh", nil)
	esDo(t, "GET", base+"/"+prefix+"-history/_count", &hist)
	if hist.Count != 1 {
		t.Errorf("history holds %d versions, want the edited post's first version", hist.Count)
	}
	out, code := mimamori(t, "search", "--config", cfg, "追記")
	if code != 0 || !strings.Contains(out, "1 of 1 mention") {
		t.Errorf("search on Elasticsearch for the edited text: exit %d:\n%s", code, out)
	}
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for: %s", within, what)
}

// TestTwoDaemonsSharingElasticsearchAlertOnce: two daemons with their own
// data folders watch the same site and share one Elasticsearch index; each
// abusive post is alerted by exactly one of them.
func TestTwoDaemonsSharingElasticsearchAlertOnce(t *testing.T) {
	base := esURL(t)
	prefix := fmt.Sprintf("mimamori-e2e-%d", rand.IntN(1e9))
	t.Cleanup(func() {
		esDo(t, "DELETE", base+"/"+prefix+"-*", nil)
		esDo(t, "DELETE", base+"/"+prefix+".alert-claims,"+prefix+".chain-heads?ignore_unavailable=true", nil)
		esDo(t, "DELETE", base+"/_index_template/"+prefix+"-template", nil)
	})
	site := demo.NewSite()
	srv := httptest.NewServer(site)
	defer srv.Close()
	var cfgs, outboxes []string
	for i := 0; i < 2; i++ {
		dir := t.TempDir()
		yaml := demo.ConfigYAML(srv.URL, filepath.Join(dir, "data")) + fmt.Sprintf(`index:
  backend: elasticsearch
  elasticsearch:
    addresses: [%s]
    index_prefix: %s
`, base, prefix)
		yaml = strings.Replace(yaml, "interval: 15s", "interval: 10s", 1)
		yaml = strings.Replace(yaml, "  group_window: 10s", "  group_window: 1s", 1)
		cfg := filepath.Join(dir, "mimamori.yaml")
		os.WriteFile(cfg, []byte(yaml), 0o600)
		cfgs, outboxes = append(cfgs, cfg), append(outboxes, filepath.Join(dir, "data", "outbox"))
	}
	if out, code := mimamori(t, "setup", "elasticsearch", "--config", cfgs[0]); code != 0 {
		t.Fatalf("setup: %s", out)
	}
	want := expectedAlertIDs(site, srv.URL)
	d1, d2 := startDaemon(t, cfgs[0]), startDaemon(t, cfgs[1])
	total := func() map[string]int {
		all := map[string]int{}
		for _, ob := range outboxes {
			for id, n := range outboxMentions(t, ob) {
				all[id] += n
			}
		}
		return all
	}
	waitFor(t, 60*time.Second, "every abusive post alerted by one of the daemons", func() bool { return len(total()) >= len(want) })
	d1.WaitLog(t, "source pass done\t{\"source\": \"sample-forum\"", 30*time.Second)
	d2.WaitLog(t, "source pass done\t{\"source\": \"sample-forum\"", 30*time.Second)
	time.Sleep(3 * time.Second)
	d1.Stop(t)
	d2.Stop(t)
	for id := range want {
		if n := total()[id]; n != 1 {
			t.Errorf("mention %s alerted %d times by the two daemons", id, n)
		}
	}
	if !strings.Contains(d1.Log()+d2.Log(), "alert claimed by another daemon sharing the index") {
		t.Error("no daemon saw the other's claim: the test did not exercise sharing")
	}
}
