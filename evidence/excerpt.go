package evidence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Files an export writes next to its bundle folders.
const (
	// ExcerptFile holds the chain lines of the exported bundles: every line
	// from the previous bundle's line to the bundle's own (so the link
	// between the two can be followed line by line), then the lines naming
	// the bundle, its subject and its related bundles.
	ExcerptFile = "chain/chain-excerpt.jsonl"
	// PrevManifestFile is the previous bundle's manifest.
	PrevManifestFile = "chain/prev-manifest.json"
	// ExportCAName is the TSA CA certificate in an export.
	ExportCAName = "tsa-ca.pem"
)

// findExport returns the folder of an unzipped export holding the bundle
// at dir, or "" when dir is not in one. An export keeps its bundle at
// <export>/<id>/ and the linked bundles at <export>/related/<id>/, with
// the chain excerpt at <export>/chain/.
func findExport(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	up := filepath.Dir(abs)
	candidates := []string{up}
	if filepath.Base(up) == "related" {
		candidates = append(candidates, filepath.Dir(up))
	}
	for _, c := range candidates {
		if fi, err := os.Stat(filepath.Join(c, filepath.FromSlash(ExcerptFile))); err == nil && fi.Mode().IsRegular() {
			return c
		}
	}
	return ""
}

// verifyExcerpt checks a bundle of an unzipped export against the export's
// chain excerpt: its lines parse and, where they follow each other in the
// chain, link by hash; the bundle's own line records this manifest's hash,
// position and previous manifest; the previous bundle's line and
// chain/prev-manifest.json carry the hash this manifest names; a timestamp
// line matches the token; the subject and related bundles in the export
// have the manifests their lines record. It reports whether the check ran
// (false: the excerpt could not be read, which is a problem).
//
// The excerpt is a copy of some lines: it shows how the bundle sits in the
// chain, not that the chain at the evidence root still holds it (verify
// the bundle there, or the whole chain with --chain, for that).
func verifyExcerpt(r *Report, dir string, man Manifest, sum string, export string) bool {
	add := func(path, format string, args ...any) {
		r.Problems = append(r.Problems, Problem{path, fmt.Sprintf(format, args...)})
	}
	data, err := os.ReadFile(filepath.Join(export, filepath.FromSlash(ExcerptFile)))
	if err != nil {
		add(ExcerptFile, "unreadable: %v", err)
		return false
	}
	var entries []ChainEntry
	var raws [][]byte
	for n, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		var e ChainEntry
		if err := json.Unmarshal(line, &e); err != nil {
			add(ExcerptFile, "line %d is not a chain line: %v", n+1, err)
			return false
		}
		entries = append(entries, e)
		raws = append(raws, line)
	}
	// The lines, in chain order, each linked to the one before it when
	// that one is in the excerpt too.
	for i := 1; i < len(entries); i++ {
		prev, cur := entries[i-1], entries[i]
		switch {
		case cur.Seq <= prev.Seq:
			add(ExcerptFile, "line seq %d follows seq %d: the lines are out of order", cur.Seq, prev.Seq)
		case cur.Seq == prev.Seq+1 && cur.PrevLineSHA256 != sha256Hex(raws[i-1]):
			add(ExcerptFile, "line seq %d does not link to line seq %d (prev_line_sha256 %s, the line hashes to %s)",
				cur.Seq, prev.Seq, cur.PrevLineSHA256, sha256Hex(raws[i-1]))
		}
	}
	find := func(id string) (int, *ChainEntry) {
		for i := range entries {
			if entries[i].Type == EntryBundle && entries[i].BundleID == id {
				return i, &entries[i]
			}
		}
		return -1, nil
	}
	own, e := find(man.BundleID)
	if e == nil {
		add(ExcerptFile, "has no line for bundle %s", man.BundleID)
		return true
	}
	if e.ManifestSHA256 != sum {
		add(ManifestName, "sha256 %s, the chain excerpt recorded %s", sum, e.ManifestSHA256)
	}
	if e.Position != man.ChainPosition {
		add(ManifestName, "chain position %d, the chain excerpt recorded %d", man.ChainPosition, e.Position)
	}
	if e.PrevManifestSHA256 != man.PrevManifestSHA256 {
		add(ManifestName, "previous manifest %s, the chain excerpt recorded %s", man.PrevManifestSHA256, e.PrevManifestSHA256)
	}

	// The previous bundle.
	if man.ChainPosition > 1 {
		prev, pe := find(man.PrevBundleID)
		switch {
		case pe == nil:
			r.Notes = append(r.Notes, fmt.Sprintf("the chain excerpt has no line for the previous bundle %s", man.PrevBundleID))
		case pe.ManifestSHA256 != man.PrevManifestSHA256 || pe.Position != man.ChainPosition-1:
			add(ExcerptFile, "previous bundle %s: the manifest names manifest %s at position %d, the excerpt records %s at position %d",
				man.PrevBundleID, man.PrevManifestSHA256, man.ChainPosition-1, pe.ManifestSHA256, pe.Position)
		case prev > own || entries[own].Seq-entries[prev].Seq != int64(own-prev):
			r.Notes = append(r.Notes, "the chain excerpt does not hold every line between the previous bundle and this one; that link was not followed line by line")
		}
		// chain/prev-manifest.json is the previous bundle of the export's
		// own bundle, not of the bundles under related/.
		if abs, err := filepath.Abs(dir); err == nil && filepath.Dir(abs) == filepath.Clean(export) {
			raw, err := os.ReadFile(filepath.Join(export, filepath.FromSlash(PrevManifestFile)))
			switch {
			case errors.Is(err, os.ErrNotExist):
				r.Notes = append(r.Notes, "the export holds no "+PrevManifestFile)
			case err != nil:
				add(PrevManifestFile, "unreadable: %v", err)
			case sha256Hex(raw) != man.PrevManifestSHA256:
				add(PrevManifestFile, "sha256 %s, this manifest names %s", sha256Hex(raw), man.PrevManifestSHA256)
			}
		}
	} else if man.PrevManifestSHA256 != "" {
		add(ManifestName, "first bundle of the chain names a previous manifest %s", man.PrevManifestSHA256)
	}

	// The token the chain recorded.
	var stamp *ChainEntry
	for i := range entries {
		if entries[i].Type == EntryTimestamp && entries[i].BundleID == man.BundleID {
			stamp = &entries[i]
		}
	}
	if stamp != nil {
		tok, err := os.ReadFile(filepath.Join(dir, TimestampName))
		switch {
		case errors.Is(err, os.ErrNotExist):
			add(TimestampName, "missing (the chain excerpt records a token with sha256 %s)", stamp.TokenSHA256)
		case err == nil && sha256Hex(tok) != stamp.TokenSHA256:
			add(TimestampName, "sha256 %s, the chain excerpt recorded %s", sha256Hex(tok), stamp.TokenSHA256)
		}
	}

	// Linked bundles present in the export: the subject at the top, related
	// bundles under related/.
	linked := func(id, want, what string) {
		for _, p := range []string{filepath.Join(export, id), filepath.Join(export, "related", id)} {
			raw, err := os.ReadFile(filepath.Join(p, ManifestName))
			if err != nil {
				continue
			}
			if got := sha256Hex(raw); got != want {
				add("chain", "%s %s: manifest sha256 %s, the chain excerpt recorded %s", what, id, got, want)
			}
			return
		}
		r.Notes = append(r.Notes, fmt.Sprintf("%s %s is not in the export", what, id))
	}
	if man.Subject != nil {
		if _, se := find(man.Subject.BundleID); se == nil {
			add("subject", "bundle %s is not in the chain excerpt", man.Subject.BundleID)
		} else if se.ManifestSHA256 != man.Subject.ManifestSHA256 {
			add("subject", "bundle %s: the manifest names manifest %s, the chain excerpt recorded %s", se.BundleID, man.Subject.ManifestSHA256, se.ManifestSHA256)
		} else {
			linked(se.BundleID, se.ManifestSHA256, "subject bundle")
		}
	}
	for i := range entries {
		if le := &entries[i]; le.Type == EntryBundle && le.Subject == man.BundleID {
			linked(le.BundleID, le.ManifestSHA256, "related bundle")
		}
	}
	r.ChainExcerpt = ExcerptFile
	r.Notes = append(r.Notes, fmt.Sprintf("chain checked against the export's excerpt %s (%d line(s)); the full chain stays at the evidence root",
		ExcerptFile, len(entries)))
	return true
}
