// Package alert turns alert events into notifications for people: it
// routes each event (by severity, category, target kind, alert kind) to
// recipients, groups bursts from one thread or author, rolls overflow and
// digests up, renders Japanese or English mails from templates users can
// override, and delivers them from the ledger's durable outbox over SMTP,
// into a folder of .eml files, or to a Slack/Teams webhook, retrying until
// delivered and dead-lettering (with an operator alert) what never is.
package alert

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/wneessen/go-mail"

	"mimamori/config"
	"mimamori/evidence"
	"mimamori/internal/jst"
	"mimamori/ledger"
	"mimamori/mention"
)

//go:embed templates/*.tmpl
var shipped embed.FS

// Renderer builds notifications' subjects, bodies and mails.
type Renderer struct {
	From          string
	Targets       map[string]mention.Target
	AttachRawMax  int64
	MessageDomain string
	KibanaURL     string
	EvidenceURL   string
	EvidenceRoot  string
	MaxPerHour    int
	templates     map[string]*template.Template
}

var funcs = template.FuncMap{
	"join": strings.Join,
	"inc":  func(i int) int { return i + 1 },
	"quote": func(s string) string {
		lines := strings.Split(s, "\n")
		for i, l := range lines {
			lines[i] = "> " + l
		}
		return strings.Join(lines, "\n")
	},
	"oneline": func(s string) string { return excerptOf(strings.Join(strings.Fields(s), " "), 120) },
}

// LoadTemplates parses the shipped templates and, when dir is set, the
// user's ja.tmpl / en.tmpl in it, whose blocks override the shipped ones.
func (r *Renderer) LoadTemplates(dir string) error {
	r.templates = map[string]*template.Template{}
	for _, lang := range []string{"ja", "en"} {
		t, err := template.New(lang).Funcs(funcs).ParseFS(shipped, "templates/"+lang+".tmpl")
		if err != nil {
			return fmt.Errorf("shipped %s templates: %w", lang, err)
		}
		if dir != "" {
			p := filepath.Join(dir, lang+".tmpl")
			if data, err := os.ReadFile(p); err == nil {
				if _, err := t.New("user").Parse(string(data)); err != nil {
					return fmt.Errorf("alert template %s: %w", p, err)
				}
			} else if !os.IsNotExist(err) {
				return fmt.Errorf("alert template %s: %w", p, err)
			}
		}
		r.templates[lang] = t
	}
	return nil
}

// block names the template pair of a notification.
func block(n ledger.Notification) string {
	switch n.Kind {
	case "digest", "overflow":
		return "digest"
	case "group":
		if len(n.Alerts) > 1 {
			return "group"
		}
	}
	if len(n.Alerts) == 1 {
		switch n.Alerts[0].Kind {
		case ledger.AlertKindPersistent:
			return "persistent"
		case ledger.AlertKindSpike:
			return "spike"
		case ledger.AlertKindOperator:
			return "operator"
		}
	}
	return "single"
}

// Render returns the subject and body of a notification in lang.
func (r *Renderer) Render(lang string, n ledger.Notification) (subject, body string, err error) {
	if r.templates == nil {
		if err := r.LoadTemplates(""); err != nil {
			return "", "", err
		}
	}
	if lang != "en" {
		lang = "ja"
	}
	if len(n.Alerts) == 0 {
		return "", "", fmt.Errorf("render notification %s: it holds no alerts", n.ID)
	}
	v := r.view(lang, n)
	name := block(n)
	var sb, bb bytes.Buffer
	if err := r.templates[lang].ExecuteTemplate(&sb, name+".subject", v); err != nil {
		return "", "", fmt.Errorf("render notification %s (%s.subject): %w", n.ID, name, err)
	}
	if err := r.templates[lang].ExecuteTemplate(&bb, name+".body", v); err != nil {
		return "", "", fmt.Errorf("render notification %s (%s.body): %w", n.ID, name, err)
	}
	return strings.Join(strings.Fields(sb.String()), " "), bb.String(), nil
}

// MessageID returns the deterministic Message-ID of a notification, so a
// mail sent twice after a crash is recognisably the same mail.
func (r *Renderer) MessageID(id string) string {
	d := r.MessageDomain
	if d == "" {
		d = "mimamori.invalid"
	}
	return id + "@" + d
}

