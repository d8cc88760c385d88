package alert

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"mimamori/evidence"
	"mimamori/internal/jst"
	"mimamori/ledger"
	"mimamori/mention"
)

// SeverityView names a severity in the mail's language.
type SeverityView struct {
	Name  string // critical
	Label string // 緊急 / CRITICAL
	Rank  int
}

// AlertView is one alert as templates see it. It carries no detector
// score: the score ranks alerts but is not a probability, and a mail shows
// the severity, the categories and the reason instead.
type AlertView struct {
	ID, Kind, MentionID string
	Severity            SeverityView
	MainCategory        string
	Categories, Targets []string
	URL, Site, SourceID string
	Author, Title       string
	Posted, Detected    string
	Excerpt, Reason     string
	Matches             []MatchView
	// Evidence is what the bundle's manifest says (nil: no bundle).
	Evidence *EvidenceView
	// ChainPosition and Timestamped repeat Evidence.ChainPosition and
	// Evidence.Timestamp == "stored" for templates written before
	// EvidenceView.
	ChainPosition int64
	Timestamped   bool
	// RawStored says the bundle's manifest lists the page as received
	// (and the file is there): only then may a mail say the original is
	// in the bundle.
	RawStored                bool
	EvidenceLink, KibanaLink string
	score                    float64
	mention                  *mention.Mention
}

// EvidenceView is what a mail says about an alert's evidence bundle. It is
// built from the bundle's manifest, read once per mail, and is the only
// source of the mail's statements about the bundle: the files, what was
// attached, the render status, the timestamp state, the missing parts.
type EvidenceView struct {
	BundleID, Path string
	// ManifestSHA256 is the manifest hash recorded at capture (the ledger's
	// copy, the one to check the bundle against).
	ManifestSHA256 string
	// Unreadable says why the manifest could not be read ("" when it was);
	// then nothing below is known.
	Unreadable string
	// ManifestChanged says the manifest on disk no longer has the hash
	// recorded at capture.
	ManifestChanged bool
	Kind            string
	ChainPosition   int64
	// RawSHA256 is the manifest's hash of the response body as received
	// ("" when the manifest lists none).
	RawSHA256 string
	// Render is the manifest's render status: rendered, failed, disabled,
	// or "" when it records none.
	Render string
	// Timestamp is "stored" (the token the manifest asks for is there),
	// "pending" (asked for, not there yet) or "none" (not asked for).
	Timestamp string
	// Missing lists the parts the manifest says were not captured.
	Missing []MissingView
	// InMail says the view is rendered into a mail: Attachments then lists
	// exactly the files attached for this bundle (none: AttachNote says
	// why), and NotAttached the bundle's files left out and why.
	InMail      bool
	Attachments []Attachment
	AttachNote  string
	NotAttached []string

	manifest    evidence.Manifest
	manifestRaw []byte
}

// MissingView is one reason some parts were not captured.
type MissingView struct {
	What   string // 画面写真、PDF / screenshot, PDF
	Reason string
}

// Attachment is one file attached to a mail.
type Attachment struct {
	Name  string // the file name in the mail
	Label string // what it is
	data  []byte
}

// MatchView is one match as templates see it.
type MatchView struct {
	Category, Term, Rule, Target string
	Start, End                   int
}

// Count is a labelled count.
type Count struct {
	Key   string
	Count int
}

// PersistentView describes a persistent-author alert.
type PersistentView struct {
	ledger.PersistentDetail
	TargetLabel string
}

// SpikeDetail is stored with a spike alert.
type SpikeDetail struct {
	Target   string  `json:"target"`
	Count    int     `json:"count"`
	Baseline float64 `json:"baseline"`
	Window   string  `json:"window"`
}

// SpikeView describes a spike alert.
type SpikeView struct {
	SpikeDetail
	TargetLabel string
}

