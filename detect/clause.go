package detect

import (
	"slices"

	"mimamori/mention"
)

// Clause-aware attribution.
//
// Distance alone attributes 「A社は詐欺、ヒカリネットは良い」 to ヒカリネット.
// Attribution therefore works on clauses: a sentence is cut at 、 , ; : and
// at the pack's clause_breaks (けど, のに, でも, but, whereas ...). A target
// in the hit's own clause always wins. A target in another clause (or, as
// before, in a preceding sentence when the hit's sentence names none) is
// taken only when nothing says the hit's clause is about someone else:
//
//   - blocked when the hit's clause has a topic or subject that names
//     another party: a noun ending in an entity suffix (A社は, B銀行が), a
//     word from the pack's others list (他社は, competitors are), or an
//     anaphor owned by such a party (A社の担当は);
//   - allowed when the clause's topic refers back to a target or a part of
//     it (担当は, 料金が, they are: the pack's anaphora);
//   - for a target before the hit: blocked when the target is itself the
//     topic of its clause (ヒカリネットは…) and the hit's clause switches to
//     another topic (ソフトバンクは詐欺);
//   - for a target after the hit: blocked when the target opens a new topic
//     with a predicate of its own (詐欺だよね、でもヒカリネットは良い), not
//     when it only trails the sentence (マジで詐欺、ヒカリネットって).
//
// A topic is a run of kanji, katakana, Latin letters or digits right before
// a particle (は が も って なら), an optional honorific between them
// (田中さんは); in English the word before a copula (is, are, was ...).

// clauseInfo summarises who a clause's topics are.
type clauseInfo uint8

const (
	ciDone      clauseInfo = 1 << iota // analysed
	ciStrong                           // names another party
	ciAnaphoric                        // a pronoun that may refer back to a target
	ciPart                             // a part of the company (担当, 料金, support)
	ciWeak                             // some other topic
)

// prepareClauses computes the clause cuts once per text (only texts with
// both a rule hit and a target hit need them).
func (d *Detector) prepareClauses(sc *scratch) {
	nr := sc.nt.nr
	sc.cuts = append(sc.cuts[:0], 0)
	for i := 1; i < len(nr); i++ {
		if nr[i].sent != nr[i-1].sent || nr[i].clause {
			sc.cuts = append(sc.cuts, int32(i))
		}
	}
	for _, h := range sc.clauseH {
		if int(h.re) < len(nr) {
			sc.cuts = append(sc.cuts, h.re)
		}
	}
	if len(sc.clauseH) > 0 {
		slices.Sort(sc.cuts)
		sc.cuts = slices.Compact(sc.cuts)
	}
	slices.SortFunc(sc.otherH, func(a, b hit) int { return int(a.rs - b.rs) })
	slices.SortFunc(sc.anaphH, func(a, b hit) int { return int(a.rs - b.rs) })
	sc.cinfo = slices.Grow(sc.cinfo[:0], len(sc.cuts))[:len(sc.cuts)]
	clear(sc.cinfo)
}

// clauseOf returns the index of the clause that rune p is in.
func (sc *scratch) clauseOf(p int32) int {
	i, found := slices.BinarySearch(sc.cuts, p)
	if found {
		return i
	}
	return i - 1
}

// clauseSpan returns the normalized rune span of clause k.
func (sc *scratch) clauseSpan(k int) (int32, int32) {
	end := int32(len(sc.nt.nr))
	if k+1 < len(sc.cuts) {
		end = sc.cuts[k+1]
	}
	return sc.cuts[k], end
}

func nounish(s script) bool {
	return s == scKanji || s == scKata || s == scLatin || s == scDigit
}

// particleAt returns the length of a topic particle written in hiragana at
// p, or 0.
func (d *Detector) particleAt(nt *normText, p int32) int32 {
	if !slices.Contains(d.particleFirst, nt.nr[p].r) {
		return 0
	}
	for i := range d.particles {
		l := &d.particles[i]
		if !litAt(nt, l, p) {
			continue
		}
		ok := true
		for j := range l.runes {
			if nt.nr[int(p)+j].sc != scHira {
				ok = false
				break
			}
		}
		if ok {
			return int32(len(l.runes))
		}
	}
	return 0
}

// copulaAt returns the length of an English copula word starting at p.
func (d *Detector) copulaAt(nt *normText, p int32) int32 {
	if p <= 0 || !nt.nr[p].gap || nt.nr[p].sc != scLatin {
		return 0
	}
	for i := range d.copulas {
		if litAt(nt, &d.copulas[i], p) {
			return int32(len(d.copulas[i].runes))
		}
	}
	return 0
}

