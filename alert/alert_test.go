package alert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	mimepkg "mime"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"
	"go.uber.org/zap"

	"mimamori/config"
	"mimamori/ledger"
	"mimamori/mention"
)

// clock is the injected clock of these tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

var targets = map[string]mention.Target{
	"company":    {ID: "company", Kind: mention.KindCompany, Name: "株式会社サンプル"},
	"staff-sato": {ID: "staff-sato", Kind: mention.KindStaff, Name: "佐藤花子", Contacts: []string{"manager@sample.example"}},
}

// rig is a ledger, a router and a dispatcher writing .eml files.
type rig struct {
	t      *testing.T
	l      *ledger.Ledger
	clock  *clock
	router *Router
	disp   *Dispatcher
	outbox *FileOutbox
	cfg    config.AlertConfig
	seq    int
}

func newRig(t *testing.T, mutate func(*config.AlertConfig)) *rig {
	t.Helper()
	l, err := ledger.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	cfg := config.Default().Alert
	cfg.To = []string{"legal@sample.example"}
	if mutate != nil {
		mutate(&cfg)
	}
	l.SetPolicy(ledger.Policy{PersistentWindow: cfg.Escalation.PersistentWindow, PersistentThreshold: cfg.Escalation.PersistentThreshold,
		AnonymousAuthors: cfg.Escalation.AnonymousAuthors})
	c := &clock{t: time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)} // 10:00 JST
	r := &Renderer{From: "mimamori@sample.example", Targets: targets, AttachRawMax: 1 << 20, MaxPerHour: cfg.MaxPerHour,
		KibanaURL: "https://kibana.sample.example"}
	if err := r.LoadTemplates(""); err != nil {
		t.Fatal(err)
	}
	ob := NewFileOutbox(t.TempDir())
	return &rig{t: t, l: l, clock: c, cfg: cfg, outbox: ob,
		router: NewRouter(l, cfg, targets, c.now, zap.NewNop()),
		disp:   NewDispatcher(l, r, ob, cfg, targets, c.now, zap.NewNop())}
}

// post accepts an alertable mention.
func (r *rig) post(url, author, text string, sev mention.Severity, cats, tgts []string) string {
	r.t.Helper()
	r.seq++
	id := fmt.Sprintf("m%05d", r.seq)
	m := mention.Mention{ID: id, SourceID: "forum", Site: "forum.example.jp", URL: url, Author: author, Text: text,
		FirstSeen: r.clock.now(), LastSeen: r.clock.now(), ContentHash: mention.ContentHash("", text, author),
		Alert: true, Severity: sev, Categories: cats, Targets: tgts}
	for _, t := range tgts {
		m.Matches = append(m.Matches, mention.Match{Category: cats[0], Rule: "r", Term: "x", Target: t})
	}
	if _, err := r.l.Accept(context.Background(), m, true); err != nil {
		r.t.Fatal(err)
	}
	return id
}

// run routes and delivers what is due.
func (r *rig) run() {
	r.t.Helper()
	ctx := context.Background()
	if _, err := r.router.Route(ctx); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.disp.Flush(ctx); err != nil {
		r.t.Fatal(err)
	}
}

type sentMail struct {
	file, subject, body string
	to                  []string
	mentions, alerts    []string
}

func (r *rig) mails() []sentMail {
	r.t.Helper()
	files, _ := filepath.Glob(filepath.Join(r.outbox.dir, "*.eml"))
	sort.Strings(files)
	var out []sentMail
	for _, f := range files {
		b, _ := os.ReadFile(f)
		msg, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			r.t.Fatalf("%s: %v", f, err)
		}
		dec := new(mimepkg.WordDecoder)
		subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
		to, _ := msg.Header.AddressList("To")
		var addrs []string
		for _, a := range to {
			addrs = append(addrs, a.Address)
		}
		out = append(out, sentMail{file: f, subject: subject, body: string(b), to: addrs,
			mentions: strings.Fields(msg.Header.Get("X-Mimamori-Mention-Id")), alerts: strings.Fields(msg.Header.Get("X-Mimamori-Alert-Id"))})
	}
	return out
}

