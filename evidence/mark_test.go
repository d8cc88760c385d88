package evidence

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mimamori/mention"
)

// threadPage is a thread of twelve posts of the same look, so that only
// the outline can tell which one is alerted.
func threadPage(withIDs bool) string {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><style>
body{margin:0;font-family:sans-serif;background:#fff;color:#222}
.post{margin:12px 40px;padding:8px;height:100px;border-top:1px solid #ccc;font-size:18px}
</style></head><body><h1>スレッド</h1>`)
	for i := 1; i <= 12; i++ {
		id := ""
		if withIDs {
			id = fmt.Sprintf(` id="p%d"`, i)
		}
		text := fmt.Sprintf("%d 名無しさん サンプル社の対応について %d 回目の書き込み", i, i)
		if i == 9 {
			text = "9 名無しさん サンプル社の佐藤花子、今度見かけたら殺す"
		}
		fmt.Fprintf(&b, `<div class="post"%s>%s</div>`, id, text)
	}
	b.WriteString(`</body></html>`)
	return b.String()
}

func isRed(c [4]uint32) bool { return c[0] > 0xc000 && c[1] < 0x4000 && c[2] < 0x4000 }

func rgba(img image.Image, x, y int) [4]uint32 {
	r, g, b, a := img.At(x, y).RGBA()
	return [4]uint32{r, g, b, a}
}

// TestMarkedPost: a capture of a thread page keeps the full page rendering
// as captured and adds a derived image (and PDF page) with the alerted post
// outlined, found by the permalink's anchor or, without one, by its text;
// a post that cannot be found gets no derived image and the manifest says
// why.
func TestMarkedPost(t *testing.T) {
	chrome := chromiumPath(t)
	pdfinfo := requireTool(t, "pdfinfo")
	s, err := Open(t.TempDir(), Options{Tool: "mimamori-test", Render: RenderOptions{ChromiumPath: chrome, Timeout: 90 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, page, url, text, located string
	}{
		{"anchor", threadPage(true), "http://127.0.0.1:9/thread/1#p9", "サンプル社の佐藤花子、今度見かけたら殺す", "id"},
		{"text", threadPage(false), "http://127.0.0.1:9/news/9", "サンプル社の佐藤花子、今度見かけたら殺す", "text"},
		{"not on the page", threadPage(false), "http://127.0.0.1:9/news/10", "この文は頁にない全く別の書き込みです", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &mention.Fetch{RequestURL: c.url, FinalURL: strings.SplitN(c.url, "#", 2)[0], StatusCode: 200, Method: "GET",
				Header: http.Header{"Content-Type": {"text/html; charset=utf-8"}}, FetchedAt: time.Now(), Body: []byte(c.page)}
			m := mention.Mention{ID: "mark-" + strings.ReplaceAll(c.name, " ", "-"), Version: 1, SourceID: "forum", URL: c.url, Text: c.text}
			res, err := s.CaptureWith(context.Background(), m, f, CaptureOptions{})
			if err != nil {
				t.Fatal(err)
			}
			man, _, _ := ReadManifest(res.Ref.Path)
			if man.Render == nil || man.Render.Status != "rendered" || man.Render.Marked == nil {
				t.Fatalf("render: %+v", man.Render)
			}
			mi := man.Render.Marked
			_, statErr := os.Stat(filepath.Join(res.Ref.Path, MarkedName))
			if c.located == "" {
				if mi.Located != "" || mi.Error == "" || statErr == nil {
					t.Fatalf("a post not on the page must give no marked image and say why: %+v (file: %v)", mi, statErr)
				}
				return
			}
			if mi.Located != c.located || len(mi.Box) != 4 || len(mi.Crop) != 4 || statErr != nil {
				t.Fatalf("marked: %+v (file: %v)", mi, statErr)
			}
			marked, err := png.Decode(bytes.NewReader(mustRead(t, filepath.Join(res.Ref.Path, MarkedName))))
			if err != nil {
				t.Fatal(err)
			}
			full, err := png.Decode(bytes.NewReader(mustRead(t, filepath.Join(res.Ref.Path, ScreenshotName))))
			if err != nil {
				t.Fatal(err)
			}
			// The outline is left of the post's box, at its middle, on the
			// derived image (band on top, then the crop); the full page at
			// the same point is not red: it was not touched.
			band := marked.Bounds().Dy() - mi.Crop[3]
			x := mi.Box[0] - markLine/2 - 2
			ymid := mi.Box[1] + mi.Box[3]/2
			if !isRed(rgba(marked, x, band+ymid-mi.Crop[1])) {
				t.Errorf("no outline at (%d,%d) of the marked image: %v", x, band+ymid-mi.Crop[1], rgba(marked, x, band+ymid-mi.Crop[1]))
			}
			if isRed(rgba(full, x, man.Render.BandHeight+ymid)) {
				t.Error("the full page screenshot was marked; it must stay as rendered")
			}
			// The crop holds the post: the ninth of twelve, not the top of the page.
			if mi.Box[1] < 500 || mi.Crop[1] > mi.Box[1] || mi.Crop[1]+mi.Crop[3] < mi.Box[1]+mi.Box[3] {
				t.Errorf("box %v, crop %v", mi.Box, mi.Crop)
			}
			out, err := exec.Command(pdfinfo, filepath.Join(res.Ref.Path, MarkedPDFName)).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Pages:") {
				t.Fatalf("marked PDF: %v\n%s", err, out)
			}
			if d := os.Getenv("MIMAMORI_KEEP_MARKED"); d != "" {
				os.WriteFile(filepath.Join(d, c.located+".png"), mustRead(t, filepath.Join(res.Ref.Path, MarkedName)), 0o644)
			}
			if r, _ := s.Verify(res.Ref.Path); !r.OK() {
				t.Fatalf("verify: %s", names(r.Problems))
			}
		})
	}
	noChromiumLeft(t)
}

// BenchmarkCaptureMarked measures a full capture with Chromium of a thread
// page, with and without the derived marked image (the baseline is the
// same capture for a mention that cannot be located, which skips it):
//
//	go test ./evidence -run '^$' -bench CaptureMarked -benchtime 5x
func BenchmarkCaptureMarked(b *testing.B) {
	chrome := DefaultChromiumPath
	if p := os.Getenv("MIMAMORI_TEST_CHROMIUM"); p != "" {
		chrome = p
	}
	if err := CheckChromium(chrome); err != nil {
		b.Skip(err)
	}
	s, err := Open(b.TempDir(), Options{Tool: "mimamori-bench", Render: RenderOptions{ChromiumPath: chrome, Timeout: 90 * time.Second}})
	if err != nil {
		b.Fatal(err)
	}
	page := threadPage(true)
	for _, c := range []struct{ name, url, text string }{
		{"full-page-only", "http://127.0.0.1:9/thread/1", ""},
		{"with-marked-image", "http://127.0.0.1:9/thread/1#p9", "サンプル社の佐藤花子、今度見かけたら殺す"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				f := &mention.Fetch{RequestURL: c.url, FinalURL: "http://127.0.0.1:9/thread/1", StatusCode: 200, Method: "GET",
					Header: http.Header{"Content-Type": {"text/html; charset=utf-8"}}, FetchedAt: time.Now(), Body: []byte(page)}
				m := mention.Mention{ID: fmt.Sprintf("bench-%s-%d", c.name, i), Version: 1, SourceID: "forum", URL: c.url, Text: c.text}
				if _, err := s.CaptureWith(context.Background(), m, f, CaptureOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
