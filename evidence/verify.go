package evidence

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Problem is one thing verify found wrong.
type Problem struct {
	Path  string `json:"path"`
	Issue string `json:"issue"`
}

func (p Problem) String() string { return p.Path + ": " + p.Issue }

// Report is the result of verifying one bundle.
type Report struct {
	Bundle         string `json:"bundle"`
	BundleID       string `json:"bundle_id,omitempty"`
	Kind           string `json:"kind,omitempty"`
	ManifestSHA256 string `json:"manifest_sha256"`
	// Files counts the files the manifest lists.
	Files    int       `json:"files"`
	Problems []Problem `json:"problems"`
	// Notes are facts that are not tampering: a timestamp still pending,
	// files pruned by retention, parts never captured, checks not run.
	Notes []string `json:"notes,omitempty"`
	// Pruned says retention removed the bundle's files (the manifest and
	// the token are kept, and the chain records the prune).
	Pruned        bool  `json:"pruned,omitempty"`
	ChainPosition int64 `json:"chain_position,omitempty"`
	// ChainChecked says the bundle was checked against chain.jsonl and its
	// previous bundle.
	ChainChecked bool       `json:"chain_checked"`
	Timestamp    *TokenInfo `json:"timestamp,omitempty"`
	Missing      []Missing  `json:"missing,omitempty"`
	// ChainExcerpt names the chain excerpt of an unzipped export the bundle
	// was checked against instead of chain.jsonl (see verifyExcerpt).
	ChainExcerpt string `json:"chain_excerpt,omitempty"`
}

// OK reports whether the bundle is intact.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// ErrNotBundle is returned when the path holds no manifest.
var ErrNotBundle = errors.New("not an evidence bundle")

// VerifyOptions adjusts Verify.
type VerifyOptions struct {
	// WantManifestSHA256 is the manifest hash recorded elsewhere (the
	// ledger, the index, the alert e-mail); empty skips that check.
	WantManifestSHA256 string
	// Root is the evidence root holding chain.jsonl; empty looks for it in
	// the folders above the bundle.
	Root string
	// TSARoots is the CA the TSA certificate must chain to; nil checks the
	// token's signature and imprint only, and says so in a note.
	TSARoots *x509.CertPool
}

// Verify checks every file of the bundle at dir against its manifest:
// hashes, sizes, missing files and files the manifest does not list; the
// timestamp token (signature, imprint); and the chain link when the
// evidence root is found above dir. When wantManifest is not empty the
// manifest's own SHA-256 must equal it.
func Verify(dir, wantManifest string) (Report, error) {
	return VerifyWith(dir, VerifyOptions{WantManifestSHA256: wantManifest})
}

// Verify checks a bundle (id or path) with the store's root and TSA CA.
func (s *Store) Verify(bundle string) (Report, error) {
	dir, err := s.Resolve(bundle)
	if err != nil {
		return Report{Bundle: bundle}, err
	}
	return VerifyWith(dir, VerifyOptions{Root: s.root, TSARoots: s.tsaRoots})
}

// VerifyWith is Verify with options.
func VerifyWith(dir string, o VerifyOptions) (Report, error) {
	root := o.Root
	if root == "" {
		root = FindRoot(dir)
	}
	var idx *chainIndex
	if root != "" {
		idx = loadChainIndex(root)
	}
	return verifyBundle(dir, o, idx)
}