func TestRoutingByTargetKindCategoryAndSeverity(t *testing.T) {
	r := newRig(t, func(c *config.AlertConfig) {
		c.GroupWindow = 0
		c.Routes = []config.Route{
			{Name: "legal", To: []string{"legal@sample.example"}, MinSeverity: mention.SeverityMedium},
			{Name: "staff-care", To: []string{"hr@sample.example"}, ToStaffContacts: true, TargetKinds: []string{"staff"},
				MinSeverity: mention.SeverityHigh, NoAttachments: true},
			{Name: "threats", To: []string{"security@sample.example"}, Categories: []string{"threat"}},
		}
	})
	r.post("https://f.example.jp/t/1#p1", "a", "サンプル社は詐欺", mention.SeverityHigh, []string{"defamation"}, []string{"company"})
	r.post("https://f.example.jp/t/2#p1", "b", "佐藤を殺す", mention.SeverityCritical, []string{"threat"}, []string{"staff-sato"})
	r.post("https://f.example.jp/t/3#p1", "c", "佐藤に誠意を見せろ", mention.SeverityMedium, []string{"unreasonable_demand"}, []string{"staff-sato"})
	r.run()
	got := map[string][]string{} // recipient -> mention ids
	for _, m := range r.mails() {
		for _, to := range m.to {
			got[to] = append(got[to], m.mentions...)
		}
	}
	want := map[string][]string{
		"legal@sample.example":    {"m00001", "m00002", "m00003"},
		"hr@sample.example":       {"m00002"}, // staff, high and above
		"manager@sample.example":  {"m00002"}, // the staff member's contact
		"security@sample.example": {"m00002"}, // threats only
	}
	for to, ids := range want {
		sort.Strings(got[to])
		if fmt.Sprint(got[to]) != fmt.Sprint(ids) {
			t.Errorf("%s received %v, want %v", to, got[to], ids)
		}
	}
	if len(got) != len(want) {
		t.Errorf("unexpected recipients: %v", got)
	}
}

func TestBurstFromOneThreadIsOneMail(t *testing.T) {
	r := newRig(t, func(c *config.AlertConfig) { c.GroupWindow = 2 * time.Minute })
	for i := 1; i <= 3; i++ {
		r.post(fmt.Sprintf("https://f.example.jp/t/9#p%d", i), fmt.Sprint("u", i), "佐藤を殺す", mention.SeverityCritical,
			[]string{"threat"}, []string{"staff-sato"})
		r.clock.advance(20 * time.Second)
	}
	r.post("https://f.example.jp/t/10#p1", "x", "サンプル社は詐欺", mention.SeverityHigh, []string{"defamation"}, []string{"company"})
	r.run()
	if n := len(r.mails()); n != 0 {
		t.Fatalf("%d mails sent inside the group window", n)
	}
	r.clock.advance(2 * time.Minute)
	r.run()
	ms := r.mails()
	if len(ms) != 2 {
		t.Fatalf("want 2 mails (one per thread), got %d", len(ms))
	}
	var group sentMail
	for _, m := range ms {
		if len(m.mentions) == 3 {
			group = m
		}
	}
	if !strings.Contains(group.subject, "同じスレッドから 3 件") || !strings.Contains(group.subject, "緊急") {
		t.Errorf("group subject: %q", group.subject)
	}
}

func TestHourlyDigestCountsByCategory(t *testing.T) {
	r := newRig(t, func(c *config.AlertConfig) {
		c.Routes = []config.Route{{Name: "digest", To: []string{"legal@sample.example"}, Mode: config.ModeHourly}}
	})
	r.clock.advance(10 * time.Minute)
	for i := 0; i < 5; i++ {
		cat := []string{"insult", "defamation"}[i%2]
		r.post(fmt.Sprintf("https://f.example.jp/t/%d", i), "a"+fmt.Sprint(i), "x", mention.SeverityHigh, []string{cat}, []string{"company"})
	}
	r.run()
	if len(r.mails()) != 0 {
		t.Fatal("digest sent before the hour ended")
	}
	r.clock.advance(50 * time.Minute) // 11:00 JST
	r.run()
	ms := r.mails()
	if len(ms) != 1 || len(ms[0].mentions) != 5 {
		t.Fatalf("want one digest of 5, got %d mails", len(ms))
	}
	body := decodeQP(ms[0].body)
	for _, want := range []string{"件数: 5 件", "- 侮辱・暴言: 3 件", "- 名誉毀損・誹謗中傷: 2 件", "1時間のまとめ"} {
		if !strings.Contains(body, want) {
			t.Errorf("digest lacks %q:\n%s", want, body)
		}
	}
}

