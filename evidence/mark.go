package evidence

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Derived files of a rendering: the alerted post outlined on a crop of the
// full page, with the URL/time band. The full page screenshot stays as
// captured; these are made from it.
const (
	MarkedName    = "render/marked.png"
	MarkedPDFName = "render/marked.pdf"
)

// Roles of the derived files.
const (
	RoleMarked    = "screenshot-post-marked-derived"
	RoleMarkedPDF = "pdf-post-marked-derived"
)

// MarkInfo describes the derived image of the alerted post (or why there
// is none).
type MarkInfo struct {
	// Located says how the post was found on the page: "id" (the
	// permalink's fragment names an element) or "text" (the innermost
	// element holding the start of the post's text). Empty: not found.
	Located string `json:"located,omitempty"`
	// Query is the element id or the text searched for.
	Query string `json:"query,omitempty"`
	// Box is the post's element on the full page (x, y, width, height in
	// CSS pixels, page coordinates: add BandHeight for the screenshot).
	Box []int `json:"box,omitempty"`
	// Crop is the part of the full page the marked image shows.
	Crop []int `json:"crop,omitempty"`
	// Error says why there is no marked image.
	Error string `json:"error,omitempty"`
}

// markTarget is what identifies the alerted post on its page.
type markTarget struct {
	ID    string   // element id from the permalink's fragment
	Texts []string // starts of the post's lines, longest first
}

func (t markTarget) empty() bool { return t.ID == "" && len(t.Texts) == 0 }

// markTargetFor returns how to find the post of a mention (its permalink
// and text) on its page.
func markTargetFor(permalink, text string) markTarget {
	var t markTarget
	if u, err := url.Parse(permalink); err == nil && u.Fragment != "" && !strings.HasPrefix(u.Fragment, "mimamori-") {
		t.ID = u.Fragment
	}
	// The longest lines first: a title line is short, and the body is
	// what the post says.
	lines := strings.Split(text, "\n")
	sort.SliceStable(lines, func(i, j int) bool { return utf8.RuneCountInString(lines[i]) > utf8.RuneCountInString(lines[j]) })
	for _, line := range lines {
		line = strings.Join(strings.Fields(strings.ReplaceAll(line, `"`, " ")), " ")
		r := []rune(line)
		if len(r) < 4 {
			continue
		}
		if len(r) > 16 {
			r = r[:16]
		}
		t.Texts = append(t.Texts, strings.TrimSpace(string(r)))
		if len(t.Texts) == 3 {
			break
		}
	}
	return t
}

// locate finds the post on the loaded page and returns its border box in
// page coordinates (the page is not scrolled).
func locate(ctx context.Context, t markTarget) (box [4]float64, how, query string, err error) {
	doc, err := chromedp.Call(ctx, dom.GetDocument, dom.GetDocumentParams{Depth: ptrTo(int64(0))})
	if err != nil || doc.Root == nil {
		return box, "", "", fmt.Errorf("read the DOM: %v", err)
	}
	boxOf := func(id cdp.NodeID) ([4]float64, bool) {
		bm, err := chromedp.Call(ctx, dom.GetBoxModel, dom.GetBoxModelParams{NodeID: id})
		if err != nil || bm.Model == nil || len(bm.Model.Border) < 8 {
			return box, false
		}
		q := bm.Model.Border
		x0, y0 := math.Min(math.Min(q[0], q[2]), math.Min(q[4], q[6])), math.Min(math.Min(q[1], q[3]), math.Min(q[5], q[7]))
		x1, y1 := math.Max(math.Max(q[0], q[2]), math.Max(q[4], q[6])), math.Max(math.Max(q[1], q[3]), math.Max(q[5], q[7]))
		if x1-x0 < 1 || y1-y0 < 1 {
			return box, false
		}
		return [4]float64{x0, y0, x1 - x0, y1 - y0}, true
	}
	if t.ID != "" {
		q, err := chromedp.Call(ctx, dom.QuerySelector, dom.QuerySelectorParams{NodeID: doc.Root.NodeID, Selector: `[id="` + cssString(t.ID) + `"]`})
		if err == nil && q.NodeID != 0 {
			if b, ok := boxOf(q.NodeID); ok {
				return b, "id", t.ID, nil
			}
		}
	}
	for _, text := range t.Texts {
		// The innermost element whose text holds the start of the post.
		xp := fmt.Sprintf(`//body//*[contains(normalize-space(.), "%s") and not(*[contains(normalize-space(.), "%s")])]`, text, text)
		s, err := chromedp.Call(ctx, dom.PerformSearch, dom.PerformSearchParams{Query: xp})
		if err != nil || s.ResultCount == 0 {
			continue
		}
		r, err := chromedp.Call(ctx, dom.GetSearchResults, dom.GetSearchResultsParams{SearchID: s.SearchID, FromIndex: 0, ToIndex: 1})
		chromedp.Call(ctx, dom.DiscardSearchResults, dom.DiscardSearchResultsParams{SearchID: s.SearchID})
		if err != nil || len(r.NodeIDs) == 0 {
			continue
		}
		if b, ok := boxOf(r.NodeIDs[0]); ok {
			return b, "text", text, nil
		}
	}
	if t.ID != "" {
		return box, "", "", fmt.Errorf("no element with id %q and no element holding the post's text on the page", t.ID)
	}
	return box, "", "", fmt.Errorf("no element holding the post's text on the page")
}

