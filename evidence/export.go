package evidence

import (
	"archive/zip"
	"bytes"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"mimamori/internal/jst"
)

// CoverName is the Japanese cover sheet of an export.
const CoverName = "cover.txt"

// ExportOptions adjusts Export.
type ExportOptions struct {
	// Root is the evidence root (for the chain and linked bundles).
	Root string
	// TSACAFile is copied into the zip as tsa-ca.pem for openssl ts -verify,
	// and used to verify the token before export.
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
}

// Export writes a zip for a lawyer: the bundle (with its token), the
// bundles linked to it (later renderings, re-checks) under related/, the
// chain lines that name them, the previous bundle's manifest, the TSA CA,
// SHA256SUMS and a Japanese cover sheet (what, when, by what, the hashes,
// how to verify). The bundle is verified first; a bundle with problems is
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
						files = append(files, entry{"chain/prev-manifest.json", raw})
					}
				}
			}
			for i, e := range idx.entries {
				if ids[e.BundleID] || (e.Type == EntryBundle && e.BundleID == man.PrevBundleID) {
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
				files = append(files, entry{"chain/chain-excerpt.jsonl", []byte(strings.Join(chainLines, "\n") + "\n")})
			}
		}
	}
	if o.TSACAFile != "" {
		ca, err := os.ReadFile(o.TSACAFile)
		if err != nil {
			return rep, err
		}
		files = append(files, entry{"tsa-ca.pem", ca})
	}
	var tok []byte
	if t, err := os.ReadFile(filepath.Join(dir, TimestampName)); err == nil {
		tok = t
	}
	cover := coverSheet(man, vr, tok, related, o)
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
	RoleRaw:         "受信したままのレスポンス本文（改変なし）",
	RoleExchange:    "HTTP の要求・応答ヘッダ、ステータス、受信時刻",
	RoleMention:     "検知した投稿の内容と判定結果",
	RoleWARC:        "HTTP 通信の記録（WARC 形式、ISO 28500）",
	RoleScreenshot:  "ページ全体の画面写真（PNG、上部の帯に URL と取得日時）",
	RolePDF:         "ページの PDF（各ページ上部に URL と取得日時）",
	RoleDOM:         "JavaScript 実行後の DOM",
	RoleObservation: "再確認の結果",
	RoleTLSChain:    "サーバの TLS 証明書チェーン",
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

func jaTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(jst.Zone).Format("2006年01月02日 15時04分05秒 JST") + "（" + t.UTC().Format("2006-01-02T15:04:05Z") + " UTC）"
}

