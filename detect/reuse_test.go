package detect

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

// A normText reused from a pool gives the same result as a fresh one.
func TestNormalizeReuse(t *testing.T) {
	d := testDetector(t)
	r := rand.New(rand.NewPCG(1, 2))
	var reused normText
	reused.ac = d.ac
	texts := append([]string{}, fuzzSeeds...)
	for range 3000 {
		b := make([]byte, r.IntN(300))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		texts = append(texts, string(b))
	}
	for i := range 400 {
		texts = append(texts, corpusLike(r, i))
	}
	for _, s := range texts {
		var fresh normText
		fresh.ac = d.ac
		fresh.normalize(s)
		reused.normalize(s)
		if !reflect.DeepEqual(fresh.nr, reused.nr) && !(len(fresh.nr) == 0 && len(reused.nr) == 0) {
			t.Fatalf("%q: reused normText differs:\n%v\n%v", s, fresh.nr, reused.nr)
		}
		if string(fresh.buf) != string(reused.buf) || !reflect.DeepEqual(fresh.r2b, reused.r2b) || fresh.acOK != reused.acOK ||
			len(fresh.acm) != len(reused.acm) || fresh.nsent != reused.nsent || !reflect.DeepEqual(fresh.quotes, reused.quotes) &&
			len(fresh.quotes)+len(reused.quotes) > 0 {
			t.Fatalf("%q: reused normText differs", s)
		}
	}
}

func corpusLike(r *rand.Rand, i int) string {
	parts := []string{"ミナト", "テレコム", "詐欺", "しね", "ｶﾞ", "ﾞ", "一", "口", "。", "、", "「", "」", " ", "a", "Z", "…", "😀", "\u0301", "4ね", "ころす", "ーー"}
	var s string
	for range 1 + r.IntN(20) {
		s += parts[r.IntN(len(parts))]
	}
	return s
}
