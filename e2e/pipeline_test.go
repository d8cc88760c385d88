package e2e

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"mimamori/demo"
	"mimamori/mention"
)

// expectedAlertIDs returns the mention ids of the site's alertable posts.
func expectedAlertIDs(site *demo.Site, base string) map[string]string {
	want := map[string]string{}
	for _, p := range site.Posts() {
		if !p.Alertable {
			continue
		}
		if p.ID < 100 {
			want[mention.ID("sample-forum", fmt.Sprintf("%s%s#p%d", base, demo.ThreadPath, p.ID))] = p.Text
		} else {
			want[mention.ID("sample-news", fmt.Sprintf("%s/news/%d", base, p.ID))] = p.Text
		}
	}
	return want
}

// mentionIDs returns the mention ids of the "new" alerts in every received
// mail, failing when one is mailed twice.
func mentionIDs(t *testing.T, mp *Mailpit) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	msgIDs := map[string]bool{}
	for _, m := range mp.Messages() {
		msg, err := mail.ReadMessage(strings.NewReader(mp.Raw(m.ID)))
		if err != nil {
			t.Fatalf("received mail does not parse: %v", err)
		}
		if msgIDs[m.MessageID] {
			t.Errorf("Message-ID %s received twice", m.MessageID)
		}
		msgIDs[m.MessageID] = true
		for _, id := range newAlertMentions(msg.Header) {
			if got[id] {
				t.Errorf("mention %s alerted twice", id)
			}
			got[id] = true
		}
		if !strings.Contains(m.Subject, "mimamori") || m.Attachments < 1 {
			t.Errorf("mail %q: want a mimamori subject and the evidence attached, got %d attachments", m.Subject, m.Attachments)
		}
	}
	return got
}

// newAlertMentions returns the mention ids of the "new" alerts a mail carries.
func newAlertMentions(h mail.Header) []string {
	var out []string
	for _, a := range strings.Fields(h.Get("X-Mimamori-Alert-Id")) {
		if id, ok := strings.CutSuffix(a, "-new"); ok {
			out = append(out, id)
		}
	}
	return out
}

// outboxMentions counts, per mention id, the "new" alerts in the .eml
// files of an outbox folder.
func outboxMentions(t *testing.T, dir string) map[string]int {
	t.Helper()
	emls, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	got := map[string]int{}
	for _, e := range emls {
		b, _ := os.ReadFile(e)
		msg, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s does not parse as mail: %v", e, err)
		}
		for _, id := range newAlertMentions(msg.Header) {
			got[id]++
		}
	}
	return got
}

func sameKeys(a map[string]bool, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range b {
		if !a[k] {
			return false
		}
	}
	return true
}

// TestAlertsBySMTPExactlyOnceAcrossRestart runs the real daemon against the
// sample site and a real SMTP server: the first run alerts every alertable
// post once; posts then appear on the site, the daemon restarts, and only
// the new alertable post is mailed.
func TestAlertsBySMTPExactlyOnceAcrossRestart(t *testing.T) {
	site := demo.NewSite()
	srv := httptest.NewServer(site)
	defer srv.Close()
	mp := startMailpit(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mimamori.yaml")
	yaml := demo.ConfigYAML(srv.URL, filepath.Join(dir, "data")) + fmt.Sprintf(`smtp:
  host: 127.0.0.1
  port: %d
  tls: none   # loopback test server
  username: mimamori
  password: s3cret-do-not-log
`, mp.SMTPPort)
	yaml = strings.Replace(yaml, "interval: 15s", "interval: 10s", 1)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	want := expectedAlertIDs(site, srv.URL)
	d1 := startDaemon(t, cfg)
	waitFor(t, 60*time.Second, "every abusive post mailed", func() bool { return len(mentionIDs(t, mp)) >= len(want) })
	d1.WaitLog(t, "source pass done\t{\"source\": \"sample-news\"", 30*time.Second)
	d1.WaitLog(t, "source pass done\t{\"source\": \"sample-forum\"", 30*time.Second)
	d1.Stop(t)
	if got := mentionIDs(t, mp); !sameKeys(got, want) {
		t.Fatalf("first run: mailed mentions %v, want %v", keys(got), want)
	}
	if strings.Contains(d1.Log(), "s3cret-do-not-log") {
		t.Fatal("the SMTP password appeared in the daemon log")
	}

	// New posts appear between the two runs; one is alertable. One old
	// legitimate post is edited and stays legitimate.
	site.AddThreadPost("名無しさん", "サンプル社の佐藤花子、覚悟しとけよ。家まで行くからな", true)
	site.AddThreadPost("ユーザーC", "サンプル社の店舗、駅から近くて便利になった", false)
	site.EditThreadPost(1, "サンプル社のサポート、電話がつながるまで30分待たされた。対応が遅すぎる。（追記）今日は5分でつながった")
	want = expectedAlertIDs(site, srv.URL)

	d2 := startDaemon(t, cfg)
	waitFor(t, 60*time.Second, "the new abusive post mailed", func() bool { return len(mentionIDs(t, mp)) >= len(want) })
	d2.WaitLog(t, "source pass done\t{\"source\": \"sample-forum\"", 30*time.Second)
	time.Sleep(time.Second) // a duplicate would be mailed right after the pass
	d2.Stop(t)
	if got := mentionIDs(t, mp); !sameKeys(got, want) {
		t.Fatalf("after restart: mailed mentions %v, want %v", keys(got), want)
	}
	if !strings.Contains(d2.Log(), `"edited": 1`) {
		t.Errorf("the edited post was not recorded as an edit:\n%s", d2.Log())
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
