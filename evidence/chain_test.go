package evidence

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mimamori/mention"
)

// chainOf captures n bundles into a fresh store and returns their refs.
func chainOf(t *testing.T, n int) (*Store, []mention.EvidenceRef) {
	t.Helper()
	s := NewStore(t.TempDir(), "mimamori-test")
	var refs []mention.EvidenceRef
	for i := 0; i < n; i++ {
		m := sampleMention()
		m.ID = fmt.Sprintf("m%d", i)
		ref, err := s.Capture(m, sampleFetch())
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	return s, refs
}

func TestChainLinksBundles(t *testing.T) {
	s, refs := chainOf(t, 3)
	var prev string
	for i, ref := range refs {
		man, _, err := ReadManifest(ref.Path)
		if err != nil {
			t.Fatal(err)
		}
		if man.ChainPosition != int64(i+1) || man.PrevManifestSHA256 != prev {
			t.Fatalf("bundle %d: position %d prev %q, want %d %q", i, man.ChainPosition, man.PrevManifestSHA256, i+1, prev)
		}
		prev = ref.ManifestSHA256
	}
	head, err := s.ChainHead()
	if err != nil {
		t.Fatal(err)
	}
	if head.Position != 3 || head.BundleID != refs[2].BundleID || head.ManifestSHA256 != refs[2].ManifestSHA256 || head.Seq != 3 || head.LineSHA256 == "" {
		t.Fatalf("head %+v", head)
	}
	rep, err := VerifyChain(s.Root(), nil, &head)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Bundles != 3 {
		t.Fatalf("chain: %+v\n%s", rep, names(rep.Problems))
	}
}

// TestRemovedBundleDetected: deleting a bundle folder from the middle of
// the chain is reported by the chain check and by verifying the next bundle.
func TestRemovedBundleDetected(t *testing.T) {
	s, refs := chainOf(t, 3)
	if err := os.RemoveAll(refs[1].Path); err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyChain(s.Root(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.Contains(names(rep.Problems), refs[1].BundleID+" (position 2) is missing") {
		t.Fatalf("removal not reported:\n%s", names(rep.Problems))
	}
	r, err := Verify(refs[2].Path, refs[2].ManifestSHA256)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || !strings.Contains(names(r.Problems), "previous bundle "+refs[1].BundleID) {
		t.Fatalf("next bundle does not report its missing predecessor:\n%s", names(r.Problems))
	}
	// The bundles around it are intact themselves.
	if r0, _ := Verify(refs[0].Path, ""); !r0.OK() {
		t.Fatalf("first bundle: %s", names(r0.Problems))
	}
}

// TestRemovedBundleAndChainLineDetected: also cutting its line out of
// chain.jsonl does not hide the removal.
func TestRemovedBundleAndChainLineDetected(t *testing.T) {
	s, refs := chainOf(t, 3)
	os.RemoveAll(refs[1].Path)
	path := filepath.Join(s.Root(), ChainFile)
	data, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(data), "\n")
	var kept []string
	for _, l := range lines {
		if !strings.Contains(l, refs[1].BundleID) {
			kept = append(kept, l)
		}
	}
	os.WriteFile(path, []byte(strings.Join(kept, "")), 0o640)
	rep, err := VerifyChain(s.Root(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	all := names(rep.Problems)
	if rep.OK() || !strings.Contains(all, "prev_line_sha256") || !strings.Contains(all, "expected 2") {
		t.Fatalf("cut not reported:\n%s", all)
	}
	r, _ := Verify(refs[2].Path, "")
	if r.OK() || !strings.Contains(names(r.Problems), "no bundle at position 2") {
		t.Fatalf("next bundle does not report the gap:\n%s", names(r.Problems))
	}
}

// TestChainRewriteDetectedByLoggedHead: a chain rebuilt without a bundle
// (every line re-hashed) no longer holds the head logged earlier.
func TestChainRewriteDetectedByLoggedHead(t *testing.T) {
	s, _ := chainOf(t, 2)
	head, _ := s.ChainHead()
	path := filepath.Join(s.Root(), ChainFile)
	data, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(data), `"url":"https://example.jp/t/1#p3"`, `"url":"https://example.jp/t/2"`, 1)), 0o640)
	rep, _ := VerifyChain(s.Root(), nil, &head)
	if rep.OK() {
		t.Fatal("edited chain line not detected")
	}
}

func TestConcurrentCapturesFormOneChain(t *testing.T) {
	root := t.TempDir()
	// Two stores on one root behave like two processes (separate locks).
	a, b := NewStore(root, "a"), NewStore(root, "b")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			m := sampleMention()
			m.ID = fmt.Sprintf("c%d", i)
			if _, err := s.Capture(m, sampleFetch()); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep, err := VerifyChain(root, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Bundles != 20 || rep.Head.Position != 20 {
		t.Fatalf("%d bundles, head %+v\n%s", rep.Bundles, rep.Head, names(rep.Problems))
	}
}

// TestCrashRecovery: a crash between the chain append and the rename
// leaves the bundle in its temporary folder; the next Open puts it in
// place. A torn chain line from a crash mid-append is cut off.
func TestCrashRecovery(t *testing.T) {
	s, refs := chainOf(t, 2)
	last := refs[1]
	if err := os.Rename(last.Path, tmpDirFor(last.Path, last.BundleID)); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(filepath.Join(s.Root(), ChainFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":3,"type":"bund`)
	f.Close()
	s2, err := Open(s.Root(), Options{Tool: "t", Render: RenderOptions{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(last.Path); err != nil {
		t.Fatalf("bundle not recovered: %v", err)
	}
	rep, _ := VerifyChain(s.Root(), nil, nil)
	if !rep.OK() || len(rep.Notes) == 0 {
		t.Fatalf("after recovery: %s notes %v", names(rep.Problems), rep.Notes)
	}
	ref, err := s2.Capture(sampleMention(), sampleFetch())
	if err != nil {
		t.Fatal(err)
	}
	man, _, _ := ReadManifest(ref.Path)
	if man.ChainPosition != 3 || man.PrevManifestSHA256 != last.ManifestSHA256 {
		t.Fatalf("next bundle after recovery: position %d prev %s", man.ChainPosition, man.PrevManifestSHA256)
	}
	if rep, _ := VerifyChain(s.Root(), nil, nil); !rep.OK() || len(rep.Notes) != 0 {
		t.Fatalf("torn line not cut: %s %v", names(rep.Problems), rep.Notes)
	}
}

func TestBundleOutsideChainDetected(t *testing.T) {
	s, refs := chainOf(t, 1)
	other := NewStore(t.TempDir(), "x")
	ref, _ := other.Capture(sampleMention(), sampleFetch())
	dst := filepath.Join(filepath.Dir(refs[0].Path), ref.BundleID)
	if err := os.Rename(ref.Path, dst); err != nil {
		t.Fatal(err)
	}
	rep, _ := VerifyChain(s.Root(), nil, nil)
	if rep.OK() || !strings.Contains(names(rep.Problems), "not in the chain") {
		t.Fatalf("planted bundle not reported:\n%s", names(rep.Problems))
	}
}

func TestLightCapture(t *testing.T) {
	s := NewStore(t.TempDir(), "t")
	ref, err := s.CaptureLight(context.Background(), sampleMention(), sampleFetch())
	if err != nil {
		t.Fatal(err)
	}
	man, _, _ := ReadManifest(ref.Path)
	if man.Kind != KindLight || len(man.Files) != 3 || man.Timestamp != nil || man.Render != nil {
		t.Fatalf("light bundle: %+v", man)
	}
	for _, f := range man.Files {
		if f.Role != RoleRaw && f.Role != RoleExchange && f.Role != RoleMention {
			t.Fatalf("light bundle holds %s", f.Path)
		}
	}
	if r, _ := Verify(ref.Path, ref.ManifestSHA256); !r.OK() {
		t.Fatal(names(r.Problems))
	}
}

func TestPruneKeepsChainVerifiable(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root, Options{Tool: "t", Render: RenderOptions{Disabled: true}, Retention: 30 * 24 * time.Hour, LightRetention: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return t0 }
	light, _ := s.CaptureLight(context.Background(), sampleMention(), sampleFetch())
	full, _ := s.Capture(sampleMention(), sampleFetch())
	s.now = func() time.Time { return t0.Add(48 * time.Hour) }
	next, _ := s.Capture(sampleMention(), sampleFetch())

	rep, err := s.Prune(context.Background(), t0.Add(48*time.Hour))
	if err != nil || rep.Pruned != 1 || rep.FreedBytes == 0 {
		t.Fatalf("prune: %+v %v", rep, err)
	}
	if _, err := os.Stat(filepath.Join(light.Path, "exchange.json")); !os.IsNotExist(err) {
		t.Fatal("light bundle files not removed")
	}
	r, err := Verify(light.Path, light.ManifestSHA256)
	if err != nil || !r.OK() || !r.Pruned {
		t.Fatalf("pruned bundle: ok=%v pruned=%v %s %v", r.OK(), r.Pruned, names(r.Problems), err)
	}
	if r, _ := Verify(full.Path, ""); !r.OK() || !strings.Contains(strings.Join(r.Notes, "\n"), "pruned") {
		t.Fatalf("bundle after a pruned one: %s notes %v", names(r.Problems), r.Notes)
	}
	if r, _ := Verify(next.Path, ""); !r.OK() || r.Pruned {
		t.Fatalf("young bundle: %s", names(r.Problems))
	}
	crep, _ := VerifyChain(root, nil, nil)
	if !crep.OK() || crep.Pruned != 1 {
		t.Fatalf("chain after prune: %s", names(crep.Problems))
	}
	// A second run prunes nothing new; the full bundle goes after 30 days.
	if rep, _ := s.Prune(context.Background(), t0.Add(48*time.Hour)); rep.Pruned != 0 || rep.FreedBytes != 0 {
		t.Fatalf("second prune: %+v", rep)
	}
	rep, _ = s.Prune(context.Background(), t0.Add(31*24*time.Hour))
	if crep, _ := VerifyChain(root, nil, nil); !crep.OK() || crep.Pruned != 2 {
		t.Fatalf("chain after second prune: %+v %s", rep, names(crep.Problems))
	}
	// Deleting a pruned bundle's kept manifest is still detected.
	os.Remove(filepath.Join(light.Path, ManifestName))
	if crep, _ := VerifyChain(root, nil, nil); crep.OK() {
		t.Fatal("removed manifest of a pruned bundle not detected")
	}
}

// TestUnusableRoot: a root that cannot be created does not stop Open (the
// daemon must start and alert); each capture fails with a clear error.
func TestUnusableRoot(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-folder")
	os.WriteFile(file, []byte("x"), 0o600)
	s, err := Open(file, Options{Tool: "t", Render: RenderOptions{Disabled: true}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, err := s.Capture(sampleMention(), sampleFetch()); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("capture into a file: %v", err)
	}
	if _, err := Open(t.TempDir(), Options{TSA: TSAOptions{URL: "http://x/", CAFile: "/nonexistent.pem"}}); err == nil {
		t.Fatal("bad TSA CA accepted")
	}
}

// TestVerifyCatchesASwappedBundle: the contents of another genuine bundle
// copied into a bundle's folder do not pass as that bundle.
func TestVerifyCatchesASwappedBundle(t *testing.T) {
	s, refs := chainOf(t, 2)
	for _, f := range bundleFiles(t, refs[1].Path) {
		os.Chmod(filepath.Join(refs[1].Path, f), 0o600)
		os.Remove(filepath.Join(refs[1].Path, f))
	}
	for _, f := range bundleFiles(t, refs[0].Path) {
		b, _ := os.ReadFile(filepath.Join(refs[0].Path, f))
		os.MkdirAll(filepath.Dir(filepath.Join(refs[1].Path, f)), 0o750)
		os.WriteFile(filepath.Join(refs[1].Path, f), b, 0o600)
	}
	r, err := s.Verify(refs[1].Path)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || !strings.Contains(names(r.Problems), ManifestName) {
		t.Fatalf("a bundle swapped for another verified: %s", names(r.Problems))
	}
}

// TestVerifyCatchesABundleRewrittenWithItsChainLine: changing a bundle,
// its manifest and its own chain line together is caught by the next
// bundle's link and the line links.
func TestVerifyCatchesABundleRewrittenWithItsChainLine(t *testing.T) {
	s, refs := chainOf(t, 3)
	dir := refs[1].Path
	raw, _ := os.ReadFile(filepath.Join(dir, ManifestName))
	newRaw := []byte(strings.Replace(string(raw), `"mention_id": "m1"`, `"mention_id": "mX"`, 1))
	if string(newRaw) == string(raw) {
		t.Fatal("test did not change the manifest")
	}
	os.Chmod(filepath.Join(dir, ManifestName), 0o600)
	os.WriteFile(filepath.Join(dir, ManifestName), newRaw, 0o600)
	chain := filepath.Join(s.Root(), ChainFile)
	c, _ := os.ReadFile(chain)
	os.Chmod(chain, 0o600)
	os.WriteFile(chain, []byte(strings.ReplaceAll(string(c), refs[1].ManifestSHA256, sha256Hex(newRaw))), 0o600)
	r, err := s.Verify(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || !strings.Contains(names(r.Problems), "chain") {
		t.Fatalf("a bundle rewritten with its chain line verified: %s", names(r.Problems))
	}
}

// TestVerifyRefusesLinks: an evidence file replaced by a symlink is a
// problem, never followed.
func TestVerifyRefusesLinks(t *testing.T) {
	s, refs := chainOf(t, 1)
	f := bundleFiles(t, refs[0].Path)[0]
	p := filepath.Join(refs[0].Path, f)
	os.Chmod(p, 0o600)
	os.Remove(p)
	os.Symlink("/dev/zero", p)
	r, err := s.Verify(refs[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || !strings.Contains(names(r.Problems), f) {
		t.Fatalf("a symlinked evidence file verified: %s", names(r.Problems))
	}
}
