package monitor

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"mimamori/crawler/fetch"
	"mimamori/evidence"
	"mimamori/mention"
)

// recheckKey is the crawl-state source under which the re-checker keeps
// the last observation of each mention.
const recheckKey = "recheck"

// Recheck fetches every alerted post again and records, as a new bundle
// linked to its first capture, what became of it: deleted (404/410 or a
// "削除されました" page), unreachable, or still there. A state is recorded
// when it changes (and "unchanged" at most once a week), so the chain does
// not fill with repeats. Edits are caught by the crawler's own passes,
// which capture the new version linked to the first.
func (m *Monitor) Recheck(ctx context.Context) (int, error) {
	forDur := m.cfg.Evidence.RecheckFor
	if forDur <= 0 {
		forDur = 30 * 24 * time.Hour
	}
	ms, err := m.ledger.AlertedMentions(ctx, m.now().Add(-forDur))
	if err != nil {
		return 0, err
	}
	allow := map[string]bool{}
	for _, s := range m.cfg.Sources {
		allow[s.ID] = s.AllowPrivate
	}
	recorded := 0
	for _, mn := range ms {
		if ctx.Err() != nil {
			return recorded, ctx.Err()
		}
		if mn.Evidence == nil {
			continue
		}
		obs, f := m.observe(ctx, mn, allow[mn.SourceID])
		prev, _, err := m.ledger.GetState(ctx, recheckKey, mn.ID)
		if err != nil {
			m.log.Warn("re-check state", zap.String("mention", mn.ID), zap.Error(err))
			continue
		}
		last, _, err := m.ledger.GetState(ctx, recheckKey, mn.ID+":at")
		if err != nil {
			m.log.Warn("re-check state", zap.String("mention", mn.ID), zap.Error(err))
			continue
		}
		lastAt, _ := time.Parse(time.RFC3339, last)
		if obs.Kind == prev && (obs.Kind != evidence.ObservedUnchanged || m.now().Sub(lastAt) < 7*24*time.Hour) {
			continue
		}
		res, err := m.evidence.RecordObservation(ctx, mn.Evidence.BundleID, mn, obs, f)
		if err != nil {
			m.log.Error("record re-check", zap.String("mention", mn.ID), zap.Error(err))
			continue
		}
		if err := m.ledger.PutState(ctx, recheckKey, mn.ID, obs.Kind); err != nil {
			m.log.Error("save re-check state", zap.String("mention", mn.ID), zap.Error(err))
		}
		if err := m.ledger.PutState(ctx, recheckKey, mn.ID+":at", m.now().UTC().Format(time.RFC3339)); err != nil {
			m.log.Error("save re-check state", zap.String("mention", mn.ID), zap.Error(err))
		}
		recorded++
		lvl := m.log.Info
		if obs.Kind == evidence.ObservedDeleted {
			lvl = m.log.Warn
		}
		lvl("re-check recorded", zap.String("mention", mn.ID), zap.String("url", mn.URL), zap.String("kind", obs.Kind),
			zap.String("bundle", res.Ref.BundleID), zap.String("note", obs.Note))
	}
	return recorded, nil
}

// observe fetches a post's URL once, with the crawler's limits and SSRF
// guard, and says what it found.
func (m *Monitor) observe(ctx context.Context, mn mention.Mention, allowPrivate bool) (evidence.Observation, *mention.Fetch) {
	now := m.now().UTC()
	client := fetch.NewClient(fetch.Options{UserAgent: m.cfg.Crawler.UserAgent, Timeout: m.cfg.Crawler.Timeout,
		MaxBodyBytes: m.cfg.Crawler.MaxBodyBytes, MaxRedirects: m.cfg.Crawler.MaxRedirects, AllowPrivate: allowPrivate})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, mn.URL, nil)
	if err != nil {
		return evidence.Observation{Kind: evidence.ObservedUnreachable, ObservedAt: now, Error: err.Error()}, nil
	}
	resp, err := client.Do(req)
	if err != nil {
		return evidence.Observation{Kind: evidence.ObservedUnreachable, ObservedAt: now, Error: err.Error()}, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return evidence.Observation{Kind: evidence.ObservedUnreachable, ObservedAt: now, StatusCode: resp.StatusCode, Error: err.Error()}, nil
	}
	f := &mention.Fetch{RequestURL: mn.URL, FinalURL: resp.Request.URL.String(), Method: http.MethodGet, StatusCode: resp.StatusCode,
		Proto: resp.Proto, Header: resp.Header, FetchedAt: now, Body: body}
	if gone, why := evidence.LooksDeleted(resp.StatusCode, resp.Header, body, mn.Text); gone {
		return evidence.Observation{Kind: evidence.ObservedDeleted, ObservedAt: now, StatusCode: resp.StatusCode, Note: why}, f
	}
	if resp.StatusCode >= 400 { // 403, 429, 5xx: not an answer about the post
		return evidence.Observation{Kind: evidence.ObservedUnreachable, ObservedAt: now, StatusCode: resp.StatusCode,
			Error: fmt.Sprintf("HTTP %s", resp.Status)}, f
	}
	return evidence.Observation{Kind: evidence.ObservedUnchanged, ObservedAt: now, StatusCode: resp.StatusCode}, f
}

func (m *Monitor) recheckLoop(ctx context.Context) {
	every := m.cfg.Evidence.RecheckInterval
	if every < 0 {
		return
	}
	if every == 0 {
		every = 6 * time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := m.Recheck(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("re-check", zap.Error(err))
		}
	}
}
