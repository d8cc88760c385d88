// Package ledger is mimamori's durable record on the local machine: every
// accepted mention (by deterministic id, with its first-seen time and
// version), the alert outbox, the spool of mentions waiting to be indexed,
// and crawl state. It is one SQLite file (pure Go, WAL, synchronous=FULL),
// so a mention, its pending alert and its index job commit together or not
// at all.
package ledger

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"mimamori/internal/sqlitedb"

	"mimamori/mention"
)

// Ledger is the state database.
type Ledger struct {
	db     *sql.DB
	policy Policy
}

const schema = `
CREATE TABLE IF NOT EXISTS mentions (
	id TEXT PRIMARY KEY,
	source_id TEXT NOT NULL,
	site TEXT NOT NULL DEFAULT '',
	author TEXT NOT NULL DEFAULT '',
	targets TEXT NOT NULL DEFAULT '[]',
	first_seen INTEGER NOT NULL,
	last_seen INTEGER NOT NULL,
	version INTEGER NOT NULL,
	content_hash TEXT NOT NULL,
	severity_rank INTEGER NOT NULL,
	-- alerted_rank is the highest severity rank alerted so far (-1: never)
	alerted_rank INTEGER NOT NULL DEFAULT -1,
	doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mentions_author ON mentions(site, author, first_seen);
CREATE INDEX IF NOT EXISTS mentions_seen ON mentions(first_seen);
-- alerts are alert events: one per (mention, kind) or per escalation. The
-- router turns pending events into notifications (mails, webhooks).
CREATE TABLE IF NOT EXISTS alerts (
	id TEXT PRIMARY KEY,
	mention_id TEXT NOT NULL DEFAULT '',
	kind TEXT NOT NULL,
	dedupe_key TEXT NOT NULL DEFAULT '',
	created INTEGER NOT NULL,
	state TEXT NOT NULL,
	severity_rank INTEGER NOT NULL DEFAULT 0,
	detail TEXT NOT NULL DEFAULT '{}',
	silence_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS alerts_state ON alerts(state, created);
CREATE INDEX IF NOT EXISTS alerts_dedupe ON alerts(dedupe_key, created);
-- notifications are the mails (or webhook posts) of one route: one alert,
-- a group of alerts of one thread or author, or a digest.
CREATE TABLE IF NOT EXISTS notifications (
	id TEXT PRIMARY KEY,
	route TEXT NOT NULL,
	kind TEXT NOT NULL,
	group_key TEXT NOT NULL DEFAULT '',
	created INTEGER NOT NULL,
	due INTEGER NOT NULL,
	state TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER NOT NULL DEFAULT 0,
	first_failure INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT '',
	sent_at INTEGER NOT NULL DEFAULT 0,
	via TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications(state, due);
CREATE INDEX IF NOT EXISTS notifications_group ON notifications(route, group_key, state);
CREATE TABLE IF NOT EXISTS notification_items (
	notification_id TEXT NOT NULL,
	alert_id TEXT NOT NULL,
	PRIMARY KEY (notification_id, alert_id)
);
CREATE INDEX IF NOT EXISTS notification_items_alert ON notification_items(alert_id);
CREATE TABLE IF NOT EXISTS silences (
	id TEXT PRIMARY KEY,
	author TEXT NOT NULL DEFAULT '',
	site TEXT NOT NULL DEFAULT '',
	target TEXT NOT NULL DEFAULT '',
	source_id TEXT NOT NULL DEFAULT '',
	category TEXT NOT NULL DEFAULT '',
	created INTEGER NOT NULL,
	expires INTEGER NOT NULL,
	comment TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS index_queue (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	mention_id TEXT NOT NULL,
	version INTEGER NOT NULL,
	bytes INTEGER NOT NULL,
	enqueued INTEGER NOT NULL,
	-- doc is the mention as it was at this version, so every version of an
	-- edited post reaches the index (and its history) in order
	doc TEXT NOT NULL
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

// FileName is the ledger's file inside the data directory.
const FileName = "mimamori.db"

// OpenDir opens (creating if needed) the ledger of the data directory dir.
func OpenDir(dir string) (*Ledger, error) { return Open(filepath.Join(dir, FileName)) }

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
	// Alerted is true when this call created an alert for the mention
	// itself (new, or severity risen).
	Alerted bool
	// Escalated is true when this call created a persistent-author alert.
	Escalated bool
	// Mention is the stored mention (first_seen and version as kept).
	Mention mention.Mention
}

// Alert kinds.
const (
	// AlertKindNew is the alert a mention gets when it first becomes alertable.
	AlertKindNew = "new"
	// AlertKindSeverityUp re-alerts a mention whose severity rose after an edit.
	AlertKindSeverityUp = "severity_up"
	// AlertKindPersistent flags one author posting about a target again and
	// again (the policy's 執拗な言動).
	AlertKindPersistent = "persistent_author"
	// AlertKindSpike flags a surge of mentions of a target (炎上).
	AlertKindSpike = "spike"
	// AlertKindOperator tells the operator something is broken (a dead
	// letter, a failing source).
	AlertKindOperator = "operator"
)

// Policy holds the thresholds Accept applies.
type Policy struct {
	// PersistentWindow and PersistentThreshold: this many alertable posts
	// by one author about one target within the window raise a
	// persistent-author alert (0 disables).
	PersistentWindow    time.Duration
	PersistentThreshold int
	// AnonymousAuthors are author names that stand for nobody in
	// particular (名無しさん) and never count as one persistent author.
	AnonymousAuthors []string
}

// SetPolicy sets the escalation thresholds.
func (l *Ledger) SetPolicy(p Policy) { l.policy = p }

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
// job, and its alert events — a "new" alert the first time it is
// alertable, a "severity_up" alert when an edit raised its severity above
// what was alerted, and a persistent-author alert when its author crossed
// the threshold. m.ID must be set; m.FirstSeen and m.LastSeen are the time
// it was seen.
func (l *Ledger) Accept(ctx context.Context, m mention.Mention, alertable bool) (Result, error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return Result{}, fmt.Errorf("accept mention %s: begin: %w", m.ID, err)
	}
	defer tx.Rollback()

	var (
		firstSeen, version int64
		hash               string
		alertedRank        int
	)
	err = tx.QueryRowContext(ctx, `SELECT first_seen, version, content_hash, alerted_rank FROM mentions WHERE id = ?`, m.ID).
		Scan(&firstSeen, &version, &hash, &alertedRank)
	res := Result{}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		res.Outcome = Created
		m.Version = 1
		alertedRank = -1
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
	rank := m.Severity.Rank()
	kind := ""
	switch {
	case alertable && alertedRank < 0:
		kind = AlertKindNew
	case alertable && rank > alertedRank:
		kind = AlertKindSeverityUp
	}
	newRank := alertedRank
	if kind != "" {
		newRank = rank
	}
	doc, err := json.Marshal(m)
	if err != nil {
		return Result{}, fmt.Errorf("accept mention %s: encode: %w", m.ID, err)
	}
	targets, _ := json.Marshal(m.Targets)
	if m.Targets == nil {
		targets = []byte("[]")
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO mentions (id, source_id, site, author, targets, first_seen, last_seen, version, content_hash, severity_rank, alerted_rank, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET last_seen = excluded.last_seen, version = excluded.version, author = excluded.author,
			targets = excluded.targets, content_hash = excluded.content_hash, severity_rank = excluded.severity_rank,
			alerted_rank = excluded.alerted_rank, doc = excluded.doc`,
		m.ID, m.SourceID, m.Site, m.Author, string(targets), m.FirstSeen.UnixNano(), m.LastSeen.UnixNano(), m.Version, m.ContentHash,
		rank, newRank, string(doc))
	if err != nil {
		return Result{}, fmt.Errorf("accept mention %s: write: %w", m.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO index_queue (mention_id, version, bytes, enqueued, doc) VALUES (?, ?, ?, ?, ?)`,
		m.ID, m.Version, len(doc), m.LastSeen.UnixNano(), string(doc)); err != nil {
		return Result{}, fmt.Errorf("accept mention %s: enqueue index: %w", m.ID, err)
	}
	if kind != "" {
		id := AlertID(m.ID, AlertKindNew)
		if kind == AlertKindSeverityUp {
			id = AlertID(m.ID, "severity-"+string(m.Severity))
		}
		// INSERT OR IGNORE: the alert id is deterministic, so a second
		// daemon or a replay can never create a second alert.
		n, err := insertAlert(ctx, tx, id, m.ID, kind, "", m.LastSeen, rank, nil)
		if err != nil {
			return Result{}, fmt.Errorf("accept mention %s: %w", m.ID, err)
		}
		res.Alerted = n
	}
	if alertable {
		if res.Escalated, err = l.persistent(ctx, tx, m); err != nil {
			return Result{}, fmt.Errorf("accept mention %s: %w", m.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return Result{}, fmt.Errorf("accept mention %s: commit: %w", m.ID, err)
	}
	res.Mention = m
	return res, nil
}

type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

// insertAlert adds a pending alert event unless its id exists; it reports
// whether it was added.
func insertAlert(ctx context.Context, tx execer, id, mentionID, kind, dedupeKey string, at time.Time, rank int, detail any) (bool, error) {
	d := []byte("{}")
	if detail != nil {
		var err error
		if d, err = json.Marshal(detail); err != nil {
			return false, fmt.Errorf("encode alert %s: %w", id, err)
		}
	}
	r, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO alerts (id, mention_id, kind, dedupe_key, created, state, severity_rank, detail)
		VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`, id, mentionID, kind, dedupeKey, at.UnixNano(), rank, string(d))
	if err != nil {
		return false, fmt.Errorf("enqueue alert %s: %w", id, err)
	}
	n, _ := r.RowsAffected()
	return n == 1, nil
}