// FindRoot returns the evidence root above a bundle folder (the nearest
// folder holding chain.jsonl, at most four levels up), or "".
func FindRoot(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	p := abs
	for i := 0; i < 4; i++ {
		p = filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(p, ChainFile)); err == nil {
			return p
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	return ""
}

type chainIndex struct {
	root     string
	entries  []ChainEntry
	raws     [][]byte
	torn     bool
	err      error
	bundles  map[string]*ChainEntry
	byPos    map[int64]*ChainEntry
	stamps   map[string][]*ChainEntry
	pruned   map[string]*ChainEntry
	subjects map[string][]*ChainEntry
}

func loadChainIndex(root string) *chainIndex {
	idx := &chainIndex{root: root, bundles: map[string]*ChainEntry{}, byPos: map[int64]*ChainEntry{},
		stamps: map[string][]*ChainEntry{}, pruned: map[string]*ChainEntry{}, subjects: map[string][]*ChainEntry{}}
	idx.entries, idx.raws, idx.torn, idx.err = ReadChain(root)
	for i := range idx.entries {
		e := &idx.entries[i]
		switch e.Type {
		case EntryBundle:
			if _, dup := idx.bundles[e.BundleID]; !dup {
				idx.bundles[e.BundleID] = e
			}
			if _, dup := idx.byPos[e.Position]; !dup {
				idx.byPos[e.Position] = e
			}
			if e.Subject != "" {
				idx.subjects[e.Subject] = append(idx.subjects[e.Subject], e)
			}
		case EntryTimestamp:
			idx.stamps[e.BundleID] = append(idx.stamps[e.BundleID], e)
		case EntryPruned:
			idx.pruned[e.BundleID] = e
		}
	}
	return idx
}

func verifyBundle(dir string, o VerifyOptions, idx *chainIndex) (Report, error) {
	r := Report{Bundle: dir}
	add := func(path, format string, args ...any) {
		r.Problems = append(r.Problems, Problem{path, fmt.Sprintf(format, args...)})
	}
	var inChain *ChainEntry
	if idx != nil && idx.err == nil {
		inChain = idx.bundles[filepath.Base(dir)]
	}
	raw, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if inChain != nil {
				r.BundleID = inChain.BundleID
				add(ManifestName, "missing (the chain records bundle %s at position %d with manifest sha256 %s)", inChain.BundleID, inChain.Position, inChain.ManifestSHA256)
				return r, nil
			}
			return r, fmt.Errorf("verify %s: %w: %s missing", dir, ErrNotBundle, ManifestName)
		}
		return r, fmt.Errorf("verify %s: %w", dir, err)
	}
	sum := sha256Hex(raw)
	r.ManifestSHA256 = sum
	if o.WantManifestSHA256 != "" && o.WantManifestSHA256 != sum {
		add(ManifestName, "sha256 %s, recorded at capture %s", sum, o.WantManifestSHA256)
	}
	var man Manifest
	if err := json.Unmarshal(raw, &man); err != nil {
		add(ManifestName, "not valid JSON: %v", err)
		if inChain != nil && inChain.ManifestSHA256 != sum {
			add(ManifestName, "sha256 %s, the chain recorded %s", sum, inChain.ManifestSHA256)
		}
		return r, nil
	}
	r.BundleID, r.Kind, r.ChainPosition, r.Missing = man.BundleID, man.Kind, man.ChainPosition, man.Missing
	if base := filepath.Base(filepath.Clean(dir)); man.BundleID != "" && base != man.BundleID {
		// Another genuine bundle copied over this one would otherwise pass.
		add(ManifestName, "the folder %s holds the manifest of bundle %s", base, man.BundleID)
	}
	if idx != nil && idx.err == nil && man.BundleID != "" {
		inChain = idx.bundles[man.BundleID]
	}
	var pruned *ChainEntry
	if idx != nil {
		pruned = idx.pruned[man.BundleID]
	}
	if pruned != nil && pruned.ManifestSHA256 == sum {
		r.Pruned = true
		r.Notes = append(r.Notes, fmt.Sprintf("files pruned by retention on %s (%s); the manifest, the token and the chain keep their hashes",
			pruned.At.Format("2006-01-02"), pruned.Reason))
	}

	// Files.
	listed := map[string]bool{ManifestName: true, TimestampName: true}
	prunedFiles := 0
	for _, f := range man.Files {
		r.Files++
		clean := filepath.Clean(filepath.FromSlash(f.Path))
		if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
			add(f.Path, "path escapes the bundle")
			continue
		}
		listed[filepath.ToSlash(clean)] = true
		if fi, lerr := os.Lstat(filepath.Join(dir, clean)); lerr == nil && !fi.Mode().IsRegular() {
			add(f.Path, "not a regular file (%s): evidence files are never links or devices", fi.Mode().Type())
			continue
		}
		got, size, err := hashFile(filepath.Join(dir, clean))
		switch {
		case errors.Is(err, os.ErrNotExist) && r.Pruned:
			prunedFiles++
		case errors.Is(err, os.ErrNotExist):
			add(f.Path, "missing")
		case err != nil:
			add(f.Path, "unreadable: %v", err)
		case got != f.SHA256:
			add(f.Path, "sha256 %s, manifest says %s (%d bytes, manifest says %d)", got, f.SHA256, size, f.Size)
		case size != f.Size:
			add(f.Path, "%d bytes, manifest says %d", size, f.Size)
		}
	}
	if prunedFiles > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d file(s) removed by retention", prunedFiles))
	}
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if !listed[filepath.ToSlash(rel)] {
			add(filepath.ToSlash(rel), "not listed in the manifest")
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("verify %s: %w", dir, err)
	}
	for _, m := range man.Missing {
		if m.What == "screenshot" || m.What == "pdf" || m.What == "dom" || m.What == "warc" {
			r.Notes = append(r.Notes, fmt.Sprintf("not captured: %s (%s)", m.What, m.Reason))
		}
	}
	if idx != nil && man.Render != nil && man.Render.Status == "failed" {
		for _, e := range idx.subjects[man.BundleID] {
			if e.Kind == KindRender {
				r.Notes = append(r.Notes, fmt.Sprintf("rendered later in bundle %s (chain position %d)", e.BundleID, e.Position))
			}
		}
	}

	// Timestamp token.
	verifyToken(&r, dir, sum, man, o.TSARoots, idx)

	// Chain.
	if man.Format < 2 {
		r.Notes = append(r.Notes, "format 1 bundle: captured before the hash chain; chain not checked")
	} else if idx == nil {
		if export := findExport(dir); export != "" {
			r.ChainChecked = verifyExcerpt(&r, dir, man, sum, export)
		} else {
			r.Notes = append(r.Notes, "chain not checked: no chain.jsonl found above the bundle (give the evidence root)")
		}
	} else if idx.err != nil {
		add(ChainFile, "unreadable: %v", idx.err)
	} else {
		r.ChainChecked = true
		verifyLink(&r, man, sum, inChain, idx)
	}
	sort.SliceStable(r.Problems, func(i, j int) bool { return r.Problems[i].Path < r.Problems[j].Path })
	return r, nil
}

