package evidence

import (
	"archive/zip"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"mimamori/mention"
)

// unzipExport writes the zip's files under a new folder and returns it with
// the files by name.
func unzipExport(t *testing.T, zipPath string) (string, map[string][]byte) {
	t.Helper()
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	dir := t.TempDir()
	got := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		got[f.Name] = data
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		os.MkdirAll(filepath.Dir(p), 0o750)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, got
}

// stepNumbers returns the numbers of the steps listed after heading (up
// to the English summary, for the Japanese heading).
func stepNumbers(cover, heading string) []int {
	_, rest, ok := strings.Cut(cover, heading)
	if !ok {
		return nil
	}
	rest, _, _ = strings.Cut(rest, "English summary")
	var out []int
	for _, m := range regexp.MustCompile(`(?m)^  (\d+)\. `).FindAllStringSubmatch(rest, -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out
}

// TestCoverSheetSaysOnlyWhatIsTrue: the cover's steps are numbered 1, 2,
// 3… whichever apply; a bundle without a token says タイムスタンプなし / no
// trusted timestamp and does not claim a checked timestamp or give an
// openssl step; the TSA CA is in the zip when a token is and the printed
// verify command names it only then.
func TestCoverSheetSaysOnlyWhatIsTrue(t *testing.T) {
	tsa := startTSA(t)
	p := getPKI(t)
	cases := []struct {
		name string
		// store returns the store the bundle is captured with.
		store func(t *testing.T) *Store
		// exportCA is the CA given to the export.
		exportCA string
		// token: the bundle has a timestamp token.
		token bool
		// wantCA: tsa-ca.pem is in the zip and the commands name it.
		wantCA bool
		// wantJA, wantEN: what the cover must say about the timestamp.
		wantJA, wantEN string
		steps          int
	}{
		// No TSA configured at capture: hashes and mimamori verify only.
		{name: "no TSA", store: func(t *testing.T) *Store { return NewStore(t.TempDir(), "mimamori-test") },
			wantJA: "タイムスタンプなし（取得時にタイムスタンプ局が設定されておらず", wantEN: "no trusted timestamp: no TSA was configured", steps: 2},
		// The TSA was down at capture: the token is pending, the CA stays out.
		{name: "token pending", store: func(t *testing.T) *Store { return tsaStore(t, t.TempDir(), "http://"+freeAddr(t)+"/tsa") },
			exportCA: p.CAFile, wantJA: "タイムスタンプなし（取得時にタイムスタンプ局", wantEN: "no trusted timestamp yet", steps: 2},
		// A token and the CA: three steps, the CA in the zip.
		{name: "token with CA", store: func(t *testing.T) *Store { return tsaStore(t, t.TempDir(), tsa.URL) },
			exportCA: p.CAFile, token: true, wantCA: true, wantJA: "RFC 3161 タイムスタンプ局", wantEN: "Timestamp     : RFC 3161 token by", steps: 3},
		// A token exported without the CA (no --tsa-ca, no config): the
		// cover says the CA is not there and its verify command does not
		// name a file the zip lacks.
		{name: "token without CA", store: func(t *testing.T) *Store { return tsaStore(t, t.TempDir(), tsa.URL) },
			token: true, wantJA: "CA 証明書はこの zip に含まれていません", wantEN: "The TSA's CA certificate is not in this zip", steps: 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := c.store(t)
			s.Capture(sampleMention(), sampleFetch())
			ref, err := s.Capture(sampleMention(), sampleFetch())
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "export.zip")
			rep, err := Export(ref.Path, out, ExportOptions{Root: s.Root(), TSACAFile: c.exportCA})
			if err != nil {
				t.Fatal(err)
			}
			_, got := unzipExport(t, out)
			cover := string(got[CoverName])
			id := ref.BundleID
			if _, ok := got[id+"/"+TimestampName]; ok != c.token {
				t.Fatalf("token in zip %v, want %v", ok, c.token)
			}
			for _, h := range []string{"■ 検証方法", "How to verify:"} {
				nums := stepNumbers(cover, h)
				if len(nums) != c.steps {
					t.Errorf("%s: steps %v, want %d:\n%s", h, nums, c.steps, cover)
				}
				for i, n := range nums {
					if n != i+1 {
						t.Errorf("%s: steps numbered %v, want 1..%d:\n%s", h, nums, c.steps, cover)
						break
					}
				}
			}
			for _, want := range []string{c.wantJA, c.wantEN, "mimamori evidence verify " + id} {
				if !strings.Contains(cover, want) {
					t.Errorf("cover lacks %q:\n%s", want, cover)
				}
			}
			_, caInZip := got[ExportCAName]
			if caInZip != c.wantCA || strings.Contains(cover, "--tsa-ca "+ExportCAName) != c.wantCA ||
				strings.Contains(cover, "-CAfile "+ExportCAName) != c.wantCA {
				t.Errorf("tsa-ca.pem in zip %v, named by the cover's commands %v, want %v:\n%s", caInZip,
					strings.Contains(cover, ExportCAName), c.wantCA, cover)
			}
			if c.token && !c.wantCA && len(rep.Notes) == 0 {
				t.Errorf("export without the CA gives no note: %+v", rep)
			}
			if !c.token {
				// Nothing about a timestamp that is not there.
				for _, bad := range []string{"openssl ts -verify", "ハッシュ値とタイムスタンプで確認", "、タイムスタンプ（", "the timestamp (",
					"RFC 3161 タイムスタンプ局", TimestampName + "（タイムスタンプトークン）"} {
					if strings.Contains(cover, bad) {
						t.Errorf("cover without a token says %q:\n%s", bad, cover)
					}
				}
				for _, want := range []string{"タイムスタンプなし", "no trusted timestamp"} {
					if !strings.Contains(cover, want) {
						t.Errorf("cover lacks %q:\n%s", want, cover)
					}
				}
			} else if !strings.Contains(cover, "openssl ts -verify -data "+id+"/"+ManifestName) {
				t.Errorf("cover with a token has no openssl step:\n%s", cover)
			}
		})
	}
}

