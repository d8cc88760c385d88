package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"mimamori/mention"
)

// AlertKindEvidence tells the legal team that the evidence of an alerted
// post, which could not be secured when it was alerted, is now stored.
const AlertKindEvidence = "evidence_secured"

// captureRetrySource is the crawl-state namespace of queued captures.
const captureRetrySource = "capture-retry"

// CaptureRetry is a capture of an alerted post that failed (a full disk, a
// write error) and is tried again while the post is reachable.
type CaptureRetry struct {
	MentionID string `json:"mention_id"`
	Version   int    `json:"version"`
	SourceID  string `json:"source_id"`
	// URL is the post's permalink; Page is the page it was read from.
	URL  string `json:"url"`
	Page string `json:"page"`
	// Since is when the first capture failed.
	Since       time.Time `json:"since"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error"`
	// Gone is set when the post was found deleted: no more attempts.
	Gone string `json:"gone,omitempty"`
}

// QueueCapture records (or updates) a capture to retry.
func (l *Ledger) QueueCapture(ctx context.Context, r CaptureRetry) error {
	b, _ := json.Marshal(r)
	if err := l.PutState(ctx, captureRetrySource, r.MentionID, string(b)); err != nil {
		return fmt.Errorf("queue capture of %s: %w", r.MentionID, err)
	}
	return nil
}

// CaptureRetries returns every queued capture.
func (l *Ledger) CaptureRetries(ctx context.Context) ([]CaptureRetry, error) {
	st, err := l.CrawlState(ctx, captureRetrySource)
	if err != nil {
		return nil, fmt.Errorf("queued captures: %w", err)
	}
	out := make([]CaptureRetry, 0, len(st))
	for _, v := range st {
		var r CaptureRetry
		if json.Unmarshal([]byte(v), &r) == nil && r.MentionID != "" {
			out = append(out, r)
		}
	}
	return out, nil
}

// DropCapture removes a queued capture (the post changed, or its retry
// window ended).
func (l *Ledger) DropCapture(ctx context.Context, mentionID string) error {
	return l.PutState(ctx, captureRetrySource, mentionID, "")
}

// SetEvidence links a bundle captured late to an alerted mention, in one
// transaction: the mention's evidence (only when it has none and is still
// at version), an index job, the queued capture removed, and an alert of
// kind AlertKindEvidence so the legal team hears that it landed. It
// reports false when the mention moved on (edited, or evidence set).
func (l *Ledger) SetEvidence(ctx context.Context, id string, version int, ref mention.EvidenceRef, at time.Time) (bool, error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("set evidence of %s: %w", id, err)
	}
	defer tx.Rollback()
	m, err := l.getTx(ctx, tx, id)
	if err != nil {
		return false, err
	}
	if m.Version != version || m.Evidence != nil {
		if _, err := tx.ExecContext(ctx, `DELETE FROM crawl_state WHERE source_id = ? AND key = ?`, captureRetrySource, id); err != nil {
			return false, fmt.Errorf("set evidence of %s: %w", id, err)
		}
		return false, tx.Commit()
	}
	m.Evidence = &ref
	doc, _ := json.Marshal(m)
	if _, err := tx.ExecContext(ctx, `UPDATE mentions SET doc = ? WHERE id = ?`, string(doc), id); err != nil {
		return false, fmt.Errorf("set evidence of %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO index_queue (mention_id, version, bytes, enqueued, doc) VALUES (?, ?, ?, ?, ?)`,
		id, m.Version, len(doc), at.UnixNano(), string(doc)); err != nil {
		return false, fmt.Errorf("set evidence of %s: enqueue index: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM crawl_state WHERE source_id = ? AND key = ?`, captureRetrySource, id); err != nil {
		return false, fmt.Errorf("set evidence of %s: %w", id, err)
	}
	if _, err := insertAlert(ctx, tx, AlertID(id, fmt.Sprintf("evidence-v%d", version)), id, AlertKindEvidence, "", at,
		m.Severity.Rank(), nil); err != nil {
		return false, fmt.Errorf("set evidence of %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("set evidence of %s: %w", id, err)
	}
	return true, nil
}
