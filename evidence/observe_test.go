package evidence

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"

	"mimamori/config"
	"mimamori/mention"
)

// TestRecordDeletion: a re-check that finds the post deleted is a new
// bundle linked to the first capture, with its time and status; the first
// capture is not touched, and both verify.
func TestRecordDeletion(t *testing.T) {
	tsa := startTSA(t)
	s := tsaStore(t, t.TempDir(), tsa.URL)
	first, err := s.Capture(sampleMention(), sampleFetch())
	if err != nil {
		t.Fatal(err)
	}
	before := hashTree(t, first.Path)
	gone := &mention.Fetch{RequestURL: "https://example.jp/t/1", FinalURL: "https://example.jp/t/1", Method: "GET", StatusCode: 404,
		Header: http.Header{"Content-Type": {"text/html"}}, FetchedAt: time.Now().UTC(), Body: []byte("<p>この投稿は削除されました</p>")}
	deleted, why := LooksDeleted(gone.StatusCode, gone.Header, gone.Body, "")
	if !deleted {
		t.Fatal("404 not seen as deleted")
	}
	at := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	res, err := s.RecordObservation(context.Background(), first.BundleID, mention.Mention{},
		Observation{Kind: ObservedDeleted, ObservedAt: at, Note: why}, gone)
	if err != nil {
		t.Fatal(err)
	}
	if res.Timestamp != "stamped" || res.Position != 2 {
		t.Fatalf("%+v", res)
	}
	man, _, _ := ReadManifest(res.Ref.Path)
	if man.Kind != KindObservation || man.Observation.Kind != ObservedDeleted || man.Observation.StatusCode != 404 ||
		!man.Observation.ObservedAt.Equal(at) || man.Subject.BundleID != first.BundleID || man.Subject.ManifestSHA256 != first.ManifestSHA256 ||
		man.MentionID != "abc" {
		t.Fatalf("observation manifest: %+v %+v %+v", man, man.Observation, man.Subject)
	}
	if hashTree(t, first.Path) != before {
		t.Fatal("the first capture changed")
	}
	for _, p := range []string{first.Path, res.Ref.Path} {
		if r, _ := s.Verify(p); !r.OK() {
			t.Fatalf("%s: %s", p, names(r.Problems))
		}
	}
	// Removing the first capture is reported by the observation too.
	os.RemoveAll(first.Path)
	if r, _ := s.Verify(res.Ref.Path); r.OK() || !strings.Contains(names(r.Problems), "subject bundle "+first.BundleID) {
		t.Fatalf("missing subject not reported: %s", names(r.Problems))
	}
	if _, err := s.RecordObservation(context.Background(), "no-such-bundle", mention.Mention{}, Observation{Kind: ObservedDeleted}, nil); err == nil {
		t.Fatal("observation of an unknown bundle accepted")
	}
}

