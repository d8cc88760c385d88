package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// ErrDiskFull is returned (wrapped, together with syscall.ENOSPC or
// syscall.EDQUOT) when the evidence disk has no room left. The bundle being
// written is removed whole; bundles already stored are never touched.
var ErrDiskFull = errors.New("evidence disk full")

// wfile is the part of *os.File the writers use; tests inject files that
// fail with ENOSPC.
type wfile interface {
	io.Writer
	Sync() error
	Close() error
}

// openFunc opens a file for writing.
type openFunc func(name string, flag int, perm os.FileMode) (wfile, error)

func osOpen(name string, flag int, perm os.FileMode) (wfile, error) {
	return os.OpenFile(name, flag, perm)
}

// diskFull wraps err with ErrDiskFull when it says the disk is full.
func diskFull(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		if errors.Is(err, ErrDiskFull) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	}
	return err
}

// writeFileWith writes data to a new file (never an existing one), syncs it
// and makes it read-only; it returns the data's SHA-256.
func writeFileWith(open openFunc, path string, data []byte, perm os.FileMode) (string, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", diskFull(err)
	}
	f, err := open(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return "", diskFull(err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return "", diskFull(err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", diskFull(err)
	}
	if err := f.Close(); err != nil {
		return "", diskFull(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// syncDir fsyncs dir and every folder below it.
func syncDir(dir string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return syncOne(p)
	})
}

func syncOne(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
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

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// writeAtomic writes data to path through a temporary sibling and a rename,
// syncing both the file and the folder. It never replaces an existing file.
func writeAtomic(open openFunc, path string, data []byte, perm os.FileMode) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s already exists; refusing to overwrite", path)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	os.Remove(tmp)
	if _, err := writeFileWith(open, tmp, data, perm); err != nil {
		os.Remove(tmp)
		return err
	}
	// link fails when path exists, so a concurrent writer never loses.
	if err := os.Link(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	os.Remove(tmp)
	return diskFull(syncOne(filepath.Dir(path)))
}
