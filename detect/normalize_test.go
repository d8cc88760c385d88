package detect

import (
	"sync"
	"testing"

	"golang.org/x/text/unicode/norm"

	"mimamori/mention"
)

func TestNormalizeString(t *testing.T) {
	cases := []struct{ in, want string }{
		{"ﾋｶﾘ", "ひかり"},                    // half-width katakana
		{"ｶﾞｯﾂ", "がっつ"},                   // half-width voiced mark composes
		{"ＡＢＣ　ｄｅｆ", "abcdef"},             // full-width Latin, ideographic space
		{"HeLLo World", "helloworld"},     // case, space
		{"カタカナ", "かたかな"},                  // folding
		{"サポート", "さぽと"},                   // ー dropped
		{"ばぁか", "ばか"},                     // small vowel lengthening
		{"ファイル", "ふぁいる"},                  // small vowel forming a sound stays
		{"しねええええ", "しねえ"},                 // run of 3+ shortened; しねえ may mean "won't"
		{"しね!", "死ね"},                     // net spelling
		{"ぶっっっ", "ぶっ"},                    // repeated small tsu
		{"詐 欺", "詐欺"},                     // space between characters
		{"詐・欺", "詐欺"},                     // punctuation between characters
		{"詐\u200b欺", "詐欺"},                // zero-width space
		{"ネッ卜", "ねっと"},                    // 卜 among kana reads ト
		{"口座", "口座"},                      // 口 in a compound stays
		{"ク口", "くろ"},                      // 口 after kana reads ロ
		{"サポ一ト", "さぽと"},                   // 一 between kana is a long vowel
		{"ヒカリ○ット", "ひかり*っと"},              // mask
		{"氏ね", "死ね"},                      // net spellings
		{"ﾀﾋね", "死ね"},                     //
		{"4ね", "死ね"},                      //
		{"ころす", "殺す"},                     //
		{"こころすっきり", "こころすっきり"},            // ordinary こころ is kept
		{"一文。二文", "一文\n二文"},               // sentence break
		{"Avoid it. Now", "avoidit\nnow"}, // English full stop
		{"hikari.net", "hikarinet"},       // a dot inside a word is a gap
	}
	for _, c := range cases {
		if got := normalizeString(c.in); got != c.want {
			t.Errorf("normalize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestNormalizeOffsets(t *testing.T) {
	for _, s := range []string{"ﾋｶﾘﾈｯﾄ は 詐・欺", "ＨＩＫＡＲＩ　ＮＥＴ", "ﾀﾋね", "㍿ミナト", "e\u0301té", "ab\xffcd"} {
		var n normText
		n.normalize(s)
		runes := []rune(s)
		if n.origRunes() != len(runes) {
			t.Errorf("%q: %d original runes, want %d", s, n.origRunes(), len(runes))
		}
		for i, c := range n.nr {
			if c.s < 0 || c.e <= c.s || int(c.e) > len(runes) {
				t.Errorf("%q: rune %d span [%d,%d) invalid", s, i, c.s, c.e)
			}
			if i > 0 && c.s < n.nr[i-1].s {
				t.Errorf("%q: spans go backwards at %d", s, i)
			}
		}
		if len(n.r2b) != len(n.nr)+1 || int(n.r2b[len(n.nr)]) != len(n.buf) {
			t.Errorf("%q: maps have wrong sizes", s)
		}
	}
}

// Each obfuscation family is caught only thanks to its normalization step:
// the detector finds it with every step and misses it with that step off.
func TestObfuscationFamilies(t *testing.T) {
	cases := []struct {
		family string
		step   normStep
		text   string
	}{
		{"half width", stepNFKC, "ﾐﾅﾄﾃﾚｺﾑの佐藤は無能"},
		{"full width", stepNFKC, "ＭＩＮＡＴＯ　ＴＥＬＥＣＯＭ is a scam"},
		{"upper case", stepCase, "MINATO TELECOM IS A SCAM"},
		{"katakana", stepFold, "ミナトテレコムの佐藤はクソ"},
		{"long vowel", stepElong, "ミナトテレコムの佐藤はばーーか"},
		{"small vowel", stepElong, "ミナトテレコムの佐藤、ばぁか"},
		{"repeated", stepElong, "ミナトテレコムの佐藤ぶっっっ飛ばす"},
		{"spaces", stepGaps, "ミナトテレコムは 詐 欺"},
		{"middle dot", stepGaps, "ミナトテレコムは詐・欺"},
		{"zero width", stepGaps, "ミナトテレコムは詐\u200b欺"},
		{"spaced latin", stepGaps, "Minato Telecom is a s c a m"},
		{"kanji look-alike", stepLookalike, "ミナ卜テレコムは詐欺"},
		{"mask in alias", stepMask, "ミ○トテレコムは詐欺"},
		{"mask in term", stepMask, "ミナトテレコムは詐○"},
		{"net 氏ね", stepNet, "ミナトテレコムの佐藤、氏ね"},
		{"net タヒね", stepNet, "ミナトテレコムの佐藤、ﾀﾋね"},
		{"net 4ね", stepNet, "ミナトテレコムの佐藤、4ね"},
		{"net しね", stepNet, "ミナトテレコムの佐藤、しね"},
		{"net ころす", stepNet, "ミナトテレコムの佐藤、ころすぞ"},
	}
	full := testDetector(t)
	for _, c := range cases {
		if v := full.Detect(c.text); !v.Alert {
			t.Errorf("%s: %q not detected: %+v", c.family, c.text, v)
		}
		crippled := *full
		crippled.off = c.step
		crippled.pool = &sync.Pool{New: func() any { return new(scratch) }}
		if v := crippled.Detect(c.text); v.Alert {
			t.Errorf("%s: %q still detected without its step (%v): %s", c.family, c.text, c.step, v.Explanation)
		}
	}
}

// Every match's Start/End slice the original runes to exactly its Term.
func TestMatchOffsets(t *testing.T) {
	d := testDetector(t)
	texts := []string{
		"ﾐﾅﾄﾃﾚｺﾑの佐藤は無能",
		"ＭＩＮＡＴＯ　ＴＥＬＥＣＯＭ is a scam",
		"ミナトテレコムの佐藤はばーーか、ぶっっっ飛ばす",
		"ミナトテレコムは 詐 ・ 欺、詐\u200b欺",
		"ミナ卜テレコムは詐欺、ミナトテレ○ムは詐○",
		"ミナトテレコムの佐藤、ﾀﾋね 4ね 氏ね しね",
		"㍿ミナトテレコム👍は詐欺🤬",
		"ミナトの佐藤健太の携帯は 090-1111-2222 だってさ",
		"e\u0301 Minato Telecom e\u0301 scam\xff",
	}
	for _, c := range positives {
		texts = append(texts, c.text)
	}
	texts = append(texts, negatives...)
	for _, text := range texts {
		checkOffsets(t, text, d.Detect(text))
	}
}

// checkOffsets fails unless every match is a valid span of the original
// text whose runes are exactly its Term.
func checkOffsets(t testing.TB, text string, v mention.Verdict) {
	t.Helper()
	runes := []rune(text)
	for _, m := range v.Matches {
		if m.Start < 0 || m.End <= m.Start || m.End > len(runes) {
			t.Errorf("%q: match %+v out of range (%d runes)", text, m, len(runes))
			continue
		}
		if got := string(runes[m.Start:m.End]); got != string([]rune(m.Term)) {
			t.Errorf("%q: runes[%d:%d] = %q, Term %q", text, m.Start, m.End, got, m.Term)
		}
	}
}

// simpleNFKC must agree with NFKC for every rune it claims, and a rune
// followed by one with a boundary before it must normalize on its own.
func TestSimpleNFKCExhaustive(t *testing.T) {
	initNFKCTables()
	for r := rune(0); r < 0x20000; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		m, ok := simpleNFKC(r)
		if !ok {
			continue
		}
		if got := norm.NFKC.String(string(r)); got != string(m) {
			t.Fatalf("simpleNFKC(%U) = %U, NFKC gives %q", r, m, got)
		}
		// followed by a starter: still one rune
		if got := norm.NFKC.String(string(r) + "a"); got != string(m)+"a" {
			t.Fatalf("%U before a: %q", r, got)
		}
	}
	for r := rune(0); r < 0x10000; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		s := string(r)
		if boundaryBefore(s, 0, r) != norm.NFKC.PropertiesString(s).BoundaryBefore() {
			t.Fatalf("boundaryBefore(%U) disagrees with norm", r)
		}
	}
}

// The fast path and the norm package agree on whole texts: the normalized
// text with stepNFKC off is compared against NFKC applied first.
func TestFastPathMatchesNFKC(t *testing.T) {
	initNFKCTables()
	texts := []string{"ｶﾞｷﾞｸﾞｹﾞｺﾞ ﾊﾟﾋﾟ", "ｱｻｷﾞ通信", "Ａ\u0301ｂｃ！？", "か\u3099", "ｶ\uff9e", "e\u0301", "😀👍🏻❤️‍🔥",
		"㍿ミナト", "…。「」", "ﾐﾅﾄﾃﾚｺﾑ　ＭＩＮＡＴＯ", "\u3000全角\u3000スペース", "①②③", "ﾟ", "\uff9eか", "x\u0308\u0301"}
	for _, s := range texts {
		var a, b normText
		a.normalize(s)
		b.off = stepNFKC
		b.normalize(norm.NFKC.String(s))
		if string(a.buf) != string(b.buf) {
			t.Errorf("%q: fast %q, NFKC first %q", s, a.buf, b.buf)
		}
	}
}

func TestRunsStayInsideWords(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"go oooo", "goo"},
		{"zapo ood", "zapoood"},
		{"s c a a a m", "scam"},
		{"diiiie", "die"},
		{"しね え え え", "しねえ"},
	} {
		if got := normalizeString(c.in); got != c.want {
			t.Errorf("normalize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
