package alert

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"mimamori/evidence"
	"mimamori/ledger"
	"mimamori/mention"
)

// testChromium returns the browser for the rendered case, or "" (the case
// is skipped) when it is missing and CI is not set.
func testChromium(t *testing.T) string {
	t.Helper()
	p := os.Getenv("MIMAMORI_TEST_CHROMIUM")
	if p == "" {
		p = evidence.DefaultChromiumPath
	}
	if err := evidence.CheckChromium(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is required when CI is set: %v", err)
		}
		return ""
	}
	return p
}

// capture stores a real bundle of a small HTML page with the options.
func capture(t *testing.T, o evidence.Options, id string) mention.EvidenceRef {
	t.Helper()
	o.Tool = "mimamori-test"
	s, err := evidence.Open(filepath.Join(t.TempDir(), "evidence"), o)
	if err != nil {
		t.Fatal(err)
	}
	m := mention.Mention{ID: id, Version: 1, SourceID: "forum", URL: "https://f.example.jp/t/1#p1", Text: "サンプル社は詐欺"}
	f := &mention.Fetch{RequestURL: "https://f.example.jp/t/1", FinalURL: "https://f.example.jp/t/1", Method: "GET", StatusCode: 200,
		Proto: "HTTP/1.1", Header: http.Header{"Content-Type": {"text/html; charset=utf-8"}}, FetchedAt: time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC),
		Body: []byte("<html><body><p>サンプル社は詐欺</p></body></html>")}
	ref, err := s.Capture(m, f)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// parsedMail is a mail as the legal team receives it.
type parsedMail struct {
	body        string
	attachments []string // file names of the MIME attachments
}

func parseMail(t *testing.T, raw []byte) parsedMail {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var out parsedMail
	var walk func(h map[string][]string, r io.Reader)
	walk = func(h map[string][]string, r io.Reader) {
		get := func(k string) string {
			if v := h[k]; len(v) > 0 {
				return v[0]
			}
			return ""
		}
		mt, params, _ := mime.ParseMediaType(get("Content-Type"))
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(r, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err != nil {
					return
				}
				walk(p.Header, p)
			}
		}
		data, _ := io.ReadAll(r)
		if _, dp, err := mime.ParseMediaType(get("Content-Disposition")); err == nil && dp["filename"] != "" {
			out.attachments = append(out.attachments, dp["filename"])
			return
		}
		if mt == "text/plain" {
			switch strings.ToLower(get("Content-Transfer-Encoding")) {
			case "quoted-printable":
				out.body += decodeQP(string(data))
			case "base64":
				b, _ := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(data)), ""))
				out.body += string(b)
			default:
				out.body += string(data)
			}
		}
	}
	walk(msg.Header, msg.Body)
	sort.Strings(out.attachments)
	return out
}

// listedAttachments returns the file names the body's 添付 / Attached
// lines name (nil when there is no such line), and whether a line says
// none.
func listedAttachments(body, lang string) (names []string, lines int) {
	label, sep, open := `添付　+`, "、", "（"
	if lang == "en" {
		label, sep, open = `Attached +`, ", ", " ("
	}
	for _, m := range regexp.MustCompile(`(?m)^`+label+`: (.*)$`).FindAllStringSubmatch(body, -1) {
		lines++
		for _, part := range strings.Split(m[1], sep) {
			name, _, _ := strings.Cut(part, open)
			if name != "なし" && name != "none" {
				names = append(names, name)
			}
		}
	}
	sort.Strings(names)
	return names, lines
}

