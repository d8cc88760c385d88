package elastic

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"mimamori/index"
)

// The Elasticsearch store keeps chain heads and claims alerts; its upkeep
// (index.Maintainer) is run by the monitor's wrapper over MaybeRollover and
// ApplyRetention.
var (
	_ index.DaemonStore  = (*Store)(nil)
	_ index.AlertClaimer = (*Store)(nil)
)

// chainIndex holds evidence chain heads. It is named with a dot, not a
// dash, so the strict mention template (<prefix>-*) does not apply to it.
func (s *Store) chainIndex() string { return s.prefix + ".chain-heads" }

// RecordChainHead implements index.ChainHeadRecorder: one document per
// chain line number, created once (409: already recorded).
func (s *Store) RecordChainHead(ctx context.Context, h index.ChainHead) error {
	path := "/" + url.PathEscape(s.chainIndex()) + "/_create/" + strconv.FormatInt(h.Seq, 10)
	err := s.retry(ctx, func() error { return s.do(ctx, http.MethodPut, path, nil, h, nil) })
	if err != nil && statusOf(err) != http.StatusConflict {
		return fmt.Errorf("record evidence chain head %d: %w", h.Seq, err)
	}
	return nil
}

// ChainHeads implements index.ChainHeadRecorder.
func (s *Store) ChainHeads(ctx context.Context, limit int) ([]index.ChainHead, error) {
	s.do(ctx, http.MethodPost, "/"+url.PathEscape(s.chainIndex())+"/_refresh", url.Values{"ignore_unavailable": {"true"}}, nil, nil)
	var r struct {
		Hits struct {
			Hits []struct {
				Source index.ChainHead `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	body := map[string]any{"size": limit, "sort": []any{map[string]any{"seq": "desc"}}}
	err := s.do(ctx, http.MethodPost, "/"+url.PathEscape(s.chainIndex())+"/_search", url.Values{"ignore_unavailable": {"true"}}, body, &r)
	if err != nil {
		if statusOf(err) == http.StatusNotFound {
			return nil, nil
		}
		return nil, fmt.Errorf("read evidence chain heads: %w", err)
	}
	var out []index.ChainHead
	for _, h := range r.Hits.Hits {
		out = append(out, h.Source)
	}
	return out, nil
}

// claimIndex holds alert claims (dot-named: outside the mention template).
func (s *Store) claimIndex() string { return s.prefix + ".alert-claims" }

// ClaimAlert implements index.AlertClaimer with a create-only document per
// alert id: Elasticsearch lets exactly one create succeed (409 for the
// others).
func (s *Store) ClaimAlert(ctx context.Context, alertID, by string) (bool, error) {
	path := "/" + url.PathEscape(s.claimIndex()) + "/_create/" + url.PathEscape(alertID)
	q := url.Values{"refresh": {"false"}}
	doc := map[string]any{"alert_id": alertID, "by": by, "at": time.Now().UTC()}
	err := s.do(ctx, http.MethodPut, path, q, doc, nil) // the caller bounds the time; no retry loop here
	switch {
	case err == nil:
		return true, nil
	case statusOf(err) == http.StatusConflict:
		return false, nil
	}
	return false, fmt.Errorf("claim alert %s: %w", alertID, err)
}
