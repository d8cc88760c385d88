package evidence

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ChainFile is the append-only log under the evidence root. Every bundle
// adds one line (type "bundle") in the order bundles were stored; a stored
// timestamp token adds a "timestamp" line and a retention prune a "pruned"
// line. Each line carries the SHA-256 of the line before it, and the
// manifest of bundle N carries the SHA-256 of bundle N-1's manifest, so
// removing, reordering or editing anything breaks a link.
const ChainFile = "chain.jsonl"

const chainLockFile = ".chain.lock"

// Chain line types.
const (
	EntryBundle    = "bundle"
	EntryTimestamp = "timestamp"
	EntryPruned    = "pruned"
)

// HeadRef is the newest bundle of the chain.
type HeadRef struct {
	Position       int64  `json:"position"`
	BundleID       string `json:"bundle_id,omitempty"`
	ManifestSHA256 string `json:"manifest_sha256,omitempty"`
}

// ChainEntry is one line of chain.jsonl.
type ChainEntry struct {
	Seq  int64     `json:"seq"`
	Type string    `json:"type"`
	At   time.Time `json:"at"`
	// BundleID is the bundle the line is about.
	BundleID string `json:"bundle_id"`
	// Path is the bundle folder relative to the evidence root.
	Path string `json:"path,omitempty"`
	// Kind is the bundle kind (capture, light, render, observation).
	Kind string `json:"kind,omitempty"`
	// Position is the bundle's place in the chain (1 = first bundle).
	Position           int64  `json:"position"`
	ManifestSHA256     string `json:"manifest_sha256"`
	PrevManifestSHA256 string `json:"prev_manifest_sha256,omitempty"`
	// Subject is the bundle a render or observation bundle is about.
	Subject    string    `json:"subject_bundle_id,omitempty"`
	MentionID  string    `json:"mention_id,omitempty"`
	URL        string    `json:"url,omitempty"`
	CapturedAt time.Time `json:"captured_at,omitzero"`
	// Timestamp lines.
	TokenSHA256 string    `json:"token_sha256,omitempty"`
	TokenTime   time.Time `json:"token_time,omitzero"`
	TSA         string    `json:"tsa,omitempty"`
	// Pruned lines.
	Reason string   `json:"reason,omitempty"`
	Kept   []string `json:"kept,omitempty"`
	// Head is the chain head after this line.
	Head HeadRef `json:"head"`
	// PrevLineSHA256 is the SHA-256 of the previous line (without its
	// newline); empty for the first line.
	PrevLineSHA256 string `json:"prev_line_sha256"`
}

// Head describes the end of the chain: the newest bundle and the newest
// line. Log it and index it periodically: a later copy of the chain must
// contain a line with this Seq and LineSHA256.
type Head struct {
	HeadRef
	Seq        int64     `json:"seq"`
	LineSHA256 string    `json:"line_sha256"`
	At         time.Time `json:"at,omitzero"`
}

