package evidence

import (
	"fmt"
	"strings"
	"time"

	"mimamori/internal/jst"
)

// exportFacts is what Export put in the zip besides the bundle folders.
// The cover sheet states only these, the manifest and the verify report.
type exportFacts struct {
	// token is the bundle's timestamp token (nil: the bundle has none).
	token []byte
	// caIncluded says tsa-ca.pem is in the zip.
	caIncluded bool
	// excerpt and prevManifest say chain/chain-excerpt.jsonl and
	// chain/prev-manifest.json are in the zip.
	excerpt, prevManifest bool
}

// Timestamp states a cover sheet (and a mail) may state.
const (
	// StampStored: a token is there and verify read it.
	StampStored = "stored"
	// StampInvalid: a token is there and did not verify.
	StampInvalid = "invalid"
	// StampMissing: the chain records a token the bundle no longer has.
	StampMissing = "missing"
	// StampPending: the manifest says a token was requested; none yet.
	StampPending = "pending"
	// StampNone: the manifest requests no token (no TSA at capture).
	StampNone = "none"
)

// stampState says what may be said of the bundle's trusted timestamp:
// from the manifest's timestamp plan, the token file and verify's report.
func stampState(man Manifest, vr Report, tok []byte) string {
	switch {
	case len(tok) > 0 && vr.Timestamp != nil:
		return StampStored
	case len(tok) > 0:
		return StampInvalid
	}
	for _, p := range vr.Problems {
		if p.Path == TimestampName {
			return StampMissing
		}
	}
	if man.Timestamp != nil {
		return StampPending
	}
	return StampNone
}

func jaTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(jst.Zone).Format("2006年01月02日 15時04分05秒 JST") + "（" + t.UTC().Format("2006-01-02T15:04:05Z") + " UTC）"
}

func enTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC") + " (" + t.In(jst.Zone).Format("2006-01-02 15:04:05 JST") + ")"
}

// coverStep is one numbered step of "how to verify", in both languages.
type coverStep struct {
	ja, en           string   // title
	jaCmds, enCmds   []string // commands (enCmds nil: the same as jaCmds)
	jaAfter, enAfter []string // what the result means
}

// coverSteps lists the verification steps that apply to this export; the
// cover numbers them 1, 2, 3… in the order given.
func coverSteps(man Manifest, stamp string, f exportFacts) []coverStep {
	id := man.BundleID
	steps := []coverStep{{
		ja: "ファイルのハッシュ値（zip を展開したフォルダで実行）",
		en: "File hashes (run in the unzipped folder)",
		jaCmds: []string{"Linux    : sha256sum -c SHA256SUMS", "macOS    : shasum -a 256 -c SHA256SUMS",
			fmt.Sprintf(`Windows  : certutil -hashfile %s\%s SHA256`, id, ManifestName)},
		jaAfter: []string{"すべて「OK」（または上記の値と一致）なら、取得後に変更されていません。"},
		enAfter: []string{"Every line OK (or the same value as above): nothing changed since capture."},
	}}
	hasToken := len(f.token) > 0
	if hasToken {
		st := coverStep{ja: "タイムスタンプ（OpenSSL、zip を展開したフォルダで実行）", en: "Timestamp (OpenSSL, run in the unzipped folder)"}
		cmd := fmt.Sprintf("openssl ts -verify -data %s/%s -in %s/%s -CAfile ", id, ManifestName, id, TimestampName)
		if f.caIncluded {
			st.jaCmds = []string{cmd + ExportCAName}
		} else {
			st.jaCmds = []string{cmd + "<タイムスタンプ局の CA 証明書>"}
			st.enCmds = []string{cmd + "<the TSA's CA certificate>"}
			st.jaAfter = append(st.jaAfter, "タイムスタンプ局の CA 証明書はこの zip に含まれていません（出力時に指定されていませんでした）。タイムスタンプ局から入手して指定してください。")
			st.enAfter = append(st.enAfter, "The TSA's CA certificate is not in this zip (none was given at export): get it from the TSA and name it after -CAfile.")
		}
		st.jaAfter = append(st.jaAfter, "「Verification: OK」と表示されれば、manifest.json（＝全ファイルのハッシュ値）が",
			"タイムスタンプの時刻に存在し、その後変更されていないことが確認できます。")
		st.enAfter = append(st.enAfter, `"Verification: OK": manifest.json (and so the hash of every file) existed at the time of the timestamp`,
			"and has not changed since.")
		steps = append(steps, st)
	}
	jaWhat, enWhat := []string{"ハッシュ値"}, []string{"hashes"}
	if f.excerpt {
		jaWhat, enWhat = append(jaWhat, "連鎖の抜粋（"+ExcerptFile+"）"), append(enWhat, "the chain excerpt ("+ExcerptFile+")")
	}
	cmd := "mimamori evidence verify " + id
	if hasToken {
		jaWhat, enWhat = append(jaWhat, "タイムスタンプ"), append(enWhat, "the timestamp")
		if f.caIncluded {
			cmd += " --tsa-ca " + ExportCAName
		}
	}
	st := coverStep{ja: "mimamori による総合検証（" + strings.Join(jaWhat, "、") + "。zip を展開したフォルダで実行）",
		en: "mimamori's own check (" + strings.Join(enWhat, ", ") + "; run in the unzipped folder)", jaCmds: []string{cmd}}
	if hasToken && !f.caIncluded {
		st.jaAfter = []string{"CA 証明書がないため、タイムスタンプ局の証明書の確認は行われません。"}
		st.enAfter = []string{"Without the CA certificate the TSA's certificate is not checked."}
	}
	if stamp != StampStored {
		st.jaAfter = append(st.jaAfter, "このバンドルには第三者タイムスタンプがないため、タイムスタンプの確認はありません。")
		st.enAfter = append(st.enAfter, "This bundle has no trusted timestamp, so no timestamp is checked.")
	}
	return append(steps, st)
}

