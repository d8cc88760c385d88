// Package embedded is the search index for a single machine with no
// server: SQLite (pure Go) with an FTS5 table fed CJK bigrams, so Japanese
// search works without a dictionary. It implements index.Store.
package embedded

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"mimamori/internal/sqlitedb"

	"mimamori/index"
	"mimamori/mention"
)

var _ index.Store = (*Store)(nil)

// Store is the embedded search index.
type Store struct {
	db *sql.DB
}

const schema = `
CREATE TABLE IF NOT EXISTS docs (
	id TEXT PRIMARY KEY,
	version INTEGER NOT NULL,
	first_seen INTEGER NOT NULL,
	last_seen INTEGER NOT NULL,
	published INTEGER NOT NULL,
	source_id TEXT NOT NULL,
	severity_rank INTEGER NOT NULL,
	alert INTEGER NOT NULL,
	status TEXT NOT NULL,
	categories TEXT NOT NULL,
	targets TEXT NOT NULL,
	doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_seen ON docs(first_seen);
CREATE TABLE IF NOT EXISTS chain_heads (
	seq INTEGER PRIMARY KEY,
	line_sha256 TEXT NOT NULL,
	position INTEGER NOT NULL,
	bundle_id TEXT NOT NULL,
	manifest_sha256 TEXT NOT NULL,
	at INTEGER NOT NULL,
	recorded INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS docs_fts USING fts5(tokens, tokenize = 'unicode61 remove_diacritics 0');
`