// TestEditLinksToFirst: the capture of an edited post names the first
// capture as its subject.
func TestEditLinksToFirst(t *testing.T) {
	s := NewStore(t.TempDir(), "t")
	first, _ := s.Capture(sampleMention(), sampleFetch())
	m := sampleMention()
	m.Version = 2
	res, err := s.CaptureWith(context.Background(), m, sampleFetch(), CaptureOptions{Subject: first.BundleID})
	if err != nil {
		t.Fatal(err)
	}
	man, _, _ := ReadManifest(res.Ref.Path)
	if man.Subject == nil || man.Subject.Relation != "edit-of" || man.Subject.BundleID != first.BundleID {
		t.Fatalf("subject %+v", man.Subject)
	}
	if r, _ := s.Verify(res.Ref.Path); !r.OK() {
		t.Fatal(names(r.Problems))
	}
	// An observation without a re-fetch (e.g. unreachable) is fine too.
	obs, err := s.RecordObservation(context.Background(), first.Path, mention.Mention{}, Observation{Kind: ObservedUnreachable, Error: "timeout"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Verify(obs.Ref.Path); !r.OK() || r.Files != 1 {
		t.Fatalf("%d files %s", r.Files, names(r.Problems))
	}
}

func TestLooksDeleted(t *testing.T) {
	sjis, _ := japanese.ShiftJIS.NewEncoder().Bytes([]byte("<html><body>このレスは削除されました</body></html>"))
	html := http.Header{"Content-Type": {"text/html; charset=utf-8"}}
	cases := []struct {
		status int
		h      http.Header
		body   []byte
		text   string
		want   bool
	}{
		{404, html, nil, "", true},
		{410, html, nil, "", true},
		{200, html, []byte("<p>この投稿は削除されました</p>"), "", true},
		{200, http.Header{"Content-Type": {"text/html; charset=Shift_JIS"}}, sjis, "", true},
		{200, html, []byte("<p>This post has been deleted.</p>"), "", true},
		{200, html, []byte("<p>元の投稿：株式会社サンプルは詐欺会社</p><p>別のレスは削除されました</p>"), "株式会社サンプルは詐欺会社", false},
		{200, html, []byte("<p>株式会社サンプルは詐欺会社</p>"), "株式会社サンプルは詐欺会社", false},
		{503, html, []byte("削除されました"), "", false},
	}
	for i, c := range cases {
		if got, why := LooksDeleted(c.status, c.h, c.body, c.text); got != c.want {
			t.Errorf("case %d: %v (%s), want %v", i, got, why, c.want)
		}
	}
}

// TestExportForLawyer: the zip holds the bundle, a Japanese cover naming
// what, when, by what, the hashes and how to verify, SHA256SUMS that
// sha256sum accepts, and the TSA CA for openssl ts -verify.
func TestExportForLawyer(t *testing.T) {
	tsa := startTSA(t)
	s := tsaStore(t, t.TempDir(), tsa.URL)
	s.Capture(sampleMention(), sampleFetch())
	ref, err := s.Capture(sampleMention(), sampleFetch())
	if err != nil {
		t.Fatal(err)
	}
	s.RecordObservation(context.Background(), ref.BundleID, mention.Mention{}, Observation{Kind: ObservedDeleted, StatusCode: 410}, nil)
	out := filepath.Join(t.TempDir(), "evidence.zip")
	rep, err := s.Export(ref.BundleID, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Related) != 1 || !rep.Verify.OK() {
		t.Fatalf("export: %+v", rep)
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	dir := t.TempDir()
	got := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		data, _ := io.ReadAll(rc)
		rc.Close()
		got[f.Name] = data
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		os.MkdirAll(filepath.Dir(p), 0o750)
		os.WriteFile(p, data, 0o600)
	}
	id := ref.BundleID
	for _, want := range []string{CoverName, "SHA256SUMS", "tsa-ca.pem", id + "/" + ManifestName, id + "/" + TimestampName,
		id + "/raw/response.html", id + "/" + WARCName, "chain/chain-excerpt.jsonl", "chain/prev-manifest.json"} {
		if _, ok := got[want]; !ok {
			t.Fatalf("zip lacks %s", want)
		}
	}
	cover := string(got[CoverName])
	for _, want := range []string{"何を取得したか", "いつ取得したか", "どのツールで取得したか", "ハッシュ値", "検証方法", id, ref.ManifestSHA256,
		"https://example.jp/t/1", "2026年11月27日 12時00分00秒 JST", "mimamori-test", "openssl ts -verify", "sha256sum -c SHA256SUMS",
		"連鎖の 2 番目", "削除されていた", "第三者タイムスタンプ"} {
		if !strings.Contains(cover, want) {
			t.Fatalf("cover lacks %q:\n%s", want, cover)
		}
	}
	if sum := requireTool(t, "sha256sum"); sum != "" {
		cmd := exec.Command(sum, "-c", "--quiet", "SHA256SUMS")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sha256sum -c: %v\n%s", err, out)
		}
	}
	out2, err := exec.Command("openssl", "ts", "-verify", "-data", filepath.Join(dir, id, ManifestName), "-in", filepath.Join(dir, id, TimestampName),
		"-CAfile", filepath.Join(dir, "tsa-ca.pem")).CombinedOutput()
	if err != nil || !bytes.Contains(out2, []byte("Verification: OK")) {
		t.Fatalf("openssl on the exported bundle: %v\n%s", err, out2)
	}
	// The unzipped bundle verifies on its own (no chain file next to it).
	if r, err := VerifyWith(filepath.Join(dir, id), VerifyOptions{TSARoots: s.TSARoots()}); err != nil || !r.OK() {
		t.Fatalf("unzipped bundle: %v %s", err, names(r.Problems))
	}
	// An altered bundle is not exported.
	flip(t, filepath.Join(ref.Path, "exchange.json"), 5)
	if _, err := s.Export(ref.BundleID, filepath.Join(t.TempDir(), "x.zip")); err == nil || !strings.Contains(err.Error(), "fails verification") {
		t.Fatalf("altered bundle exported: %v", err)
	}
}

func TestEvidenceConfigValidation(t *testing.T) {
	p := getPKI(t)
	check := func(e config.EvidenceConfig) []string {
		c := config.Default()
		c.Evidence = e
		var keys []string
		for _, fe := range c.Validate() {
			if strings.HasPrefix(fe.Key, "evidence.") {
				keys = append(keys, fe.Key)
			}
		}
		return keys
	}
	if k := check(config.EvidenceConfig{}); len(k) != 0 {
		t.Fatalf("defaults rejected: %v", k)
	}
	if k := check(config.EvidenceConfig{TSA: config.TSAConfig{URL: "http://tsa.example/", CAFile: p.CAFile}, Retention: 365 * 24 * time.Hour}); len(k) != 0 {
		t.Fatalf("good config rejected: %v", k)
	}
	k := check(config.EvidenceConfig{TSA: config.TSAConfig{URL: "ftp://x", PolicyOID: "abc"}, RenderTimeout: time.Second, Retention: time.Hour, ViewportWidth: 10})
	want := "evidence.tsa.url evidence.tsa.ca_file evidence.tsa.policy_oid evidence.render_timeout evidence.viewport_width evidence.retention"
	for _, w := range strings.Fields(want) {
		found := false
		for _, got := range k {
			found = found || got == w
		}
		if !found {
			t.Errorf("no error for %s (got %v)", w, k)
		}
	}
	if k := check(config.EvidenceConfig{TSA: config.TSAConfig{URL: "http://tsa.example/", CAFile: "/nonexistent.pem"}}); len(k) != 1 || k[0] != "evidence.tsa.ca_file" {
		t.Fatalf("unreadable CA: %v", k)
	}
	// The options carry every setting.
	o := OptionsFromConfig(config.Config{
		Evidence: config.EvidenceConfig{ChromiumPath: "/x", DisableRender: true, TSA: config.TSAConfig{URL: "u", CAFile: "c"}},
		Crawler:  config.CrawlerConfig{UserAgent: "ua"},
		Sources:  []config.Source{{ID: "intra", URL: "http://intra.example:8080/", AllowPrivate: true, AllowHosts: []string{"cdn.intra"}}},
	}, "tool", nil)
	if o.Render.ChromiumPath != "/x" || !o.Render.Disabled || o.TSA.URL != "u" || o.TSA.CAFile != "c" || o.CrawlerUserAgent != "ua" {
		t.Fatalf("%+v", o)
	}
	if p := o.Sources["intra"]; !p.AllowPrivate || p.Home != "http://intra.example:8080/" || len(p.AllowHosts) != 1 {
		t.Fatalf("source policy %+v", p)
	}
}
