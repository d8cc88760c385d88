package evidence

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mimamori/mention"
)

// captureN captures n bundles into s.
func captureN(t *testing.T, s *Store, n int) []mention.EvidenceRef {
	t.Helper()
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
	return refs
}

func anchorNow(t *testing.T, s *Store) AnchorResult {
	t.Helper()
	res, err := s.AnchorHead(context.Background(), AnchorCommand)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func anchorLines(t *testing.T, root string) []Anchor {
	t.Helper()
	as, _, torn, err := ReadAnchors(root)
	if err != nil || torn {
		t.Fatalf("read %s: torn %v, %v", AnchorFile, torn, err)
	}
	return as
}

// cutNewest deletes the newest n bundle folders and truncates chain.jsonl
// right before the first of their lines, recomputing nothing: what someone
// removing the newest evidence would do to leave a consistent chain.
// refs were captured under src; root is a copy of it.
func cutNewest(t *testing.T, src, root string, refs []mention.EvidenceRef, n int) {
	t.Helper()
	gone := refs[len(refs)-n:]
	for _, r := range gone {
		if err := os.RemoveAll(inRoot(t, src, root, r.Path)); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(root, ChainFile)
	data := mustRead(t, path)
	i := strings.Index(string(data), `"bundle_id":"`+gone[0].BundleID+`"`)
	if i < 0 {
		t.Fatal("bundle line not found")
	}
	i = strings.LastIndexByte(string(data[:i]), '\n') + 1
	if err := os.WriteFile(path, data[:i], 0o640); err != nil {
		t.Fatal(err)
	}
}

// TestDeletingNewestBundlesCaughtByAnchor: deleting the newest three
// bundles and cutting chain.jsonl to match leaves a chain that verifies on
// its own; verify --chain with no extra argument (VerifyChain with no
// expected head) fails naming the anchored head. The anchor's token, from
// a real TSA, also verifies with openssl ts outside mimamori.
func TestDeletingNewestBundlesCaughtByAnchor(t *testing.T) {
	tsa := startTSA(t)
	src := t.TempDir()
	s := tsaStore(t, src, tsa.URL)
	refs := captureN(t, s, 6)
	res := anchorNow(t, s)
	head, _ := s.ChainHead()
	if !res.Written || res.Anchor.N != 1 || res.Anchor.Head.Seq != head.Seq || res.Anchor.Head.LineSHA256 != head.LineSHA256 ||
		res.Anchor.Token.Status != AnchorTokenStamped || res.Anchor.Reason != AnchorCommand {
		t.Fatalf("anchor: %+v", res)
	}
	tok := filepath.Join(src, filepath.FromSlash(res.Anchor.Token.File))
	out, err := exec.Command("openssl", "ts", "-verify", "-digest", head.LineSHA256, "-in", tok, "-CAfile", getPKI(t).CAFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verification: OK") {
		t.Fatalf("openssl ts -verify of the anchor token: %v\n%s", err, out)
	}
	rep, err := VerifyChain(src, s.TSARoots(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Anchors.Checked != 1 || rep.Anchors.Timestamped != 1 || rep.Anchors.Newest == nil ||
		rep.Anchors.NewestToken == nil || !rep.Anchors.NewestToken.ChainVerified {
		t.Fatalf("before the cut: %+v\n%s", rep.Anchors, names(rep.Problems))
	}

	root := copyTree(t, src)
	cutNewest(t, src, root, refs, 3)
	rep, err = VerifyChain(root, s.TSARoots(), nil)
	if err != nil {
		t.Fatal(err)
	}
	all := names(rep.Problems)
	t.Logf("after the cut:\n%s", all)
	if rep.OK() || !strings.Contains(all, fmt.Sprintf("recorded head 1 (line %d, bundle %s", head.Seq, refs[5].BundleID)) ||
		!strings.Contains(all, "bundles were removed from the end of the chain after it was anchored") || !strings.Contains(all, "timestamped by TSA") {
		t.Fatalf("the cut is not reported naming the anchored head:\n%s", all)
	}

	// Without the anchor the same cut goes unnoticed: this is what it adds.
	bare := copyTree(t, root)
	os.Remove(filepath.Join(bare, AnchorFile))
	os.RemoveAll(filepath.Join(bare, AnchorTokenDir))
	if rep, _ := VerifyChain(bare, s.TSARoots(), nil); !rep.OK() || rep.Anchors.Records != 0 {
		t.Fatalf("the cut chain without anchors should verify (nothing to compare with):\n%s", names(rep.Problems))
	}
	// Removing the record but not its token: the token names a line the
	// chain lost.
	noRecord := copyTree(t, root)
	os.Remove(filepath.Join(noRecord, AnchorFile))
	if rep, _ := VerifyChain(noRecord, s.TSARoots(), nil); rep.OK() || !strings.Contains(names(rep.Problems), "that the chain does not hold") {
		t.Fatalf("an orphan token of a removed line is not reported:\n%s", names(rep.Problems))
	}
	// An older head is still held by the cut chain: anchoring the cut
	// chain says the last anchored head is gone.
	cut := tsaStore(t, root, tsa.URL)
	if res := anchorNow(t, cut); !res.Written || !strings.Contains(res.Problem, "lines were removed since") {
		t.Fatalf("anchoring a cut chain: %+v", res)
	}
}

// TestAnchorHead: when an anchor writes a line and when it does not.
func TestAnchorHead(t *testing.T) {
	s := NewStore(t.TempDir(), "mimamori-test")
	if res := anchorNow(t, s); res.Written || res.Skipped != "the chain is empty" {
		t.Fatalf("empty chain: %+v", res)
	}
	if _, err := os.Stat(filepath.Join(s.Root(), AnchorFile)); !os.IsNotExist(err) {
		t.Fatalf("an empty chain was anchored: %v", err)
	}
	captureN(t, s, 2)
	first := anchorNow(t, s)
	if !first.Written || first.Anchor.N != 1 || first.Anchor.Token.Status != AnchorTokenNone || first.Anchor.PrevLineSHA256 != "" {
		t.Fatalf("first anchor: %+v", first)
	}
	// Unchanged head: nothing new, at shutdown too.
	for _, reason := range []string{AnchorSchedule, AnchorShutdown} {
		res, err := s.AnchorHead(context.Background(), reason)
		if err != nil || res.Written || !strings.Contains(res.Skipped, "unchanged since anchor 1") {
			t.Fatalf("%s with an unchanged head: %+v %v", reason, res, err)
		}
	}
	captureN(t, s, 1)
	second := anchorNow(t, s)
	head, _ := s.ChainHead()
	as, raws, _, _ := ReadAnchors(s.Root())
	if !second.Written || len(as) != 2 || as[1].N != 2 || as[1].PrevLineSHA256 != sha256Hex(raws[0]) || as[1].Head != head {
		t.Fatalf("second anchor: %+v\n%+v", second, as)
	}
	// A torn last line (crash mid-append) is noted by verify and cut off
	// by the next anchor.
	f, _ := os.OpenFile(filepath.Join(s.Root(), AnchorFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"n":3,"at":`)
	f.Close()
	if rep, _ := VerifyChain(s.Root(), nil, nil); !rep.OK() || rep.Anchors.Checked != 2 || !strings.Contains(strings.Join(rep.Notes, "\n"), "incomplete") {
		t.Fatalf("torn anchor line: %s %v", names(rep.Problems), rep.Notes)
	}
	captureN(t, s, 1)
	if res := anchorNow(t, s); !res.Written || res.Anchor.N != 3 {
		t.Fatalf("anchor after a torn line: %+v", res)
	}
	if rep, _ := VerifyChain(s.Root(), nil, nil); !rep.OK() || rep.Anchors.Checked != 3 || rep.Anchors.Newest.N != 3 || len(rep.Notes) != 0 {
		t.Fatalf("after the torn line was cut: %s %v", names(rep.Problems), rep.Notes)
	}
}

// TestAnchorTSADown: with the TSA down the anchor is recorded saying its
// token failed; asking again while it is down adds nothing; once it is
// back the next anchor of the same head gets its token.
func TestAnchorTSADown(t *testing.T) {
	addr := freeAddr(t)
	s := tsaStore(t, t.TempDir(), "http://"+addr+"/tsa")
	captureN(t, s, 1)
	res := anchorNow(t, s)
	if !res.Written || res.Anchor.Token.Status != AnchorTokenFailed || !strings.Contains(res.Anchor.Token.Error, "TSA unavailable") || res.TokenError == "" {
		t.Fatalf("anchor with the TSA down: %+v", res)
	}
	rep, _ := VerifyChain(s.Root(), s.TSARoots(), nil)
	if !rep.OK() || rep.Anchors.Checked != 1 || rep.Anchors.Untimestamped != 1 || rep.Anchors.NewestToken != nil {
		t.Fatalf("verify with an untimestamped anchor: %+v %s", rep.Anchors, names(rep.Problems))
	}
	if res := anchorNow(t, s); res.Written || !strings.Contains(res.Skipped, "token is still missing") {
		t.Fatalf("second try while down: %+v", res)
	}
	tsa := startTSAAt(t, addr)
	res = anchorNow(t, s)
	if !res.Written || res.Anchor.N != 2 || res.Anchor.Token.Status != AnchorTokenStamped || tsa.count() != 1 {
		t.Fatalf("anchor once the TSA is back: %+v (%d requests)", res, tsa.count())
	}
	if res := anchorNow(t, s); res.Written {
		t.Fatalf("a stamped unchanged head was anchored again: %+v", res)
	}
	rep, _ = VerifyChain(s.Root(), s.TSARoots(), nil)
	if !rep.OK() || rep.Anchors.Timestamped != 1 || rep.Anchors.Newest.N != 2 || rep.Anchors.NewestToken == nil {
		t.Fatalf("verify after the retry: %+v %s", rep.Anchors, names(rep.Problems))
	}
}

// TestTamperedAnchorsReported: every change to chain-heads.jsonl or to an
// anchor token is reported by VerifyChain.
func TestTamperedAnchorsReported(t *testing.T) {
	tsa := startTSA(t)
	src := t.TempDir()
	s := tsaStore(t, src, tsa.URL)
	for i := 0; i < 3; i++ {
		captureN(t, s, 1)
		if res := anchorNow(t, s); !res.Written || res.Anchor.Token.Status != AnchorTokenStamped {
			t.Fatalf("anchor %d: %+v", i+1, res)
		}
	}
	as := anchorLines(t, src)
	if rep, _ := VerifyChain(src, s.TSARoots(), nil); !rep.OK() || rep.Anchors.Checked != 3 || rep.Anchors.Timestamped != 3 {
		t.Fatalf("intact: %+v %s", rep.Anchors, names(rep.Problems))
	}
	editLines := func(t *testing.T, root string, edit func(lines []string) []string) {
		t.Helper()
		p := filepath.Join(root, AnchorFile)
		lines := strings.SplitAfter(strings.TrimSuffix(string(mustRead(t, p)), "\n"), "\n")
		for i := range lines {
			lines[i] = strings.TrimSuffix(lines[i], "\n")
		}
		lines = edit(lines)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, root string)
		want   string
	}{
		{"change the reason of the first record", func(t *testing.T, root string) {
			editLines(t, root, func(l []string) []string {
				l[0] = strings.Replace(l[0], `"reason":"command"`, `"reason":"schedule"`, 1)
				return l
			})
		}, "chain-heads.jsonl line 2: prev_line_sha256"},
		{"point the middle record at another line", func(t *testing.T, root string) {
			editLines(t, root, func(l []string) []string {
				l[1] = strings.Replace(l[1], `"seq":`+fmt.Sprint(as[1].Head.Seq), `"seq":1`, 1)
				return l
			})
		}, "line 1 has sha256"},
		{"remove the middle record", func(t *testing.T, root string) {
			editLines(t, root, func(l []string) []string { return []string{l[0], l[2]} })
		}, "anchor number 3, expected 2"},
		{"make the last record invalid JSON", func(t *testing.T, root string) {
			editLines(t, root, func(l []string) []string { l[2] = l[2][:len(l[2])-5]; return l })
		}, "chain-heads.jsonl line 3: not valid JSON"},
		{"flip a byte of a token", func(t *testing.T, root string) {
			flip(t, filepath.Join(root, filepath.FromSlash(as[1].Token.File)), -1)
		}, "the record says"},
		{"swap the last token for the first and fix its hash in the record", func(t *testing.T, root string) {
			first := mustRead(t, filepath.Join(root, filepath.FromSlash(as[0].Token.File)))
			last := filepath.Join(root, filepath.FromSlash(as[2].Token.File))
			os.Chmod(last, 0o600)
			os.WriteFile(last, first, 0o600)
			editLines(t, root, func(l []string) []string {
				l[2] = strings.Replace(l[2], as[2].Token.SHA256, sha256Hex(first), 1)
				return l
			})
		}, "is not the anchored line's SHA-256"},
		{"delete a token", func(t *testing.T, root string) {
			os.Remove(filepath.Join(root, filepath.FromSlash(as[0].Token.File)))
		}, "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := copyTree(t, src)
			tc.tamper(t, root)
			rep, err := VerifyChain(root, s.TSARoots(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() || !strings.Contains(names(rep.Problems), tc.want) {
				t.Fatalf("want a problem containing %q, got:\n%s", tc.want, names(rep.Problems))
			}
		})
	}
}
