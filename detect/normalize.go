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
	r      rune
	s, e   int32 // original rune offsets [s, e)
	sent   int32 // sentence index
	sc     script
	gap    bool // a space, punctuation or symbol preceded it in the original
	drop   bool // removed by the next compaction
	clause bool // a clause separator (、 , ; :) preceded it in its sentence
}

// normText is a normalized text with its offset map. It is reused through a
// pool, so every slice is truncated, not reallocated, by reset.
type normText struct {
	src     string
	ob      []int32 // byte offset of every original rune, then len(src); built on demand
	obOK    bool
	nr      []nrune
	buf     []byte     // UTF-8 of the normalized runes, what the automaton scans
	r2b     []int32    // index in nr -> byte offset in buf (len(nr)+1 entries)
	quotes  [][2]int32 // original rune offsets of an opening and its closing quote
	qstack  []qopen
	seg     []byte
	it      norm.Iter
	nsent   int32
	nrunes  int32    // runes in the original text
	dirty   bool     // a rune was marked dropped or a run may need collapsing
	reenc   bool     // a rune changed after it was encoded into buf
	lookPos []int32  // indices in nr of kanji look-alikes of kana (and 一)
	net     bool     // a net-spelling trigger (氏 市 4 5 タヒ しね ころ) was seen
	mask    bool     // a mask character was seen
	off     normStep // steps switched off (tests only)
	// ac, when set, is run over buf while it is written: the automaton's
	// dependent table loads then overlap with the normalization work
	// instead of forming a second pass. acm receives the matches in rune
	// indices of nr; acOK says they are valid (false when a later pass
	// rewrote buf: then the caller scans buf again).
	ac   *automaton
	acm  []acMatch
	acOK bool
}

type qopen struct {
	r   rune
	pos int32
}

// origRunes returns the number of runes in the original text.
func (n *normText) origRunes() int { return int(n.nrunes) }

// origSlice returns the original text of the rune span [s, e).
func (n *normText) origSlice(s, e int32) string {
	if !n.obOK {
		n.buildOffsets()
	}
	return n.src[n.ob[s]:n.ob[e]]
}

// buildOffsets maps original rune offsets to byte offsets. Only the output
// (matched terms) needs it, so it is built on the first call, not per text.
func (n *normText) buildOffsets() {
	s := n.src
	n.ob = slices.Grow(n.ob[:0], int(n.nrunes)+1)
	for i := 0; i < len(s); {
		n.ob = append(n.ob, int32(i))
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		_, sz := decodeAt(s, i) // an invalid byte is one rune, as in normalize
		i += sz
	}
	n.ob = append(n.ob, int32(len(s)))
	n.obOK = true
}

// acHit records the patterns that end in automaton state sid at byte end
// of buf (the last rune pushed), in rune indices.
func (n *normText) acHit(sid uint32, end int) {
	a := n.ac
	st := sid / a.nclass
	k := int32(len(n.nr) - 1)
	for _, p := range a.outs[a.outIdx[st]:a.outIdx[st+1]] {
		start := int32(end) - a.plen[p]
		j := k
		for j > 0 && n.r2b[j] > start {
			j--
		}
		n.acm = append(n.acm, acMatch{pat: p, start: j, end: k + 1})
	}
}

// byteRune returns the index in nr of the rune that byte p of buf belongs
// to (len(nr) for p == len(buf)).
func (n *normText) byteRune(p int) int32 {
	r2b := n.r2b
	lo, hi := 0, len(r2b)-1 // r2b[len(nr)] == len(buf)
	for lo < hi {
		m := int(uint(lo+hi+1) >> 1)
		if int(r2b[m]) <= p {
			lo = m
		} else {
			hi = m - 1
		}
	}
	return int32(lo)
}

