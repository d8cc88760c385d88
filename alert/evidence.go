package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"mimamori/evidence"
	"mimamori/mention"
)

// maxAttachedBundles bounds the bundles whose files one mail attaches.
const maxAttachedBundles = 10

// evidenceView reads the bundle's manifest and says what a mail may state
// about the bundle. Callers read each bundle once per mail (view keeps the
// views by path).
func (r *Renderer) evidenceView(lang string, ref mention.EvidenceRef) *EvidenceView {
	ev := &EvidenceView{BundleID: ref.BundleID, Path: ref.Path, ManifestSHA256: ref.ManifestSHA256}
	man, raw, err := evidence.ReadManifest(ref.Path)
	if err != nil {
		ev.Unreadable = err.Error()
		return ev
	}
	ev.manifest, ev.manifestRaw = man, raw
	sum := sha256.Sum256(raw)
	ev.ManifestChanged = ref.ManifestSHA256 != "" && hex.EncodeToString(sum[:]) != ref.ManifestSHA256
	ev.Kind, ev.ChainPosition = man.Kind, man.ChainPosition
	for _, f := range man.Files {
		if f.Role != evidence.RoleRaw {
			continue
		}
		// Listed and there (retention may have pruned it).
		if fi, err := os.Stat(filepath.Join(ref.Path, filepath.FromSlash(f.Path))); err == nil && fi.Mode().IsRegular() {
			ev.RawSHA256 = f.SHA256
			break
		}
	}
	if man.Render != nil {
		ev.Render = man.Render.Status
	}
	ev.Timestamp = evidence.StampNone
	if man.Timestamp != nil {
		ev.Timestamp = evidence.StampPending
		name := filepath.Base(filepath.FromSlash(man.Timestamp.TokenFile))
		if man.Timestamp.TokenFile == "" {
			name = evidence.TimestampName
		}
		if _, err := os.Stat(filepath.Join(ref.Path, name)); err == nil {
			ev.Timestamp = evidence.StampStored
		}
	}
	// One line per reason, in the manifest's order.
	byReason := map[string]int{}
	for _, m := range man.Missing {
		reason := evidence.MissingReason(lang, m)
		what := evidence.MissingWhat(lang, m.What)
		if i, ok := byReason[reason]; ok {
			ev.Missing[i].What += map[string]string{"ja": "、", "en": ", "}[lang] + what
			continue
		}
		byReason[reason] = len(ev.Missing)
		ev.Missing = append(ev.Missing, MissingView{What: what, Reason: reason})
	}
	return ev
}

var attachLabel = map[string]map[string]string{
	"ja": {evidence.ManifestName: "全ファイルのハッシュ値", evidence.RoleRaw: "受信したままのページ", evidence.RoleScreenshot: "スクリーンショット",
		evidence.RoleMarked: "該当投稿を赤枠で示した画像（画面写真からの派生）"},
	"en": {evidence.ManifestName: "hashes of every file", evidence.RoleRaw: "the page as received", evidence.RoleScreenshot: "screenshot",
		evidence.RoleMarked: "the alerted post outlined (derived from the screenshot)"},
}

// planAttachments decides which files of each bundle a mail attaches and
// reads them, before the body is rendered: the body then lists exactly
// the files the mail carries. With attach false (a route without
// attachments) nothing is attached and the body says so. Problems
// (unreadable bundles or files) are returned for the mail's note.
func (r *Renderer) planAttachments(lang string, v *View, attach bool) []string {
	var problems []string
	prefixed := len(v.Alerts) > 1
	bundles := 0
	for _, a := range v.Alerts {
		ev := a.Evidence
		if ev == nil || ev.InMail {
			continue // no bundle, or one already planned for another alert of this mail
		}
		ev.InMail = true
		switch {
		case !attach:
			ev.AttachNote = map[string]string{"ja": "この通知先には証拠を添付しない設定です", "en": "this route attaches no evidence"}[lang]
		case ev.Unreadable != "":
			ev.AttachNote = map[string]string{"ja": "証拠バンドルを読めませんでした", "en": "the evidence bundle could not be read"}[lang]
			problems = append(problems, ev.Unreadable)
		case bundles >= maxAttachedBundles:
			ev.AttachNote = fmt.Sprintf(map[string]string{"ja": "1 通に添付する証拠は %d 件までです", "en": "a mail attaches the evidence of at most %d posts"}[lang],
				maxAttachedBundles)
		default:
			bundles++
			problems = append(problems, r.attachFiles(lang, ev, prefixed)...)
		}
	}
	return problems
}

// attachFiles plans the manifest, the raw page, the screenshot and the
// marked image of one bundle (the latter three when the manifest lists them
// and they are within AttachRawMax).
func (r *Renderer) attachFiles(lang string, ev *EvidenceView, prefixed bool) []string {
	prefix := ""
	if prefixed {
		prefix = ev.BundleID + "-"
	}
	ev.Attachments = append(ev.Attachments, Attachment{Name: prefix + evidence.ManifestName, Label: attachLabel[lang][evidence.ManifestName],
		data: ev.manifestRaw})
	var problems []string
	for _, f := range ev.manifest.Files {
		if f.Role != evidence.RoleRaw && f.Role != evidence.RoleScreenshot && f.Role != evidence.RoleMarked {
			continue
		}
		label := attachLabel[lang][f.Role]
		if f.Size > r.AttachRawMax {
			ev.NotAttached = append(ev.NotAttached, fmt.Sprintf(map[string]string{
				"ja": "%s（%s、%d バイト。添付の上限 %d バイトを超えるため）",
				"en": "%s (%s, %d bytes, over the attachment limit of %d bytes)"}[lang], label, f.Path, f.Size, r.AttachRawMax))
			continue
		}
		data, err := os.ReadFile(filepath.Join(ev.Path, filepath.FromSlash(f.Path)))
		if err != nil {
			ev.NotAttached = append(ev.NotAttached, fmt.Sprintf(map[string]string{
				"ja": "%s（%s を読めませんでした）", "en": "%s (%s could not be read)"}[lang], label, f.Path))
			problems = append(problems, fmt.Sprintf("attach %s of %s: %v", f.Path, ev.BundleID, err))
			continue
		}
		ev.Attachments = append(ev.Attachments, Attachment{Name: prefix + "evidence-" + filepath.Base(f.Path), Label: label, data: data})
	}
	return problems
}

// attachments returns every file a mail built from v attaches, each once.
func attachments(v View) []Attachment {
	var out []Attachment
	seen := map[*EvidenceView]bool{}
	for _, a := range v.Alerts {
		if a.Evidence == nil || seen[a.Evidence] {
			continue
		}
		seen[a.Evidence] = true
		out = append(out, a.Evidence.Attachments...)
	}
	return out
}
