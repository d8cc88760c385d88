package evidence

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mimamori/mention"
)

func capture(t *testing.T) (*Store, mention.EvidenceRef) {
	t.Helper()
	s := NewStore(t.TempDir(), "mimamori-test")
	m := mention.Mention{ID: "abc", Version: 1, SourceID: "forum", URL: "https://example.jp/t/1#p3", Text: "テスト"}
	f := &mention.Fetch{RequestURL: "https://example.jp/t/1", FinalURL: "https://example.jp/t/1", Method: "GET",
		StatusCode: 200, Header: http.Header{"Content-Type": {"text/html; charset=Shift_JIS"}},
		FetchedAt: time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC), Body: []byte("<html>\x82\xa0 raw bytes</html>")}
	ref, err := s.Capture(m, f)
	if err != nil {
		t.Fatal(err)
	}
	return s, ref
}

func TestCaptureVerifies(t *testing.T) {
	_, ref := capture(t)
	r, err := Verify(ref.Path, ref.ManifestSHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Files != 4 || !r.ChainChecked {
		t.Fatalf("fresh bundle: ok=%v files=%d problems=%v", r.OK(), r.Files, r.Problems)
	}
	body, _ := os.ReadFile(filepath.Join(ref.Path, "raw/response.html"))
	if string(body) != "<html>\x82\xa0 raw bytes</html>" {
		t.Fatalf("raw bytes altered: %q", body)
	}
	if fi, _ := os.Stat(filepath.Join(ref.Path, "raw/response.html")); fi.Mode().Perm()&0o222 != 0 {
		t.Fatalf("evidence file is writable: %v", fi.Mode())
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(dir string)
		want   string // path named by the problem
	}{
		{"flip a byte of the raw page", func(d string) { flip(t, filepath.Join(d, "raw/response.html"), 7) }, "raw/response.html"},
		{"flip a byte of the exchange", func(d string) { flip(t, filepath.Join(d, "exchange.json"), 3) }, "exchange.json"},
		{"flip a byte of the mention", func(d string) { flip(t, filepath.Join(d, "mention.json"), 10) }, "mention.json"},
		{"flip a byte of the manifest", func(d string) { flip(t, filepath.Join(d, ManifestName), 20) }, ManifestName},
		{"delete a file", func(d string) { os.Remove(filepath.Join(d, "exchange.json")) }, "exchange.json"},
		{"add a file", func(d string) { os.WriteFile(filepath.Join(d, "extra.txt"), []byte("x"), 0o600) }, "extra.txt"},
		{"truncate the raw page", func(d string) { os.Truncate(filepath.Join(d, "raw/response.html"), 0) }, "raw/response.html"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ref := capture(t)
			tc.tamper(ref.Path)
			r, err := Verify(ref.Path, ref.ManifestSHA256)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() {
				t.Fatal("tampering not detected")
			}
			found := false
			for _, p := range r.Problems {
				found = found || p.Path == tc.want
			}
			if !found {
				t.Fatalf("problems %v do not name %s", r.Problems, tc.want)
			}
		})
	}
}

func TestVerifyNotABundle(t *testing.T) {
	if _, err := Verify(t.TempDir(), ""); err == nil || !strings.Contains(err.Error(), "manifest.json missing") {
		t.Fatalf("want missing-manifest error, got %v", err)
	}
}
