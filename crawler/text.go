package crawler

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// nodeText renders the text of an HTML subtree the way a reader sees it:
// <br> and block elements break lines, scripts and styles are dropped.
func nodeText(b *strings.Builder, n *html.Node) {
	switch n.Type {
	case html.TextNode:
		b.WriteString(n.Data)
		return
	case html.ElementNode:
		switch n.DataAtom {
		case atom.Script, atom.Style, atom.Noscript, atom.Template, atom.Iframe, atom.Object, atom.Svg:
			return
		case atom.Br, atom.Hr:
			b.WriteByte('\n')
			return
		case atom.Img:
			// Alt text often carries the words of an emoji or stamp image.
			for _, a := range n.Attr {
				if a.Key == "alt" && a.Val != "" {
					b.WriteString(a.Val)
				}
			}
			return
		}
	case html.CommentNode, html.DoctypeNode:
		return
	}
	block := n.Type == html.ElementNode && blockElements[n.DataAtom]
	if block {
		b.WriteByte('\n')
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		nodeText(b, c)
	}
	if block {
		b.WriteByte('\n')
	}
}

var blockElements = map[atom.Atom]bool{
	atom.Address: true, atom.Article: true, atom.Aside: true, atom.Blockquote: true,
	atom.Dd: true, atom.Div: true, atom.Dl: true, atom.Dt: true, atom.Fieldset: true,
	atom.Figcaption: true, atom.Figure: true, atom.Footer: true, atom.Form: true,
	atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
	atom.Header: true, atom.Li: true, atom.Main: true, atom.Nav: true, atom.Ol: true,
	atom.P: true, atom.Pre: true, atom.Section: true, atom.Table: true, atom.Tr: true,
	atom.Td: true, atom.Th: true, atom.Ul: true, atom.Caption: true, atom.Details: true,
	atom.Summary: true,
}

// cleanText collapses runs of ASCII white space inside lines, trims lines
// and drops empty ones. Ideographic spaces (U+3000) are kept: they are part
// of Japanese text and the detector normalizes them itself.
func cleanText(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		if l = collapseSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// oneLine collapses all ASCII white space, newlines included, to single
// spaces.
func oneLine(s string) string { return collapseSpace(s) }

func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch r {
		case ' ', '\t', '\n', '\r', '\f', '\v', '\u00a0':
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// htmlToText turns an HTML fragment (a feed description, a JSON field)
// into text, like nodeText but with the tokenizer: no tree is built, which
// matters for thousands of small fragments per page.
func htmlToText(s string) string {
	if !strings.ContainsAny(s, "<&") {
		return cleanText(s)
	}
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	b.Grow(len(s))
	skip := 0 // depth inside elements whose content is not text
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return cleanText(b.String())
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			switch a {
			case atom.Script, atom.Style, atom.Noscript, atom.Template, atom.Iframe, atom.Object, atom.Svg:
				switch tt {
				case html.StartTagToken:
					skip++
				case html.EndTagToken:
					skip = max(skip-1, 0)
				}
			case atom.Br, atom.Hr:
				if skip == 0 {
					b.WriteByte('\n')
				}
			case atom.Img:
				for hasAttr && skip == 0 {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					if string(k) == "alt" {
						b.Write(v)
					}
				}
			default:
				if skip == 0 && blockElements[a] {
					b.WriteByte('\n')
				}
			}
		}
	}
}
