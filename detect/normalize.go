package detect

import (
	"slices"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// script is the writing system of a normalized rune as it appeared in the
// original text (after NFKC, before folding).
type script uint8

const (
	scOther script = iota
	scLatin
	scDigit
	scHira
	scKata
	scKanji
	scMask
	scBreak
)

func (s script) kana() bool { return s == scHira || s == scKata }

// word reports whether a rune of this script continues a Latin word.
func (s script) word() bool { return s == scLatin || s == scDigit }

const (
	// maskRune stands for one hidden character (○ ● ＊ × …).
	maskRune = '*'
	// breakRune ends a sentence; no pattern contains it, so no literal
	// matches across a sentence boundary.
	breakRune = '\n'
	// maxQuoteDepth bounds the quote stack on hostile input.
	maxQuoteDepth = 16
)

// normStep names a normalization step; tests switch steps off to show that
// each obfuscation family depends on its step.
type normStep uint16

const (
	stepNFKC      normStep = 1 << iota // full/half width, compatibility forms
	stepCase                           // lower case
	stepFold                           // katakana -> hiragana
	stepElong                          // ー, small vowels, repeated characters
	stepGaps                           // spaces, zero-width, punctuation between characters
	stepLookalike                      // kanji look-alikes of kana
	stepMask                           // ○ ● ＊ × for a hidden character
	stepNet                            // net spellings of 死ね / 殺す
)

// nrune is one rune of the normalized text with its span in the original.
type nrune struct {
	r    rune
	s, e int32 // original rune offsets [s, e)
	sent int32 // sentence index
	sc   script
	gap  bool // a space, punctuation or symbol preceded it in the original
	drop bool // removed by the next compaction
}

// normText is a normalized text with its offset map. It is reused through a
// pool, so every slice is truncated, not reallocated, by reset.
type normText struct {
	src    string
	ob     []int32 // byte offset of every original rune, then len(src)
	nr     []nrune
	buf    []byte     // UTF-8 of the normalized runes, what the automaton scans
	b2r    []int32    // byte offset in buf -> index in nr (len(buf)+1 entries)
	r2b    []int32    // index in nr -> byte offset in buf (len(nr)+1 entries)
	quotes [][2]int32 // original rune offsets of an opening and its closing quote
	qstack []qopen
	seg    []byte
	it     norm.Iter
	nsent  int32
	dirty  bool     // a rune was marked dropped or a run may need collapsing
	off    normStep // steps switched off (tests only)
}

type qopen struct {
	r   rune
	pos int32
}

// origRunes returns the number of runes in the original text.
func (n *normText) origRunes() int { return len(n.ob) - 1 }

// origSlice returns the original text of the rune span [s, e).
func (n *normText) origSlice(s, e int32) string { return n.src[n.ob[s]:n.ob[e]] }

// normalize fills n from s. The same function normalizes pattern literals,
// so patterns and texts always agree.
func (n *normText) normalize(s string) {
	n.src = s
	n.ob = n.ob[:0]
	n.nr = n.nr[:0]
	n.buf = n.buf[:0]
	n.b2r = n.b2r[:0]
	n.r2b = n.r2b[:0]
	n.quotes = n.quotes[:0]
	n.qstack = n.qstack[:0]
	n.nsent = 0
	n.dirty = false
	if cap(n.nr) < len(s) {
		n.nr = make([]nrune, 0, len(s))
	}
	if cap(n.ob) < len(s)+1 {
		n.ob = make([]int32, 0, len(s)+1)
	}

	st := emitState{n: n}
	ri := int32(0)
	for i := 0; i < len(s); {
		// Fast path: ASCII, kana and common kanji are NFKC-stable; when the
		// next rune cannot combine with them they map one to one.
		r, sz := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, sz = utf8.DecodeRuneInString(s[i:])
		}
		if n.off&stepNFKC != 0 || ((r < utf8.RuneSelf || nfkcStable(r)) && boundaryAt(s, i+sz)) {
			n.ob = append(n.ob, int32(i))
			st.emit(r, ri, ri+1, byteAt(s, i+sz))
			i += sz
			ri++
			continue
		}
		// Slow path: one normalization segment through x/text/unicode/norm.
		j := i + norm.NFKC.NextBoundaryInString(s[i:], true)
		if j <= i {
			j = i + sz
		}
		a := ri
		for k := i; k < j; {
			n.ob = append(n.ob, int32(k))
			_, rs := utf8.DecodeRuneInString(s[k:])
			k += rs
			ri++
		}
		// an Iter kept in n does not allocate, unlike Form.AppendString
		n.seg = n.seg[:0]
		n.it.InitString(norm.NFKC, s[i:j])
		for !n.it.Done() {
			n.seg = append(n.seg, n.it.Next()...)
		}
		out := n.seg
		next := byteAt(s, j)
		for len(out) > 0 {
			r, rs := utf8.DecodeRune(out)
			out = out[rs:]
			st.emit(r, a, ri, next)
		}
		i = j
	}
	n.ob = append(n.ob, int32(len(s)))
	if k := len(n.nr); k > 0 && n.nr[k-1].r == breakRune {
		n.nr = n.nr[:k-1]
	}
	n.nsent = st.sent + 1

	if n.off&stepLookalike == 0 {
		n.lookalikes()
	}
	if n.dirty {
		n.compact(true)
		n.dirty = false
	}
	if n.off&stepNet == 0 {
		n.netSpellings()
	}
	if n.dirty {
		n.compact(false)
	}
	n.encode()
}

