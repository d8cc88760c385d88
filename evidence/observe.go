package evidence

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/html/charset"
	"golang.org/x/text/unicode/norm"

	"mimamori/mention"
)

// Observation kinds.
const (
	// ObservedUnchanged: the post is still there as captured.
	ObservedUnchanged = "unchanged"
	// ObservedEdited: the post is there with different content.
	ObservedEdited = "edited"
	// ObservedDeleted: the post is gone (404/410, a "deleted" page).
	ObservedDeleted = "deleted"
	// ObservedUnreachable: the site could not be asked (network, 5xx).
	// A check we did not make (our SSRF guard refused, robots.txt, our own
	// configuration) is no observation of the site and is not recorded.
	ObservedUnreachable = "unreachable"
)

// Observation is the result of re-checking a captured post.
type Observation struct {
	Kind       string    `json:"kind"`
	ObservedAt time.Time `json:"observed_at"`
	StatusCode int       `json:"status_code,omitempty"`
	// ContentHash is mention.ContentHash of the post as seen now (edits).
	ContentHash string `json:"content_hash,omitempty"`
	// Note says what showed the kind (e.g. the phrase of a deletion page).
	Note string `json:"note,omitempty"`
	// Error is the fetch error of an unreachable observation.
	Error string `json:"error,omitempty"`
}

// RecordObservation stores the re-check of an earlier bundle (id or path)
// as a NEW bundle of kind "observation" whose subject is that bundle: the
// observation (observation.json) and, when f is given, the response of the
// re-check (raw bytes, exchange, WARC). m may be the zero Mention: the
// mention id and URL then come from the subject. The subject is never
// touched. An edit that should be shown in full (screenshot and PDF of the
// new version) is better stored with CaptureWith and CaptureOptions.Subject.
func (s *Store) RecordObservation(ctx context.Context, subject string, m mention.Mention, obs Observation, f *mention.Fetch) (Result, error) {
	start := time.Now()
	switch obs.Kind {
	case ObservedUnchanged, ObservedEdited, ObservedDeleted, ObservedUnreachable:
	default:
		return Result{}, fmt.Errorf("record observation: unknown kind %q", obs.Kind)
	}
	link, err := s.link(subject, "observation-of")
	if err != nil {
		return Result{}, fmt.Errorf("record observation: %w", err)
	}
	dir, _ := s.Resolve(subject)
	subj, _, err := ReadManifest(dir)
	if err != nil {
		return Result{}, fmt.Errorf("record observation: %w", err)
	}
	now := s.now().UTC()
	if obs.ObservedAt.IsZero() {
		obs.ObservedAt = now
	}
	obs.ObservedAt = obs.ObservedAt.UTC()
	if m.ID == "" {
		m = mention.Mention{ID: subj.MentionID, Version: subj.Version, SourceID: subj.SourceID, URL: subj.URL}
	}
	if f != nil && obs.StatusCode == 0 {
		obs.StatusCode = f.StatusCode
	}
	man := s.baseManifest(KindObservation, newBundleID(m.ID, m.Version, now, "o"), m, f, now)
	if f == nil {
		man.RequestURL, man.FinalURL, man.StatusCode = subj.FinalURL, subj.FinalURL, obs.StatusCode
		man.FetchedAt = obs.ObservedAt
	}
	man.Subject = link
	man.Observation = &obs
	d := &draft{man: man, stamp: s.tsa != nil}
	ob, _ := json.MarshalIndent(obs, "", "  ")
	d.add("observation.json", RoleObservation, ob)
	if f != nil {
		d.addFetchFiles(mention.Mention{}, f)
		if w, err := buildWARC(f, s.tool, man.BundleID, now); err == nil {
			d.add(WARCName, RoleWARC, w)
		}
	}
	res, err := s.commit(ctx, d)
	res.Duration = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("record observation of %s: %w", link.BundleID, err)
	}
	return res, nil
}

// deletedPhrases are what Japanese and English sites show in place of a
// removed post.
var deletedPhrases = []string{
	"削除されました", "削除済み", "この投稿は削除", "このレスは削除", "この書き込みは削除", "投稿者により削除", "管理者により削除",
	"あぼーん", "存在しません", "見つかりませんでした", "ページが見つかりません", "このツイートは削除", "このポストは削除",
	"has been deleted", "has been removed", "this post was deleted", "this page doesn't exist", "page not found", "no longer available",
}

// LooksDeleted says whether a re-check response shows the post is gone:
// 404 or 410, or a page saying so (decoded from its charset, Shift_JIS and
// EUC-JP included). It returns the reason. A page that says "deleted" but
// still contains the post's text (wantText, optional) is not a deletion
// (another reply may have been deleted).
func LooksDeleted(status int, header http.Header, body []byte, wantText string) (bool, string) {
	if status == http.StatusNotFound || status == http.StatusGone {
		return true, fmt.Sprintf("HTTP %d", status)
	}
	if status >= 400 {
		return false, ""
	}
	enc, _, _ := charset.DetermineEncoding(body, header.Get("Content-Type"))
	decoded, err := enc.NewDecoder().Bytes(body)
	if err != nil {
		decoded = body
	}
	text := strings.ToLower(norm.NFKC.String(string(decoded)))
	if wantText != "" {
		w := strings.ToLower(norm.NFKC.String(strings.TrimSpace(wantText)))
		if len(w) > 0 && strings.Contains(text, w) {
			return false, ""
		}
	}
	for _, p := range deletedPhrases {
		if strings.Contains(text, strings.ToLower(p)) {
			return true, fmt.Sprintf("the page says %q", p)
		}
	}
	return false, ""
}