// PersistentDetail describes a persistent-author alert.
type PersistentDetail struct {
	Site     string   `json:"site"`
	Author   string   `json:"author"`
	Target   string   `json:"target"`
	Count    int      `json:"count"`
	Window   string   `json:"window"`
	Mentions []string `json:"mentions"`
}

// persistent raises a persistent-author alert when m's author posted
// PersistentThreshold alertable posts about one of m's targets within
// PersistentWindow, unless one was raised for them within the window.
func (l *Ledger) persistent(ctx context.Context, tx *sql.Tx, m mention.Mention) (bool, error) {
	p := l.policy
	if p.PersistentThreshold <= 0 || p.PersistentWindow <= 0 || strings.TrimSpace(m.Author) == "" {
		return false, nil
	}
	for _, a := range p.AnonymousAuthors {
		if strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(m.Author)) {
			return false, nil
		}
	}
	since := m.LastSeen.Add(-p.PersistentWindow).UnixNano()
	raised := false
	for _, target := range m.Targets {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM mentions WHERE site = ? AND author = ? AND first_seen >= ?
			AND alerted_rank >= 0 AND EXISTS (SELECT 1 FROM json_each(mentions.targets) WHERE value = ?) ORDER BY first_seen`,
			m.Site, m.Author, since, target)
		if err != nil {
			return false, fmt.Errorf("count posts of %s: %w", m.Author, err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return false, fmt.Errorf("count posts of %s: %w", m.Author, err)
			}
			ids = append(ids, id)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return false, fmt.Errorf("count posts of %s: %w", m.Author, err)
		}
		if len(ids) < p.PersistentThreshold {
			continue
		}
		key := "persistent:" + m.Site + "\x00" + m.Author + "\x00" + target
		var recent int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM alerts WHERE dedupe_key = ? AND created >= ?`, key, since).Scan(&recent); err != nil {
			return false, err
		}
		if recent > 0 {
			continue
		}
		id := fmt.Sprintf("persistent-%s-%d", shortHash(key), m.LastSeen.UnixNano())
		d := PersistentDetail{Site: m.Site, Author: m.Author, Target: target, Count: len(ids), Window: p.PersistentWindow.String(), Mentions: ids}
		ok, err := insertAlert(ctx, tx, id, m.ID, AlertKindPersistent, key, m.LastSeen, mention.SeverityHigh.Rank(), d)
		if err != nil {
			return false, err
		}
		raised = raised || ok
	}
	return raised, nil
}

// AlertID is the deterministic id of a mention's alert.
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
	if _, err := tx.ExecContext(ctx, `INSERT INTO index_queue (mention_id, version, bytes, enqueued, doc) VALUES (?, ?, ?, ?, ?)`,
		id, m.Version, len(doc), time.Now().UnixNano(), string(doc)); err != nil {
		return mention.Mention{}, fmt.Errorf("set status of %s: enqueue index: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return mention.Mention{}, fmt.Errorf("set status of %s: %w", id, err)
	}
	return m, nil
}

// ErrNotFound is returned for an unknown id.
var ErrNotFound = errors.New("not found")

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}