func TestSilenceWithExpiry(t *testing.T) {
	r := newRig(t, func(c *config.AlertConfig) { c.GroupWindow = 0 })
	ctx := context.Background()
	r.l.AddSilence(ctx, ledger.Silence{ID: "s1", Author: "troll", Created: r.clock.now(), Expires: r.clock.now().Add(7 * 24 * time.Hour)})
	r.post("https://f.example.jp/t/1#p1", "troll", "サンプル社は詐欺", mention.SeverityHigh, []string{"defamation"}, []string{"company"})
	r.run()
	if n := len(r.mails()); n != 0 {
		t.Fatalf("silenced author alerted (%d mails)", n)
	}
	events, _ := r.l.AlertEvents(ctx, 10)
	if events[0].State != ledger.AlertSilenced || events[0].SilenceID != "s1" {
		t.Fatalf("silenced alert not recorded as such: %+v", events[0])
	}
	r.clock.advance(8 * 24 * time.Hour)
	r.post("https://f.example.jp/t/1#p2", "troll", "サンプル社は詐欺だ", mention.SeverityHigh, []string{"defamation"}, []string{"company"})
	r.run()
	if n := len(r.mails()); n != 1 {
		t.Fatalf("after the silence expired: want 1 mail, got %d", n)
	}
}

func TestPersistentAuthorEscalates(t *testing.T) {
	r := newRig(t, func(c *config.AlertConfig) {
		c.GroupWindow = 0
		c.Routes = []config.Route{{Name: "persistent", To: []string{"legal@sample.example"}, Kinds: []string{"persistent_author"}}}
	})
	for i := 0; i < 3; i++ {
		r.post(fmt.Sprintf("https://f.example.jp/t/%d", i), "stalker", "佐藤はクズ", mention.SeverityHigh, []string{"insult"}, []string{"staff-sato"})
		r.clock.advance(3 * time.Hour)
	}
	r.run()
	ms := r.mails()
	if len(ms) != 1 || !strings.Contains(ms[0].subject, "執拗な投稿：stalker が 佐藤花子（スタッフ） について 3 件") {
		t.Fatalf("want one persistent-author mail, got %d: %+v", len(ms), ms)
	}
}

func TestSpikeEscalates(t *testing.T) {
	r := newRig(t, func(c *config.AlertConfig) {
		c.GroupWindow = 0
		c.MaxPerHour = 1000
		c.Routes = []config.Route{{Name: "spikes", To: []string{"pr@sample.example"}, Kinds: []string{"spike"}}}
		c.Escalation.SpikeMinCount = 10
		c.Escalation.SpikeFactor = 5
	})
	ctx := context.Background()
	// A quiet week: two mentions a day.
	for d := 7; d >= 1; d-- {
		r.clock.t = time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC).Add(-time.Duration(d) * 24 * time.Hour)
		for i := 0; i < 2; i++ {
			r.post(fmt.Sprintf("https://n.example.jp/%d/%d", d, i), "", "サンプル社", mention.SeverityInfo, []string{"complaint"}, []string{"company"})
		}
	}
	r.clock.t = time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	for i := 0; i < 9; i++ {
		r.post(fmt.Sprintf("https://n.example.jp/now/%d", i), "", "サンプル社", mention.SeverityInfo, []string{"complaint"}, []string{"company"})
	}
	if n, _ := Spikes(ctx, r.l, r.cfg.Escalation, r.clock.now()); n != 0 {
		t.Fatal("spike below the minimum count")
	}
	r.post("https://n.example.jp/now/9", "", "サンプル社", mention.SeverityInfo, []string{"complaint"}, []string{"company"})
	if n, _ := Spikes(ctx, r.l, r.cfg.Escalation, r.clock.now()); n != 1 {
		t.Fatal("no spike at 10 mentions in an hour against 2 a day")
	}
	if n, _ := Spikes(ctx, r.l, r.cfg.Escalation, r.clock.now().Add(10*time.Minute)); n != 0 {
		t.Fatal("the same spike alerted twice within its window")
	}
	r.run()
	if ms := r.mails(); len(ms) != 1 || !strings.Contains(ms[0].subject, "言及の急増") {
		t.Fatalf("want one spike mail, got %+v", ms)
	}
}

