// Package alert turns alertable mentions into e-mails for the legal team
// (Japanese first, English available) and delivers them from the ledger's
// durable outbox, over SMTP or into a folder of .eml files, retrying until
// they are delivered.
package alert

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wneessen/go-mail"

	"mimamori/evidence"
	"mimamori/mention"
)

// JST is Japan Standard Time; a fixed zone so no tzdata is needed.
var JST = time.FixedZone("JST", 9*60*60)

// Alert is one alert to deliver.
type Alert struct {
	ID      string
	Kind    string
	Created time.Time
	Mention mention.Mention
}

// Renderer builds alert e-mails.
type Renderer struct {
	From          string
	To            []string
	Language      string // ja or en
	Targets       map[string]mention.Target
	AttachRawMax  int64
	MessageDomain string
}

var severityJA = map[mention.Severity]string{
	mention.SeverityCritical: "緊急", mention.SeverityHigh: "重大", mention.SeverityMedium: "要注意", mention.SeverityInfo: "参考",
}

var categoryJA = map[string]string{
	"threat": "脅迫・暴力の予告", "doxxing": "個人情報の晒し", "defamation": "名誉毀損・誹謗中傷",
	"insult": "侮辱・暴言", "intimidation": "威圧・執拗な言動", "discrimination": "差別的言動",
	"sexual": "性的な言動", "disruption": "業務妨害の扇動", "unauthorized_recording": "無断撮影",
	"unreasonable_demand": "不当な要求", "complaint": "苦情（正当な意見）",
}

var categoryEN = map[string]string{
	"threat": "threat of violence", "doxxing": "doxxing", "defamation": "defamation",
	"insult": "insult", "intimidation": "intimidation", "discrimination": "discrimination",
	"sexual": "sexual harassment", "disruption": "incitement to disrupt business",
	"unauthorized_recording": "unauthorized recording", "unreasonable_demand": "unreasonable demand",
	"complaint": "complaint (legitimate)",
}

var kindJA = map[mention.TargetKind]string{mention.KindCompany: "会社", mention.KindStaff: "スタッフ", mention.KindProduct: "製品"}

// MessageID returns the deterministic Message-ID of an alert, so a mail
// sent twice after a crash can be recognised as the same mail.
func (r *Renderer) MessageID(alertID string) string {
	d := r.MessageDomain
	if d == "" {
		d = "mimamori.invalid"
	}
	return "<" + alertID + "@" + d + ">"
}

func (r *Renderer) targetLabel(id string, ja bool) string {
	t, ok := r.Targets[id]
	if !ok {
		return id
	}
	if ja {
		return fmt.Sprintf("%s（%s）", t.Name, kindJA[t.Kind])
	}
	return fmt.Sprintf("%s (%s)", t.Name, t.Kind)
}

// mainCategory is the category of the strongest attributed match.
func mainCategory(m mention.Mention) string {
	for _, mt := range m.Matches {
		if mt.Target != "" && mt.Category != "complaint" {
			return mt.Category
		}
	}
	for _, c := range m.Categories {
		if c != "complaint" {
			return c
		}
	}
	return "complaint"
}

// Subject returns the subject line.
func (r *Renderer) Subject(a Alert) string {
	m := a.Mention
	var tl []string
	for _, t := range m.Targets {
		tl = append(tl, r.targetLabel(t, r.Language != "en"))
	}
	cat := mainCategory(m)
	if r.Language == "en" {
		return fmt.Sprintf("[mimamori %s] %s: post about %s", strings.ToUpper(string(m.Severity)), categoryEN[cat], strings.Join(tl, ", "))
	}
	return fmt.Sprintf("【mimamori %s】%s：%s への投稿", severityJA[m.Severity], categoryJA[cat], strings.Join(tl, "、"))
}