func verifyToken(r *Report, dir, sum string, man Manifest, roots *x509.CertPool, idx *chainIndex) {
	add := func(format string, args ...any) {
		r.Problems = append(r.Problems, Problem{TimestampName, fmt.Sprintf(format, args...)})
	}
	var recorded []*ChainEntry
	if idx != nil {
		recorded = idx.stamps[man.BundleID]
	}
	tok, err := os.ReadFile(filepath.Join(dir, TimestampName))
	if errors.Is(err, os.ErrNotExist) {
		switch {
		case len(recorded) > 0:
			add("missing (the chain records a token with sha256 %s stored %s)", recorded[0].TokenSHA256, recorded[0].At.Format("2006-01-02 15:04:05Z07:00"))
		case man.Timestamp != nil:
			note := "no trusted timestamp yet: the TSA was not reachable at capture; it is fetched by the retry"
			if idx != nil {
				if pm, ok := readMarker(idx.root, markerTimestamp, man.BundleID); ok && pm.LastError != "" {
					note += fmt.Sprintf(" (pending since %s, %d attempt(s), last error: %s)", pm.Since.Format("2006-01-02 15:04Z07:00"), pm.Attempts, pm.LastError)
				}
			}
			r.Notes = append(r.Notes, note)
		default:
			r.Notes = append(r.Notes, "no trusted timestamp was requested for this bundle")
		}
		return
	}
	if err != nil {
		add("unreadable: %v", err)
		return
	}
	digest, _ := hex.DecodeString(sum)
	info, problems, err := checkToken(tok, digest, roots, nil)
	if err != nil {
		add("%v", err)
		return
	}
	for _, p := range problems {
		add("%s", p)
	}
	if len(recorded) > 0 && recorded[len(recorded)-1].TokenSHA256 != sha256Hex(tok) {
		add("sha256 %s, the chain recorded %s", sha256Hex(tok), recorded[len(recorded)-1].TokenSHA256)
	}
	if idx != nil && len(recorded) == 0 {
		r.Notes = append(r.Notes, "the chain has no line for this token yet (stored just before a crash?); the retry adds it")
	}
	if roots == nil {
		r.Notes = append(r.Notes, "TSA certificate chain not checked: no TSA CA given (configure evidence.tsa.ca_file or pass --tsa-ca)")
	}
	r.Timestamp = &info
}