// normalize fills n from s. The same function normalizes pattern literals,
// so patterns and texts always agree.
func (n *normText) normalize(s string) {
	n.src = s
	n.obOK = false
	n.nr = n.nr[:0]
	n.buf = n.buf[:0]
	n.r2b = n.r2b[:0]
	n.quotes = n.quotes[:0]
	n.qstack = n.qstack[:0]
	n.nsent = 0
	n.dirty, n.reenc, n.net, n.mask = false, false, false, false
	n.lookPos = n.lookPos[:0]
	n.acm = n.acm[:0]
	if cap(n.nr) < len(s) {
		n.nr = make([]nrune, 0, len(s))
		n.r2b = make([]int32, 0, len(s)+1)
		n.buf = make([]byte, 0, len(s)+8)
	}

	st := emitState{n: n}
	ri := int32(0)
	var r, r2 rune
	var sz, sz2 int
	if len(s) > 0 {
		r, sz = decodeAt(s, 0)
	}
	for i := 0; i < len(s); {
		// Fast path: ASCII, kana and common kanji are NFKC-stable; when the
		// next rune cannot combine with them they map one to one.
		j := i + sz
		r2, sz2 = 0, 0
		if j < len(s) {
			// decodeAt, inlined by hand: one call per rune is measurable here
			if c := s[j]; c < utf8.RuneSelf {
				r2, sz2 = rune(c), 1
			} else if c&0xF0 == 0xE0 && j+2 < len(s) && s[j+1]&0xC0 == 0x80 && s[j+2]&0xC0 == 0x80 {
				r2 = rune(c&0x0F)<<12 | rune(s[j+1]&0x3F)<<6 | rune(s[j+2]&0x3F)
				sz2 = 3
				if r2 < 0x800 || (0xD800 <= r2 && r2 <= 0xDFFF) {
					r2, sz2 = utf8.DecodeRuneInString(s[j:])
				}
			} else {
				r2, sz2 = utf8.DecodeRuneInString(s[j:])
			}
		}
		if n.off&stepNFKC != 0 {
			st.fast(r, ri, byteAt(s, j))
			ri++
			i, r, sz = j, r2, sz2
			continue
		}
		m, ok := r, r < utf8.RuneSelf || nfkcStable(r)
		if !ok {
			m, ok = simpleNFKC(r)
		}
		if ok && (j >= len(s) || r2 < utf8.RuneSelf || nfkcStable(r2) || boundaryBefore(s, j, r2)) {
			if n.off == 0 {
				// The common letters are pushed inline, with the output
				// slices in locals: this loop is the detector's hot path.
				sc := scOther
				switch {
				case 0x3041 <= m && m <= 0x3096:
					if smallVowel(m) == 0 {
						sc = scHira
					}
				case 0x4E00 <= m && m <= 0x9FFF:
					sc = scKanji
					if m == '一' || lookalikeKana(m) != 0 {
						n.lookPos = append(n.lookPos, int32(len(n.nr)))
					} else if m == '氏' || m == '市' {
						n.net = true
					}
				case 0x30A1 <= m && m <= 0x30F6:
					if smallVowel(m-0x60) == 0 {
						m -= 0x60
						sc = scKata
					}
				case 'a' <= m && m <= 'z':
					sc = scLatin
				case 'A' <= m && m <= 'Z':
					m += 'a' - 'A'
					sc = scLatin
				}
				if sc != scOther {
					nr := n.nr
					k := len(nr)
					if k > 0 {
						p := nr[k-1].r
						if p == m && sc != scKanji {
							st.run++
							if st.run >= 3 || (st.run == 2 && m == 'っ') {
								n.dirty = true
							}
						} else {
							st.run = 1
						}
						switch m {
						case 'ね':
							n.net = n.net || p == 'し'
						case 'ろ':
							n.net = n.net || p == 'こ'
						case 'ひ':
							n.net = n.net || (p == 'た' && sc == scKata)
						}
					} else {
						st.run = 1
					}
					if k == cap(nr) {
						nr = slices.Grow(nr, 1)
					}
					nr = nr[:k+1]
					e := &nr[k]
					e.r, e.s, e.e, e.sent = m, ri, ri+1, st.sent
					e.sc, e.gap, e.drop, e.clause = sc, st.gap, false, st.clause
					st.gap, st.clause = false, false
					n.nr = nr
					buf := n.buf
					from := len(buf)
					n.r2b = append(n.r2b, int32(from))
					if m < utf8.RuneSelf {
						buf = append(buf, byte(m))
					} else {
						buf = append(buf, 0xE0|byte(m>>12), 0x80|byte(m>>6)&0x3F, 0x80|byte(m)&0x3F)
					}
					n.buf = buf
					if a := n.ac; a != nil {
						acs := st.acs
						for q := from; q < len(buf); q++ {
							acs = a.trans[acs+uint32(a.class[buf[q]])]
							if acs&matchBit != 0 {
								acs &^= matchBit
								n.acHit(acs, q+1)
							}
						}
						st.acs = acs
					}
					ri++
					i, r, sz = j, r2, sz2
					continue
				}
			}
			st.fast(m, ri, byteAt(s, j))
			ri++
			i, r, sz = j, r2, sz2
			continue
		}
		// Slow path: one normalization segment through x/text/unicode/norm.
		j = i + norm.NFKC.NextBoundaryInString(s[i:], true)
		if j <= i {
			j = i + sz
		}
		a := ri
		ri += int32(utf8.RuneCountInString(s[i:j]))
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
		if i < len(s) {
			r, sz = decodeAt(s, i)
		}
	}
	n.nrunes = ri
	if k := len(n.nr); k > 0 && n.nr[k-1].r == breakRune {
		n.nr = n.nr[:k-1]
		n.r2b = n.r2b[:k-1]
		n.buf = n.buf[:len(n.buf)-1]
	}
	n.nsent = st.sent + 1

	if len(n.lookPos) > 0 && n.off&stepLookalike == 0 {
		n.lookalikes()
	}
	if n.dirty {
		n.compact(true)
		n.dirty = false
	}
	if n.net && n.off&stepNet == 0 {
		n.netSpellings()
	}
	if n.dirty {
		n.compact(false)
	}
	if n.reenc {
		n.encode()
		n.acOK = false
	} else {
		n.r2b = append(n.r2b, int32(len(n.buf)))
		n.acOK = n.ac != nil
	}
}