// endsWith returns the length of a literal of ls that ends exactly at p.
func endsWith(nt *normText, ls []literal, p int32) int32 {
	for i := range ls {
		n := int32(len(ls[i].runes))
		if q := p - n; q >= 0 && litAt(nt, &ls[i], q) {
			return n
		}
	}
	return 0
}

// hitEndingAt reports whether a hit of hs (sorted by start) ends at p and
// starts at or after lo.
func hitEndingAt(hs []hit, lo, p int32) bool {
	for _, h := range hs {
		if h.rs > p {
			break
		}
		if h.re == p && h.rs >= lo {
			return true
		}
	}
	return false
}

// anaphorCovering returns the anaphora or parts hit that ends at end and
// covers the whole noun run from xs (担当は, この会社は, the staff is; not the
// 通信 of アオバ通信は, a compound naming someone else).
func anaphorCovering(hs []hit, xs, end int32) (hit, bool) {
	var best hit
	found := false
	for _, h := range hs {
		if h.rs > xs {
			break
		}
		if h.re == end && (!found || h.rs < best.rs) {
			best, found = h, true
		}
	}
	return best, found
}

func overlapsAny(hs []hit, s, e int32) bool {
	for _, h := range hs {
		if h.rs < e && s < h.re {
			return true
		}
	}
	return false
}

// topicBefore classifies the noun run that ends at end (before a particle
// or copula at q): 0 when there is none or it is a target or a rule hit.
func (d *Detector) topicBefore(sc *scratch, lo, end int32, latin bool) clauseInfo {
	nt := &sc.nt
	nr := nt.nr
	hon := false
	if !latin {
		if n := endsWith(nt, d.honorifics, end); n > 0 && end-n > lo {
			end -= n
			hon = true
		}
	}
	xs := end
	for xs > lo && nounish(nr[xs-1].sc) && (xs == end || !nr[xs].gap) {
		if latin && nr[xs-1].sc != scLatin {
			break
		}
		xs--
		if latin && nr[xs].gap {
			break // one English word
		}
	}
	if xs == end || overlapsAny(sc.tgts, xs, end) || overlapsAny(sc.terms, xs, end) {
		return 0
	}
	if hitEndingAt(sc.otherH, lo, end) {
		return ciStrong
	}
	if a, ok := anaphorCovering(sc.anaphH, xs, end); ok {
		// A社の担当は, Acme support is: the anaphor belongs to another party
		if !latin && xs-1 > lo && nr[xs-1].r == 'の' && nr[xs-1].sc == scHira {
			p := xs - 1
			if hitEndingAt(sc.otherH, lo, p) {
				return ciStrong
			}
			if n := endsWith(nt, d.suffixes, p); n > 0 && p-n > lo && nounish(nr[p-n-1].sc) {
				return ciStrong
			}
		}
		if latin && a.rs == xs {
			if w := prevWord(nr, xs); w >= lo && !overlapsAny(sc.tgts, w, xs) &&
				!isWordIn(nr, w, xs, "the", "their", "its", "your", "our", "my", "his", "her", "that", "this", "these", "those", "a", "an", "whose") {
				return ciStrong
			}
		}
		if a.ref == 1 {
			return ciPart
		}
		return ciAnaphoric
	}
	if !latin && !hon {
		if n := endsWith(nt, d.suffixes, end); n > 0 && end-n > xs {
			return ciStrong
		}
	}
	return ciWeak
}

// analyse returns what clause k's topics say (memoized per text).
func (d *Detector) analyse(sc *scratch, k int) clauseInfo {
	if sc.cinfo[k]&ciDone != 0 {
		return sc.cinfo[k]
	}
	nt := &sc.nt
	cs, ce := sc.clauseSpan(k)
	info := ciDone
	for q := cs + 1; q < ce; q++ {
		if n := d.particleAt(nt, q); n > 0 {
			info |= d.topicBefore(sc, cs, q, false)
			q += n - 1
			continue
		}
		if n := d.copulaAt(nt, q); n > 0 {
			info |= d.topicBefore(sc, cs, q, true)
			q += n - 1
		}
	}
	// a word naming another party followed by a particle counts even when
	// it is written in kana (前の会社は)
	for _, o := range sc.otherH {
		if o.rs >= cs && o.re < ce && (d.particleAt(nt, o.re) > 0 || d.copulaAt(nt, o.re) > 0) {
			info |= ciStrong
		}
	}
	sc.cinfo[k] = info
	return info
}

// topicMarked reports whether target hit t, or another target in its
// clause (ミナトの佐藤さんは), is the topic or subject of the clause, and
// whether the clause goes on with a predicate after that topic.
func (d *Detector) topicMarked(sc *scratch, t hit) (marked, predicate bool) {
	cs, ce := sc.clauseSpan(sc.clauseOf(t.rs))
	for _, u := range sc.tgts {
		if u.rs < cs || u.rs >= ce {
			continue
		}
		if m, p := d.targetTopic(sc, u, ce); m {
			return m, p
		}
	}
	return false, false
}

