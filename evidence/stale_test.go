package evidence

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestOpenRemovesStaleTemps: temporary folders a crash left before the
// chain append are removed when the store opens (and logged), even when the
// daemon restarts minutes after the crash; a folder being written right now
// (young) and a folder of a bundle the chain names are kept, and finished
// bundles are never touched.
func TestOpenRemovesStaleTemps(t *testing.T) {
	cases := []struct {
		name    string
		age     time.Duration
		inChain bool // the chain names the bundle (its only copy)
		removed bool
	}{
		{"crash ten minutes before the restart", 10 * time.Minute, false, true},
		{"crash days ago", 72 * time.Hour, false, true},
		{"capture in progress in another process", 10 * time.Second, false, false},
		{"named by the chain", 10 * time.Minute, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, refs := chainOf(t, 2)
			month := filepath.Dir(refs[0].Path)
			id := "crashed-v1-20261127T030000Z-0badf00d"
			if c.inChain {
				// the middle of the chain: recoverLocked only finishes the last
				// line, and this folder must still survive
				id = refs[0].BundleID
				if err := os.Rename(refs[0].Path, tmpDirFor(refs[0].Path, id)); err != nil {
					t.Fatal(err)
				}
			} else {
				tmp := filepath.Join(month, ".tmp-"+id)
				if _, err := writeFileWith(osOpen, filepath.Join(tmp, "raw", "response.html"), []byte("<html>half</html>"), 0o440); err != nil {
					t.Fatal(err)
				}
			}
			tmp := filepath.Join(month, ".tmp-"+id)
			old := time.Now().Add(-c.age)
			if err := os.Chtimes(tmp, old, old); err != nil {
				t.Fatal(err)
			}
			core, logs := observer.New(zapcore.InfoLevel)
			if _, err := Open(s.Root(), Options{Tool: "t", Render: RenderOptions{Disabled: true}, Logger: zap.New(core)}); err != nil {
				t.Fatal(err)
			}
			_, err := os.Stat(tmp)
			if gone := os.IsNotExist(err); gone != c.removed {
				t.Fatalf("temporary folder removed %v, want %v", gone, c.removed)
			}
			entries := logs.FilterMessageSnippet("temporary evidence folders left by an interrupted capture").All()
			if c.removed && (len(entries) != 1 || entries[0].ContextMap()["count"] != int64(1)) {
				t.Fatalf("removal not logged with its count: %v", logs.All())
			}
			if !c.removed && len(entries) != 0 {
				t.Fatalf("logged a removal that did not happen: %v", entries)
			}
			if c.inChain {
				return
			}
			// finished bundles are untouched
			if rep, err := VerifyChain(s.Root(), nil, nil); err != nil || !rep.OK() || rep.Bundles != 2 {
				t.Fatalf("finished bundles: %v %s", err, names(rep.Problems))
			}
		})
	}
}