// checkedJA and checkedEN say what verify checked at export (and what it
// did not), from its report.
func checkedJA(vr Report, stamp string) string {
	done := []string{fmt.Sprintf("%d ファイルのハッシュ値", vr.Files)}
	var not []string
	if vr.ChainChecked {
		done = append(done, "ハッシュ連鎖")
	} else {
		not = append(not, "ハッシュ連鎖は未確認")
	}
	switch {
	case vr.Timestamp != nil && vr.Timestamp.ChainVerified:
		done = append(done, "タイムスタンプ（タイムスタンプ局の CA 証明書まで）")
	case vr.Timestamp != nil:
		done = append(done, "タイムスタンプ（署名と対象のハッシュ値。CA 証明書は未確認）")
	case stamp != StampInvalid:
		not = append(not, "タイムスタンプなし")
	}
	out := "確認したもの: " + strings.Join(done, "、")
	if len(not) > 0 {
		out += "。" + strings.Join(not, "、")
	}
	return out
}

func checkedEN(vr Report, stamp string) string {
	done := []string{fmt.Sprintf("the hashes of %d files", vr.Files)}
	var not []string
	if vr.ChainChecked {
		done = append(done, "the hash chain")
	} else {
		not = append(not, "hash chain not checked")
	}
	switch {
	case vr.Timestamp != nil && vr.Timestamp.ChainVerified:
		done = append(done, "the timestamp (up to the TSA's CA certificate)")
	case vr.Timestamp != nil:
		done = append(done, "the timestamp (signature and imprint; CA certificate not checked)")
	case stamp != StampInvalid:
		not = append(not, "no trusted timestamp")
	}
	out := "checked " + strings.Join(done, ", ")
	if len(not) > 0 {
		out += "; " + strings.Join(not, ", ")
	}
	return out
}

func stampJA(stamp string, man Manifest) string {
	switch stamp {
	case StampInvalid:
		return "トークン（" + TimestampName + "）はありますが、検証できませんでした（下記「検証結果」を参照）"
	case StampMissing:
		return "タイムスタンプなし（連鎖にはトークンの取得が記録されていますが、" + TimestampName + " がありません。下記「検証結果」を参照）"
	case StampPending:
		return "タイムスタンプなし（取得時にタイムスタンプ局 " + man.Timestamp.TSA + " へ要求しましたが、まだ取得できていません。取得後に出力し直すと含まれます）"
	}
	return "タイムスタンプなし（取得時にタイムスタンプ局が設定されておらず、要求していません）"
}

func stampEN(stamp string, man Manifest) string {
	switch stamp {
	case StampInvalid:
		return "a token (" + TimestampName + ") is present but did not verify (see the result below)"
	case StampMissing:
		return "no trusted timestamp: the chain records a token, but " + TimestampName + " is missing (see the result below)"
	case StampPending:
		return "no trusted timestamp yet: requested from " + man.Timestamp.TSA + " at capture and not obtained yet; an export made after it is includes it"
	}
	return "no trusted timestamp: no TSA was configured at capture, none was requested"
}