func (d *Detector) targetTopic(sc *scratch, t hit, ce int32) (marked, predicate bool) {
	nt := &sc.nt
	p := t.re
	// an honorific may follow the name (田中さんは)
	for i := range d.honorifics {
		if litAt(nt, &d.honorifics[i], p) {
			p += int32(len(d.honorifics[i].runes))
			break
		}
	}
	if p >= ce {
		return false, false
	}
	n := d.particleAt(nt, p)
	if n == 0 {
		n = d.copulaAt(nt, p)
	}
	if n == 0 {
		return false, false
	}
	return true, ce-(p+n) >= 2
}

// contrastBlocks reports whether target hit t, outside the clause of rule
// hit h, must not take h (see the comment at the top of this file).
func (d *Detector) contrastBlocks(sc *scratch, h, t hit, hc int) (bool, string) {
	info := d.analyse(sc, hc)
	if info&ciStrong != 0 {
		return true, "the hit's clause is about another party"
	}
	marked, pred := d.topicMarked(sc, t)
	switch {
	case info&ciPart != 0 && d.targets[t.ref].Kind == mention.KindStaff && marked:
		// 佐藤さんは優しいけど、上司は無能: the boss, not 佐藤
		return true, "the hit's clause is about another part of the company than this staff member"
	case info&(ciAnaphoric|ciPart) != 0:
		return false, ""
	}
	if t.rs > h.rs {
		if marked && pred {
			return true, "the target opens a new clause with its own predicate"
		}
		return false, ""
	}
	if info&ciWeak != 0 && marked {
		return true, "the hit's clause switches to another topic"
	}
	return false, ""
}

// phraseHead returns the staff member a company or product name only
// qualifies: ミナトテレコムの佐藤, Sato from Minato Telecom, that Sato guy at
// Minato Telecom.
func (d *Detector) phraseHead(sc *scratch, t hit, r *rule, allowed func(hit) bool) (hit, bool) {
	nt := &sc.nt
	nr := nt.nr
	ok := func(u hit) bool {
		return d.targets[u.ref].rank > d.targets[t.ref].rank &&
			(r.kinds == 0 || r.kinds&(1<<uint(d.targets[u.ref].rank)) != 0) && allowed(u)
	}
	if int(t.re) < len(nr) && nr[t.re].r == 'の' && nr[t.re].sc == scHira {
		for _, u := range sc.tgts {
			if u.rs == t.re+1 && ok(u) {
				return u, true
			}
		}
	}
	// English: STAFF [word [word]] at|from|of|with|in COMPANY
	p := t.rs
	w := prevWord(nr, p)
	if w < 0 || !isWordIn(nr, w, p, "at", "from", "of", "with", "in", "for") {
		return hit{}, false
	}
	p = w
	for range 3 {
		for _, u := range sc.tgts {
			if u.re == p && ok(u) {
				return u, true
			}
		}
		if p = prevWord(nr, p); p < 0 {
			break
		}
	}
	return hit{}, false
}

// prevWord returns the start of the Latin word that ends at p (words are
// delimited by the gap flag), or -1.
func prevWord(nr []nrune, p int32) int32 {
	if p <= 0 || nr[p-1].sc != scLatin || nr[p-1].r == breakRune {
		return -1
	}
	i := p - 1
	for i > 0 && !nr[i].gap && nr[i-1].sc == scLatin {
		i--
	}
	return i
}

func isWordIn(nr []nrune, s, e int32, words ...string) bool {
	for _, w := range words {
		if int(e-s) != len(w) {
			continue
		}
		match := true
		for i := range len(w) {
			if nr[s+int32(i)].r != rune(w[i]) {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// objectElsewhere reports whether hit h acts on a noun marked with を that
// is neither a target nor an anaphor (ゾンビを殺す, not お前を殺す).
func (d *Detector) objectElsewhere(sc *scratch, h hit) bool {
	nr := sc.nt.nr
	k := h.rs - 1
	if k < 1 || nr[k].r != 'を' || nr[k].sc != scHira || nr[k].sent != nr[h.rs].sent {
		return false
	}
	xs := k
	for xs > 0 && nounish(nr[xs-1].sc) && (xs == k || !nr[xs].gap) && nr[xs-1].sent == nr[k].sent {
		xs--
	}
	if xs == k {
		return false // a kana word: too ambiguous to bind
	}
	slices.SortFunc(sc.anaphH, func(a, b hit) int { return int(a.rs - b.rs) })
	_, anaphor := anaphorCovering(sc.anaphH, xs, k)
	return !overlapsAny(sc.tgts, xs, k) && !anaphor
}
