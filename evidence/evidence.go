// Package evidence captures write-once evidence bundles for alerted
// mentions — the raw response exactly as received, the HTTP exchange, the
// mention as detected, and a manifest of SHA-256 hashes — and verifies that
// nothing in a bundle changed since.
package evidence

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"mimamori/mention"
)

// ManifestName is the manifest file inside every bundle.
const ManifestName = "manifest.json"

// FormatVersion is the bundle layout version written into manifests.
const FormatVersion = 1

// Manifest lists every file of a bundle with its hash and size.
type Manifest struct {
	Format     int       `json:"format"`
	BundleID   string    `json:"bundle_id"`
	MentionID  string    `json:"mention_id"`
	Version    int       `json:"mention_version"`
	SourceID   string    `json:"source_id"`
	URL        string    `json:"url"`
	RequestURL string    `json:"request_url"`
	FinalURL   string    `json:"final_url"`
	StatusCode int       `json:"status_code"`
	FetchedAt  time.Time `json:"fetched_at"`
	CapturedAt time.Time `json:"captured_at"`
	Tool       string    `json:"tool"`
	Files      []File    `json:"files"`
}

// File is one manifest entry.
type File struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Role   string `json:"role"`
}

// Store writes bundles under a root directory.
type Store struct {
	root string
	tool string
	now  func() time.Time
}

// NewStore returns a store rooted at dir. tool names the capturing program
// and version, recorded in each manifest.
func NewStore(dir, tool string) *Store {
	return &Store{root: dir, tool: tool, now: time.Now}
}

// Root returns the directory bundles live under.
func (s *Store) Root() string { return s.root }

// exchange is the HTTP metadata file of a bundle.
type exchange struct {
	Method        string              `json:"method"`
	RequestURL    string              `json:"request_url"`
	FinalURL      string              `json:"final_url"`
	StatusCode    int                 `json:"status_code"`
	Proto         string              `json:"proto,omitempty"`
	RequestHeader map[string][]string `json:"request_header,omitempty"`
	Header        map[string][]string `json:"response_header"`
	FetchedAtUTC  time.Time           `json:"fetched_at_utc"`
	BodySize      int                 `json:"body_size"`
}

