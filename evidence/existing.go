package evidence

import (
	"path/filepath"
	"sync"

	"mimamori/mention"
)

// captureIndex maps mention ids to the capture bundles the chain names,
// built from the chain on first use and kept up to date by commit.
type captureIndex struct {
	mu    sync.Mutex
	built bool
	byID  map[string][]ChainEntry
}

func (c *captureIndex) add(e ChainEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.built && e.Type == EntryBundle && e.Kind == KindCapture && e.MentionID != "" {
		c.byID[e.MentionID] = append(c.byID[e.MentionID], e)
	}
}

// ExistingCapture returns a capture bundle already stored for this version
// of a mention (same mention id, version and content hash, files intact):
// the bundle of a capture whose ledger commit failed, or that a crash cut
// off before the commit. Capturing again would leave two bundles of one
// post; the caller links the existing one instead.
func (s *Store) ExistingCapture(m mention.Mention) (mention.EvidenceRef, bool) {
	c := &s.captures
	c.mu.Lock()
	if !c.built {
		entries, _, _, err := ReadChain(s.root)
		if err != nil {
			c.mu.Unlock()
			return mention.EvidenceRef{}, false
		}
		c.byID = map[string][]ChainEntry{}
		for _, e := range entries {
			if e.Type == EntryBundle && e.Kind == KindCapture && e.MentionID != "" {
				c.byID[e.MentionID] = append(c.byID[e.MentionID], e)
			}
		}
		c.built = true
	}
	cands := append([]ChainEntry(nil), c.byID[m.ID]...)
	c.mu.Unlock()
	for i := len(cands) - 1; i >= 0; i-- {
		e := cands[i]
		dir := filepath.Join(s.root, filepath.FromSlash(e.Path))
		man, raw, err := ReadManifest(dir)
		if err != nil || man.Version != m.Version || sha256Hex(raw) != e.ManifestSHA256 {
			continue
		}
		if r, err := s.Verify(dir); err != nil || !r.OK() {
			continue
		}
		stored, _ := bundleMention(dir, man)
		if stored.ContentHash == "" || stored.ContentHash != m.ContentHash {
			continue
		}
		ref := mention.EvidenceRef{BundleID: man.BundleID, Path: dir, ManifestSHA256: e.ManifestSHA256}
		for _, f := range man.Files {
			if f.Role == RoleRaw {
				ref.RawSHA256 = f.SHA256
			}
		}
		return ref, true
	}
	return mention.EvidenceRef{}, false
}