func decodeAt(s string, i int) (rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	if i+2 < len(s) {
		// three-byte sequences (kana, kanji) inline
		c0, c1, c2 := s[i], s[i+1], s[i+2]
		if c0&0xF0 == 0xE0 && c1&0xC0 == 0x80 && c2&0xC0 == 0x80 {
			r := rune(c0&0x0F)<<12 | rune(c1&0x3F)<<6 | rune(c2&0x3F)
			if r >= 0x800 && (r < 0xD800 || r > 0xDFFF) {
				return r, 3
			}
		}
	}
	return utf8.DecodeRuneInString(s[i:])
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

// fast emits a rune the fast path found NFKC-stable: the common letters
// inline, the rest through emit.
func (st *emitState) fast(r rune, ri int32, next byte) {
	n := st.n
	switch {
	case 'a' <= r && r <= 'z':
		st.push(r, ri, ri+1, scLatin)
		return
	case 'A' <= r && r <= 'Z' && n.off&stepCase == 0:
		st.push(r+'a'-'A', ri, ri+1, scLatin)
		return
	case 0x3041 <= r && r <= 0x3096:
		if smallVowel(r) == 0 || !st.elongation(r) {
			st.push(r, ri, ri+1, scHira)
		}
		return
	case 0x30A1 <= r && r <= 0x30F6 && n.off&stepFold == 0:
		if h := r - 0x60; smallVowel(h) == 0 || !st.elongation(h) {
			st.push(h, ri, ri+1, scKata)
		}
		return
	case 0x4E00 <= r && r <= 0x9FFF:
		st.kanji(r)
		st.push(r, ri, ri+1, scKanji)
		return
	}
	st.emit(r, ri, ri+1, next)
}

type emitState struct {
	n      *normText
	acs    uint32 // automaton state
	gap    bool
	clause bool // a clause separator was seen since the last rune
	sent   int32
	run    int // length of the current run of one collapsible rune
}

// kanji notes a kanji about to be pushed that the later passes care about.
func (st *emitState) kanji(r rune) {
	n := st.n
	if r == '一' || lookalikeKana(r) != 0 {
		n.lookPos = append(n.lookPos, int32(len(n.nr)))
	} else if r == '氏' || r == '市' {
		n.net = true
	}
}

func (st *emitState) push(r rune, a, b int32, sc script) {
	n := st.n
	k := len(n.nr)
	if k > 0 {
		p := &n.nr[k-1]
		if p.r == r && (sc.kana() || sc == scLatin) && n.off&stepElong == 0 {
			st.run++
			if st.run >= 3 || (st.run == 2 && r == 'っ') {
				n.dirty = true
			}
		} else {
			st.run = 1
		}
		// net spellings: しね, ころ, タヒ (氏 市 4 5 are flagged on their own)
		switch r {
		case 'ね':
			n.net = n.net || p.r == 'し'
		case 'ろ':
			n.net = n.net || p.r == 'こ'
		case 'ひ':
			n.net = n.net || (p.r == 'た' && sc == scKata)
		}
	} else {
		st.run = 1
	}
	// fields are stored one by one: building the struct on the stack and
	// copying it costs a store-forwarding stall per rune
	if k == cap(n.nr) {
		n.nr = slices.Grow(n.nr, 1)
	}
	n.nr = n.nr[:k+1]
	e := &n.nr[k]
	e.r, e.s, e.e, e.sent = r, a, b, st.sent
	e.sc, e.gap, e.drop, e.clause = sc, st.gap, false, st.clause
	from := len(n.buf)
	n.r2b = append(n.r2b, int32(from))
	if r < utf8.RuneSelf {
		n.buf = append(n.buf, byte(r))
	} else {
		n.buf = utf8.AppendRune(n.buf, r)
	}
	st.gap, st.clause = false, false
	if a := n.ac; a != nil {
		for q := from; q < len(n.buf); q++ {
			st.acs = a.trans[st.acs+uint32(a.class[n.buf[q]])]
			if st.acs&matchBit != 0 {
				st.acs &^= matchBit
				n.acHit(st.acs, q+1)
			}
		}
	}
}

func (st *emitState) brk(a, b int32) {
	n := st.n
	st.clause = false
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
			if r == '4' || r == '5' {
				st.n.net = true
			}
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
			st.n.mask = true
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
		st.n.mask = true
		st.push(maskRune, a, b, scMask)
		return
	}
	switch {
	case (0x4E00 <= r && r <= 0x9FFF) || r == 0x3005 || unicode.Is(unicode.Han, r): // kanji, 々
		st.kanji(r)
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
	switch r {
	case 0x3001, 0xFF64, ',', ';', ':': // 、 ､ , ; : (and ，；： after NFKC)
		st.clause = true
	}
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
	for _, p := range n.lookPos {
		i := int(p)
		c := &nr[i]
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
			n.reenc = true
			n.net = true // a new kana may complete a net spelling (こ口す)
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
			// a run of Latin letters does not continue into the next word
			// ("ganazapo ood" keeps its o), unless the letters are spaced
			// out one by one ("s c a a a m")
			for j < len(nr) && !nr[j].drop && nr[j].r == c.r && nr[j].sent == c.sent &&
				(!nr[j].gap || c.sc != scLatin || nr[j-1].gap) {
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
	if w < len(nr) {
		n.reenc = true
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
		switch c.r {
		case '氏', '市', 'た', '4', 'し', 'こ', '5':
		default:
			continue
		}
		if c.drop {
			continue
		}
		p, x, y := at(i-1, c.sent), at(i+1, c.sent), at(i+2, c.sent)
		switch c.r {
		case '氏':
			if x == 'ね' || x == 'ん' || x == 'ぬ' {
				c.r = '死'
				n.reenc = true
			}
		case '市':
			if x == 'ね' {
				c.r = '死'
				n.reenc = true
			}
		case 'た':
			if c.sc == scKata && x == 'ひ' && nr[i+1].sc == scKata && (y == 'ね' || y == 'ん' || y == 'ぬ') {
				c.r, c.sc, c.e = '死', scKanji, nr[i+1].e
				nr[i+1].drop = true
				n.dirty, n.reenc = true, true
			}
		case '4':
			if x == 'ね' && !isDigitRune(p) {
				c.r, c.sc = '死', scKanji
				n.reenc = true
			}
		case 'し':
			if x == 'ね' && y != 'じ' && y != 'ん' && y != 'ま' && y != 'え' {
				c.r, c.sc = '死', scKanji
				n.reenc = true
			}
		case 'こ':
			if x == 'ろ' && (y == 'す' || y == 'さ' || y == 'し' || y == 'せ' || y == 'そ') && !koroPrefix(p) {
				c.r, c.sc, c.e = '殺', scKanji, nr[i+1].e
				nr[i+1].drop = true
				n.dirty, n.reenc = true, true
			}
		case '5':
			if x == '6' && (y == 'す' || y == 'さ' || y == 'し' || y == 'せ') && !isDigitRune(p) {
				c.r, c.sc, c.e = '殺', scKanji, nr[i+1].e
				nr[i+1].drop = true
				n.dirty, n.reenc = true, true
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
	n.buf = n.buf[:0]
	n.r2b = slices.Grow(n.r2b[:0], len(n.nr)+1)[:len(n.nr)+1]
	for i := range n.nr {
		n.r2b[i] = int32(len(n.buf))
		if r := n.nr[i].r; r < utf8.RuneSelf {
			n.buf = append(n.buf, byte(r))
		} else {
			n.buf = utf8.AppendRune(n.buf, r)
		}
	}
	n.r2b[len(n.nr)] = int32(len(n.buf))
}

// normalizeString returns the normalized form of s (for tests and tools).
func normalizeString(s string) string {
	var n normText
	n.normalize(s)
	return string(n.buf)
}
