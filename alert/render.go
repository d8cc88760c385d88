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
		case ledger.AlertKindEvidence:
			return "secured"
		}
	}
	return "single"
}

// Render returns the subject and body of a notification in lang, as text
// that is not a mail (a webhook, the CLI): it names no attachments.
func (r *Renderer) Render(lang string, n ledger.Notification) (subject, body string, err error) {
	subject, body, _, _, err = r.render(lang, n, false, false)
	return subject, body, err
}

// render builds the view of a notification and renders it. For a mail
// (inMail) the attachments are planned (and read) first, with attach
// saying whether the route attaches evidence, so that the body lists
// exactly what the mail carries; problems are what could not be attached.
func (r *Renderer) render(lang string, n ledger.Notification, inMail, attach bool) (subject, body string, v View, problems []string, err error) {
	if r.templates == nil {
		if err := r.LoadTemplates(""); err != nil {
			return "", "", v, nil, err
		}
	}
	if lang != "en" {
		lang = "ja"
	}
	if len(n.Alerts) == 0 {
		return "", "", v, nil, fmt.Errorf("render notification %s: it holds no alerts", n.ID)
	}
	v = r.view(lang, n)
	name := block(n)
	if inMail && name != "digest" {
		problems = r.planAttachments(lang, &v, attach)
	}
	var sb, bb bytes.Buffer
	if err := r.templates[lang].ExecuteTemplate(&sb, name+".subject", v); err != nil {
		return "", "", v, nil, fmt.Errorf("render notification %s (%s.subject): %w", n.ID, name, err)
	}
	if err := r.templates[lang].ExecuteTemplate(&bb, name+".body", v); err != nil {
		return "", "", v, nil, fmt.Errorf("render notification %s (%s.body): %w", n.ID, name, err)
	}
	return strings.Join(strings.Fields(sb.String()), " "), bb.String(), v, problems, nil
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
// the manifest, raw page and screenshot of each alert's bundle (those the
// manifest lists, at most 10 bundles) go along, and the body lists exactly
// the files attached.
func (r *Renderer) Message(lang string, n ledger.Notification, to []string, attach bool, sentAt time.Time) (*mail.Msg, error) {
	subject, body, v, missing, err := r.render(lang, n, true, attach)
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
	// Exactly the files the body lists. An unreadable bundle or file
	// (pruned, moved) does not hold the alert back: the body says what
	// could not be attached.
	for _, a := range attachments(v) {
		if err := msg.AttachReader(a.Name, bytes.NewReader(a.data)); err != nil {
			return nil, fmt.Errorf("notification %s: attach %s: %w", n.ID, a.Name, err)
		}
	}
	if len(missing) > 0 {
		body += "\n[添付できなかった証拠 / evidence not attached]\n- " + strings.Join(missing, "\n- ") + "\n"
	}
	msg.SetBodyString(mail.TypeTextPlain, body)
	return msg, nil
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