// OperatorDetail is stored with an operator alert.
type OperatorDetail struct {
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

// View is what a template renders.
type View struct {
	Notification ledger.Notification
	Lang         string
	Severity     SeverityView
	Alerts       []AlertView
	Top          []AlertView
	Count        int
	AllTargets   []string
	GroupLabel   string
	ByCategory   []Count
	ByTarget     []Count
	Period       string
	PeriodLabel  string
	MaxPerHour   int
	Persistent   *PersistentView
	Spike        *SpikeView
	Operator     *OperatorDetail
	Latest       *AlertView
	KibanaSearch string
}

var severityLabel = map[string]map[mention.Severity]string{
	"ja": {mention.SeverityCritical: "緊急", mention.SeverityHigh: "重大", mention.SeverityMedium: "要注意", mention.SeverityInfo: "参考"},
	"en": {mention.SeverityCritical: "CRITICAL", mention.SeverityHigh: "HIGH", mention.SeverityMedium: "MEDIUM", mention.SeverityInfo: "INFO"},
}

var categoryLabel = map[string]map[string]string{
	"ja": {"threat": "脅迫・暴力の予告", "doxxing": "個人情報の晒し", "defamation": "名誉毀損・誹謗中傷",
		"insult": "侮辱・暴言", "intimidation": "威圧・執拗な言動", "discrimination": "差別的言動",
		"sexual": "性的な言動", "disruption": "業務妨害の扇動", "unauthorized_recording": "無断撮影",
		"unreasonable_demand": "不当な要求", "complaint": "苦情（正当な意見）"},
	"en": {"threat": "threat of violence", "doxxing": "doxxing", "defamation": "defamation",
		"insult": "insult", "intimidation": "intimidation", "discrimination": "discrimination",
		"sexual": "sexual harassment", "disruption": "incitement to disrupt business",
		"unauthorized_recording": "unauthorized recording", "unreasonable_demand": "unreasonable demand",
		"complaint": "complaint (legitimate)"},
}

var kindLabel = map[string]map[mention.TargetKind]string{
	"ja": {mention.KindCompany: "会社", mention.KindStaff: "スタッフ", mention.KindProduct: "製品"},
	"en": {mention.KindCompany: "company", mention.KindStaff: "staff", mention.KindProduct: "product"},
}

func sevRank(r int) mention.Severity {
	return [...]mention.Severity{mention.SeverityInfo, mention.SeverityMedium, mention.SeverityHigh, mention.SeverityCritical}[max(0, min(r, 3))]
}

func (r *Renderer) sev(lang string, s mention.Severity) SeverityView {
	return SeverityView{Name: string(s), Label: severityLabel[lang][s], Rank: s.Rank()}
}

func (r *Renderer) category(lang, c string) string {
	if l, ok := categoryLabel[lang][c]; ok {
		return l
	}
	return c
}

func (r *Renderer) targetLabel(lang, id string) string {
	t, ok := r.Targets[id]
	if !ok {
		return id
	}
	if lang == "ja" {
		return fmt.Sprintf("%s（%s）", t.Name, kindLabel[lang][t.Kind])
	}
	return fmt.Sprintf("%s (%s)", t.Name, kindLabel[lang][t.Kind])
}

// pii matches phone numbers and e-mail addresses, masked in mail excerpts:
// the mail travels further than the evidence bundle, which keeps them.
var pii = regexp.MustCompile(`[\w.+-]+@[\w-]+\.[\w.-]+|(?:\+?\d[\d\-‐ー－ ()]{8,}\d)|[０-９][０-９\-－ー‐]{8,}[０-９]`)

func maskPII(s string) string {
	return pii.ReplaceAllStringFunc(s, func(m string) string {
		r := []rune(m)
		out := make([]rune, len(r))
		for i, c := range r {
			switch {
			case i >= len(r)-2:
				out[i] = c
			case c == '@' || c == '.' || c == '-':
				out[i] = c
			default:
				out[i] = '*'
			}
		}
		return string(out)
	})
}

func excerptOf(s string, n int) string {
	r := []rune(strings.TrimSpace(s))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n]) + "…"
}

