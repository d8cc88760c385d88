package evidence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// enospcFile writes half of what it is given, then fails like a full disk.
type enospcFile struct{ f *os.File }

func (e enospcFile) Write(p []byte) (int, error) {
	n, _ := e.f.Write(p[:len(p)/2])
	return n, &os.PathError{Op: "write", Path: e.f.Name(), Err: syscall.ENOSPC}
}
func (e enospcFile) Sync() error  { return e.f.Sync() }
func (e enospcFile) Close() error { return e.f.Close() }

func failOn(suffix string) openFunc {
	return func(name string, flag int, perm os.FileMode) (wfile, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil || !strings.HasSuffix(name, suffix) {
			return f, err
		}
		return enospcFile{f}, nil
	}
}

// TestDiskFull: a full disk while writing any part of a bundle, its
// manifest or its chain line fails the capture with a clear error, leaves
// no temporary folder and no torn chain line, and does not touch the
// bundles already stored.
func TestDiskFull(t *testing.T) {
	for _, where := range []string{"fetch.warc", "raw/response.html", ManifestName, ChainFile} {
		t.Run(where, func(t *testing.T) {
			root := t.TempDir()
			s := NewStore(root, "t")
			ok, err := s.Capture(sampleMention(), sampleFetch())
			if err != nil {
				t.Fatal(err)
			}
			before := hashTree(t, ok.Path)
			chainBefore := mustRead(t, filepath.Join(root, ChainFile))

			s.open = failOn(where)
			f := sampleFetch()
			f.Header.Set("Content-Type", "text/html")
			_, err = s.Capture(sampleMention(), f)
			if err == nil {
				t.Fatal("capture on a full disk succeeded")
			}
			if !errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("error does not say the disk is full: %v", err)
			}
			if !strings.Contains(err.Error(), "not stored") || !strings.Contains(err.Error(), "no existing bundle was touched") {
				t.Fatalf("error is not clear: %v", err)
			}
			if got := mustRead(t, filepath.Join(root, ChainFile)); !bytes.Equal(got, chainBefore) {
				t.Fatalf("chain changed:\n%s", got)
			}
			if tmps, _ := filepath.Glob(filepath.Join(root, "*", "*", ".tmp-*")); len(tmps) != 0 {
				t.Fatalf("temporary folders left: %v", tmps)
			}
			if hashTree(t, ok.Path) != before {
				t.Fatal("existing bundle changed")
			}
			if rep, _ := VerifyChain(root, nil, nil); !rep.OK() || rep.Bundles != 1 {
				t.Fatalf("chain after a full disk: %s", names(rep.Problems))
			}
			// Space again: captures go on from the same head.
			s.open = osOpen
			ref, err := s.Capture(sampleMention(), sampleFetch())
			if err != nil {
				t.Fatal(err)
			}
			if man, _, _ := ReadManifest(ref.Path); man.ChainPosition != 2 || man.PrevManifestSHA256 != ok.ManifestSHA256 {
				t.Fatalf("next capture: position %d", man.ChainPosition)
			}
		})
	}
}

// TestDiskFullTmpfs fills a real 256 KiB tmpfs (needs root and mount; the
// injected test above covers machines without them).
func TestDiskFullTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	root := filepath.Join(dir, "evidence")
	s := NewStore(root, "t")
	var stored []string
	var err error
	for i := 0; i < 50; i++ {
		f := sampleFetch()
		f.Body = bytes.Repeat([]byte(fmt.Sprintf("<p>%d</p>", i)), 3000) // ~24 KiB, twice (raw + WARC)
		var res Result
		res, err = s.CaptureWith(context.Background(), sampleMention(), f, CaptureOptions{})
		if err != nil {
			break
		}
		stored = append(stored, res.Ref.Path)
	}
	if err == nil || !errors.Is(err, ErrDiskFull) {
		t.Fatalf("after %d captures: want a disk-full error, got %v", len(stored), err)
	}
	if len(stored) == 0 {
		t.Fatal("nothing fit on the tmpfs")
	}
	t.Logf("%d bundles fit; then: %v", len(stored), err)
	if tmps, _ := filepath.Glob(filepath.Join(root, "*", "*", ".tmp-*")); len(tmps) != 0 {
		t.Fatalf("temporary folders left: %v", tmps)
	}
	rep, verr := VerifyChain(root, nil, nil)
	if verr != nil || !rep.OK() || rep.Bundles != len(stored) {
		t.Fatalf("chain on the full disk: %d bundles, %v\n%s", rep.Bundles, verr, names(rep.Problems))
	}
}
