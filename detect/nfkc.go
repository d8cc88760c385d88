package detect

import (
	"sync"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Most runes of real posts need no NFKC work at all, or map to exactly one
// other rune whatever follows them (full-width ASCII, half-width katakana).
// These tables, computed once from golang.org/x/text/unicode/norm itself,
// let the normalizer handle such runes without calling into the norm
// package: the slow path (one normalization segment through norm.Iter)
// remains for everything else and for runes followed by a combining one.
var (
	// nfkcSelf: NFKC leaves the BMP rune alone and it never combines with
	// a preceding rune.
	nfkcSelf [0x10000 / 64]uint64
	// boundaryBMP: the BMP rune never combines with a preceding rune.
	boundaryBMP [0x10000 / 64]uint64
	// emojiSelf: the same as nfkcSelf for U+1F000..U+1FFFF (emoji).
	emojiSelf [0x1000 / 64]uint64
	// halfWidth maps U+FF61..U+FF9F (half-width katakana and punctuation)
	// to its NFKC rune.
	halfWidth [0xFF9F - 0xFF61 + 1]rune
)

var nfkcTablesOnce sync.Once

// initNFKCTables fills the tables (New calls it; until then every rune takes
// the slow path, which gives the same result).
func initNFKCTables() { nfkcTablesOnce.Do(buildNFKCTables) }

func buildNFKCTables() {
	var b [utf8.UTFMax]byte
	props := func(r rune) norm.Properties {
		n := utf8.EncodeRune(b[:], r)
		return norm.NFKC.Properties(b[:n])
	}
	for r := rune(0); r < 0x10000; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		p := props(r)
		if p.BoundaryBefore() {
			boundaryBMP[r>>6] |= 1 << (r & 63)
			if len(p.Decomposition()) == 0 {
				nfkcSelf[r>>6] |= 1 << (r & 63)
			}
		}
	}
	for r := rune(0x1F000); r < 0x20000; r++ {
		p := props(r)
		if p.BoundaryBefore() && len(p.Decomposition()) == 0 {
			k := r - 0x1F000
			emojiSelf[k>>6] |= 1 << (k & 63)
		}
	}
	for r := rune(0xFF61); r <= 0xFF9F; r++ {
		if d := props(r).Decomposition(); utf8.RuneCount(d) == 1 {
			halfWidth[r-0xFF61], _ = utf8.DecodeRune(d)
		}
	}
}

// simpleNFKC returns what NFKC makes of r alone when that is one rune that
// does not depend on the rune before (ok false: take the slow path).
func simpleNFKC(r rune) (rune, bool) {
	switch {
	case r < utf8.RuneSelf || nfkcStable(r):
		return r, true
	case 0xFF01 <= r && r <= 0xFF5E: // full-width ASCII
		return r - 0xFEE0, true
	case 0xFF61 <= r && r <= 0xFF9F:
		m := halfWidth[r-0xFF61]
		return m, m != 0
	case r < 0x10000:
		return r, nfkcSelf[r>>6]&(1<<(r&63)) != 0
	case 0x1F000 <= r && r < 0x20000:
		k := r - 0x1F000
		return r, emojiSelf[k>>6]&(1<<(k&63)) != 0
	}
	return r, false
}

// boundaryBefore reports whether s[j:] starts with a rune r2 that never
// combines with a preceding rune.
func boundaryBefore(s string, j int, r2 rune) bool {
	switch {
	case r2 < utf8.RuneSelf || nfkcStable(r2):
		return true
	case r2 < 0x10000 && r2 != utf8.RuneError:
		return boundaryBMP[r2>>6]&(1<<(r2&63)) != 0
	}
	return norm.NFKC.PropertiesString(s[j:]).BoundaryBefore()
}