// failing fails every send whose notification id contains match.
type failing struct {
	Sender
	match string
	fails int
}

func (f *failing) Send(ctx context.Context, id string, msg *gomail.Msg) error {
	if strings.HasPrefix(id, f.match) {
		f.fails++
		return errors.New("554 relay refused")
	}
	return f.Sender.Send(ctx, id, msg)
}

func TestRetryThenDeadLetterRaisesOperatorAlert(t *testing.T) {
	r := newRig(t, func(c *config.AlertConfig) {
		c.GroupWindow = 0
		c.DeadAfter = 6 * time.Hour
		c.OperatorTo = []string{"ops@sample.example"}
	})
	f := &failing{Sender: r.outbox, match: "legal-"} // the legal route's mails fail, the operator's go out
	r.disp.email = f
	r.post("https://f.example.jp/t/1#p1", "a", "サンプル社は詐欺", mention.SeverityHigh, []string{"defamation"}, []string{"company"})
	r.run()
	for i := 0; i < 40; i++ {
		r.clock.advance(30 * time.Minute)
		r.run()
	}
	ctx := context.Background()
	dead, _ := r.l.Notifications(ctx, ledger.NotifyDead, 10)
	if len(dead) != 1 || dead[0].Attempts < 5 {
		t.Fatalf("want the notification dead after retries, got %+v (%d sends failed)", dead, f.fails)
	}
	ms := r.mails()
	if len(ms) != 1 || ms[0].to[0] != "ops@sample.example" || !strings.Contains(ms[0].subject, "運用") {
		t.Fatalf("want one operator mail, got %+v", ms)
	}
	// Resend after the relay is fixed.
	f.match = "never"
	if err := r.l.Resend(ctx, dead[0].ID, r.clock.now()); err != nil {
		t.Fatal(err)
	}
	r.run()
	if n := len(r.mails()); n != 2 {
		t.Fatalf("resend: want 2 mails, got %d", n)
	}
}

func TestWebhookRoute(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	fails := 1
	// A stand-in for a Slack incoming webhook (Slack cannot be reached here).
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			http.Error(w, "rate_limited", http.StatusTooManyRequests)
			return
		}
		b, _ := io.ReadAll(req.Body)
		bodies = append(bodies, string(b))
	}))
	defer slack.Close()
	r := newRig(t, func(c *config.AlertConfig) {
		c.GroupWindow = 0
		c.Routes = []config.Route{{Name: "slack", Webhook: slack.URL}}
	})
	r.post("https://f.example.jp/t/1#p1", "a", "佐藤を殺す", mention.SeverityCritical, []string{"threat"}, []string{"staff-sato"})
	r.run()
	r.clock.advance(time.Hour)
	r.run()
	r.clock.advance(time.Hour)
	r.run()
	if len(bodies) != 1 || !strings.Contains(bodies[0], "佐藤花子") {
		t.Fatalf("want one webhook post after a 429, got %v", bodies)
	}
}

// TestBurstLoad: 10,000 alertable posts in a burst, from 500 threads and
// authors. The bound: per route and hour, at most max_per_hour immediate
// mails plus one overflow digest; every alert is in exactly one mail.
func TestBurstLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	const posts, maxPerHour = 10000, 30
	r := newRig(t, func(c *config.AlertConfig) { c.MaxPerHour = maxPerHour; c.GroupWindow = time.Minute })
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	for i := 0; i < posts; i++ {
		r.post(fmt.Sprintf("https://f.example.jp/t/%d#p%d", i%500, i), fmt.Sprint("user", i%500), "サンプル社は詐欺",
			mention.SeverityHigh, []string{"defamation"}, []string{"company"})
	}
	r.run()
	r.clock.advance(time.Hour)
	r.run()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	ms := r.mails()
	if len(ms) > maxPerHour+1 {
		t.Fatalf("%d mails for one route in one hour, bound is %d", len(ms), maxPerHour+1)
	}
	seen := map[string]int{}
	for _, m := range ms {
		for _, id := range m.alerts {
			seen[id]++
		}
	}
	for i := 1; i <= posts; i++ {
		if id := ledger.AlertID(fmt.Sprintf("m%05d", i), ledger.AlertKindNew); seen[id] != 1 {
			t.Fatalf("alert %s is in %d mails", id, seen[id])
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("alert %s is in %d mails", id, n)
		}
	}
	t.Logf("%d posts -> %d mails in %v; heap in use %.1f MB after (%.1f MB before), %.1f MB allocated in all",
		posts, len(ms), time.Since(start).Round(time.Millisecond), float64(after.HeapInuse)/1e6, float64(before.HeapInuse)/1e6,
		float64(after.TotalAlloc-before.TotalAlloc)/1e6)
}

