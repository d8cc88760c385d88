// Package index defines the Store that holds searchable mentions, with two
// implementations: index/embedded (a single machine, no server) and
// index/elastic (Elasticsearch). The conformance suite in index/storetest
// runs against both.
package index

import (
	"context"
	"errors"
	"time"

	"mimamori/mention"
)

// ErrNotFound is returned when no mention has the requested id.
var ErrNotFound = errors.New("mention not found")

// Store keeps mentions searchable. Put is idempotent per mention id and
// version: writing the same (id, version) twice leaves one document; a
// higher version replaces the document and keeps first_seen; a lower
// version than the stored one is ignored.
type Store interface {
	// Put writes mentions. It returns only after they are durable.
	Put(ctx context.Context, ms []mention.Mention) error
	// Get returns one mention by id.
	Get(ctx context.Context, id string) (mention.Mention, error)
	// Search returns mentions matching q, newest first, and the total count.
	Search(ctx context.Context, q Query) ([]mention.Mention, int, error)
	// SetStatus records the legal team's triage state for a mention.
	SetStatus(ctx context.Context, id, status, note string) error
	// Close releases resources.
	Close() error
}

// Query selects mentions. Zero fields do not filter.
type Query struct {
	// Text is a full-text query over title and text (Japanese works
	// without spaces).
	Text     string
	Category string
	// MinSeverity keeps mentions at or above this severity.
	MinSeverity mention.Severity
	Target      string
	Status      string
	SourceID    string
	AlertOnly   bool
	Since       time.Time
	Until       time.Time
	Limit       int
}

// ChainHead is the head of the evidence hash chain as recorded in the
// index: a later copy of the chain must contain the line Seq with this
// LineSHA256, so a rewritten chain is caught against what the index holds.
type ChainHead struct {
	Seq            int64     `json:"seq"`
	LineSHA256     string    `json:"line_sha256"`
	Position       int64     `json:"position"`
	BundleID       string    `json:"bundle_id,omitempty"`
	ManifestSHA256 string    `json:"manifest_sha256,omitempty"`
	At             time.Time `json:"at,omitzero"`
	Recorded       time.Time `json:"recorded"`
}

// ChainHeadRecorder is implemented by stores that keep evidence chain
// heads (both stores do).
type ChainHeadRecorder interface {
	// RecordChainHead stores h; recording the same Seq again is a no-op.
	RecordChainHead(ctx context.Context, h ChainHead) error
	// ChainHeads returns the newest heads first.
	ChainHeads(ctx context.Context, limit int) ([]ChainHead, error)
}

// AlertClaimer is implemented by stores shared by several daemons
// (Elasticsearch): before a daemon sends an alert it claims the alert's
// deterministic id in the shared store, so of several daemons watching the
// same sources exactly one alerts each post.
type AlertClaimer interface {
	// ClaimAlert records that daemon by is alerting alertID; it returns
	// false when another daemon claimed it first.
	ClaimAlert(ctx context.Context, alertID, by string) (bool, error)
}

// Maintainer is implemented by stores with periodic upkeep
// (Elasticsearch: rollover of the write index and retention).
type Maintainer interface {
	// Maintain runs one round of upkeep.
	Maintain(ctx context.Context, now time.Time) error
}

// DaemonStore is what the monitor daemon requires of an index: a Store
// that also keeps evidence chain heads. Both backends implement it, and
// both say so with a compile-time guard, so a dropped method breaks the
// build instead of silently turning chain-head recording off.
//
// Alert claiming (AlertClaimer) and upkeep (Maintainer) stay optional:
// only a store shared by several daemons claims alerts, and only
// Elasticsearch has upkeep. The monitor logs at start which of them the
// store lacks.
type DaemonStore interface {
	Store
	ChainHeadRecorder
}

// SharedStore is a DaemonStore that several daemons share
// (Elasticsearch): it claims alerts and has periodic upkeep.
type SharedStore interface {
	DaemonStore
	AlertClaimer
	Maintainer
}
