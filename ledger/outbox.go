package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"mimamori/mention"
)

// Alert states.
const (
	AlertPending = "pending"
	AlertSent    = "sent"
)

// PendingAlert is an alert due for delivery, with its mention.
type PendingAlert struct {
	ID       string
	Kind     string
	Attempts int
	Created  time.Time
	Mention  mention.Mention
}

// DueAlerts returns pending alerts whose next attempt is at or before now,
// oldest first.
func (l *Ledger) DueAlerts(ctx context.Context, now time.Time, limit int) ([]PendingAlert, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT a.id, a.kind, a.attempts, a.created, m.doc FROM alerts a
		JOIN mentions m ON m.id = a.mention_id
		WHERE a.state = 'pending' AND a.next_attempt <= ? ORDER BY a.created, a.id LIMIT ?`, now.UnixNano(), limit)
	if err != nil {
		return nil, fmt.Errorf("read due alerts: %w", err)
	}
	defer rows.Close()
	var out []PendingAlert
	for rows.Next() {
		var p PendingAlert
		var created int64
		var doc string
		if err := rows.Scan(&p.ID, &p.Kind, &p.Attempts, &created, &doc); err != nil {
			return nil, fmt.Errorf("read due alerts: %w", err)
		}
		p.Created = time.Unix(0, created).UTC()
		if p.Mention, err = decodeMention(doc); err != nil {
			return nil, fmt.Errorf("read alert %s: %w", p.ID, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// MarkSent records a delivered alert. It is called only after the sender
// reported success.
func (l *Ledger) MarkSent(ctx context.Context, id string, at time.Time, via string) error {
	if _, err := l.db.ExecContext(ctx, `UPDATE alerts SET state = 'sent', sent_at = ?, via = ?, attempts = attempts + 1, last_error = ''
		WHERE id = ?`, at.UnixNano(), via, id); err != nil {
		return fmt.Errorf("mark alert %s sent: %w", id, err)
	}
	return nil
}

// MarkFailed records a failed attempt and when to try again.
func (l *Ledger) MarkFailed(ctx context.Context, id string, cause error, next time.Time) error {
	if _, err := l.db.ExecContext(ctx, `UPDATE alerts SET attempts = attempts + 1, last_error = ?, next_attempt = ? WHERE id = ?`,
		cause.Error(), next.UnixNano(), id); err != nil {
		return fmt.Errorf("mark alert %s failed: %w", id, err)
	}
	return nil
}

// AlertRecord is an alert as listed for operators.
type AlertRecord struct {
	ID        string    `json:"id"`
	MentionID string    `json:"mention_id"`
	Kind      string    `json:"kind"`
	State     string    `json:"state"`
	Attempts  int       `json:"attempts"`
	Created   time.Time `json:"created"`
	SentAt    time.Time `json:"sent_at,omitzero"`
	Via       string    `json:"via,omitempty"`
	LastError string    `json:"last_error,omitempty"`
}

// Alerts lists every alert, newest first.
func (l *Ledger) Alerts(ctx context.Context) ([]AlertRecord, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT id, mention_id, kind, state, attempts, created, sent_at, via, last_error
		FROM alerts ORDER BY created DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	defer rows.Close()
	var out []AlertRecord
	for rows.Next() {
		var a AlertRecord
		var created, sent int64
		if err := rows.Scan(&a.ID, &a.MentionID, &a.Kind, &a.State, &a.Attempts, &created, &sent, &a.Via, &a.LastError); err != nil {
			return nil, fmt.Errorf("list alerts: %w", err)
		}
		a.Created = time.Unix(0, created).UTC()
		if sent > 0 {
			a.SentAt = time.Unix(0, sent).UTC()
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func decodeMention(doc string) (mention.Mention, error) {
	var m mention.Mention
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		return m, fmt.Errorf("decode mention: %w", err)
	}
	return m, nil
}

// PendingAlertCount returns how many alerts wait for delivery.
func (l *Ledger) PendingAlertCount(ctx context.Context) (int, error) {
	var n int
	err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM alerts WHERE state = 'pending'`).Scan(&n)
	return n, err
}