func (r *Renderer) mainCategory(m *mention.Mention) string {
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

// alertView builds the view of one alert; evs holds the evidence views
// of the mail by bundle path, so each manifest is read once per mail.
func (r *Renderer) alertView(lang string, e ledger.AlertEvent, evs map[string]*EvidenceView) AlertView {
	v := AlertView{ID: e.ID, Kind: e.Kind, MentionID: e.MentionID, Severity: r.sev(lang, sevRank(e.SeverityRank))}
	m := e.Mention
	if m == nil {
		return v
	}
	v.mention = m
	v.Severity = r.sev(lang, m.Severity)
	v.score = m.Score
	main := r.mainCategory(m)
	v.MainCategory = r.category(lang, main)
	for _, c := range m.Categories {
		v.Categories = append(v.Categories, r.category(lang, c))
	}
	for _, t := range m.Targets {
		v.Targets = append(v.Targets, r.targetLabel(lang, t))
	}
	v.URL, v.Site, v.SourceID, v.Title = m.URL, m.Site, m.SourceID, m.Title
	v.Author = m.Author
	if v.Author == "" {
		v.Author = "-"
	}
	v.Posted, v.Detected = r.when(lang, m.Published), r.when(lang, m.FirstSeen)
	v.Excerpt = maskPII(excerptOf(m.Text, 400))
	for _, mt := range m.Matches {
		mv := MatchView{Category: r.category(lang, mt.Category), Term: maskPII(mt.Term), Rule: mt.Rule, Start: mt.Start, End: mt.End}
		if mt.Target != "" {
			mv.Target = r.targetLabel(lang, mt.Target)
		}
		v.Matches = append(v.Matches, mv)
		if v.Reason == "" && mt.Target != "" && mt.Category != "complaint" {
			if lang == "ja" {
				v.Reason = fmt.Sprintf("「%s」（%s）が %s に向けられています（ルール %s）", mv.Term, mv.Category, mv.Target, mt.Rule)
			} else {
				v.Reason = fmt.Sprintf("%q (%s) is aimed at %s (rule %s)", mv.Term, mv.Category, mv.Target, mt.Rule)
			}
		}
	}
	if m.Evidence != nil {
		if v.Evidence = evs[m.Evidence.Path]; v.Evidence == nil {
			v.Evidence = r.evidenceView(lang, *m.Evidence)
			evs[m.Evidence.Path] = v.Evidence
		}
		v.ChainPosition, v.Timestamped = v.Evidence.ChainPosition, v.Evidence.Timestamp == evidence.StampStored
		v.RawStored = v.Evidence.RawSHA256 != ""
	}
	if m.Evidence != nil && r.EvidenceURL != "" && r.EvidenceRoot != "" {
		if rel, err := filepath.Rel(r.EvidenceRoot, m.Evidence.Path); err == nil && !strings.HasPrefix(rel, "..") {
			v.EvidenceLink = strings.TrimRight(r.EvidenceURL, "/") + "/" + filepath.ToSlash(rel) + "/"
		}
	}
	if r.KibanaURL != "" {
		v.KibanaLink = r.discover(fmt.Sprintf(`id:"%s"`, m.ID))
	}
	return v
}

// discover links to Kibana Discover on the mimamori data view with a query.
func (r *Renderer) discover(kql string) string {
	q := strings.ReplaceAll(kql, "'", "!'")
	return strings.TrimRight(r.KibanaURL, "/") + "/app/discover#/?_a=(dataSource:(dataViewId:'mimamori-mentions-dv',type:dataView),query:(language:kuery,query:'" +
		url.QueryEscape(q) + "'))&_g=(time:(from:now-1y,to:now))"
}

func (r *Renderer) when(lang string, t time.Time) string {
	if t.IsZero() {
		if lang == "ja" {
			return "不明"
		}
		return "unknown"
	}
	if lang == "ja" {
		return t.In(jst.Zone).Format("2006年01月02日 15:04:05 JST") + "（" + t.UTC().Format("15:04:05 UTC") + "）"
	}
	return t.In(jst.Zone).Format("2006-01-02 15:04:05 JST") + " (" + t.UTC().Format("15:04:05 UTC") + ")"
}

// view builds the template data of a notification.
func (r *Renderer) view(lang string, n ledger.Notification) View {
	v := View{Notification: n, Lang: lang, Count: len(n.Alerts), MaxPerHour: r.MaxPerHour}
	best := 0
	cats, tgts := map[string]int{}, map[string]int{}
	seenT := map[string]bool{}
	evs := map[string]*EvidenceView{}
	for _, e := range n.Alerts {
		av := r.alertView(lang, e, evs)
		v.Alerts = append(v.Alerts, av)
		best = max(best, av.Severity.Rank)
		if e.Mention != nil {
			for _, c := range e.Mention.Categories {
				cats[r.category(lang, c)]++
			}
			for _, t := range e.Mention.Targets {
				tgts[r.targetLabel(lang, t)]++
				if !seenT[t] {
					seenT[t] = true
					v.AllTargets = append(v.AllTargets, r.targetLabel(lang, t))
				}
			}
		}
		switch e.Kind {
		case ledger.AlertKindPersistent:
			var d ledger.PersistentDetail
			json.Unmarshal(e.Detail, &d)
			v.Persistent = &PersistentView{PersistentDetail: d, TargetLabel: r.targetLabel(lang, d.Target)}
			if e.Mention != nil {
				v.Latest = &av
			}
		case ledger.AlertKindSpike:
			var d SpikeDetail
			json.Unmarshal(e.Detail, &d)
			v.Spike = &SpikeView{SpikeDetail: d, TargetLabel: r.targetLabel(lang, d.Target)}
			if r.KibanaURL != "" {
				v.KibanaSearch = r.discover(fmt.Sprintf(`targets:"%s"`, d.Target))
			}
		case ledger.AlertKindOperator:
			var d OperatorDetail
			json.Unmarshal(e.Detail, &d)
			v.Operator = &d
		}
	}
	v.Severity = r.sev(lang, sevRank(best))
	v.ByCategory, v.ByTarget = sortedCounts(cats), sortedCounts(tgts)
	top := append([]AlertView(nil), v.Alerts...)
	sort.SliceStable(top, func(i, j int) bool {
		if top[i].Severity.Rank != top[j].Severity.Rank {
			return top[i].Severity.Rank > top[j].Severity.Rank
		}
		return top[i].score > top[j].score
	})
	if len(top) > 10 {
		top = top[:10]
	}
	v.Top = top
	v.GroupLabel = "スレッド"
	if strings.HasPrefix(n.GroupKey, "author:") {
		v.GroupLabel = "投稿者"
	}
	if lang == "en" {
		v.GroupLabel = map[bool]string{true: "author", false: "thread"}[strings.HasPrefix(n.GroupKey, "author:")]
	}
	var start time.Time
	switch {
	case strings.HasPrefix(n.GroupKey, "daily:"):
		start = n.Due.Add(-24 * time.Hour)
		v.PeriodLabel = map[string]string{"ja": "日次まとめ", "en": "daily digest"}[lang]
	default:
		start = n.Due.Add(-time.Hour)
		v.PeriodLabel = map[string]string{"ja": "1時間のまとめ", "en": "hourly digest"}[lang]
	}
	v.Period = start.In(jst.Zone).Format("2006-01-02 15:04") + "–" + n.Due.In(jst.Zone).Format("15:04 JST")
	return v
}

func sortedCounts(m map[string]int) []Count {
	var out []Count
	for k, n := range m {
		out = append(out, Count{k, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	return out
}
