// Package ledger is mimamori's durable record on the local machine: every
// accepted mention (by deterministic id, with its first-seen time and
// version), the alert outbox, the spool of mentions waiting to be indexed,
// and crawl state. It is one SQLite file (pure Go, WAL, synchronous=FULL),
// so a mention, its pending alert and its index job commit together or not
// at all.
package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"mimamori/internal/sqlitedb"

	"mimamori/mention"
)

// Ledger is the state database.
type Ledger struct {
	db *sql.DB
}

const schema = `
CREATE TABLE IF NOT EXISTS mentions (
	id TEXT PRIMARY KEY,
	source_id TEXT NOT NULL,
	first_seen INTEGER NOT NULL,
	last_seen INTEGER NOT NULL,
	version INTEGER NOT NULL,
	content_hash TEXT NOT NULL,
	severity_rank INTEGER NOT NULL,
	alerted INTEGER NOT NULL DEFAULT 0,
	doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
	id TEXT PRIMARY KEY,
	mention_id TEXT NOT NULL,
	kind TEXT NOT NULL,
	created INTEGER NOT NULL,
	state TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER NOT NULL,
	last_error TEXT NOT NULL DEFAULT '',
	sent_at INTEGER NOT NULL DEFAULT 0,
	via TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS alerts_due ON alerts(state, next_attempt);
CREATE TABLE IF NOT EXISTS index_queue (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	mention_id TEXT NOT NULL,
	version INTEGER NOT NULL,
	bytes INTEGER NOT NULL,
	enqueued INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
	mention_id TEXT NOT NULL,
	version INTEGER NOT NULL,
	status INTEGER NOT NULL,
	reason TEXT NOT NULL,
	at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS crawl_state (
	source_id TEXT NOT NULL,
	key TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (source_id, key)
);
`

// Open opens (creating if needed) the ledger file at path.
func Open(path string) (*Ledger, error) {
	db, err := sqlitedb.Open(path, schema)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	return &Ledger{db: db}, nil
}

// Close closes the database.
func (l *Ledger) Close() error { return l.db.Close() }

// Outcome says what Accept did with a mention.
type Outcome int

// Outcomes of Accept.
const (
	// Unchanged: the same content was already accepted; only last_seen moved.
	Unchanged Outcome = iota
	// Created: a mention never seen before.
	Created
	// Updated: an edited post; version went up, first_seen kept.
	Updated
)

func (o Outcome) String() string {
	return [...]string{"unchanged", "created", "updated"}[o]
}

// Result reports what Accept did.
type Result struct {
	Outcome Outcome
	// Alerted is true when this call enqueued an alert.
	Alerted bool
	// Mention is the stored mention (first_seen and version as kept).
	Mention mention.Mention
}

// AlertKindNew is the alert a mention gets when it first becomes alertable.
const AlertKindNew = "new"

// Known returns the stored content hash and version of a mention, or ""
// and 0 when unknown, so the pipeline can skip detection and evidence for
// unchanged posts.
func (l *Ledger) Known(ctx context.Context, id string) (contentHash string, version int, err error) {
	err = l.db.QueryRowContext(ctx, `SELECT content_hash, version FROM mentions WHERE id = ?`, id).Scan(&contentHash, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("look up mention %s: %w", id, err)
	}
	return contentHash, version, nil
}

// Touch moves last_seen of an unchanged mention.
func (l *Ledger) Touch(ctx context.Context, id string, seen time.Time) error {
	if _, err := l.db.ExecContext(ctx, `UPDATE mentions SET last_seen = ? WHERE id = ? AND last_seen < ?`,
		seen.UnixNano(), id, seen.UnixNano()); err != nil {
		return fmt.Errorf("touch mention %s: %w", id, err)
	}
	return nil
}