// TestVerifyUnzippedExportChecksChainExcerpt: verify in an unzipped export
// (no chain.jsonl above it) checks the bundle against the export's chain
// excerpt and reports the chain as checked; a changed excerpt line or
// previous manifest is a problem; without the excerpt the chain is not
// checked, as before.
func TestVerifyUnzippedExportChecksChainExcerpt(t *testing.T) {
	tsa := startTSA(t)
	s := tsaStore(t, t.TempDir(), tsa.URL)
	s.Capture(sampleMention(), sampleFetch())
	ref, err := s.Capture(sampleMention(), sampleFetch())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordObservation(context.Background(), ref.BundleID, mention.Mention{}, Observation{Kind: ObservedDeleted, StatusCode: 410}, nil); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "export.zip")
	rep, err := s.Export(ref.BundleID, out)
	if err != nil || len(rep.Related) != 1 {
		t.Fatalf("export: %v %+v", err, rep)
	}
	id, related := ref.BundleID, rep.Related[0]
	cases := []struct {
		name string
		// bundle is the folder verified, relative to the export.
		bundle string
		// tamper changes the unzipped export.
		tamper      func(t *testing.T, dir string)
		wantOK      bool
		wantChecked bool
		// wantProblem is a problem path that must be reported.
		wantProblem string
	}{
		{name: "intact", bundle: id, wantOK: true, wantChecked: true},
		{name: "related bundle", bundle: "related/" + related, wantOK: true, wantChecked: true},
		// The bundle's own line names another manifest hash.
		{name: "own line changed", bundle: id, wantChecked: true, wantProblem: ManifestName, tamper: func(t *testing.T, dir string) {
			p := filepath.Join(dir, filepath.FromSlash(ExcerptFile))
			data, _ := os.ReadFile(p)
			data = []byte(strings.Replace(string(data), `"manifest_sha256":"`+ref.ManifestSHA256, `"manifest_sha256":"`+strings.Repeat("0", 64), 1))
			os.WriteFile(p, data, 0o600)
		}},
		// A line changed so that the next line no longer links to it.
		{name: "line unlinked", bundle: id, wantChecked: true, wantProblem: ExcerptFile, tamper: func(t *testing.T, dir string) {
			p := filepath.Join(dir, filepath.FromSlash(ExcerptFile))
			data, _ := os.ReadFile(p)
			data = []byte(strings.Replace(string(data), `"kind":"capture"`, `"kind":"capture" `, 1))
			os.WriteFile(p, data, 0o600)
		}},
		{name: "previous manifest changed", bundle: id, wantChecked: true, wantProblem: PrevManifestFile, tamper: func(t *testing.T, dir string) {
			flip(t, filepath.Join(dir, filepath.FromSlash(PrevManifestFile)), 10)
		}},
		{name: "no excerpt", bundle: id, wantOK: true, tamper: func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, filepath.FromSlash(ExcerptFile)))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, _ := unzipExport(t, out)
			if c.tamper != nil {
				c.tamper(t, dir)
			}
			r, err := VerifyWith(filepath.Join(dir, filepath.FromSlash(c.bundle)), VerifyOptions{TSARoots: s.TSARoots()})
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() != c.wantOK || r.ChainChecked != c.wantChecked {
				t.Fatalf("ok %v chain checked %v, want %v %v: %s notes %v", r.OK(), r.ChainChecked, c.wantOK, c.wantChecked, names(r.Problems), r.Notes)
			}
			if c.wantChecked && r.ChainExcerpt != ExcerptFile {
				t.Errorf("chain excerpt %q, want %q", r.ChainExcerpt, ExcerptFile)
			}
			if c.wantProblem != "" && !hasProblem(r.Problems, c.wantProblem) {
				t.Errorf("no problem on %s: %s", c.wantProblem, names(r.Problems))
			}
		})
	}
}