func verifyLink(r *Report, man Manifest, sum string, inChain *ChainEntry, idx *chainIndex) {
	add := func(path, format string, args ...any) {
		r.Problems = append(r.Problems, Problem{path, fmt.Sprintf(format, args...)})
	}
	if inChain == nil {
		add(ManifestName, "bundle %s is not in %s", man.BundleID, ChainFile)
	} else {
		if inChain.ManifestSHA256 != sum {
			add(ManifestName, "sha256 %s, the chain recorded %s", sum, inChain.ManifestSHA256)
		}
		if inChain.Position != man.ChainPosition {
			add(ManifestName, "chain position %d, the chain recorded %d", man.ChainPosition, inChain.Position)
		}
		if inChain.PrevManifestSHA256 != man.PrevManifestSHA256 {
			add(ManifestName, "previous manifest %s, the chain recorded %s", man.PrevManifestSHA256, inChain.PrevManifestSHA256)
		}
	}
	// The next bundle must name this manifest, and every chain line must
	// link to the one before it: a bundle rewritten together with its own
	// chain line breaks one of these.
	if next := idx.byPos[man.ChainPosition+1]; next != nil && next.PrevManifestSHA256 != sum {
		add("chain", "the next bundle %s (position %d) names previous manifest %s, this manifest is %s",
			next.BundleID, next.Position, next.PrevManifestSHA256, sum)
	}
	for i := 1; i < len(idx.entries) && i < len(idx.raws); i++ {
		if want := sha256Hex(idx.raws[i-1]); idx.entries[i].PrevLineSHA256 != want {
			add("chain", "line %d does not link to line %d (prev_line_sha256 %s, the line hashes to %s): the chain was rewritten",
				idx.entries[i].Seq, idx.entries[i-1].Seq, idx.entries[i].PrevLineSHA256, want)
			break
		}
	}
	// The previous bundle.
	if man.ChainPosition > 1 {
		prev := idx.byPos[man.ChainPosition-1]
		switch {
		case prev == nil:
			add("chain", "no bundle at position %d before this one (removed from the chain?)", man.ChainPosition-1)
		case prev.ManifestSHA256 != man.PrevManifestSHA256 || prev.BundleID != man.PrevBundleID:
			add("chain", "previous bundle: the manifest names %s (%s), the chain has %s (%s) at position %d",
				man.PrevBundleID, man.PrevManifestSHA256, prev.BundleID, prev.ManifestSHA256, prev.Position)
		default:
			checkLinked(r, idx, prev, "previous bundle")
		}
	} else if man.PrevManifestSHA256 != "" {
		add(ManifestName, "first bundle of the chain names a previous manifest %s", man.PrevManifestSHA256)
	}
	// The subject (render and observation bundles, edits).
	if man.Subject != nil {
		subj := idx.bundles[man.Subject.BundleID]
		switch {
		case subj == nil:
			add("subject", "bundle %s is not in the chain", man.Subject.BundleID)
		case subj.ManifestSHA256 != man.Subject.ManifestSHA256:
			add("subject", "bundle %s: the manifest names manifest %s, the chain recorded %s", subj.BundleID, man.Subject.ManifestSHA256, subj.ManifestSHA256)
		default:
			checkLinked(r, idx, subj, "subject bundle")
		}
	}
}