// Accept records a mention in one transaction: the mention row, its index
// job, and — when alertable and never alerted before — its pending alert.
// m.ID must be set; m.FirstSeen and m.LastSeen are the time it was seen.
func (l *Ledger) Accept(ctx context.Context, m mention.Mention, alertable bool) (Result, error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return Result{}, fmt.Errorf("accept mention %s: begin: %w", m.ID, err)
	}
	defer tx.Rollback()

	var (
		firstSeen, version int64
		hash               string
		alerted            bool
	)
	err = tx.QueryRowContext(ctx, `SELECT first_seen, version, content_hash, alerted FROM mentions WHERE id = ?`, m.ID).
		Scan(&firstSeen, &version, &hash, &alerted)
	res := Result{}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		res.Outcome = Created
		m.Version = 1
		if m.Status == "" {
			m.Status = mention.StatusNew
		}
	case err != nil:
		return Result{}, fmt.Errorf("accept mention %s: read: %w", m.ID, err)
	case hash == m.ContentHash:
		if _, err := tx.ExecContext(ctx, `UPDATE mentions SET last_seen = ? WHERE id = ?`, m.LastSeen.UnixNano(), m.ID); err != nil {
			return Result{}, fmt.Errorf("accept mention %s: touch: %w", m.ID, err)
		}
		stored, err := l.getTx(ctx, tx, m.ID)
		if err != nil {
			return Result{}, err
		}
		return Result{Outcome: Unchanged, Mention: stored}, tx.Commit()
	default:
		res.Outcome = Updated
		m.Version = int(version) + 1
		m.FirstSeen = time.Unix(0, firstSeen).UTC()
		prev, err := l.getTx(ctx, tx, m.ID)
		if err != nil {
			return Result{}, err
		}
		m.Status, m.StatusNote = prev.Status, prev.StatusNote
		if m.Evidence == nil {
			m.Evidence = prev.Evidence
		}
	}
	doAlert := alertable && !alerted
	doc, err := json.Marshal(m)
	if err != nil {
		return Result{}, fmt.Errorf("accept mention %s: encode: %w", m.ID, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO mentions (id, source_id, first_seen, last_seen, version, content_hash, severity_rank, alerted, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET last_seen = excluded.last_seen, version = excluded.version,
			content_hash = excluded.content_hash, severity_rank = excluded.severity_rank,
			alerted = max(alerted, excluded.alerted), doc = excluded.doc`,
		m.ID, m.SourceID, m.FirstSeen.UnixNano(), m.LastSeen.UnixNano(), m.Version, m.ContentHash,
		m.Severity.Rank(), doAlert, string(doc))
	if err != nil {
		return Result{}, fmt.Errorf("accept mention %s: write: %w", m.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO index_queue (mention_id, version, bytes, enqueued) VALUES (?, ?, ?, ?)`,
		m.ID, m.Version, len(doc), m.LastSeen.UnixNano()); err != nil {
		return Result{}, fmt.Errorf("accept mention %s: enqueue index: %w", m.ID, err)
	}
	if doAlert {
		// INSERT OR IGNORE: the alert id is the mention id and kind, so a
		// second daemon or a replay can never create a second alert.
		r, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO alerts (id, mention_id, kind, created, state, next_attempt)
			VALUES (?, ?, ?, ?, 'pending', ?)`, AlertID(m.ID, AlertKindNew), m.ID, AlertKindNew, m.LastSeen.UnixNano(), 0)
		if err != nil {
			return Result{}, fmt.Errorf("accept mention %s: enqueue alert: %w", m.ID, err)
		}
		n, _ := r.RowsAffected()
		res.Alerted = n == 1
	}
	if err := tx.Commit(); err != nil {
		return Result{}, fmt.Errorf("accept mention %s: commit: %w", m.ID, err)
	}
	res.Mention = m
	return res, nil
}

// AlertID is the deterministic id of an alert.
func AlertID(mentionID, kind string) string { return mentionID + "-" + kind }

// Mention returns the stored mention with id.
func (l *Ledger) Mention(ctx context.Context, id string) (mention.Mention, error) {
	return l.getTx(ctx, l.db, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func (l *Ledger) getTx(ctx context.Context, q querier, id string) (mention.Mention, error) {
	var doc string
	err := q.QueryRowContext(ctx, `SELECT doc FROM mentions WHERE id = ?`, id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return mention.Mention{}, fmt.Errorf("mention %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return mention.Mention{}, fmt.Errorf("read mention %s: %w", id, err)
	}
	var m mention.Mention
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		return mention.Mention{}, fmt.Errorf("decode mention %s: %w", id, err)
	}
	return m, nil
}

// SetStatus records triage state in the ledger copy of a mention and
// enqueues it for re-indexing, so the index follows.
func (l *Ledger) SetStatus(ctx context.Context, id, status, note string) (mention.Mention, error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return mention.Mention{}, fmt.Errorf("set status of %s: %w", id, err)
	}
	defer tx.Rollback()
	m, err := l.getTx(ctx, tx, id)
	if err != nil {
		return mention.Mention{}, err
	}
	m.Status, m.StatusNote = status, note
	doc, _ := json.Marshal(m)
	if _, err := tx.ExecContext(ctx, `UPDATE mentions SET doc = ? WHERE id = ?`, string(doc), id); err != nil {
		return mention.Mention{}, fmt.Errorf("set status of %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO index_queue (mention_id, version, bytes, enqueued) VALUES (?, ?, ?, ?)`,
		id, m.Version, len(doc), time.Now().UnixNano()); err != nil {
		return mention.Mention{}, fmt.Errorf("set status of %s: enqueue index: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return mention.Mention{}, fmt.Errorf("set status of %s: %w", id, err)
	}
	return m, nil
}

// ErrNotFound is returned for an unknown id.
var ErrNotFound = errors.New("not found")

// Count returns the number of accepted mentions.
func (l *Ledger) Count(ctx context.Context) (int, error) {
	var n int
	err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM mentions`).Scan(&n)
	return n, err
}
