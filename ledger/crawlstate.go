package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"mimamori/mention"
)

// GetState returns a crawler's saved value for (sourceID, key); ok is
// false when none was saved. It implements crawler.StateStore.
func (l *Ledger) GetState(ctx context.Context, sourceID, key string) (value string, ok bool, err error) {
	err = l.db.QueryRowContext(ctx, `SELECT value FROM crawl_state WHERE source_id = ? AND key = ?`, sourceID, key).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read crawl state %s/%s: %w", sourceID, key, err)
	}
	return value, true, nil
}

// PutState saves a crawler's value durably (one committed statement); an
// empty value deletes the key. It implements crawler.StateStore.
func (l *Ledger) PutState(ctx context.Context, sourceID, key, value string) error {
	var err error
	if value == "" {
		_, err = l.db.ExecContext(ctx, `DELETE FROM crawl_state WHERE source_id = ? AND key = ?`, sourceID, key)
	} else {
		_, err = l.db.ExecContext(ctx, `INSERT INTO crawl_state (source_id, key, value) VALUES (?, ?, ?)
			ON CONFLICT (source_id, key) DO UPDATE SET value = excluded.value`, sourceID, key, value)
	}
	if err != nil {
		return fmt.Errorf("save crawl state %s/%s: %w", sourceID, key, err)
	}
	return nil
}

// CrawlState returns every saved value of a source (for inspection and
// tests).
func (l *Ledger) CrawlState(ctx context.Context, sourceID string) (map[string]string, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT key, value FROM crawl_state WHERE source_id = ?`, sourceID)
	if err != nil {
		return nil, fmt.Errorf("read crawl state %s: %w", sourceID, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("read crawl state %s: %w", sourceID, err)
		}
		out[k] = v
	}
	return out, rows.Err()
}

// AlertedMentions returns the mentions that alerted and were first seen at
// or after since, oldest first (the posts the re-checker watches).
func (l *Ledger) AlertedMentions(ctx context.Context, since time.Time) ([]mention.Mention, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT doc FROM mentions WHERE alerted_rank >= 0 AND first_seen >= ? ORDER BY first_seen`, since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("list alerted mentions: %w", err)
	}
	defer rows.Close()
	var out []mention.Mention
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("list alerted mentions: %w", err)
		}
		m, err := decodeMention(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