func TestPIIMaskedInExcerpts(t *testing.T) {
	got := maskPII("佐藤の番号は 080-1234-5678、メール sato@example.jp だ")
	if strings.Contains(got, "1234") || strings.Contains(got, "sato@") {
		t.Fatalf("not masked: %s", got)
	}
}

func TestTemplatesOverride(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ja.tmpl"), []byte(`{{define "single.subject"}}[社内] {{len .Alerts}} 件{{end}}`), 0o600)
	r := &Renderer{Targets: targets}
	if err := r.LoadTemplates(dir); err != nil {
		t.Fatal(err)
	}
	m := mention.Mention{ID: "m1", Severity: mention.SeverityHigh, Categories: []string{"insult"}}
	subject, body, err := r.Render("ja", ledger.Notification{ID: "n1", Kind: "single", Alerts: []ledger.AlertEvent{{ID: "a", Kind: "new", Mention: &m}}})
	if err != nil || subject != "[社内] 1 件" || !strings.Contains(body, "侮辱・暴言") {
		t.Fatalf("override: %q %v\n%s", subject, err, body)
	}
	os.WriteFile(filepath.Join(dir, "en.tmpl"), []byte(`{{define "single.subject"}}{{.Nope}{{end}}`), 0o600)
	if err := r.LoadTemplates(dir); err == nil || !strings.Contains(err.Error(), "en.tmpl") {
		t.Fatalf("broken user template: want an error naming the file, got %v", err)
	}
}

// smtpLike is a sender that is not the file outbox (recipients matter).
type smtpLike struct{ sent int }

func (s *smtpLike) Name() string { return "smtp test" }
func (s *smtpLike) Send(ctx context.Context, id string, msg *gomail.Msg) error {
	s.sent++
	return nil
}

// TestNoRecipientsIsAnErrorNotAGuess: a staff-contacts route for a staff
// member without contacts falls back to alert.to; with neither, the mail
// is not sent to a made-up address but retried and reported.
func TestNoRecipientsIsAnErrorNotAGuess(t *testing.T) {
	r := newRig(t, func(c *config.AlertConfig) {
		c.GroupWindow = 0
		c.To = nil
		c.Routes = []config.Route{{Name: "care", ToStaffContacts: true}}
	})
	s := &smtpLike{}
	r.disp.email = s
	r.post("https://f.example.jp/t/1#p1", "a", "サンプル社は詐欺", mention.SeverityHigh, []string{"defamation"}, []string{"company"})
	r.run()
	ns, _ := r.l.Notifications(context.Background(), "", 10)
	if s.sent != 0 || len(ns) != 1 || !strings.Contains(ns[0].LastError, "no recipients") {
		t.Fatalf("sent %d, notifications %+v", s.sent, ns)
	}
}

// TestUnreadableEvidenceDoesNotHoldTheAlert: a bundle that cannot be read
// (pruned, moved) leaves its attachment out, and the mail says so.
func TestUnreadableEvidenceDoesNotHoldTheAlert(t *testing.T) {
	r := newRig(t, func(c *config.AlertConfig) { c.GroupWindow = 0 })
	m := mention.Mention{ID: "gone", SourceID: "forum", URL: "https://f.example.jp/t/1#p1", Text: "詐欺", FirstSeen: r.clock.now(),
		LastSeen: r.clock.now(), ContentHash: "h", Alert: true, Severity: mention.SeverityHigh, Categories: []string{"defamation"},
		Targets: []string{"company"}, Evidence: &mention.EvidenceRef{BundleID: "b1", Path: filepath.Join(t.TempDir(), "missing")}}
	if _, err := r.l.Accept(context.Background(), m, true); err != nil {
		t.Fatal(err)
	}
	r.run()
	ms := r.mails()
	if len(ms) != 1 || !strings.Contains(decodeQP(ms[0].body), "添付できなかった証拠") {
		t.Fatalf("want the alert with a note on the missing evidence, got %d mails", len(ms))
	}
}
