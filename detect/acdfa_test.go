package detect

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/coregx/ahocorasick"

	"mimamori/bench/detect/corpus"
)

// The automaton must report exactly the overlapping matches of a reference
// implementation (github.com/coregx/ahocorasick), whatever the text length
// (short texts take one walker, longer ones two).
func TestAutomatonAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	alpha := []string{"a", "b", "c", "ab", "死", "ね", "詐欺", "x", "\xe3", "\x81"}
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteString(alpha[r.IntN(len(alpha))])
		}
		return b.String()
	}
	for round := range 200 {
		seen := map[string]bool{}
		var pats []string
		for range 1 + r.IntN(40) {
			p := word(1 + r.IntN(5))
			if !seen[p] {
				seen[p] = true
				pats = append(pats, p)
			}
		}
		mine, err := buildAutomaton(pats)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := ahocorasick.NewBuilder().AddStrings(pats).Build()
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			text := []byte(word(r.IntN(300)))
			got := mine.scan(text, nil)
			var want []acMatch
			for _, m := range ref.FindAllOverlapping(text) {
				want = append(want, acMatch{pat: int32(m.PatternID), start: int32(m.Start), end: int32(m.End)})
			}
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
				t.Fatalf("round %d: patterns %q text %q:\n got %v\nwant %v", round, pats, text, got, want)
			}
		}
	}
}

func TestAutomatonNoAllocation(t *testing.T) {
	a, err := buildAutomaton([]string{"ab", "b", "詐欺"})
	if err != nil {
		t.Fatal(err)
	}
	text := []byte(strings.Repeat("xxabx詐欺", 100))
	dst := a.scan(text, nil)
	if n := testing.AllocsPerRun(100, func() { dst = a.scan(text, dst[:0]) }); n != 0 {
		t.Errorf("%v allocations per scan with a reused slice", n)
	}
}

// Matches found while normalizing (rune indices) equal those of a separate
// scan of the normalized text (byte offsets converted to runes).
func TestFusedScanAgreesWithScan(t *testing.T) {
	d := testDetector(t)
	w := corpus.NewWriter(3, corpus.Patterns(200, 3), 0.2)
	var texts []string
	for range 1500 {
		texts = append(texts, w.Post())
	}
	for _, c := range positives {
		texts = append(texts, c.text)
	}
	texts = append(texts, negatives...)
	texts = append(texts, "ﾀﾋね こ口す ミナ卜テレコム しねええええ", "ミナトテレコム詐欺詐欺詐欺", "")
	var nt normText
	nt.ac = d.ac
	fused := 0
	for _, text := range texts {
		nt.normalize(text)
		want := d.ac.scan(nt.buf, nil)
		for i := range want {
			want[i].start, want[i].end = nt.byteRune(int(want[i].start)), nt.byteRune(int(want[i].end))
		}
		if !nt.acOK {
			continue
		}
		fused++
		got := append([]acMatch(nil), nt.acm...)
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
			t.Fatalf("%q:\nfused %v\n scan %v", text, got, want)
		}
	}
	if fused < len(texts)/2 {
		t.Errorf("only %d of %d texts took the fused path", fused, len(texts))
	}
}