// checkLinked checks that a linked bundle is still there with the manifest
// the chain recorded.
func checkLinked(r *Report, idx *chainIndex, e *ChainEntry, what string) {
	dir := filepath.Join(idx.root, filepath.FromSlash(e.Path))
	raw, err := os.ReadFile(filepath.Join(dir, ManifestName))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if _, derr := os.Stat(dir); derr != nil {
			r.Problems = append(r.Problems, Problem{"chain", fmt.Sprintf("%s %s (position %d) is missing from %s (removed?)", what, e.BundleID, e.Position, e.Path)})
		} else {
			r.Problems = append(r.Problems, Problem{"chain", fmt.Sprintf("%s %s (position %d) has no %s", what, e.BundleID, e.Position, ManifestName)})
		}
	case err != nil:
		r.Problems = append(r.Problems, Problem{"chain", fmt.Sprintf("%s %s: %v", what, e.BundleID, err)})
	case sha256Hex(raw) != e.ManifestSHA256:
		r.Problems = append(r.Problems, Problem{"chain", fmt.Sprintf("%s %s: manifest sha256 %s, the chain recorded %s", what, e.BundleID, sha256Hex(raw), e.ManifestSHA256)})
	default:
		if p := idx.pruned[e.BundleID]; p != nil {
			r.Notes = append(r.Notes, fmt.Sprintf("%s %s was pruned by retention on %s; its manifest still matches", what, e.BundleID, p.At.Format("2006-01-02")))
		}
	}
}

// ChainReport is the result of VerifyChain.
type ChainReport struct {
	Root        string `json:"root"`
	Lines       int    `json:"lines"`
	Bundles     int    `json:"bundles"`
	Pruned      int    `json:"pruned"`
	Timestamped int    `json:"timestamped"`
	Head        Head   `json:"head"`
	// Anchors says which recorded heads (chain-heads.jsonl) the chain was
	// checked against.
	Anchors  AnchorReport `json:"anchors"`
	Problems []Problem    `json:"problems"`
	Notes    []string     `json:"notes,omitempty"`
	// Reports holds the report of every bundle with a problem.
	Reports []Report `json:"reports,omitempty"`
}

// OK reports whether the whole chain is intact.
func (r ChainReport) OK() bool { return len(r.Problems) == 0 }