func coverSheet(man Manifest, vr Report, tok []byte, related []relatedBundle, o ExportOptions) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	id := man.BundleID
	w("証拠保全データ 表紙（mimamori）")
	w("================================")
	w("")
	w("このフォルダ（zip）は、インターネット上の投稿を証拠として保全したデータ一式です。")
	w("取得後に 1 バイトでも変更されていないことを、下記のハッシュ値とタイムスタンプで確認できます。")
	w("")
	w("■ 何を取得したか")
	w("  投稿の URL         : %s", man.URL)
	if man.FinalURL != "" && man.FinalURL != man.URL {
		w("  取得したページ     : %s", man.FinalURL)
	}
	if man.RequestURL != "" && man.RequestURL != man.FinalURL {
		w("  要求した URL       : %s（転送後に上記を取得）", man.RequestURL)
	}
	w("  HTTP ステータス    : %d", man.StatusCode)
	w("  情報源 ID          : %s", orDash(man.SourceID))
	w("  言及 ID / 版       : %s / 第 %d 版", orDash(man.MentionID), man.Version)
	w("  バンドル ID        : %s", id)
	w("  種別               : %s（%s）", kindJA[man.Kind], man.Kind)
	if man.Observation != nil {
		w("  再確認の結果       : %s（%s、HTTP %d）%s", observedJA[man.Observation.Kind], jaTime(man.Observation.ObservedAt), man.Observation.StatusCode, man.Observation.Note)
	}
	if man.Subject != nil {
		w("  対象のバンドル     : %s（manifest SHA-256 %s）", man.Subject.BundleID, man.Subject.ManifestSHA256)
	}
	w("")
	w("■ いつ取得したか")
	w("  受信日時           : %s", jaTime(man.FetchedAt))
	w("  保存日時           : %s", jaTime(man.CapturedAt))
	if man.Render != nil && man.Render.Status == "rendered" {
		w("  描画日時           : %s", jaTime(man.Render.RenderedAt))
	}
	if len(tok) > 0 && vr.Timestamp != nil {
		w("  第三者タイムスタンプ: %s", jaTime(vr.Timestamp.Time))
		w("                       RFC 3161 タイムスタンプ局: %s、シリアル番号 %s", vr.Timestamp.TSA, vr.Timestamp.Serial)
		w("                       manifest.json の SHA-256 に対して発行（%s）", TimestampName)
	} else {
		w("  第三者タイムスタンプ: なし（%s）", timestampAbsence(vr))
	}
	w("")
	w("■ どのツールで取得したか")
	w("  取得ツール         : %s（%s）", man.Tool, orDash(man.GoVersion))
	w("  クローラの識別子   : %s", orDash(man.CrawlerUserAgent))
	if man.TLSPeerCertSHA256 != "" {
		w("  サーバ証明書       : SHA-256 %s", man.TLSPeerCertSHA256)
	}
	if r := man.Render; r != nil {
		switch r.Status {
		case "rendered":
			js := "無効（受信した HTML のみを表示）"
			if r.JavaScript {
				js = "有効"
			}
			w("  描画               : %s（ヘッドレス Chromium）、受信したバイト列をそのまま描画、JavaScript %s", r.Browser, js)
			w("                       画像・スタイルは描画時にサイトから読み込み（%d 件。raw/ には含まれません）", r.Subresources)
			if r.Truncated {
				w("                       ページが長いため画面写真は先頭 %d ピクセルまで", r.PageHeight)
			}
		default:
			w("  描画               : なし（%s）", missingReasonJA(Missing{Reason: r.Error, Retry: r.Status == "failed"}))
		}
	}
	w("")
	w("■ ハッシュ値（SHA-256）")
	w("  %s  %s", vr.ManifestSHA256, ManifestName+"（全ファイルの一覧とハッシュ値）")
	for _, f := range man.Files {
		w("  %s  %s（%d バイト）%s", f.SHA256, f.Path, f.Size, roleJA[f.Role])
	}
	if len(tok) > 0 {
		w("  %s  %s（タイムスタンプトークン）", sha256Hex(tok), TimestampName)
	}
	w("  ※ zip 内の全ファイルのハッシュ値は SHA256SUMS にあります。")
	if len(man.Missing) > 0 {
		w("")
		w("■ 取得できなかったもの")
		for _, m := range man.Missing {
			w("  - %s: %s", missingWhatJA(m.What), missingReasonJA(m))
		}
	}
	w("")
	w("■ ハッシュ連鎖")
	if man.ChainPosition > 0 {
		w("  このバンドルは、mimamori が保存した全証拠の連鎖の %d 番目です。", man.ChainPosition)
		if man.PrevBundleID != "" {
			w("  直前のバンドル     : %s", man.PrevBundleID)
			w("  その manifest.json : SHA-256 %s（chain/prev-manifest.json）", man.PrevManifestSHA256)
		}
		w("  以後に保存されたバンドルとそのタイムスタンプも、このバンドルの存在を裏付けます。")
	} else {
		w("  （連鎖導入前の形式のバンドルです）")
	}
	if len(related) > 0 {
		w("")
		w("■ 関連するバンドル（related/ フォルダ）")
		for _, r := range related {
			extra := ""
			if r.man.Observation != nil {
				extra = "：" + observedJA[r.man.Observation.Kind] + "（" + jaTime(r.man.Observation.ObservedAt) + "）"
			}
			w("  - %s（連鎖 %d 番目）%s%s", r.man.BundleID, r.position, kindJA[r.man.Kind], extra)
		}
	}
	w("")
	w("■ 検証結果（出力時）")
	w("  出力日時           : %s", jaTime(o.Now))
	if vr.OK() {
		w("  結果               : 問題なし（%d ファイルのハッシュ値、連鎖、タイムスタンプを確認）", vr.Files)
	} else {
		w("  結果               : 問題あり")
		for _, p := range vr.Problems {
			w("    - %s", p)
		}
	}
	w("")
	w("■ 検証方法")
	w("  1. ファイルのハッシュ値（zip を展開したフォルダで実行）")
	w("       Linux    : sha256sum -c SHA256SUMS")
	w("       macOS    : shasum -a 256 -c SHA256SUMS")
	w("       Windows  : certutil -hashfile %s\\%s SHA256", id, ManifestName)
	w("     すべて「OK」（または上記の値と一致）なら、取得後に変更されていません。")
	if len(tok) > 0 {
		ca := "tsa-ca.pem"
		if o.TSACAFile == "" {
			ca = "<タイムスタンプ局の CA 証明書>"
		}
		w("  2. タイムスタンプ（OpenSSL）")
		w("       openssl ts -verify -data %s/%s -in %s/%s -CAfile %s", id, ManifestName, id, TimestampName, ca)
		w("     「Verification: OK」と表示されれば、manifest.json（＝全ファイルのハッシュ値）が")
		w("     上記の時刻に存在し、その後変更されていないことが確認できます。")
	}
	w("  3. mimamori による総合検証（ハッシュ値、連鎖、タイムスタンプ）")
	w("       mimamori evidence verify %s --tsa-ca tsa-ca.pem", id)
	w("")
	w("本表紙は mimamori が自動作成しました。内容の正否は上記の方法で誰でも確認できます。")
	return b.String()
}

