package monitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"mimamori/config"
	"mimamori/crawler"
	"mimamori/crawler/fetch"
	"mimamori/evidence"
	"mimamori/internal/netguard"
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
	sources := make(map[string]config.Source, len(m.cfg.Sources))
	for _, s := range m.cfg.Sources {
		sources[s.ID] = s
	}
	recorded := 0
	for _, mn := range ms {
		if ctx.Err() != nil {
			return recorded, ctx.Err()
		}
		if mn.Evidence == nil {
			continue
		}
		src, ok := sources[mn.SourceID]
		if !ok {
			// The source left the configuration: its post is re-checked
			// with the crawler-wide limits and public addresses only.
			src = config.Source{ID: mn.SourceID}
		}
		obs, f, err := m.observe(ctx, mn, crawler.FetchOptions(m.cfg.Crawler, src))
		if err != nil {
			if ctx.Err() != nil {
				return recorded, ctx.Err()
			}
			// Our own refusal says nothing about the site: not an
			// observation, nothing in the evidence chain.
			m.log.Warn("re-check not made; nothing recorded", zap.String("mention", mn.ID), zap.String("url", mn.URL),
				zap.String("source", mn.SourceID), zap.Error(err))
			continue
		}
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

// errCheckNotMade marks a re-check that could not be made for reasons of
// our own (the SSRF guard refused, robots.txt forbids, a URL or option we
// cannot use): it says nothing about the site, so nothing is recorded.
var errCheckNotMade = errors.New("re-check not made")

// observe fetches a post's URL once, with the fetch options of its source
// (crawler.FetchOptions: the crawler's limits and the source's SSRF policy),
// and says what it found. An error (wrapping errCheckNotMade) means the
// check could not be made and is no observation of the site.
func (m *Monitor) observe(ctx context.Context, mn mention.Mention, opts fetch.Options) (evidence.Observation, *mention.Fetch, error) {
	now := m.now().UTC()
	client := fetch.NewClient(opts)
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, mn.URL, nil)
	if err != nil {
		return evidence.Observation{}, nil, fmt.Errorf("%w: request for %s: %w", errCheckNotMade, mn.URL, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil || ownRefusal(err) {
			return evidence.Observation{}, nil, fmt.Errorf("%w: GET %s: %w", errCheckNotMade, mn.URL, err)
		}
		return evidence.Observation{Kind: evidence.ObservedUnreachable, ObservedAt: now, Error: err.Error()}, nil, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		if ctx.Err() != nil {
			return evidence.Observation{}, nil, fmt.Errorf("%w: read %s: %w", errCheckNotMade, mn.URL, err)
		}
		return evidence.Observation{Kind: evidence.ObservedUnreachable, ObservedAt: now, StatusCode: resp.StatusCode, Error: err.Error()}, nil, nil
	}
	f := &mention.Fetch{RequestURL: mn.URL, FinalURL: resp.Request.URL.String(), Method: http.MethodGet, StatusCode: resp.StatusCode,
		Proto: resp.Proto, Header: resp.Header, FetchedAt: now, Body: body}
	if gone, why := evidence.LooksDeleted(resp.StatusCode, resp.Header, body, mn.Text); gone {
		return evidence.Observation{Kind: evidence.ObservedDeleted, ObservedAt: now, StatusCode: resp.StatusCode, Note: why}, f, nil
	}
	if resp.StatusCode >= 400 { // 403, 429, 5xx: not an answer about the post
		return evidence.Observation{Kind: evidence.ObservedUnreachable, ObservedAt: now, StatusCode: resp.StatusCode,
			Error: fmt.Sprintf("HTTP %s", resp.Status)}, f, nil
	}
	return evidence.Observation{Kind: evidence.ObservedUnchanged, ObservedAt: now, StatusCode: resp.StatusCode}, f, nil
}

// ownRefusal says whether a fetch error is ours rather than the site's:
// the SSRF guard, robots.txt, a scheme we do not fetch.
func ownRefusal(err error) bool {
	var be *netguard.BlockedError
	return errors.As(err, &be) || errors.Is(err, crawler.ErrRobotsDisallowed) || errors.Is(err, fetch.ErrUnsupportedScheme)
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