// cssString escapes s for a double-quoted CSS string.
func cssString(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", " ").Replace(s)
}

// markMargin is how much of the page around the post the marked image
// keeps above and below it; markMaxHeight caps the crop.
const (
	markMargin    = 160
	markMaxHeight = 2400
	markLine      = 4
)

var markColor = color.NRGBA{R: 0xe0, G: 0x10, B: 0x10, A: 0xff}

// markImage crops the full page screenshot (no band) around box and draws
// an outline around the post. It returns the image and the crop (x, y, w,
// h in page coordinates).
func markImage(shotPNG []byte, box [4]float64) (image.Image, [4]int, error) {
	shot, err := png.Decode(bytes.NewReader(shotPNG))
	if err != nil {
		return nil, [4]int{}, fmt.Errorf("screenshot image: %w", err)
	}
	b := shot.Bounds()
	bx0, by0 := int(math.Floor(box[0])), int(math.Floor(box[1]))
	bx1, by1 := int(math.Ceil(box[0]+box[2])), int(math.Ceil(box[1]+box[3]))
	if by0 >= b.Max.Y || bx0 >= b.Max.X {
		return nil, [4]int{}, fmt.Errorf("the post (at y=%d) lies beyond the screenshot (height %d)", by0, b.Dy())
	}
	y0 := max(0, by0-markMargin)
	y1 := min(b.Max.Y, by1+markMargin, y0+markMaxHeight)
	crop := image.Rect(0, y0, b.Dx(), y1)
	out := image.NewNRGBA(image.Rect(0, 0, crop.Dx(), crop.Dy()))
	draw.Draw(out, out.Bounds(), shot, crop.Min, draw.Src)
	// The outline sits just outside the element's border box.
	r := image.Rect(bx0-markLine-2, by0-markLine-2-y0, bx1+markLine+2, by1+markLine+2-y0).Intersect(out.Bounds())
	fill := image.NewUniform(markColor)
	for _, e := range []image.Rectangle{
		image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+markLine), image.Rect(r.Min.X, r.Max.Y-markLine, r.Max.X, r.Max.Y),
		image.Rect(r.Min.X, r.Min.Y, r.Min.X+markLine, r.Max.Y), image.Rect(r.Max.X-markLine, r.Min.Y, r.Max.X, r.Max.Y),
	} {
		draw.Draw(out, e.Intersect(out.Bounds()), fill, image.Point{}, draw.Over)
	}
	return out, [4]int{0, y0, crop.Dx(), crop.Dy()}, nil
}

// markedBandLine is the band's extra line on the derived image.
func markedBandLine(mi MarkInfo) string {
	how := "by the text of the post"
	if mi.Located == "id" {
		how = fmt.Sprintf(`by the permalink's anchor #%s`, html.EscapeString(asciiOnly(mi.Query)))
	}
	return fmt.Sprintf(`<b>Derived image</b> the alerted post is outlined in red (located %s); part of the page, y %d-%d px. `+
		`The unmodified full page is %s.<br>`, how, mi.Crop[1], mi.Crop[1]+mi.Crop[3], ScreenshotName)
}

func asciiOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r > 0x7e || r < 0x20 {
			return '?'
		}
		return r
	}, s)
}

func encodePNG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.DefaultCompression}).Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// markedPDF prints the marked image as one PDF page, with the URL and the
// capture time in the header, from a document set in the current tab.
func markedPDF(ctx context.Context, in renderInput, markedPNG []byte, line string) ([]byte, error) {
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		return nil, err
	}
	tree, err := chromedp.Call(ctx, page.GetFrameTree, cdp.Empty{})
	if err != nil || tree.FrameTree == nil || tree.FrameTree.Frame == nil {
		return nil, fmt.Errorf("frame: %v", err)
	}
	doc := `<!DOCTYPE html><html><head><meta charset="utf-8"><style>body{margin:0;font:11px/1.4 "DejaVu Sans Mono",monospace}
p{margin:0 0 6px 0;word-break:break-all}img{max-width:100%;border:1px solid #999}</style></head><body><p>` + line +
		`</p><img src="data:image/png;base64,` + base64.StdEncoding.EncodeToString(markedPNG) + `"></body></html>`
	if _, err := chromedp.Call(ctx, page.SetDocumentContent, page.SetDocumentContentParams{FrameID: tree.FrameTree.Frame.ID, HTML: doc}); err != nil {
		return nil, err
	}
	return chromedp.Run(ctx, chromedp.PrintToPDF(
		chromedp.PDFPaper(chromedp.PaperA4),
		chromedp.PDFPrintBackground(),
		chromedp.PDFMargins(0.75, 0.4, 0.6, 0.4),
		chromedp.PDFHeaderTemplate(pdfHeader(in)),
		chromedp.PDFFooterTemplate(`<div style="font-size:8px;width:100%;text-align:center;font-family:sans-serif">derived: the alerted post outlined; unmodified page in `+ScreenshotName+` and `+PDFName+`</div>`),
		chromedp.PDFStream(),
	))
}
