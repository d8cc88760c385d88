package detect

import (
	"reflect"
	"slices"
	"testing"
	"unicode/utf8"
)

var fuzzSeeds = []string{
	"", "。", "!!!", "○○○○", "ﾀﾋね", "4ね", "「「「」", "\"", "ミ○○○ム", "a\u0301\u0301\u0301",
	"ミナトテレコムの佐藤 090-1234-5678 自宅は横浜市港北区", "\xff\xfe", "ｶﾞｷﾞｸﾞ", "一一一", "ーーー",
	"ﷺ㍿…", "ｶ\uff9e", "ＡＢＣ　ｄｅｆ！？", "😀👍🏻❤️‍🔥", "こ口す", "し一ね", "ミナ卜テレコム", "\u3099\u309a",
	"A社は詐欺、ミナトテレコムは良い", "ミナトテレコムって詐欺じゃない？", "Sato at Minato Telecom is a moron",
}

func FuzzDetect(f *testing.F) {
	for _, c := range positives {
		f.Add(c.text)
	}
	for _, s := range negatives {
		f.Add(s)
	}
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	d, err := New(testTargets, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		v := d.Detect(text)
		checkOffsets(t, text, v)
		if v.Alert && len(v.Targets) == 0 {
			t.Errorf("%q: alert without targets", text)
		}
		if v.Alert && len(v.Categories) == 0 {
			t.Errorf("%q: alert without categories", text)
		}
		if !v.Severity.Valid() {
			t.Errorf("%q: severity %q", text, v.Severity)
		}
		for _, m := range v.Matches {
			if m.Category == "" || m.Rule == "" || (utf8.ValidString(text) && !utf8.ValidString(m.Term)) {
				t.Errorf("%q: bad match %+v", text, m)
			}
		}
		// the trace reaches the same verdict and its spans are valid
		tr := d.Trace(text)
		if !reflect.DeepEqual(tr.Verdict, v) {
			t.Errorf("%q: trace verdict %+v differs from %+v", text, tr.Verdict, v)
		}
		runes := []rune(text)
		spans := []TraceSpan{}
		for _, h := range tr.Hits {
			spans = append(spans, h.TraceSpan)
		}
		for _, x := range tr.Targets {
			spans = append(spans, x.TraceSpan)
		}
		for _, s := range spans {
			if s.Start < 0 || s.End <= s.Start || s.End > len(runes) || string(runes[s.Start:s.End]) != string([]rune(s.Term)) {
				t.Errorf("%q: trace span %+v invalid", text, s)
			}
		}
	})
}

// FuzzNormalize checks the offset map on any input: every normalized rune
// maps to a non-empty span of the original, spans never go backwards, the
// UTF-8 buffer and the rune/byte maps agree, and the automaton hits found
// while normalizing equal a separate scan of the buffer.
func FuzzNormalize(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	for _, c := range positives {
		f.Add(c.text)
	}
	d, err := New(testTargets, Options{})
	if err != nil {
		f.Fatal(err)
	}
	var n normText
	n.ac = d.ac
	f.Fuzz(func(t *testing.T, s string) {
		n.normalize(s)
		orig := int32(utf8.RuneCountInString(s))
		if int32(n.origRunes()) != orig {
			t.Fatalf("%q: %d original runes, want %d", s, n.origRunes(), orig)
		}
		var ps, pe int32
		for i, c := range n.nr {
			if c.s < 0 || c.e <= c.s || c.e > orig {
				t.Fatalf("%q: rune %d (%q) maps to [%d,%d) of %d runes", s, i, c.r, c.s, c.e, orig)
			}
			if c.s < ps || c.e < pe {
				t.Fatalf("%q: rune %d maps to [%d,%d), before [%d,%d)", s, i, c.s, c.e, ps, pe)
			}
			ps, pe = c.s, c.e
			if n.origSlice(c.s, c.e) == "" {
				t.Fatalf("%q: rune %d maps to an empty original", s, i)
			}
			if c.r == breakRune && (i == 0 || i == len(n.nr)-1) {
				t.Fatalf("%q: sentence break at the edge (%d)", s, i)
			}
			if i > 0 && c.sent < n.nr[i-1].sent {
				t.Fatalf("%q: sentence index goes backwards at %d", s, i)
			}
		}
		if !utf8.Valid(n.buf) {
			t.Fatalf("%q: normalized buffer is not UTF-8", s)
		}
		if len(n.r2b) != len(n.nr)+1 || int(n.r2b[len(n.nr)]) != len(n.buf) {
			t.Fatalf("%q: r2b has %d entries for %d runes", s, len(n.r2b), len(n.nr))
		}
		for i, c := range n.nr {
			r, sz := utf8.DecodeRune(n.buf[n.r2b[i]:])
			if r != c.r || int(n.r2b[i+1])-int(n.r2b[i]) != sz {
				t.Fatalf("%q: rune %d is %q in nr, %q in buf", s, i, c.r, r)
			}
			if n.byteRune(int(n.r2b[i])) != int32(i) {
				t.Fatalf("%q: byteRune(%d) = %d, want %d", s, n.r2b[i], n.byteRune(int(n.r2b[i])), i)
			}
		}
		if n.acOK {
			want := d.ac.scan(n.buf, nil)
			for i := range want {
				want[i].start, want[i].end = n.byteRune(int(want[i].start)), n.byteRune(int(want[i].end))
			}
			got := append([]acMatch(nil), n.acm...)
			order := func(a, b acMatch) int {
				if a.end != b.end {
					return int(a.end - b.end)
				}
				if a.start != b.start {
					return int(a.start - b.start)
				}
				return int(a.pat - b.pat)
			}
			slices.SortFunc(got, order)
			slices.SortFunc(want, order)
			if !slices.Equal(got, want) {
				t.Fatalf("%q: hits while normalizing %v, scan %v", s, got, want)
			}
		}
	})
}
