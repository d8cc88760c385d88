package ledger

import (
	"context"
	"fmt"
	"time"

	"mimamori/mention"
)

// IndexJob is one mention waiting to be written to the search index.
type IndexJob struct {
	Seq     int64
	Mention mention.Mention
}

// PendingIndex returns up to limit index jobs in order, each with the
// mention as it was when enqueued, so every version of an edited post is
// written (the index keeps the earlier ones as history).
func (l *Ledger) PendingIndex(ctx context.Context, limit int) ([]IndexJob, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT seq, doc FROM index_queue ORDER BY seq LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read index spool: %w", err)
	}
	defer rows.Close()
	var jobs []IndexJob
	for rows.Next() {
		var seq int64
		var doc string
		if err := rows.Scan(&seq, &doc); err != nil {
			return nil, fmt.Errorf("read index spool: %w", err)
		}
		m, err := decodeMention(doc)
		if err != nil {
			return nil, fmt.Errorf("read index spool seq %d: %w", seq, err)
		}
		jobs = append(jobs, IndexJob{Seq: seq, Mention: m})
	}
	return jobs, rows.Err()
}

// AckIndex removes every index job up to and including seq.
func (l *Ledger) AckIndex(ctx context.Context, seq int64) error {
	if _, err := l.db.ExecContext(ctx, `DELETE FROM index_queue WHERE seq <= ?`, seq); err != nil {
		return fmt.Errorf("ack index spool up to %d: %w", seq, err)
	}
	return nil
}

// SpoolStats reports the index backlog.
type SpoolStats struct {
	Jobs   int
	Bytes  int64
	Oldest time.Time
}

// IndexBacklog reports how much waits on the index spool.
func (l *Ledger) IndexBacklog(ctx context.Context) (SpoolStats, error) {
	var s SpoolStats
	var oldest int64
	err := l.db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(bytes),0), coalesce(min(enqueued),0) FROM index_queue`).
		Scan(&s.Jobs, &s.Bytes, &oldest)
	if err != nil {
		return s, fmt.Errorf("read index backlog: %w", err)
	}
	if oldest > 0 {
		s.Oldest = time.Unix(0, oldest).UTC()
	}
	return s, nil
}

// DeadLetter records a mention version the index refused for good, with
// the reason, so an operator can fix and re-index it.
func (l *Ledger) DeadLetter(ctx context.Context, id string, version, status int, reason string) error {
	if _, err := l.db.ExecContext(ctx, `INSERT INTO dead_letters (mention_id, version, status, reason, at) VALUES (?, ?, ?, ?, ?)`,
		id, version, status, reason, time.Now().UnixNano()); err != nil {
		return fmt.Errorf("record dead letter for %s: %w", id, err)
	}
	return nil
}