// Body returns the plain-text body.
func (r *Renderer) Body(a Alert) string {
	m := a.Mention
	ja := r.Language != "en"
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	fmtT := func(t time.Time) string {
		if t.IsZero() {
			if ja {
				return "不明"
			}
			return "unknown"
		}
		if ja {
			return t.In(JST).Format("2006年01月02日 15:04:05 JST")
		}
		return t.In(JST).Format("2006-01-02 15:04:05 JST")
	}
	var cats, tgts []string
	for _, c := range m.Categories {
		if ja {
			cats = append(cats, categoryJA[c])
		} else {
			cats = append(cats, categoryEN[c])
		}
	}
	for _, t := range m.Targets {
		tgts = append(tgts, r.targetLabel(t, ja))
	}
	excerpt := excerptOf(m.Text, 400)
	if ja {
		w("mimamori が、会社またはスタッフへの誹謗中傷・ハラスメントの可能性がある投稿を検知しました。")
		w("投稿は削除されることがあります。証拠の保全状況をご確認のうえ、対応をご判断ください。")
		w("")
		w("重大度　: %s（%s） スコア %.1f", severityJA[m.Severity], m.Severity, m.Score)
		w("分類　　: %s", strings.Join(cats, "、"))
		w("対象　　: %s", strings.Join(tgts, "、"))
		if why := r.reasonJA(m); why != "" {
			w("判定理由: %s", why)
		}
		w("")
		w("■ 投稿")
		w("URL　　　: %s", m.URL)
		w("サイト　 : %s（ソース %s）", m.Site, m.SourceID)
		w("投稿者　 : %s", orDash(m.Author))
		w("投稿日時 : %s", fmtT(m.Published))
		w("検知日時 : %s", fmtT(m.FirstSeen))
		if m.Title != "" {
			w("タイトル : %s", m.Title)
		}
		w("")
		w("■ 抜粋")
		w("%s", quote(excerpt))
		w("")
		w("■ 該当箇所")
	} else {
		w("mimamori detected a post that may be defamation or harassment of the company or its staff.")
		w("")
		w("Severity : %s, score %.1f", m.Severity, m.Score)
		w("Category : %s", strings.Join(cats, ", "))
		w("Target   : %s", strings.Join(tgts, ", "))
		if m.Explanation != "" {
			w("Why      : %s", m.Explanation)
		}
		w("")
		w("== Post")
		w("URL      : %s", m.URL)
		w("Site     : %s (source %s)", m.Site, m.SourceID)
		w("Author   : %s", orDash(m.Author))
		w("Posted   : %s", fmtT(m.Published))
		w("Detected : %s", fmtT(m.FirstSeen))
		w("")
		w("== Excerpt")
		w("%s", quote(excerpt))
		w("")
		w("== Matches")
	}
	for _, mt := range m.Matches {
		label := categoryEN[mt.Category]
		if ja {
			label = categoryJA[mt.Category]
		}
		tgt := ""
		if mt.Target != "" {
			tgt = " → " + r.targetLabel(mt.Target, ja)
		}
		w("- %s「%s」(%d–%d, rule %s)%s", label, mt.Term, mt.Start, mt.End, mt.Rule, tgt)
	}
	w("")
	if ev := m.Evidence; ev != nil {
		if ja {
			w("■ 証拠の保全")
			w("バンドルID　　　: %s", ev.BundleID)
			w("保存場所　　　　: %s", ev.Path)
			w("manifest SHA-256: %s", ev.ManifestSHA256)
			w("生データ SHA-256: %s", ev.RawSHA256)
			w("改ざん検証　　　: mimamori evidence verify %s", ev.Path)
			w("添付: manifest.json（全ファイルのハッシュ）と、受信したままのページ")
		} else {
			w("== Evidence")
			w("Bundle          : %s", ev.BundleID)
			w("Stored at       : %s", ev.Path)
			w("manifest SHA-256: %s", ev.ManifestSHA256)
			w("raw page SHA-256: %s", ev.RawSHA256)
			w("Verify with     : mimamori evidence verify %s", ev.Path)
		}
	} else if ja {
		w("■ 証拠の保全: 保全できませんでした（ログを確認してください）")
	} else {
		w("== Evidence: capture failed (see the daemon log)")
	}
	w("")
	w("mention id: %s / alert id: %s", m.ID, a.ID)
	if ja {
		w("このメールは mimamori が自動送信しています。(English: set alert.language to en)")
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func quote(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = "> " + l
	}
	return strings.Join(lines, "\n")
}

func excerptOf(s string, max int) string {
	r := []rune(strings.TrimSpace(s))
	if len(r) <= max {
		return string(r)
	}
	return string(r[:max]) + "…"
}

// reasonJA explains in Japanese why the post alerted: the strongest
// attributed match, its category and its target.
func (r *Renderer) reasonJA(m mention.Mention) string {
	for _, mt := range m.Matches {
		if mt.Target == "" || mt.Category == "complaint" {
			continue
		}
		return fmt.Sprintf("「%s」（%s）が %s に向けられています（ルール %s）", mt.Term, categoryJA[mt.Category],
			r.targetLabel(mt.Target, true), mt.Rule)
	}
	return ""
}

// Message builds the e-mail for an alert, with the evidence manifest and
// the raw page attached when a bundle exists.
func (r *Renderer) Message(a Alert, sentAt time.Time) (*mail.Msg, error) {
	msg := mail.NewMsg()
	if err := msg.From(r.From); err != nil {
		return nil, fmt.Errorf("render alert %s: from %q: %w", a.ID, r.From, err)
	}
	to := r.To
	if len(to) == 0 {
		to = []string{"legal@localhost"}
	}
	if err := msg.To(to...); err != nil {
		return nil, fmt.Errorf("render alert %s: to: %w", a.ID, err)
	}
	msg.Subject(r.Subject(a))
	msg.SetMessageIDWithValue(strings.Trim(r.MessageID(a.ID), "<>"))
	msg.SetDateWithValue(sentAt.In(JST))
	msg.SetGenHeader("X-Mimamori-Alert-Id", a.ID)
	msg.SetGenHeader("X-Mimamori-Mention-Id", a.Mention.ID)
	msg.SetGenHeader("X-Mimamori-Severity", string(a.Mention.Severity))
	msg.SetBodyString(mail.TypeTextPlain, r.Body(a))
	if ev := a.Mention.Evidence; ev != nil {
		man, raw, err := evidence.ReadManifest(ev.Path)
		if err != nil {
			return nil, fmt.Errorf("render alert %s: %w", a.ID, err)
		}
		if err := msg.AttachReader("manifest.json", bytes.NewReader(raw)); err != nil {
			return nil, fmt.Errorf("render alert %s: attach manifest: %w", a.ID, err)
		}
		for _, f := range man.Files {
			if f.Role != "raw-response-body" || f.Size > r.AttachRawMax {
				continue
			}
			data, err := os.ReadFile(filepath.Join(ev.Path, f.Path))
			if err != nil {
				return nil, fmt.Errorf("render alert %s: attach %s: %w", a.ID, f.Path, err)
			}
			if err := msg.AttachReader("evidence-"+filepath.Base(f.Path), bytes.NewReader(data)); err != nil {
				return nil, fmt.Errorf("render alert %s: attach %s: %w", a.ID, f.Path, err)
			}
		}
	}
	return msg, nil
}
