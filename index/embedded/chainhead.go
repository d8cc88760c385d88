package embedded

import (
	"context"
	"fmt"
	"time"

	"mimamori/index"
)

// The embedded store is what a single daemon needs (no alert claiming: it
// is never shared; no upkeep).
var _ index.DaemonStore = (*Store)(nil)

// RecordChainHead implements index.ChainHeadRecorder.
func (s *Store) RecordChainHead(ctx context.Context, h index.ChainHead) error {
	_, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO chain_heads (seq, line_sha256, position, bundle_id, manifest_sha256, at, recorded)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, h.Seq, h.LineSHA256, h.Position, h.BundleID, h.ManifestSHA256, h.At.UnixNano(), h.Recorded.UnixNano())
	if err != nil {
		return fmt.Errorf("record evidence chain head %d: %w", h.Seq, err)
	}
	return nil
}

// ChainHeads implements index.ChainHeadRecorder.
func (s *Store) ChainHeads(ctx context.Context, limit int) ([]index.ChainHead, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, line_sha256, position, bundle_id, manifest_sha256, at, recorded
		FROM chain_heads ORDER BY seq DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read evidence chain heads: %w", err)
	}
	defer rows.Close()
	var out []index.ChainHead
	for rows.Next() {
		var h index.ChainHead
		var at, rec int64
		if err := rows.Scan(&h.Seq, &h.LineSHA256, &h.Position, &h.BundleID, &h.ManifestSHA256, &at, &rec); err != nil {
			return nil, fmt.Errorf("read evidence chain heads: %w", err)
		}
		h.At, h.Recorded = time.Unix(0, at).UTC(), time.Unix(0, rec).UTC()
		out = append(out, h)
	}
	return out, rows.Err()
}