// chainLock serializes chain appends within the process (mu) and across
// processes sharing the root (flock).
func (s *Store) lockChain() (func(), error) {
	s.mu.Lock()
	if err := os.MkdirAll(s.root, 0o750); err != nil {
		s.mu.Unlock()
		return nil, diskFull(err)
	}
	f, err := os.OpenFile(filepath.Join(s.root, chainLockFile), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		s.mu.Unlock()
		return nil, diskFull(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		s.mu.Unlock()
		return nil, fmt.Errorf("lock %s: %w", chainLockFile, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
		s.mu.Unlock()
	}, nil
}

func (s *Store) chainPath() string { return filepath.Join(s.root, ChainFile) }

// lastLine returns the last complete line of the chain (nil when empty) and
// the size of the file up to the end of that line. A torn last line (a crash
// mid-append) is not returned; repairTail removes it.
func lastLine(path string) ([]byte, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := fi.Size()
	var tail []byte
	const chunk = 4096
	end := int64(-1) // end of the last complete line
	for off := size; off > 0; {
		n := int64(chunk)
		if off < n {
			n = off
		}
		off -= n
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
			return nil, 0, err
		}
		tail = append(buf, tail...)
		if end < 0 {
			i := bytes.LastIndexByte(tail, '\n')
			if i < 0 {
				continue // still inside a torn last line
			}
			end = off + int64(i) + 1
			tail = tail[:i+1]
		}
		body := tail[:len(tail)-1]
		if i := bytes.LastIndexByte(body, '\n'); i >= 0 {
			return body[i+1:], end, nil
		}
		if off == 0 {
			return body, end, nil
		}
	}
	return nil, 0, nil
}

// readHead returns the last chain entry, its raw line and the file size it
// ends at (0, nil when the chain is empty).
func (s *Store) readHead() (*ChainEntry, []byte, int64, error) {
	line, end, err := lastLine(s.chainPath())
	if err != nil || line == nil {
		return nil, nil, end, err
	}
	var e ChainEntry
	if err := json.Unmarshal(line, &e); err != nil {
		return nil, line, end, fmt.Errorf("%s: last line is not valid JSON: %w", ChainFile, err)
	}
	return &e, line, end, nil
}

// appendEntry appends e to the chain; the caller holds the lock. It fills
// Seq, PrevLineSHA256 and Head. On failure the chain is truncated back to
// where it was, so a full disk never leaves a torn line.
func (s *Store) appendEntry(e *ChainEntry) error {
	last, lastRaw, end, err := s.readHead()
	if err != nil {
		return err
	}
	s.lastLineSHA = ""
	path := s.chainPath()
	if fi, err := os.Stat(path); err == nil && fi.Size() != end {
		// a torn line from a crash: cut it off before appending
		if err := os.Truncate(path, end); err != nil {
			return err
		}
	}
	e.Seq = 1
	e.Head = HeadRef{}
	if last != nil {
		e.Seq = last.Seq + 1
		e.PrevLineSHA256 = sha256Hex(lastRaw)
		e.Head = last.Head
	}
	if e.Type == EntryBundle {
		e.Head = HeadRef{Position: e.Position, BundleID: e.BundleID, ManifestSHA256: e.ManifestSHA256}
	}
	if e.At.IsZero() {
		e.At = s.now().UTC()
	}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	created := end == 0
	f, err := s.open(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return diskFull(err)
	}
	_, werr := f.Write(append(line, '\n'))
	if werr == nil {
		werr = f.Sync()
	}
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Truncate(path, end)
		return diskFull(fmt.Errorf("append to %s: %w", ChainFile, werr))
	}
	if created {
		if err := syncOne(s.root); err != nil {
			return diskFull(err)
		}
	}
	s.lastLineSHA = sha256Hex(line)
	return nil
}

// ReadChain returns every complete line of the chain under root, oldest
// first. A torn last line is reported in torn.
func ReadChain(root string) (entries []ChainEntry, raws [][]byte, torn bool, err error) {
	return readJSONLines[ChainEntry](root, ChainFile)
}

// readJSONLines reads the JSON-lines file name under root: every complete
// line decoded and as written, oldest first, and whether a torn last line
// (no newline: a crash mid-write) follows them. A missing file is empty.
func readJSONLines[T any](root, name string) (items []T, raws [][]byte, torn bool, err error) {
	f, err := os.Open(filepath.Join(root, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			return items, raws, len(line) > 0, nil
		}
		if err != nil {
			return items, raws, false, err
		}
		line = line[:len(line)-1]
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			return items, raws, false, fmt.Errorf("%s line %d: not valid JSON: %w", name, n, err)
		}
		items = append(items, v)
		raws = append(raws, line)
	}
}

// ChainHead returns the end of the chain (zero when no bundle was stored).
func (s *Store) ChainHead() (Head, error) {
	return ReadChainHead(s.root)
}

// ReadChainHead returns the end of the chain under root.
func ReadChainHead(root string) (Head, error) {
	line, _, err := lastLine(filepath.Join(root, ChainFile))
	if err != nil || line == nil {
		return Head{}, err
	}
	var e ChainEntry
	if err := json.Unmarshal(line, &e); err != nil {
		return Head{}, fmt.Errorf("%s: last line is not valid JSON: %w", ChainFile, err)
	}
	return Head{HeadRef: e.Head, Seq: e.Seq, LineSHA256: sha256Hex(line), At: e.At}, nil
}

// recoverLocked finishes a bundle whose chain line was written but whose
// folder was not yet renamed into place (a crash between the two steps).
// The caller holds the lock.
func (s *Store) recoverLocked() error {
	last, _, _, err := s.readHead()
	if err != nil || last == nil || last.Type != EntryBundle {
		return err
	}
	final := filepath.Join(s.root, filepath.FromSlash(last.Path))
	if _, err := os.Stat(final); err == nil {
		return nil
	}
	tmp := tmpDirFor(final, last.BundleID)
	raw, err := os.ReadFile(filepath.Join(tmp, ManifestName))
	if err != nil {
		return nil // nothing to recover; verify reports the bundle missing
	}
	if sha256Hex(raw) != last.ManifestSHA256 {
		return nil
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	return syncOne(filepath.Dir(final))
}

func tmpDirFor(final, bundleID string) string {
	return filepath.Join(filepath.Dir(final), ".tmp-"+bundleID)
}