// TestMailStatesOnlyWhatTheManifestHolds: the 添付 / Attached line lists
// exactly the files attached to the mail (no screenshot when rendering
// failed or was off); the excerpt says the original page is stored only
// when the bundle's manifest lists it; no detector score is shown; the
// timestamp and missing parts are the manifest's. In Japanese and English.
func TestMailStatesOnlyWhatTheManifestHolds(t *testing.T) {
	chromium := testChromium(t)
	failed := func(t *testing.T) *mention.EvidenceRef {
		ref := capture(t, evidence.Options{Render: evidence.RenderOptions{ChromiumPath: filepath.Join(t.TempDir(), "no-chromium")}}, "failed")
		return &ref
	}
	cases := []struct {
		name string
		// bundle captures the alert's evidence (nil: capture failed).
		bundle func(t *testing.T) *mention.EvidenceRef
		attach bool
		// rawMax is the renderer's AttachRawMax.
		rawMax int64
		// want is the attachments, and so the names the body lists.
		want []string
		// rawStored: the body may say the original page is in the bundle.
		rawStored bool
		// wantJA, wantEN must be in the body.
		wantJA, wantEN []string
		needsChromium  bool
	}{
		// Rendered: the page as received, the screenshot and the derived
		// image with the post outlined go along.
		{name: "rendered", needsChromium: true, attach: true, rawMax: 8 << 20, rawStored: true,
			bundle: func(t *testing.T) *mention.EvidenceRef {
				ref := capture(t, evidence.Options{Render: evidence.RenderOptions{ChromiumPath: chromium}}, "rendered")
				return &ref
			},
			want:   []string{"evidence-marked.png", "evidence-response.html", "evidence-screenshot.png", "manifest.json"},
			wantJA: []string{"スクリーンショット", "赤枠"}, wantEN: []string{"(screenshot)", "outlined"}},
		// Rendering failed (Chromium missing): no screenshot listed or
		// attached, and the mail says it is missing and why.
		{name: "render failed", attach: true, rawMax: 1 << 20, rawStored: true, bundle: failed,
			want:   []string{"evidence-response.html", "manifest.json"},
			wantJA: []string{"未取得　　　　　: 画面写真、PDF（取得時にヘッドレス Chromium を利用できなかったため"},
			wantEN: []string{"Not captured    : screenshot, PDF (headless Chromium is not available"}},
		// Rendering disabled by configuration.
		{name: "render disabled", attach: true, rawMax: 1 << 20, rawStored: true,
			bundle: func(t *testing.T) *mention.EvidenceRef {
				ref := capture(t, evidence.Options{Render: evidence.RenderOptions{Disabled: true}}, "disabled")
				return &ref
			},
			want:   []string{"evidence-response.html", "manifest.json"},
			wantJA: []string{"設定で描画を無効にしているため", "タイムスタンプなし（取得時にタイムスタンプ局を設定していません）"},
			wantEN: []string{"rendering disabled by configuration", "no trusted timestamp (no TSA was configured at capture)"}},
		// The page is over the attachment limit: only the manifest goes,
		// and the body says what was left out.
		{name: "raw over the limit", attach: true, rawMax: 10, rawStored: true, bundle: failed,
			want:   []string{"manifest.json"},
			wantJA: []string{"添付していない　: 受信したままのページ（raw/response.html"},
			wantEN: []string{"Not attached    : the page as received (raw/response.html"}},
		// A route without attachments says none are attached.
		{name: "route without attachments", attach: false, rawMax: 1 << 20, rawStored: true, bundle: failed,
			wantJA: []string{"添付　　　　　　: なし（この通知先には証拠を添付しない設定です）"},
			wantEN: []string{"Attached        : none (this route attaches no evidence)"}},
		// No bundle (capture failed): nothing about a stored original.
		{name: "no bundle", attach: true, rawMax: 1 << 20,
			bundle: func(t *testing.T) *mention.EvidenceRef { return nil },
			wantJA: []string{"保全できませんでした"}, wantEN: []string{"capture failed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.needsChromium && chromium == "" {
				t.Skip("chromium not available")
			}
			ref := c.bundle(t)
			m := mention.Mention{ID: "m1", SourceID: "forum", Site: "f.example.jp", URL: "https://f.example.jp/t/1#p1", Text: "サンプル社は詐欺",
				FirstSeen: time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC), Alert: true, Severity: mention.SeverityHigh,
				Score: 3.7, Categories: []string{"defamation"}, Targets: []string{"company"}, Evidence: ref,
				Matches: []mention.Match{{Category: "defamation", Rule: "fraud", Term: "詐欺", Target: "company", Start: 5, End: 7}}}
			n := ledger.Notification{ID: "n1", Kind: "single", Route: "legal", Alerts: []ledger.AlertEvent{{ID: "a1", Kind: "new", MentionID: "m1", Mention: &m}}}
			for _, lang := range []string{"ja", "en"} {
				r := &Renderer{From: "mimamori@sample.example", Targets: targets, AttachRawMax: c.rawMax}
				msg, err := r.Message(lang, n, []string{"legal@sample.example"}, c.attach, time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC))
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if _, err := msg.WriteTo(&buf); err != nil {
					t.Fatal(err)
				}
				got := parseMail(t, buf.Bytes())
				if strings.Join(got.attachments, " ") != strings.Join(c.want, " ") {
					t.Errorf("%s: attached %v, want %v", lang, got.attachments, c.want)
				}
				listed, lines := listedAttachments(got.body, lang)
				if strings.Join(listed, " ") != strings.Join(got.attachments, " ") {
					t.Errorf("%s: the body lists %v, the mail attaches %v:\n%s", lang, listed, got.attachments, got.body)
				}
				if (ref != nil) != (lines == 1) {
					t.Errorf("%s: %d attachment line(s) for a mail with bundle %v:\n%s", lang, lines, ref != nil, got.body)
				}
				stored := map[string]string{"ja": "原文（受信したままのページ）は証拠バンドルにあります", "en": "the original, the page as received, is in the evidence bundle"}[lang]
				if strings.Contains(got.body, stored) != c.rawStored {
					t.Errorf("%s: says the original is stored %v, want %v:\n%s", lang, !c.rawStored, c.rawStored, got.body)
				}
				if regexp.MustCompile(`(?i)score|スコア|3\.7`).MatchString(got.body) {
					t.Errorf("%s: the body shows the detector score:\n%s", lang, got.body)
				}
				want := c.wantJA
				if lang == "en" {
					want = c.wantEN
				}
				for _, w := range want {
					if !strings.Contains(got.body, w) {
						t.Errorf("%s: body lacks %q:\n%s", lang, w, got.body)
					}
				}
				if ref == nil {
					for _, bad := range []string{"原文", "証拠バンドルにあります", "the original", "in the evidence bundle"} {
						if strings.Contains(got.body, bad) {
							t.Errorf("%s: a mail without a bundle says %q:\n%s", lang, bad, got.body)
						}
					}
				}
			}
		})
	}
}