// Capture writes a bundle for m from the exchange f and returns a reference
// to it. The bundle is written to a temporary directory, every file synced,
// and renamed into place, so a bundle either exists whole or not at all.
// Files are made read-only; an existing bundle is never overwritten.
func (s *Store) Capture(m mention.Mention, f *mention.Fetch) (mention.EvidenceRef, error) {
	if f == nil {
		return mention.EvidenceRef{}, fmt.Errorf("capture evidence for %s: no HTTP exchange recorded", m.ID)
	}
	captured := s.now().UTC()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	bundleID := fmt.Sprintf("%s-v%d-%s-%s", m.ID, m.Version, captured.Format("20060102T150405Z"), hex.EncodeToString(rnd[:]))
	final := filepath.Join(s.root, captured.Format("2006"), captured.Format("01"), bundleID)
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return mention.EvidenceRef{}, fmt.Errorf("capture evidence for %s: %w", m.ID, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(final), ".tmp-"+bundleID+"-")
	if err != nil {
		return mention.EvidenceRef{}, fmt.Errorf("capture evidence for %s: %w", m.ID, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()

	man := Manifest{
		Format: FormatVersion, BundleID: bundleID, MentionID: m.ID, Version: m.Version,
		SourceID: m.SourceID, URL: m.URL, RequestURL: f.RequestURL, FinalURL: f.FinalURL,
		StatusCode: f.StatusCode, FetchedAt: f.FetchedAt.UTC(), CapturedAt: captured, Tool: s.tool,
	}
	rawName := "raw/response" + extFor(f.Header.Get("Content-Type"))
	ex := exchange{Method: f.Method, RequestURL: f.RequestURL, FinalURL: f.FinalURL, StatusCode: f.StatusCode,
		Proto: f.Proto, RequestHeader: f.RequestHeader, Header: f.Header, FetchedAtUTC: f.FetchedAt.UTC(), BodySize: len(f.Body)}
	exJSON, _ := json.MarshalIndent(ex, "", "  ")
	mJSON, _ := json.MarshalIndent(m, "", "  ")
	files := []struct {
		name, role string
		data       []byte
	}{
		{rawName, "raw-response-body", f.Body},
		{"exchange.json", "http-exchange", exJSON},
		{"mention.json", "mention-as-detected", mJSON},
	}
	for _, fl := range files {
		sum, err := writeFile(filepath.Join(tmp, fl.name), fl.data)
		if err != nil {
			return mention.EvidenceRef{}, fmt.Errorf("capture evidence for %s: write %s: %w", m.ID, fl.name, err)
		}
		man.Files = append(man.Files, File{Path: fl.name, SHA256: sum, Size: int64(len(fl.data)), Role: fl.role})
	}
	manJSON, _ := json.MarshalIndent(man, "", "  ")
	manSum, err := writeFile(filepath.Join(tmp, ManifestName), manJSON)
	if err != nil {
		return mention.EvidenceRef{}, fmt.Errorf("capture evidence for %s: write manifest: %w", m.ID, err)
	}
	if err := syncDir(tmp); err != nil {
		return mention.EvidenceRef{}, fmt.Errorf("capture evidence for %s: %w", m.ID, err)
	}
	if _, err := os.Stat(final); err == nil {
		return mention.EvidenceRef{}, fmt.Errorf("capture evidence for %s: bundle %s already exists; refusing to overwrite", m.ID, final)
	}
	if err := os.Rename(tmp, final); err != nil {
		return mention.EvidenceRef{}, fmt.Errorf("capture evidence for %s: %w", m.ID, err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return mention.EvidenceRef{}, fmt.Errorf("capture evidence for %s: %w", m.ID, err)
	}
	ok = true
	return mention.EvidenceRef{BundleID: bundleID, Path: final, ManifestSHA256: manSum, RawSHA256: man.Files[0].SHA256}, nil
}

func writeFile(path string, data []byte) (string, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o440)
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

func syncDir(dir string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
}

func extFor(contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "text/html" || mt == "application/xhtml+xml":
		return ".html"
	case strings.HasSuffix(mt, "xml"):
		return ".xml"
	case strings.HasSuffix(mt, "json"):
		return ".json"
	case strings.HasPrefix(mt, "text/"):
		return ".txt"
	}
	return ".bin"
}

// Problem is one thing verify found wrong.
type Problem struct {
	Path  string `json:"path"`
	Issue string `json:"issue"`
}

func (p Problem) String() string { return p.Path + ": " + p.Issue }

// Report is the result of Verify.
type Report struct {
	Bundle         string    `json:"bundle"`
	ManifestSHA256 string    `json:"manifest_sha256"`
	Files          int       `json:"files"`
	Problems       []Problem `json:"problems"`
}

// OK reports whether the bundle is intact.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// ErrNotBundle is returned when the path holds no manifest.
var ErrNotBundle = errors.New("not an evidence bundle")

// Verify checks every file of the bundle at dir against its manifest:
// hashes, sizes, missing files and files the manifest does not list. When
// wantManifest is not empty the manifest's own SHA-256 must equal it (the
// value recorded in the ledger, the index and the alert e-mail).
func Verify(dir, wantManifest string) (Report, error) {
	r := Report{Bundle: dir}
	raw, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return r, fmt.Errorf("verify %s: %w: %s missing", dir, ErrNotBundle, ManifestName)
		}
		return r, fmt.Errorf("verify %s: %w", dir, err)
	}
	sum := sha256.Sum256(raw)
	r.ManifestSHA256 = hex.EncodeToString(sum[:])
	if wantManifest != "" && wantManifest != r.ManifestSHA256 {
		r.Problems = append(r.Problems, Problem{ManifestName, fmt.Sprintf("sha256 %s, recorded at capture %s", r.ManifestSHA256, wantManifest)})
	}
	var man Manifest
	if err := json.Unmarshal(raw, &man); err != nil {
		r.Problems = append(r.Problems, Problem{ManifestName, "not valid JSON: " + err.Error()})
		return r, nil
	}
	listed := map[string]bool{ManifestName: true}
	for _, f := range man.Files {
		r.Files++
		clean := filepath.Clean(f.Path)
		if filepath.IsAbs(clean) || strings.HasPrefix(clean, "..") {
			r.Problems = append(r.Problems, Problem{f.Path, "path escapes the bundle"})
			continue
		}
		listed[filepath.ToSlash(clean)] = true
		got, size, err := hashFile(filepath.Join(dir, clean))
		switch {
		case errors.Is(err, os.ErrNotExist):
			r.Problems = append(r.Problems, Problem{f.Path, "missing"})
		case err != nil:
			r.Problems = append(r.Problems, Problem{f.Path, "unreadable: " + err.Error()})
		case got != f.SHA256:
			r.Problems = append(r.Problems, Problem{f.Path, fmt.Sprintf("sha256 %s, manifest says %s (%d bytes, manifest says %d)", got, f.SHA256, size, f.Size)})
		case size != f.Size:
			r.Problems = append(r.Problems, Problem{f.Path, fmt.Sprintf("%d bytes, manifest says %d", size, f.Size)})
		}
	}
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if !listed[filepath.ToSlash(rel)] {
			r.Problems = append(r.Problems, Problem{filepath.ToSlash(rel), "not listed in the manifest"})
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("verify %s: %w", dir, err)
	}
	sort.Slice(r.Problems, func(i, j int) bool { return r.Problems[i].Path < r.Problems[j].Path })
	return r, nil
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// ReadManifest reads the manifest of the bundle at dir.
func ReadManifest(dir string) (Manifest, []byte, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("read manifest of %s: %w", dir, err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return Manifest{}, raw, fmt.Errorf("read manifest of %s: %w", dir, err)
	}
	return m, raw, nil
}