// Message builds the e-mail of a notification for recipients. With attach,
// the evidence manifest and raw page of each alert (at most 10) go along.
func (r *Renderer) Message(lang string, n ledger.Notification, to []string, attach bool, sentAt time.Time) (*mail.Msg, error) {
	subject, body, err := r.Render(lang, n)
	if err != nil {
		return nil, err
	}
	msg := mail.NewMsg()
	if err := msg.From(r.From); err != nil {
		return nil, fmt.Errorf("notification %s: from %q: %w", n.ID, r.From, err)
	}
	if len(to) == 0 {
		return nil, fmt.Errorf("notification %s: no recipients", n.ID)
	}
	if err := msg.To(to...); err != nil {
		return nil, fmt.Errorf("notification %s: to: %w", n.ID, err)
	}
	msg.Subject(subject)
	msg.SetMessageIDWithValue(r.MessageID(n.ID))
	msg.SetDateWithValue(sentAt.In(jst.Zone))
	msg.SetGenHeader("X-Mimamori-Notification-Id", n.ID)
	var ids, mids []string
	for _, a := range n.Alerts {
		ids = append(ids, a.ID)
		if a.MentionID != "" {
			mids = append(mids, a.MentionID)
		}
	}
	msg.SetGenHeader("X-Mimamori-Alert-Id", strings.Join(ids, " "))
	if len(mids) > 0 {
		msg.SetGenHeader("X-Mimamori-Mention-Id", strings.Join(mids, " "))
	}
	if attach && block(n) != "digest" {
		attached := 0
		var missing []string
		for _, a := range n.Alerts {
			if a.Mention == nil || a.Mention.Evidence == nil || attached >= 10 {
				continue
			}
			// An unreadable bundle (pruned, moved) must not hold the alert
			// back: the mail goes out and says what could not be attached.
			if err := r.attachEvidence(msg, a.Mention.Evidence, len(n.Alerts) > 1); err != nil {
				missing = append(missing, err.Error())
				continue
			}
			attached++
		}
		if len(missing) > 0 {
			body += "\n[添付できなかった証拠 / evidence not attached]\n- " + strings.Join(missing, "\n- ") + "\n"
		}
	}
	msg.SetBodyString(mail.TypeTextPlain, body)
	return msg, nil
}

func (r *Renderer) attachEvidence(msg *mail.Msg, ev *mention.EvidenceRef, prefixed bool) error {
	man, raw, err := evidence.ReadManifest(ev.Path)
	if err != nil {
		return err
	}
	prefix := ""
	if prefixed {
		prefix = ev.BundleID + "-"
	}
	if err := msg.AttachReader(prefix+"manifest.json", bytes.NewReader(raw)); err != nil {
		return fmt.Errorf("attach manifest of %s: %w", ev.BundleID, err)
	}
	for _, f := range man.Files {
		if (f.Role != "raw-response-body" && f.Role != evidence.RoleScreenshot) || f.Size > r.AttachRawMax {
			continue
		}
		data, err := os.ReadFile(filepath.Join(ev.Path, f.Path))
		if err != nil {
			return fmt.Errorf("attach %s of %s: %w", f.Path, ev.BundleID, err)
		}
		if err := msg.AttachReader(prefix+"evidence-"+filepath.Base(f.Path), bytes.NewReader(data)); err != nil {
			return fmt.Errorf("attach %s of %s: %w", f.Path, ev.BundleID, err)
		}
	}
	return nil
}

// NewRenderer builds the renderer a config describes, templates loaded.
func NewRenderer(cfg config.Config) (*Renderer, error) {
	targets := map[string]mention.Target{}
	for _, t := range cfg.Targets {
		targets[t.ID] = t
	}
	r := &Renderer{From: cfg.Alert.From, Targets: targets, AttachRawMax: cfg.Alert.AttachRawMaxBytes,
		KibanaURL: cfg.Alert.KibanaURL, EvidenceURL: cfg.Alert.EvidenceURL, EvidenceRoot: cfg.EvidenceDir(),
		MaxPerHour: cfg.Alert.MaxPerHour}
	if err := r.LoadTemplates(cfg.Alert.TemplatesDir); err != nil {
		return nil, err
	}
	return r, nil
}