// Open opens (creating if needed) the index file at path.
func Open(path string) (*Store, error) {
	db, err := sqlitedb.Open(path, schema)
	if err != nil {
		return nil, fmt.Errorf("open embedded index %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the index.
func (s *Store) Close() error { return s.db.Close() }

// Put writes mentions in one transaction. A stored document with a higher
// version is kept; first_seen of an existing document is kept.
func (s *Store) Put(ctx context.Context, ms []mention.Mention) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("index %d mentions: %w", len(ms), err)
	}
	defer tx.Rollback()
	for _, m := range ms {
		if err := put(ctx, tx, m); err != nil {
			return fmt.Errorf("index mention %s: %w", m.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("index %d mentions: commit: %w", len(ms), err)
	}
	return nil
}

func put(ctx context.Context, tx *sql.Tx, m mention.Mention) error {
	var rowid, version, firstSeen int64
	var status string
	var doc string
	err := tx.QueryRowContext(ctx, `SELECT rowid, version, first_seen, status, doc FROM docs WHERE id = ?`, m.ID).
		Scan(&rowid, &version, &firstSeen, &status, &doc)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	default:
		if int64(m.Version) < version {
			return nil
		}
		if firstSeen < m.FirstSeen.UnixNano() {
			m.FirstSeen = time.Unix(0, firstSeen).UTC()
		}
		if m.Status == "" {
			var old mention.Mention
			if json.Unmarshal([]byte(doc), &old) == nil {
				m.Status, m.StatusNote = old.Status, old.StatusNote
			}
		}
	}
	if m.Status == "" {
		m.Status = mention.StatusNew
	}
	if m.Categories == nil {
		m.Categories = []string{}
	}
	if m.Targets == nil {
		m.Targets = []string{}
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	cats, _ := json.Marshal(m.Categories)
	tgts, _ := json.Marshal(m.Targets)
	res, err := tx.ExecContext(ctx, `INSERT INTO docs (id, version, first_seen, last_seen, published, source_id, severity_rank, alert, status, categories, targets, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET version = excluded.version, last_seen = excluded.last_seen,
			published = excluded.published, severity_rank = excluded.severity_rank, alert = excluded.alert,
			status = excluded.status, categories = excluded.categories, targets = excluded.targets, doc = excluded.doc`,
		m.ID, m.Version, m.FirstSeen.UnixNano(), m.LastSeen.UnixNano(), m.Published.UnixNano(), m.SourceID,
		m.Severity.Rank(), m.Alert, m.Status, string(cats), string(tgts), string(data))
	if err != nil {
		return err
	}
	if rowid == 0 {
		if rowid, err = res.LastInsertId(); err != nil {
			return err
		}
	}
	toks := strings.Join(tokenize(m.Title+"\n"+m.Text+"\n"+m.Author), " ")
	if _, err := tx.ExecContext(ctx, `DELETE FROM docs_fts WHERE rowid = ?`, rowid); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO docs_fts (rowid, tokens) VALUES (?, ?)`, rowid, toks)
	return err
}

// Get returns one mention.
func (s *Store) Get(ctx context.Context, id string) (mention.Mention, error) {
	var doc string
	err := s.db.QueryRowContext(ctx, `SELECT doc FROM docs WHERE id = ?`, id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return mention.Mention{}, fmt.Errorf("get mention %s: %w", id, index.ErrNotFound)
	}
	if err != nil {
		return mention.Mention{}, fmt.Errorf("get mention %s: %w", id, err)
	}
	var m mention.Mention
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		return m, fmt.Errorf("get mention %s: decode: %w", id, err)
	}
	return m, nil
}

// Search runs q. Text is matched as a phrase of bigrams, so any substring
// of two or more characters is found; a one-character query falls back to
// a scan.
func (s *Store) Search(ctx context.Context, q index.Query) ([]mention.Mention, int, error) {
	var where []string
	var args []any
	if q.Text != "" {
		if toks := tokenize(q.Text); len(toks) == 1 && len([]rune(toks[0])) == 1 {
			where = append(where, "d.doc LIKE ?")
			args = append(args, "%"+toks[0]+"%")
		} else if phrase := ftsPhrase(q.Text); phrase != "" {
			where = append(where, "d.rowid IN (SELECT rowid FROM docs_fts WHERE docs_fts MATCH ?)")
			args = append(args, phrase)
		}
	}
	if q.Category != "" {
		where = append(where, "EXISTS (SELECT 1 FROM json_each(d.categories) WHERE value = ?)")
		args = append(args, q.Category)
	}
	if q.Target != "" {
		where = append(where, "EXISTS (SELECT 1 FROM json_each(d.targets) WHERE value = ?)")
		args = append(args, q.Target)
	}
	if q.MinSeverity != "" {
		where = append(where, "d.severity_rank >= ?")
		args = append(args, q.MinSeverity.Rank())
	}
	if q.Status != "" {
		where = append(where, "d.status = ?")
		args = append(args, q.Status)
	}
	if q.SourceID != "" {
		where = append(where, "d.source_id = ?")
		args = append(args, q.SourceID)
	}
	if q.AlertOnly {
		where = append(where, "d.alert = 1")
	}
	if !q.Since.IsZero() {
		where = append(where, "d.first_seen >= ?")
		args = append(args, q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		where = append(where, "d.first_seen < ?")
		args = append(args, q.Until.UnixNano())
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM docs d"+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("search mentions: %w", err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.db.QueryContext(ctx, "SELECT d.doc FROM docs d"+cond+" ORDER BY d.first_seen DESC, d.id LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, 0, fmt.Errorf("search mentions: %w", err)
	}
	defer rows.Close()
	var out []mention.Mention
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, 0, fmt.Errorf("search mentions: %w", err)
		}
		var m mention.Mention
		if err := json.Unmarshal([]byte(doc), &m); err != nil {
			return nil, 0, fmt.Errorf("search mentions: decode: %w", err)
		}
		out = append(out, m)
	}
	return out, total, rows.Err()
}

// SetStatus records triage state.
func (s *Store) SetStatus(ctx context.Context, id, status, note string) error {
	if !mention.ValidStatus(status) {
		return fmt.Errorf("set status of %s: %q is not a triage status", id, status)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set status of %s: %w", id, err)
	}
	defer tx.Rollback()
	var doc string
	err = tx.QueryRowContext(ctx, `SELECT doc FROM docs WHERE id = ?`, id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("set status of %s: %w", id, index.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("set status of %s: %w", id, err)
	}
	var m mention.Mention
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		return fmt.Errorf("set status of %s: decode: %w", id, err)
	}
	m.Status, m.StatusNote = status, note
	data, _ := json.Marshal(m)
	if _, err := tx.ExecContext(ctx, `UPDATE docs SET status = ?, doc = ? WHERE id = ?`, status, string(data), id); err != nil {
		return fmt.Errorf("set status of %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set status of %s: %w", id, err)
	}
	return nil
}