func missingWhatJA(what string) string {
	if ja, ok := map[string]string{"screenshot": "画面写真", "pdf": "PDF", "dom": "JavaScript 実行後の DOM", "warc": "WARC",
		"tls_peer_certificate": "サーバ証明書"}[what]; ok {
		return ja
	}
	return what
}

func missingReasonJA(m Missing) string {
	r := m.Reason
	switch {
	case strings.Contains(r, "disabled by configuration"):
		r = "設定で描画を無効にしているため"
	case strings.Contains(r, "not requested"):
		r = "この取得では描画を指定していないため"
	case strings.Contains(r, "did not record the server certificate"):
		r = "クローラがサーバ証明書を記録していないため"
	case strings.Contains(r, "not a page a browser renders"):
		r = "ブラウザで表示する形式ではないため（" + m.Reason + "）"
	case strings.Contains(r, "Chromium is not available"):
		r = "取得時にヘッドレス Chromium を利用できなかったため（" + m.Reason + "）"
	case strings.HasPrefix(r, "rendering failed"):
		r = "取得時の描画に失敗したため（" + m.Reason + "）"
	}
	if m.Retry {
		r += "。受信したバイト列は保存済みで、後日描画したものを関連バンドルとして保存します"
	}
	return r
}

func timestampAbsence(vr Report) string {
	for _, n := range vr.Notes {
		switch {
		case strings.Contains(n, "no trusted timestamp yet"):
			return "取得時にタイムスタンプ局へ接続できず、後日取得する予定です。以後のバンドルのタイムスタンプがハッシュ連鎖を通じてこのバンドルも裏付けます"
		case strings.Contains(n, "no trusted timestamp was requested"):
			return "タイムスタンプ局を設定していないため。以後のバンドルのタイムスタンプがハッシュ連鎖を通じてこのバンドルも裏付けます"
		}
	}
	return "未取得"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