func byteAt(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// nfkcStable reports runes that NFKC leaves alone and that never combine
// with a preceding rune: kana, the CJK unified block, 、。「」『』.
func nfkcStable(r rune) bool {
	return (0x3041 <= r && r <= 0x3096) || (0x30A1 <= r && r <= 0x30FA) || r == 0x30FC ||
		(0x4E00 <= r && r <= 0x9FFF) || r == 0x3001 || r == 0x3002 || (0x300C <= r && r <= 0x300F)
}

// boundaryAt reports whether a normalization boundary precedes s[i:]
// (nothing there combines with what came before).
func boundaryAt(s string, i int) bool {
	if i >= len(s) || s[i] < utf8.RuneSelf {
		return true
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	if nfkcStable(r) {
		return true
	}
	return norm.NFKC.PropertiesString(s[i:]).BoundaryBefore()
}

type emitState struct {
	n    *normText
	gap  bool
	sent int32
	run  int // length of the current run of one collapsible rune
}

func (st *emitState) push(r rune, a, b int32, sc script) {
	n := st.n
	if k := len(n.nr); k > 0 && n.nr[k-1].r == r && (sc.kana() || sc == scLatin) && n.off&stepElong == 0 {
		st.run++
		if st.run >= 3 || (st.run == 2 && r == 'っ') {
			n.dirty = true
		}
	} else {
		st.run = 1
	}
	n.nr = append(n.nr, nrune{r: r, s: a, e: b, sent: st.sent, sc: sc, gap: st.gap})
	st.gap = false
}

func (st *emitState) brk(a, b int32) {
	n := st.n
	if k := len(n.nr); k == 0 || n.nr[k-1].r == breakRune {
		st.gap = false
		return
	}
	st.push(breakRune, a, b, scBreak)
	st.sent++
}

// emit classifies one NFKC output rune r that came from original runes
// [a, b); next is the original byte after the segment (0 at the end).
func (st *emitState) emit(r rune, a, b int32, next byte) {
	off := st.n.off
	if r < utf8.RuneSelf {
		switch {
		case 'a' <= r && r <= 'z':
			st.push(r, a, b, scLatin)
		case 'A' <= r && r <= 'Z':
			if off&stepCase == 0 {
				r += 'a' - 'A'
			}
			st.push(r, a, b, scLatin)
		case '0' <= r && r <= '9':
			st.push(r, a, b, scDigit)
		case r == '\n' || r == '!' || r == '?':
			st.brk(a, b)
		case r == '.':
			// A full stop ends an English sentence when a space or the end
			// follows; inside "s.c.a.m" or "hikari.net" it is a gap.
			if next == 0 || next == ' ' || next == '\n' || next == '\r' || next == '\t' || next >= utf8.RuneSelf {
				st.brk(a, b)
			} else {
				st.sep(r, a, b)
			}
		case r == '*' && off&stepMask == 0:
			st.push(maskRune, a, b, scMask)
		case r == '"':
			st.quote(r, a)
			st.sep(r, a, b)
		case r == '~' && off&stepElong == 0:
			// long-vowel stand-in (～ after NFKC): dropped, no gap
		default:
			st.sep(r, a, b) // space, control, punctuation, symbol
		}
		return
	}
	switch {
	case 0x30A1 <= r && r <= 0x30F6: // katakana -> hiragana
		h := r - 0x60
		if st.elongation(h) {
			return
		}
		if off&stepFold != 0 {
			h = r
		}
		st.push(h, a, b, scKata)
		return
	case 0x3041 <= r && r <= 0x3096:
		if st.elongation(r) {
			return
		}
		st.push(r, a, b, scHira)
		return
	}
	switch r {
	case 0x30FC, 0x301C, 0x3030, 0x2015, 0x2500, 0xFF70, // ー 〜 〰 ― ─ ｰ
		0x30FD, 0x30FE, 0x309D, 0x309E, // ヽ ヾ ゝ ゞ (repeat marks)
		0x3099, 0x309A, 0x309B, 0x309C: // voiced sound marks
		if off&stepElong != 0 {
			st.push(r, a, b, scOther)
		}
		return
	case 0x3002: // 。
		st.brk(a, b)
		return
	case 0x300C, 0x300E, 0x201C: // 「 『 “
		st.quote(r, a)
		st.sep(r, a, b)
		return
	case 0x300D, 0x300F, 0x201D: // 」 』 ”
		st.quote(r, a)
		st.sep(r, a, b)
		return
	}
	if isMask(r) && off&stepMask == 0 {
		st.push(maskRune, a, b, scMask)
		return
	}
	switch {
	case (0x4E00 <= r && r <= 0x9FFF) || r == 0x3005 || unicode.Is(unicode.Han, r): // kanji, 々
		st.push(r, a, b, scKanji)
	case unicode.IsLetter(r):
		if off&stepCase == 0 {
			r = unicode.ToLower(r)
		}
		sc := scOther
		if unicode.Is(unicode.Latin, r) {
			sc = scLatin
		}
		st.push(r, a, b, sc)
	case unicode.IsDigit(r):
		st.push(r, a, b, scDigit)
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		// combining marks and zero-width characters vanish without a gap
		if off&stepGaps != 0 {
			st.push(r, a, b, scOther)
		}
	case r == 0x2028 || r == 0x2029:
		st.brk(a, b)
	case unicode.IsNumber(r):
		st.push(r, a, b, scDigit)
	default:
		st.sep(r, a, b)
	}
}

// sep records a separator (space, punctuation, symbol): it vanishes and
// marks a gap before the next rune.
func (st *emitState) sep(r rune, a, b int32) {
	if st.n.off&stepGaps != 0 {
		st.push(r, a, b, scOther)
		return
	}
	st.gap = true
}

// quote records quotation spans so reported speech can be recognized.
func (st *emitState) quote(r rune, pos int32) {
	n := st.n
	var open rune
	switch r {
	case 0x300D:
		open = 0x300C
	case 0x300F:
		open = 0x300E
	case 0x201D:
		open = 0x201C
	case '"':
		if k := len(n.qstack); k > 0 && n.qstack[k-1].r == '"' {
			open = '"'
		}
	}
	if open == 0 {
		if len(n.qstack) < maxQuoteDepth {
			n.qstack = append(n.qstack, qopen{r: r, pos: pos})
		}
		return
	}
	for k := len(n.qstack) - 1; k >= 0; k-- {
		if n.qstack[k].r == open {
			n.quotes = append(n.quotes, [2]int32{n.qstack[k].pos, pos})
			n.qstack = n.qstack[:k]
			return
		}
	}
}

// elongation reports whether the (folded) kana h is a small vowel that
// only lengthens the previous kana (ねぇ, ばかぁ, しぃね) rather than forming
// a sound with it (ふぇ, てぃ).
func (st *emitState) elongation(h rune) bool {
	if st.n.off&stepElong != 0 {
		return false
	}
	v := smallVowel(h)
	if v == 0 || st.gap {
		return false
	}
	k := len(st.n.nr)
	if k == 0 {
		return false
	}
	p := st.n.nr[k-1]
	return p.sc.kana() && vowelOf(p.r) == v
}

func smallVowel(h rune) byte {
	switch h {
	case 'ぁ':
		return 'a'
	case 'ぃ':
		return 'i'
	case 'ぅ':
		return 'u'
	case 'ぇ':
		return 'e'
	case 'ぉ':
		return 'o'
	}
	return 0
}

// vowelOf returns the vowel a hiragana ends in, or 0.
func vowelOf(r rune) byte {
	if r < 0x3041 || r > 0x3096 {
		return 0
	}
	return kanaVowels[r-0x3041]
}

// kanaVowels lists the vowel of every hiragana from U+3041 (ぁ) to U+3096.
var kanaVowels = func() [0x3096 - 0x3041 + 1]byte {
	var t [0x3096 - 0x3041 + 1]byte
	for v, set := range map[byte]string{
		'a': "ぁあかがさざただなはばぱまゃやゎわゕ",
		'i': "ぃいきぎしじちぢにひびぴみりゐ",
		'u': "ぅうくぐすずつづぬふぶぷむゅゆるゔ",
		'e': "ぇえけげせぜてでねへべぺめれゑゖ",
		'o': "ぉおこごそぞとどのほぼぽもょよろを",
	} {
		for _, r := range set {
			t[r-0x3041] = v
		}
	}
	return t
}()

// isMask reports whether r is commonly typed in place of a hidden character.
func isMask(r rune) bool {
	switch r {
	case '○', '◯', '●', '◎', '×', '✕', '✖', '■', '□', '◆', '◇',
		'△', '▲', '▽', '▼', '☆', '★', '〇', '⚪', '⚫':
		return true
	}
	return false
}

// lookalikeKana maps kanji that are typed in place of similar katakana.
func lookalikeKana(r rune) rune {
	switch r {
	case '口':
		return 'ろ'
	case '卜':
		return 'と'
	case '力':
		return 'か'
	case '工':
		return 'え'
	case '二':
		return 'に'
	case '夕':
		return 'た'
	case '八':
		return 'は'
	case '才':
		return 'お'
	case '千':
		return 'ち'
	case '三':
		return 'み'
	}
	return 0
}

// lookalikes turns kanji look-alikes into kana when they sit among kana
// rather than in a kanji compound: ヒカリネッ卜 -> ひかりねっと, but 口座 and
// 二度 stay. A 一 between two kana is a long-vowel mark (サポ一ト).
func (n *normText) lookalikes() {
	nr := n.nr
	for i := range nr {
		c := &nr[i]
		if c.sc != scKanji {
			continue
		}
		var prev, next script = scBreak, scBreak
		if i > 0 && nr[i-1].sent == c.sent && !nr[i-1].drop {
			prev = nr[i-1].sc
		}
		if i+1 < len(nr) && nr[i+1].sent == c.sent {
			next = nr[i+1].sc
		}
		if c.r == '一' {
			if prev.kana() && next.kana() {
				c.drop = true
				n.dirty = true
			}
			continue
		}
		k := lookalikeKana(c.r)
		if k == 0 {
			continue
		}
		if (prev.kana() || next.kana()) && prev != scKanji && next != scKanji {
			c.r = k
			c.sc = scKata
		}
	}
}

// collapsible reports whether a run of c may be shortened (elongation).
func collapsible(c *nrune) bool {
	return c.sc.kana() || (c.sc == scLatin && c.r < utf8.RuneSelf)
}

// compact removes dropped runes (their gap moves to the next rune) and, when
// runs is set, shortens elongated runs: three or more identical kana or
// Latin letters become one ("死ねええええ", "diiiie"), and a doubled small っ
// becomes one.
func (n *normText) compact(runs bool) {
	nr := n.nr
	w := 0
	carry := false
	for i := 0; i < len(nr); {
		c := nr[i]
		if c.drop {
			carry = carry || c.gap
			i++
			continue
		}
		c.gap = c.gap || carry
		carry = false
		j := i + 1
		if runs && collapsible(&c) {
			for j < len(nr) && !nr[j].drop && nr[j].r == c.r && nr[j].sent == c.sent {
				j++
			}
			if k := j - i; k >= 3 || (k == 2 && c.r == 'っ') {
				nr[w] = c
				w++
				i = j
				continue
			}
			j = i + 1
		}
		nr[w] = c
		w++
		i = j
	}
	n.nr = nr[:w]
}

// netSpellings rewrites common net spellings of 死ね and 殺す: 氏ね, 市ね,
// タヒね, 4ね, しね, ころす, 56す.
func (n *normText) netSpellings() {
	nr := n.nr
	at := func(i int, sent int32) rune {
		if i < 0 || i >= len(nr) || nr[i].sent != sent || nr[i].drop {
			return 0
		}
		return nr[i].r
	}
	for i := range nr {
		c := &nr[i]
		if c.drop {
			continue
		}
		p, x, y := at(i-1, c.sent), at(i+1, c.sent), at(i+2, c.sent)
		switch c.r {
		case '氏':
			if x == 'ね' || x == 'ん' || x == 'ぬ' {
				c.r = '死'
			}
		case '市':
			if x == 'ね' {
				c.r = '死'
			}
		case 'た':
			if c.sc == scKata && x == 'ひ' && nr[i+1].sc == scKata && (y == 'ね' || y == 'ん' || y == 'ぬ') {
				c.r, c.sc, c.e = '死', scKanji, nr[i+1].e
				nr[i+1].drop = true
				n.dirty = true
			}
		case '4':
			if x == 'ね' && !isDigitRune(p) {
				c.r, c.sc = '死', scKanji
			}
		case 'し':
			if x == 'ね' && y != 'じ' && y != 'ん' && y != 'ま' && y != 'え' {
				c.r, c.sc = '死', scKanji
			}
		case 'こ':
			if x == 'ろ' && (y == 'す' || y == 'さ' || y == 'し' || y == 'せ' || y == 'そ') && !koroPrefix(p) {
				c.r, c.sc, c.e = '殺', scKanji, nr[i+1].e
				nr[i+1].drop = true
				n.dirty = true
			}
		case '5':
			if x == '6' && (y == 'す' || y == 'さ' || y == 'し' || y == 'せ') && !isDigitRune(p) {
				c.r, c.sc, c.e = '殺', scKanji, nr[i+1].e
				nr[i+1].drop = true
				n.dirty = true
			}
		}
	}
}

func isDigitRune(r rune) bool { return '0' <= r && r <= '9' }

// koroPrefix lists kana before ころ that make an ordinary word (ところ,
// こころ, あのころ) rather than 殺.
func koroPrefix(r rune) bool {
	switch r {
	case 'と', 'こ', 'ご', 'ど', 'の', 'い', 'も', 'ぽ', 'そ', 'ち', 'お', 'ひ':
		return true
	}
	return false
}

// encode writes the UTF-8 buffer and the byte<->rune maps.
func (n *normText) encode() {
	size := 0
	for i := range n.nr {
		size += utf8.RuneLen(n.nr[i].r)
	}
	n.buf = slices.Grow(n.buf[:0], size)[:size]
	n.b2r = slices.Grow(n.b2r[:0], size+1)[:size+1]
	n.r2b = slices.Grow(n.r2b[:0], len(n.nr)+1)[:len(n.nr)+1]
	p := 0
	for i := range n.nr {
		n.r2b[i] = int32(p)
		r := n.nr[i].r
		if r < utf8.RuneSelf {
			n.buf[p] = byte(r)
			n.b2r[p] = int32(i)
			p++
			continue
		}
		k := utf8.EncodeRune(n.buf[p:], r)
		for j := range k {
			n.b2r[p+j] = int32(i)
		}
		p += k
	}
	n.r2b[len(n.nr)] = int32(p)
	n.b2r[p] = int32(len(n.nr))
}

// normalizeString returns the normalized form of s (for tests and tools).
func normalizeString(s string) string {
	var n normText
	n.normalize(s)
	return string(n.buf)
}