func coverSheet(man Manifest, vr Report, f exportFacts, related []relatedBundle, o ExportOptions) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	id := man.BundleID
	stamp := stampState(man, vr, f.token)
	steps := coverSteps(man, stamp, f)
	w("証拠保全データ 表紙（mimamori） / Evidence cover sheet (English below)")
	w("================================")
	w("")
	w("このフォルダ（zip）は、インターネット上の投稿を証拠として保全したデータ一式です。")
	if stamp == StampStored {
		w("取得後に 1 バイトでも変更されていないことを、下記のハッシュ値とタイムスタンプで確認できます。")
	} else {
		w("取得後に 1 バイトでも変更されていないことを、下記のハッシュ値で確認できます（第三者タイムスタンプはありません）。")
	}
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
	if stamp == StampStored {
		w("  第三者タイムスタンプ: %s", jaTime(vr.Timestamp.Time))
		w("                       RFC 3161 タイムスタンプ局: %s、シリアル番号 %s", vr.Timestamp.TSA, vr.Timestamp.Serial)
		w("                       manifest.json の SHA-256 に対して発行（%s）", TimestampName)
	} else {
		w("  第三者タイムスタンプ: %s", stampJA(stamp, man))
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
			w("  描画               : なし（%s）", MissingReason("ja", Missing{Reason: r.Error, Retry: r.Status == "failed"}))
		}
	}
	w("")
	w("■ ハッシュ値（SHA-256）")
	w("  %s  %s", vr.ManifestSHA256, ManifestName+"（全ファイルの一覧とハッシュ値）")
	for _, fl := range man.Files {
		w("  %s  %s（%d バイト）%s", fl.SHA256, fl.Path, fl.Size, roleJA[fl.Role])
	}
	if len(f.token) > 0 {
		w("  %s  %s（タイムスタンプトークン）", sha256Hex(f.token), TimestampName)
	}
	w("  ※ zip 内の全ファイルのハッシュ値は SHA256SUMS にあります。")
	if len(man.Missing) > 0 {
		w("")
		w("■ 取得できなかったもの")
		for _, m := range man.Missing {
			w("  - %s: %s", MissingWhat("ja", m.What), MissingReason("ja", m))
		}
	}
	w("")
	w("■ ハッシュ連鎖")
	if man.ChainPosition > 0 {
		w("  このバンドルは、mimamori が保存した全証拠の連鎖の %d 番目です。", man.ChainPosition)
		if man.PrevBundleID != "" {
			w("  直前のバンドル     : %s", man.PrevBundleID)
			if f.prevManifest {
				w("  その manifest.json : SHA-256 %s（%s）", man.PrevManifestSHA256, PrevManifestFile)
			} else {
				w("  その manifest.json : SHA-256 %s（この zip には含まれていません）", man.PrevManifestSHA256)
			}
		}
		if f.excerpt {
			w("  連鎖の該当行       : %s（直前のバンドルからこのバンドルまでの行と、関連する行）", ExcerptFile)
		}
		w("  後に保存されるバンドルは直前のバンドルの manifest のハッシュ値を記録します。後のバンドルに")
		w("  タイムスタンプがあれば、それもこのバンドルがその時刻より前に存在したことを示します。")
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
		w("  結果               : 問題なし（%s）", checkedJA(vr, stamp))
	} else {
		w("  結果               : 問題あり（%s）", checkedJA(vr, stamp))
		for _, p := range vr.Problems {
			w("    - %s", p)
		}
	}
	w("")
	w("■ 検証方法")
	for i, st := range steps {
		w("  %d. %s", i+1, st.ja)
		for _, c := range st.jaCmds {
			w("       %s", c)
		}
		for _, a := range st.jaAfter {
			w("     %s", a)
		}
	}
	w("")
	w("本表紙は mimamori が自動作成しました。内容の正否は上記の方法で誰でも確認できます。")

	w("")
	w("--------------------------------")
	w("English summary")
	w("")
	w("  Post URL      : %s", man.URL)
	w("  Bundle        : %s (%s), chain position %d", id, man.Kind, man.ChainPosition)
	w("  Received      : %s", enTime(man.FetchedAt))
	w("  Stored        : %s", enTime(man.CapturedAt))
	if stamp == StampStored {
		w("  Timestamp     : RFC 3161 token by %s, serial %s, at %s, over the SHA-256 of manifest.json (%s)",
			vr.Timestamp.TSA, vr.Timestamp.Serial, enTime(vr.Timestamp.Time), TimestampName)
	} else {
		w("  Timestamp     : %s", stampEN(stamp, man))
	}
	w("  manifest.json : SHA-256 %s", vr.ManifestSHA256)
	for _, m := range man.Missing {
		w("  Not captured  : %s: %s", MissingWhat("en", m.What), MissingReason("en", m))
	}
	if vr.OK() {
		w("  At export     : no problem (%s)", checkedEN(vr, stamp))
	} else {
		w("  At export     : PROBLEMS (%s); listed above", checkedEN(vr, stamp))
	}
	w("")
	w("  How to verify:")
	for i, st := range steps {
		w("  %d. %s", i+1, st.en)
		cmds := st.enCmds
		if cmds == nil {
			cmds = st.jaCmds
		}
		for _, c := range cmds {
			w("       %s", c)
		}
		for _, a := range st.enAfter {
			w("     %s", a)
		}
	}
	return b.String()
}

// MissingWhat names a part a bundle lacks (Missing.What) in lang (ja, en).
func MissingWhat(lang, what string) string {
	names := map[string][2]string{"screenshot": {"画面写真", "screenshot"}, "pdf": {"PDF", "PDF"},
		"dom": {"JavaScript 実行後の DOM", "DOM after JavaScript"}, "warc": {"WARC", "WARC"},
		"tls_peer_certificate": {"サーバ証明書", "server certificate"}}
	n, ok := names[what]
	switch {
	case !ok:
		return what
	case lang == "en":
		return n[1]
	}
	return n[0]
}

// MissingReason says in lang (ja, en) why a part is missing, as the
// manifest records it, and whether a later bundle will bring it.
func MissingReason(lang string, m Missing) string {
	r := m.Reason
	if lang == "en" {
		if m.Retry {
			r += "; the raw bytes are stored and a later rendering is stored as a linked bundle"
		}
		return r
	}
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

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