// VerifyChain checks the whole evidence root: every chain line links to the
// line before it; positions count up; each bundle line names the previous
// bundle's manifest; every bundle is present and verifies; timestamp and
// prune lines name real bundles; and no bundle folder is outside the chain.
// Bundles pruned by retention are reported as pruned, not as tampering.
// The chain must still hold every head recorded in chain-heads.jsonl (see
// AnchorHead), whose own hash chain and tokens are checked too; when expect
// is non-nil (a head logged earlier), the chain must also hold that line.
func VerifyChain(root string, roots *x509.CertPool, expect *Head) (ChainReport, error) {
	rep := ChainReport{Root: root}
	add := func(path, format string, args ...any) {
		rep.Problems = append(rep.Problems, Problem{path, fmt.Sprintf(format, args...)})
	}
	if _, err := os.Stat(root); err != nil {
		return rep, fmt.Errorf("verify chain: %w", err)
	}
	idx := loadChainIndex(root)
	if idx.err != nil {
		add(ChainFile, "%v", idx.err)
		return rep, nil
	}
	if idx.torn {
		rep.Notes = append(rep.Notes, "the last line of chain.jsonl is incomplete (a crash during an append); it is ignored and cut off by the next append")
	}
	rep.Lines = len(idx.entries)
	var prevHead HeadRef
	seen := map[string]bool{}
	for i, e := range idx.entries {
		line := fmt.Sprintf("%s line %d", ChainFile, i+1)
		if e.Seq != int64(i+1) {
			add(line, "seq %d, expected %d (a line was removed or inserted)", e.Seq, i+1)
		}
		want := ""
		if i > 0 {
			want = sha256Hex(idx.raws[i-1])
		}
		if e.PrevLineSHA256 != want {
			add(line, "prev_line_sha256 %s does not match the line before (%s): a line was changed, removed or inserted", e.PrevLineSHA256, want)
		}
		switch e.Type {
		case EntryBundle:
			rep.Bundles++
			if e.Position != prevHead.Position+1 {
				add(line, "bundle %s at position %d, expected %d (a bundle was removed from the chain?)", e.BundleID, e.Position, prevHead.Position+1)
			}
			if e.PrevManifestSHA256 != prevHead.ManifestSHA256 {
				add(line, "bundle %s names previous manifest %s, the bundle before it has %s", e.BundleID, e.PrevManifestSHA256, prevHead.ManifestSHA256)
			}
			if seen[e.BundleID] {
				add(line, "bundle %s appears twice", e.BundleID)
			}
			seen[e.BundleID] = true
			if (e.Head != HeadRef{Position: e.Position, BundleID: e.BundleID, ManifestSHA256: e.ManifestSHA256}) {
				add(line, "head does not name the bundle of the line")
			}
		case EntryTimestamp, EntryPruned:
			b := idx.bundles[e.BundleID]
			if b == nil || b.ManifestSHA256 != e.ManifestSHA256 {
				add(line, "%s line for bundle %s that the chain does not hold with manifest %s", e.Type, e.BundleID, e.ManifestSHA256)
			}
			if e.Head != prevHead {
				add(line, "head changed on a %s line", e.Type)
			}
			if e.Type == EntryTimestamp {
				rep.Timestamped++
			} else {
				rep.Pruned++
			}
		default:
			add(line, "unknown line type %q", e.Type)
		}
		prevHead = e.Head
	}
	if n := len(idx.entries); n > 0 {
		last := idx.entries[n-1]
		rep.Head = Head{HeadRef: last.Head, Seq: last.Seq, LineSHA256: sha256Hex(idx.raws[n-1]), At: last.At}
	}
	if expect != nil {
		switch {
		case expect.Seq < 1 || expect.Seq > int64(len(idx.entries)):
			add(ChainFile, "the expected head (line %d) is not in the chain, which has %d lines: the chain was cut", expect.Seq, len(idx.entries))
		case expect.LineSHA256 != "" && sha256Hex(idx.raws[expect.Seq-1]) != expect.LineSHA256:
			add(ChainFile, "line %d has sha256 %s, the head logged earlier says %s: the chain was rewritten", expect.Seq, sha256Hex(idx.raws[expect.Seq-1]), expect.LineSHA256)
		}
	}
	rep.Anchors.Expected = expect
	// Every head recorded in chain-heads.jsonl.
	verifyAnchors(root, idx, roots, &rep)

	// Every bundle of the chain.
	for i := range idx.entries {
		e := &idx.entries[i]
		if e.Type != EntryBundle {
			continue
		}
		dir := filepath.Join(root, filepath.FromSlash(e.Path))
		if _, err := os.Stat(dir); err != nil {
			if idx.pruned[e.BundleID] != nil {
				add(e.Path, "bundle %s (position %d) was pruned but its folder with the manifest is gone", e.BundleID, e.Position)
			} else {
				add(e.Path, "bundle %s (position %d) is missing: removed from the chain", e.BundleID, e.Position)
			}
			continue
		}
		r, err := verifyBundle(dir, VerifyOptions{WantManifestSHA256: e.ManifestSHA256, Root: root, TSARoots: roots}, idx)
		if err != nil {
			add(e.Path, "%v", err)
			continue
		}
		for _, p := range r.Problems {
			if p.Path == "chain" && strings.Contains(p.Issue, "is missing from") {
				continue // reported once for the missing bundle itself
			}
			add(e.Path+"/"+p.Path, "%s", p.Issue)
		}
		if !r.OK() {
			rep.Reports = append(rep.Reports, r)
		}
	}

	// Bundle folders the chain does not know.
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && p != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() != ManifestName {
			return nil
		}
		dir := filepath.Dir(p)
		rel, _ := filepath.Rel(root, dir)
		man, _, err := ReadManifest(dir)
		if err == nil && idx.bundles[man.BundleID] != nil {
			return nil
		}
		if err == nil && man.Format < 2 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s: format 1 bundle from before the chain", filepath.ToSlash(rel)))
			return nil
		}
		add(filepath.ToSlash(rel), "bundle folder not in the chain")
		return nil
	})
	sort.SliceStable(rep.Problems, func(i, j int) bool { return rep.Problems[i].Path < rep.Problems[j].Path })
	return rep, nil
}
