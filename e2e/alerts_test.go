package e2e

import (
	"fmt"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mimamori/demo"
)

// alertConfig writes a demo config with SMTP to mp and fast retries.
func alertConfig(t *testing.T, siteURL string, mp *Mailpit) string {
	t.Helper()
	dir := t.TempDir()
	yaml := demo.ConfigYAML(siteURL, filepath.Join(dir, "data")) + fmt.Sprintf(`smtp:
  host: 127.0.0.1
  port: %d
  tls: none
`, mp.SMTPPort)
	yaml = strings.Replace(yaml, "interval: 15s", "interval: 10s", 1)
	yaml = strings.Replace(yaml, "  group_window: 10s", "  group_window: 2s\n  retry_initial: 1s\n  retry_max: 2s\n  send_lease: 3s", 1)
	cfg := filepath.Join(dir, "mimamori.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// received counts, per Message-ID, the mails mailpit holds, and collects
// the mention ids of their "new" alerts.
func received(t *testing.T, mp *Mailpit) (byMsgID map[string]int, mentions map[string]int) {
	t.Helper()
	byMsgID, mentions = map[string]int{}, map[string]int{}
	for _, m := range mp.Messages() {
		msg, err := mail.ReadMessage(strings.NewReader(mp.Raw(m.ID)))
		if err != nil {
			t.Fatal(err)
		}
		byMsgID[m.MessageID]++
		for _, id := range newAlertMentions(msg.Header) {
			mentions[id]++
		}
	}
	return byMsgID, mentions
}

// TestSMTPDownThenUpDeliversEachAlertOnce: the SMTP server is down while
// alerts are due; they wait in the outbox, are retried, and arrive exactly
// once each when the server is back.
func TestSMTPDownThenUpDeliversEachAlertOnce(t *testing.T) {
	site := demo.NewSite()
	srv := httptest.NewServer(site)
	defer srv.Close()
	mp := startMailpit(t)
	mp.Stop()
	cfg := alertConfig(t, srv.URL, mp)
	want := expectedAlertIDs(site, srv.URL)

	d := startDaemon(t, cfg)
	d.WaitLog(t, "alert delivery failed; will retry", 60*time.Second)
	time.Sleep(3 * time.Second) // a few more failed attempts
	mp.Start()
	waitFor(t, 60*time.Second, "every alert delivered after the server came back", func() bool {
		_, got := received(t, mp)
		return len(got) >= len(want)
	})
	time.Sleep(4 * time.Second) // longer than the send lease: a duplicate would show now
	d.Stop(t)
	byMsgID, got := received(t, mp)
	for id := range want {
		if got[id] != 1 {
			t.Errorf("mention %s arrived %d times", id, got[id])
		}
	}
	for id, n := range byMsgID {
		if n != 1 {
			t.Errorf("mail %s arrived %d times", id, n)
		}
	}
}

// TestKilledBetweenSendAndRecordBoundsDuplicates: the daemon is killed
// (SIGKILL, by a failpoint) right after the SMTP server accepted a mail and
// before the ledger recorded it. On restart that one mail is sent again
// after the send lease, with the same Message-ID; nothing else repeats and
// nothing is lost. Bound: at most one duplicate per such crash.
func TestKilledBetweenSendAndRecordBoundsDuplicates(t *testing.T) {
	site := demo.NewSite()
	srv := httptest.NewServer(site)
	defer srv.Close()
	mp := startMailpit(t)
	cfg := alertConfig(t, srv.URL, mp)
	want := expectedAlertIDs(site, srv.URL)

	os.Setenv("MIMAMORI_FAILPOINT", "crash-after-send")
	d1 := startDaemon(t, cfg)
	os.Unsetenv("MIMAMORI_FAILPOINT")
	select {
	case err := <-d1.done:
		if err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("want the daemon killed by the failpoint, got %v:\n%s", err, d1.Log())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("failpoint never fired:\n%s", d1.Log())
	}
	first, _ := received(t, mp)
	if len(first) != 1 {
		t.Fatalf("want exactly the one mail sent before the crash, got %d", len(first))
	}

	d2 := startDaemon(t, cfg)
	waitFor(t, 60*time.Second, "every alert delivered after the restart", func() bool {
		_, got := received(t, mp)
		return len(got) >= len(want)
	})
	time.Sleep(5 * time.Second)
	d2.Stop(t)
	byMsgID, got := received(t, mp)
	dups := 0
	for id, n := range byMsgID {
		if n > 1 {
			dups += n - 1
			if first[id] == 0 {
				t.Errorf("mail %s repeated but it was not the one in flight at the crash", id)
			}
		}
	}
	if dups > 1 {
		t.Fatalf("%d duplicates after one crash; the bound is 1", dups)
	}
	for id := range want {
		if got[id] < 1 {
			t.Errorf("mention %s lost", id)
		}
	}
	t.Logf("after one crash between send and record: %d mail(s), %d duplicate(s) (same Message-ID)", len(byMsgID), dups)
}
