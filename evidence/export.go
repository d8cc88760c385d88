package evidence

import (
	"archive/zip"
	"bytes"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// CoverName is the cover sheet of an export (Japanese, with an English summary).
const CoverName = "cover.txt"

// ExportOptions adjusts Export.
type ExportOptions struct {
	// Root is the evidence root (for the chain and linked bundles).
	Root string
	// TSACAFile is copied into the zip as tsa-ca.pem for openssl ts -verify
	// when a timestamp token goes along, and used to verify the token
	// before export.
	TSACAFile string
	// Force exports a bundle that fails verification (the cover says so).
	Force bool
	// Now stamps the cover (default time.Now).
	Now time.Time
}

// ExportReport says what Export wrote.
type ExportReport struct {
	Out     string   `json:"out"`
	Bundle  string   `json:"bundle_id"`
	Related []string `json:"related,omitempty"`
	Files   int      `json:"files"`
	Verify  Report   `json:"verify"`
	// Notes say what the zip lacks that a reader may expect (the TSA CA).
	Notes []string `json:"notes,omitempty"`
}

// Export writes a zip for a lawyer: the bundle (with its token), the
// bundles linked to it (later renderings, re-checks) under related/, the
// chain lines from the previous bundle to this one and those that name
// them, the previous bundle's manifest, the TSA CA (when a token goes
// along), SHA256SUMS and a cover sheet in Japanese with an English summary
// (what, when, by what, the hashes, how to verify), which states only what
// the manifest, the verify report and the zip hold. The bundle is verified first; a bundle with problems is
// refused unless o.Force.
func (s *Store) Export(bundle, out string) (ExportReport, error) {
	return Export(bundle, out, ExportOptions{Root: s.root, TSACAFile: s.tsaCAFile})
}

// Export is Store.Export for a bundle named by path (or id with o.Root).
func Export(bundle, out string, o ExportOptions) (ExportReport, error) {
	rep := ExportReport{Out: out}
	if o.Root == "" && strings.ContainsAny(bundle, `/\`) {
		o.Root = FindRoot(bundle)
	}
	dir, err := ResolveBundle(o.Root, bundle)
	if err != nil {
		return rep, err
	}
	if o.Root == "" {
		o.Root = FindRoot(dir)
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	var roots *x509.CertPool
	if o.TSACAFile != "" {
		if roots, err = LoadCAFile(o.TSACAFile); err != nil {
			return rep, err
		}
	}
	vr, err := VerifyWith(dir, VerifyOptions{Root: o.Root, TSARoots: roots})
	if err != nil {
		return rep, err
	}
	rep.Verify = vr
	if !vr.OK() && !o.Force {
		return rep, fmt.Errorf("export %s: the bundle fails verification (%s); not exporting altered evidence (use --force to export it with the failure on the cover)", dir, vr.Problems[0])
	}
	man, _, err := ReadManifest(dir)
	if err != nil {
		return rep, err
	}
	rep.Bundle = man.BundleID

	type entry struct {
		name string
		data []byte
	}
	var files []entry
	addDir := func(prefix, d string) error {
		return filepath.WalkDir(d, func(p string, de os.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(d, p)
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files = append(files, entry{prefix + "/" + filepath.ToSlash(rel), data})
			return nil
		})
	}
	if err := addDir(man.BundleID, dir); err != nil {
		return rep, err
	}
	var related []relatedBundle
	var chainLines []string
	var facts exportFacts
	if o.Root != "" {
		idx := loadChainIndex(o.Root)
		if idx.err == nil {
			ids := map[string]bool{man.BundleID: true}
			if man.Subject != nil {
				ids[man.Subject.BundleID] = true
			}
			for _, e := range idx.subjects[man.BundleID] {
				ids[e.BundleID] = true
			}
			if man.PrevBundleID != "" {
				if pe := idx.bundles[man.PrevBundleID]; pe != nil {
					if raw, err := os.ReadFile(filepath.Join(o.Root, filepath.FromSlash(pe.Path), ManifestName)); err == nil {
						files = append(files, entry{PrevManifestFile, raw})
						facts.prevManifest = true
					}
				}
			}
			// Every line from the previous bundle's line to this bundle's
			// own, so that verify in the unzipped export can follow the link
			// line by line; then the lines naming the bundle, its subject and
			// the bundles linked to it.
			from, to := -1, -1
			for i, e := range idx.entries {
				if e.Type == EntryBundle && e.BundleID == man.BundleID {
					to = i
				}
				if e.Type == EntryBundle && man.PrevBundleID != "" && e.BundleID == man.PrevBundleID {
					from = i
				}
			}
			if from < 0 || from > to {
				from = to
			}
			for i, e := range idx.entries {
				if (to >= 0 && i >= from && i <= to) || ids[e.BundleID] {
					chainLines = append(chainLines, string(idx.raws[i]))
				}
				if e.Type != EntryBundle || e.BundleID == man.BundleID || !ids[e.BundleID] {
					continue
				}
				rd := filepath.Join(o.Root, filepath.FromSlash(e.Path))
				rm, _, err := ReadManifest(rd)
				if err != nil {
					continue
				}
				if err := addDir("related/"+e.BundleID, rd); err != nil {
					return rep, err
				}
				related = append(related, relatedBundle{man: rm, position: e.Position})
				rep.Related = append(rep.Related, e.BundleID)
			}
			if len(chainLines) > 0 {
				files = append(files, entry{ExcerptFile, []byte(strings.Join(chainLines, "\n") + "\n")})
				facts.excerpt = true
			}
		}
	}
	if t, err := os.ReadFile(filepath.Join(dir, TimestampName)); err == nil {
		facts.token = t
	}
	// The TSA CA goes along when a token does, so that the cover's openssl
	// and mimamori commands work in the unzipped folder.
	tokens := 0
	for _, f := range files {
		if path.Base(f.name) == TimestampName {
			tokens++
		}
	}
	if tokens > 0 {
		if o.TSACAFile != "" {
			ca, err := os.ReadFile(o.TSACAFile)
			if err != nil {
				return rep, err
			}
			files = append(files, entry{ExportCAName, ca})
			facts.caIncluded = true
		} else {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%d timestamp token(s) exported without the TSA CA certificate (none given: pass --tsa-ca or --config); "+
				"the cover sheet says so and its commands do not check the TSA certificate", tokens))
		}
	}
	cover := coverSheet(man, vr, facts, related, o)
	files = append(files, entry{CoverName, []byte(cover)})
	sort.SliceStable(files, func(i, j int) bool { return files[i].name < files[j].name })
	var sums bytes.Buffer
	for _, f := range files {
		fmt.Fprintf(&sums, "%s  %s\n", sha256Hex(f.data), f.name)
	}
	files = append(files, entry{"SHA256SUMS", sums.Bytes()})

	tmp := out + ".tmp"
	zf, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return rep, err
	}
	defer os.Remove(tmp)
	zw := zip.NewWriter(zf)
	for _, f := range files {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: man.CapturedAt})
		if err != nil {
			zf.Close()
			return rep, err
		}
		if _, err := io.Copy(w, bytes.NewReader(f.data)); err != nil {
			zf.Close()
			return rep, diskFull(err)
		}
	}
	if err := zw.Close(); err != nil {
		zf.Close()
		return rep, diskFull(err)
	}
	if err := zf.Sync(); err != nil {
		zf.Close()
		return rep, diskFull(err)
	}
	if err := zf.Close(); err != nil {
		return rep, diskFull(err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return rep, err
	}
	rep.Files = len(files)
	return rep, nil
}

type relatedBundle struct {
	man      Manifest
	position int64
}

var roleJA = map[string]string{
	RoleRaw:               "受信したままのレスポンス本文（改変なし）",
	RoleExchange:          "HTTP の要求・応答ヘッダ、ステータス、受信時刻",
	RoleMention:           "検知した投稿の内容と判定結果",
	RoleWARC:              "HTTP 通信の記録（WARC 形式、ISO 28500）",
	RoleScreenshot:        "ページ全体の画面写真（PNG、上部の帯に URL と取得日時）",
	RolePDF:               "ページの PDF（各ページ上部に URL と取得日時）",
	RoleDOM:               "JavaScript 実行後の DOM",
	RoleObservation:       "再確認の結果",
	RoleTLSChain:          "サーバの TLS 証明書チェーン",
	RoleListingRaw:        "投稿を読み取った一覧（フィード・API 応答）の受信したままの本文",
	RoleListingExchange:   "一覧（フィード・API）の HTTP 要求・応答ヘッダ、ステータス、受信時刻",
	RolePermalinkRaw:      "投稿の個別ページ（パーマリンク）が返した応答の本文（証拠の主記録にできなかったもの）",
	RolePermalinkExchange: "投稿の個別ページ（パーマリンク）の HTTP 要求・応答ヘッダ",
	RoleMarked:            "派生画像：画面写真から該当投稿の周囲を切り出し赤枠で示したもの（元の画面写真は改変なし）",
	RoleMarkedPDF:         "派生 PDF：該当投稿を赤枠で示した画像の PDF",
}

var kindJA = map[string]string{
	KindCapture:     "初回取得",
	KindLight:       "簡易取得（本文とハッシュのみ）",
	KindRender:      "後日の描画（画面写真・PDF）",
	KindObservation: "再確認の記録",
}

var observedJA = map[string]string{
	ObservedUnchanged:   "変更なし",
	ObservedEdited:      "編集されていた",
	ObservedDeleted:     "削除されていた",
	ObservedUnreachable: "確認できなかった",
}
