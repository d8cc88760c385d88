package evidence

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
)

// PruneReport says what Prune did.
type PruneReport struct {
	Pruned     int      `json:"pruned"`
	FreedBytes int64    `json:"freed_bytes"`
	Errors     []string `json:"errors,omitempty"`
}

// Prune deletes the files of bundles older than their retention (light
// bundles: LightRetention; others: Retention; 0 keeps them). It never
// breaks verification: the manifest and the timestamp token stay in the
// bundle folder, a "pruned" line is appended to the chain first, and
// verify reports the bundle as pruned rather than altered.
func (s *Store) Prune(ctx context.Context, now time.Time) (PruneReport, error) {
	var rep PruneReport
	if s.retention <= 0 && s.lightRetention <= 0 {
		return rep, nil
	}
	idx := loadChainIndex(s.root)
	if idx.err != nil {
		return rep, idx.err
	}
	for i := range idx.entries {
		e := idx.entries[i]
		if ctx.Err() != nil {
			break
		}
		if e.Type != EntryBundle {
			continue
		}
		keep := s.retention
		if e.Kind == KindLight {
			keep = s.lightRetention
		}
		if keep <= 0 || now.Sub(e.CapturedAt) < keep {
			continue
		}
		dir := filepath.Join(s.root, filepath.FromSlash(e.Path))
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		already := idx.pruned[e.BundleID] != nil
		if !already {
			unlock, err := s.lockChain()
			if err != nil {
				return rep, err
			}
			err = s.appendEntry(&ChainEntry{Type: EntryPruned, BundleID: e.BundleID, Path: e.Path, Kind: e.Kind, Position: e.Position,
				ManifestSHA256: e.ManifestSHA256, Reason: fmt.Sprintf("retention %v for %s bundles", keep, e.Kind),
				Kept: []string{ManifestName, TimestampName}})
			unlock()
			if err != nil {
				return rep, s.storeErr(err)
			}
		}
		freed, err := removeAllBut(dir, map[string]bool{ManifestName: true, TimestampName: true})
		rep.FreedBytes += freed
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", e.BundleID, err))
			continue
		}
		os.Remove(s.markerPath(markerRender, e.BundleID))
		if !already {
			rep.Pruned++
		}
	}
	if rep.Pruned > 0 {
		s.log.Info("evidence pruned by retention", zap.Int("bundles", rep.Pruned), zap.Int64("freed_bytes", rep.FreedBytes))
	}
	return rep, nil
}

// removeAllBut removes every file of dir except the top-level names in
// keep, and the folders left empty.
func removeAllBut(dir string, keep map[string]bool) (int64, error) {
	var freed int64
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if p != dir {
				dirs = append(dirs, p)
			}
			return nil
		}
		if keep[filepath.ToSlash(rel)] {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			freed += fi.Size()
		}
		return os.Remove(p)
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Remove(dirs[i])
	}
	if err == nil {
		err = syncOne(dir)
	}
	return freed, err
}