// TestGroupMailListsEachBundlesAttachments: in a mail of several alerts the
// attachments carry the bundle id, and each alert's 添付 line names exactly
// its own files.
func TestGroupMailListsEachBundlesAttachments(t *testing.T) {
	var alerts []ledger.AlertEvent
	var want []string
	for _, id := range []string{"p1", "p2"} {
		ref := capture(t, evidence.Options{Render: evidence.RenderOptions{Disabled: true}}, id)
		want = append(want, ref.BundleID+"-evidence-response.html", ref.BundleID+"-manifest.json")
		m := mention.Mention{ID: id, URL: "https://f.example.jp/t/1#" + id, Text: "詐欺", Alert: true, Severity: mention.SeverityHigh,
			Categories: []string{"defamation"}, Targets: []string{"company"}, Evidence: &ref}
		alerts = append(alerts, ledger.AlertEvent{ID: "a-" + id, Kind: "new", MentionID: id, Mention: &m})
	}
	sort.Strings(want)
	r := &Renderer{From: "mimamori@sample.example", Targets: targets, AttachRawMax: 1 << 20}
	for _, lang := range []string{"ja", "en"} {
		msg, err := r.Message(lang, ledger.Notification{ID: "g1", Kind: "group", Alerts: alerts}, []string{"legal@sample.example"}, true, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		msg.WriteTo(&buf)
		got := parseMail(t, buf.Bytes())
		listed, lines := listedAttachments(got.body, lang)
		if strings.Join(got.attachments, " ") != strings.Join(want, " ") || strings.Join(listed, " ") != strings.Join(want, " ") || lines != 2 {
			t.Errorf("%s: attached %v, listed %v in %d lines, want %v:\n%s", lang, got.attachments, listed, lines, want, got.body)
		}
	}
}
