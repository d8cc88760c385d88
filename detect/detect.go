package detect

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"

	"mimamori/mention"
)

// Options configures a Detector.
type Options struct {
	// PatternFiles are YAML pattern packs applied after the default pack,
	// in order; an entry whose id already exists replaces it.
	PatternFiles []string
	// NoDefaultPack leaves the embedded default pack out.
	NoDefaultPack bool
}

// Detector matches texts against targets and a pattern pack. It is
// immutable after New and safe for concurrent use.
type Detector struct {
	ac       *automaton
	pay      [][]payload
	lits     []literal
	maskPats []int32
	rules    []rule
	cancs    []canceller
	targets  []target
	aliases  []aliasRef
	direct   []int32 // cancellers checked in place
	// attribution words compared in place (see clause.go)
	particles, copulas, honorifics, suffixes []literal
	particleFirst                            []rune   // first rune of each particle
	maxTarget                                int32    // longest target literal, in normalized runes
	off                                      normStep // normalization steps switched off (tests only)
	pool                                     *sync.Pool
}

// maxMaskPositions bounds the masked-character matcher on hostile input.
const maxMaskPositions = 32

// New builds a Detector for targets from the default pattern pack (unless
// opts.NoDefaultPack) extended or overridden by opts.PatternFiles.
func New(targets []mention.Target, opts Options) (*Detector, error) {
	initNFKCTables()
	p, err := loadPack(opts)
	if err != nil {
		return nil, err
	}
	d := &Detector{}
	if err := compile(d, targets, p); err != nil {
		return nil, err
	}
	d.pool = &sync.Pool{New: func() any { return new(scratch) }}
	return d, nil
}

// hit is a literal or regex hit in normalized rune offsets [rs, re).
type hit struct {
	rs, re int32
	ref    int32
	flag   bool
}

// found is an abusive or complaint match after filtering.
type found struct {
	hit
	target int32 // index in d.targets, -1 when none
	score  float64
}

type scratch struct {
	nt      normText
	acm     []acMatch
	terms   []hit
	anchors []hit
	reqs    []hit
	tgts    []hit
	excl    []hit
	canc    []hit
	exc     []hit
	ctx     []bool
	found   []found
	sentTgt []bool
	// clause analysis (clause.go)
	clauseH, otherH, anaphH []hit
	cuts                    []int32 // normalized rune index where each clause starts
	cinfo                   []clauseInfo
	tr                      *tracer // non-nil while tracing
}

func (s *scratch) reset(ntargets int) {
	s.terms, s.anchors, s.reqs = s.terms[:0], s.anchors[:0], s.reqs[:0]
	s.tgts, s.excl, s.canc, s.exc = s.tgts[:0], s.excl[:0], s.canc[:0], s.exc[:0]
	s.found = s.found[:0]
	s.clauseH, s.otherH, s.anaphH, s.cuts = s.clauseH[:0], s.otherH[:0], s.anaphH[:0], s.cuts[:0]
	s.tr = nil
	s.ctx = slices.Grow(s.ctx[:0], ntargets)[:ntargets]
	clear(s.ctx)
}

func dist(a, b hit) int32 {
	switch {
	case a.re <= b.rs:
		return b.rs - a.re
	case b.re <= a.rs:
		return a.rs - b.re
	}
	return 0
}

func contains(outer, inner hit) bool { return outer.rs <= inner.rs && inner.re <= outer.re }

// litOK applies word-boundary and script checks to a hit of literal l.
func litOK(nt *normText, l *literal, rs, re int32) bool {
	nr := nt.nr
	if l.wordL && rs > 0 && !nr[rs].gap && nr[rs-1].sc.word() {
		return false
	}
	if l.wordR && int(re) < len(nr) && !nr[re].gap && nr[re].sc.word() {
		return false
	}
	if l.latin {
		// Inside a Latin literal the text may not split words where the
		// pattern does not ("is cam" is not "scam"), unless every letter
		// is spaced out ("s c a m").
		extra, inner := 0, int(re-rs-1)-len(l.gaps)
		for i := rs + 1; i < re; i++ {
			if nr[i].gap && !l.gapAt(i-rs) {
				extra++
			}
		}
		if extra > 0 && extra != inner {
			return false
		}
	} else if l.short && re-rs > 1 {
		// a short kana word does not span punctuation (め、クラ) unless
		// every character is split off (詐・欺, し ね)
		gaps := 0
		for i := rs + 1; i < re; i++ {
			if nr[i].gap {
				gaps++
			}
		}
		if gaps > 0 && gaps != int(re-rs-1) {
			return false
		}
	}
	if l.kana != nil {
		// a katakana word must not continue into more katakana (カスタマー)
		if l.kana[0] == scKata && rs > 0 && !nr[rs].gap && nr[rs-1].sc == scKata {
			return false
		}
		if l.kana[len(l.kana)-1] == scKata && int(re) < len(nr) && !nr[re].gap && nr[re].sc == scKata {
			return false
		}
		for i := rs; i < re; i++ {
			want, got := l.kana[i-rs], nr[i].sc
			if want.kana() && got.kana() && want != got {
				return false
			}
		}
	}
	return true
}

func (d *Detector) collect(sc *scratch, pi int32, rs, re int32, masked bool) {
	nt := &sc.nt
	for _, p := range d.pay[pi] {
		if masked && p.kind != pkTerm && p.kind != pkTarget {
			continue
		}
		if !litOK(nt, &d.lits[p.lit], rs, re) {
			continue
		}
		h := hit{rs: rs, re: re, ref: p.ref}
		switch p.kind {
		case pkTerm:
			sc.terms = append(sc.terms, h)
		case pkAnchor:
			sc.anchors = append(sc.anchors, h)
		case pkRequire:
			sc.reqs = append(sc.reqs, h)
		case pkTarget:
			sc.tgts = append(sc.tgts, h)
		case pkContext:
			sc.ctx[p.ref] = true
		case pkExclude:
			sc.excl = append(sc.excl, h)
		case pkCancel:
			sc.canc = append(sc.canc, h)
		case pkExcept:
			sc.exc = append(sc.exc, h)
		case pkClause:
			sc.clauseH = append(sc.clauseH, h)
		case pkOther:
			sc.otherH = append(sc.otherH, h)
		case pkAnaphor:
			sc.anaphH = append(sc.anaphH, h)
		}
	}
}

// maskHits matches maskable literals where the text hides characters with
// ○ ● ＊ ×: masks are rare, so each mask position is compared directly
// against the literal list instead of bloating the automaton with variants.
func (d *Detector) maskHits(sc *scratch) {
	nr := sc.nt.nr
	seen := 0
	for m := range nr {
		if nr[m].r != maskRune {
			continue
		}
		if seen++; seen > maxMaskPositions {
			return
		}
		for _, pi := range d.maskPats {
			pat := d.lits[d.pay[pi][0].lit].runes
			n := len(pat)
			if n < 2 {
				continue
			}
			maxMasks := 1
			if n >= 5 {
				maxMasks = 2
			}
			for k := range n {
				start := m - k
				if start < 0 || start+n > len(nr) {
					continue
				}
				masks, kanji, ok := 0, false, true
				for j := range n {
					t := &nr[start+j]
					if t.r == maskRune {
						if start+j < m { // counted from the earlier mask
							ok = false
							break
						}
						masks++
						continue
					}
					if t.r != pat[j] {
						ok = false
						break
					}
					if t.sc == scKanji {
						kanji = true
					}
				}
				if !ok || masks > maxMasks || n-masks < 1 || (n-masks < 2 && !kanji) {
					continue
				}
				d.collect(sc, pi, int32(start), int32(start+n), true)
			}
		}
	}
}

// Detect returns the verdict on one text. It is safe for concurrent use.
//
// Matches hold every abusive and complaint hit that survived the cancellers,
// in text order, with Start/End in runes of text and Term the original
// span; Target is set when the hit is attributed to a target. Alert is true
// when an abusive (non-complaint) match is attributed. Categories lists the
// abusive categories found, attributed or not, the main one first (the
// category of the top match: attributed, then most severe, then highest
// score). Targets lists the attributed target ids, abused ones first.
// Severity is the highest rule severity among the alerting matches (or,
// without an alert, among the abusive matches; info when there are none).
// Score grows with rule weight and target kind (staff 1.0, company 0.85,
// product 0.75, none 0.5): the top match plus a tenth of the others.
func (d *Detector) Detect(text string) mention.Verdict {
	sc := d.pool.Get().(*scratch)
	defer d.pool.Put(sc)
	return d.run(sc, text, nil)
}

// run is Detect on a scratch, recording its decisions in tr when set.
func (d *Detector) run(sc *scratch, text string, tr *tracer) mention.Verdict {
	sc.reset(len(d.targets))
	sc.tr = tr
	nt := &sc.nt
	nt.off = d.off
	nt.ac = d.ac
	nt.normalize(text)
	v := mention.Verdict{Severity: mention.SeverityInfo, Categories: []string{}, Targets: []string{}, Matches: []mention.Match{}}
	if len(nt.buf) == 0 {
		return v
	}
	if nt.acOK {
		// found while normalizing, already in rune indices
		for _, m := range nt.acm {
			d.collect(sc, m.pat, m.start, m.end, false)
		}
	} else {
		sc.acm = d.ac.scan(nt.buf, sc.acm[:0])
		for _, m := range sc.acm {
			d.collect(sc, m.pat, nt.byteRune(int(m.start)), nt.byteRune(int(m.end)), false)
		}
	}
	if len(d.maskPats) > 0 && nt.mask {
		d.maskHits(sc)
	}
	d.filterTargets(sc)
	d.runRegexes(sc)
	d.filterTerms(sc)
	d.attribute(sc)
	return d.verdict(sc, v)
}

func (d *Detector) sent(sc *scratch, i int32) int32 { return sc.nt.nr[i].sent }

// filterTargets applies Exclude and Context, the implicit context of staff
// aliases, and drops target hits inside longer target hits.
func (d *Detector) filterTargets(sc *scratch) {
	out := sc.tgts[:0]
	explicit := false
	for _, h := range sc.tgts {
		a := d.aliases[h.ref]
		t := &d.targets[a.target]
		excluded := false
		for _, x := range sc.excl {
			if x.ref == a.target && contains(x, h) {
				excluded = true
				break
			}
		}
		if excluded {
			if sc.tr != nil {
				sc.tr.target(d, sc, h, a.target, "excluded (inside an exclude phrase)")
			}
			continue
		}
		h.ref = a.target
		h.flag = false
		if !a.isName {
			if len(t.Context) > 0 {
				if !sc.ctx[a.target] {
					if sc.tr != nil {
						sc.tr.target(d, sc, h, a.target, "set aside: the alias needs one of its context words")
					}
					continue
				}
			} else if t.Kind == mention.KindStaff {
				// A bare surname counts only in a post that also names
				// another target (the company, a product, a full name).
				h.flag = true
			}
		}
		if !h.flag {
			explicit = true
		}
		out = append(out, h)
	}
	w := 0
	for _, h := range out {
		if !h.flag || explicit {
			out[w] = h
			w++
		} else if sc.tr != nil {
			sc.tr.target(d, sc, h, h.ref, "set aside: a bare staff alias counts only when the post names another target")
		}
	}
	if sc.tr != nil {
		for _, h := range out[:w] {
			sc.tr.target(d, sc, h, h.ref, "inside a longer target name")
		}
	}
	sc.tgts = dropContained(out[:w], func(hit) int { return 0 })
	if sc.tr != nil {
		for _, h := range sc.tgts {
			sc.tr.target(d, sc, h, h.ref, "kept")
		}
	}
}

// runRegexes runs each regex rule inside merged windows around its anchors.
func (d *Detector) runRegexes(sc *scratch) {
	if len(sc.anchors) == 0 {
		return
	}
	nt := &sc.nt
	n := int32(len(nt.nr))
	slices.SortFunc(sc.anchors, func(a, b hit) int {
		if a.ref != b.ref {
			return int(a.ref - b.ref)
		}
		return int(a.rs - b.rs)
	})
	for i := 0; i < len(sc.anchors); {
		r := &d.rules[sc.anchors[i].ref]
		ws, we := max(0, sc.anchors[i].rs-r.window), min(n, sc.anchors[i].re+r.window)
		j := i + 1
		for ; j < len(sc.anchors) && sc.anchors[j].ref == sc.anchors[i].ref; j++ {
			s, e := max(0, sc.anchors[j].rs-r.window), min(n, sc.anchors[j].re+r.window)
			if s > we {
				d.regexWindow(sc, r, sc.anchors[i].ref, ws, we)
				ws = s
			}
			we = max(we, e)
		}
		d.regexWindow(sc, r, sc.anchors[i].ref, ws, we)
		i = j
	}
}

func (d *Detector) regexWindow(sc *scratch, r *rule, ri, ws, we int32) {
	nt := &sc.nt
	bs, be := nt.r2b[ws], nt.r2b[we]
	for _, m := range r.re.FindAllSubmatchIndex(nt.buf[bs:be], -1) {
		s, e := m[0], m[1]
		if len(m) >= 4 && m[2] >= 0 {
			s, e = m[2], m[3]
		}
		if e <= s {
			continue
		}
		rs, re := nt.byteRune(int(bs)+s), nt.byteRune(int(bs)+e)
		if re <= rs {
			continue
		}
		// a match never cuts a run of digits (a phone number inside a
		// longer number is no phone number)
		if (rs > 0 && nt.nr[rs].sc == scDigit && nt.nr[rs-1].sc == scDigit) ||
			(int(re) < len(nt.nr) && nt.nr[re-1].sc == scDigit && nt.nr[re].sc == scDigit) {
			continue
		}
		dup := false
		for _, h := range sc.terms {
			if h.ref == ri && h.rs == rs && h.re == re {
				dup = true
				break
			}
		}
		if !dup {
			sc.terms = append(sc.terms, hit{rs: rs, re: re, ref: ri})
		}
	}
}

// filterTerms drops hits inside target names, hits whose required companion
// is missing and cancelled hits, then removes hits contained in another hit
// of the same category.
func (d *Detector) filterTerms(sc *scratch) {
	byStart := func(a, b hit) int { return int(a.rs - b.rs) }
	slices.SortFunc(sc.canc, byStart)
	slices.SortFunc(sc.reqs, byStart)
	out := sc.terms[:0]
	for _, h := range sc.terms {
		inTarget := false
		for _, t := range sc.tgts {
			if contains(t, h) {
				inTarget = true
				break
			}
		}
		if inTarget {
			if sc.tr != nil {
				sc.tr.hit(d, sc, h, "dropped: inside a target name")
			}
			continue
		}
		r := &d.rules[h.ref]
		if r.hasReq && !d.hasCompanion(sc, h, r) {
			if sc.tr != nil {
				sc.tr.hit(d, sc, h, fmt.Sprintf("dropped: no companion word (requires) within %d runes in the sentence", r.within))
			}
			continue
		}
		if ci, at := d.cancelled(sc, h, r.cat); ci >= 0 {
			if sc.tr != nil {
				sc.tr.cancel(d, sc, h, ci, at)
			}
			continue
		}
		out = append(out, h)
	}
	if sc.tr != nil {
		for _, h := range out {
			sc.tr.hit(d, sc, h, "dropped: inside a longer hit of the same category")
		}
	}
	sc.terms = dropContained(out, func(h hit) int { return d.rules[h.ref].cat })
	if sc.tr != nil {
		for _, h := range sc.terms {
			sc.tr.hit(d, sc, h, "kept")
		}
	}
}

// dropContained sorts hits by position and drops every hit that lies inside
// another hit of the same group (or repeats one with the same ref): one
// sweep, since after sorting by start (longest first) a hit is contained iff
// an earlier hit of its group reaches at least as far.
func dropContained(hs []hit, group func(hit) int) []hit {
	slices.SortFunc(hs, func(a, b hit) int {
		if a.rs != b.rs {
			return int(a.rs - b.rs)
		}
		if a.re != b.re {
			return int(b.re - a.re)
		}
		return int(a.ref - b.ref)
	})
	var reach [32]int32 // per group: furthest end of a kept hit starting earlier
	var same [32]hit    // per group: first kept hit at the current start
	for i := range reach {
		reach[i] = -1
		same[i] = hit{rs: -1}
	}
	w := 0
	for _, h := range hs {
		g := group(h) & 31
		if same[g].rs != h.rs {
			if same[g].rs >= 0 {
				reach[g] = max(reach[g], same[g].re)
			}
			same[g] = hit{rs: -1}
		}
		if reach[g] >= h.re {
			continue // inside a hit that starts earlier
		}
		if f := same[g]; f.rs == h.rs && (f.re > h.re || f.ref == h.ref) {
			continue // inside a longer hit at the same start, or a repeat
		}
		if same[g].rs != h.rs {
			same[g] = h
		}
		hs[w] = h
		w++
	}
	return hs[:w]
}

func (d *Detector) hasCompanion(sc *scratch, h hit, r *rule) bool {
	s := d.sent(sc, h.rs)
	for _, q := range sc.sentence(sc.reqs, s) {
		if q.ref == h.ref && dist(h, q) <= r.within {
			return true
		}
	}
	return false
}

// sentence returns the hits of hs (sorted by start) that start in sentence s.
func (sc *scratch) sentence(hs []hit, s int32) []hit {
	nr := sc.nt.nr
	lo, _ := slices.BinarySearchFunc(hs, s, func(h hit, s int32) int { return int(nr[h.rs].sent - s) })
	hi := lo
	for hi < len(hs) && nr[hs[hi].rs].sent == s {
		hi++
	}
	return hs[lo:hi]
}

// cancelled returns the canceller that voids hit h (of category cat) and
// the span of the canceller's literal, or -1.
func (d *Detector) cancelled(sc *scratch, h hit, cat int) (int32, hit) {
	nt := &sc.nt
	s := d.sent(sc, h.rs)
	for _, c := range sc.sentence(sc.canc, s) {
		cn := &d.cancs[c.ref]
		if !cn.applies(cat, h.ref) {
			continue
		}
		except := false
		for _, x := range sc.exc {
			if x.ref == c.ref && contains(x, c) {
				except = true
				break
			}
		}
		if except {
			continue
		}
		fires := false
		switch cn.scope {
		case scopeBefore:
			fires = c.re <= h.rs && h.rs-c.re <= cn.window && !targetBetween(sc, c.re, h.rs)
		case scopeAfter:
			fires = c.rs >= h.re && c.rs-h.re <= cn.window && !targetBetween(sc, h.re, c.rs)
		case scopeSentence:
			fires = true
		}
		if fires && cn.unlessQuestion && questionAfter(nt, c.re) {
			fires = false
		}
		if fires {
			return c.ref, c
		}
	}
	for _, ci := range d.direct {
		cn := &d.cancs[ci]
		if !cn.applies(cat, h.ref) {
			continue
		}
		switch cn.scope {
		case scopeAfter:
			for i := range cn.lits {
				if litAt(nt, &cn.lits[i], h.re) {
					return ci, hit{rs: h.re, re: h.re + int32(len(cn.lits[i].runes))}
				}
			}
		case scopeBefore:
			for i := range cn.lits {
				if p := h.rs - int32(len(cn.lits[i].runes)); p >= 0 && litAt(nt, &cn.lits[i], p) {
					return ci, hit{rs: p, re: h.rs}
				}
			}
		case scopeAfterQuote:
			os, oe := nt.nr[h.rs].s, nt.nr[h.re-1].e
			for _, q := range nt.quotes {
				if !(q[0] < os && oe <= q[1]) {
					continue
				}
				// first normalized rune after the closing quote
				k := h.re
				for int(k) < len(nt.nr) && nt.nr[k].s <= q[1] {
					k++
				}
				for off := int32(0); off <= cn.window; off++ {
					for i := range cn.lits {
						if litAt(nt, &cn.lits[i], k+off) {
							return ci, hit{rs: k + off, re: k + off + int32(len(cn.lits[i].runes))}
						}
					}
				}
			}
		}
	}
	return -1, hit{}
}

// questionAfter reports whether the canceller ending at normalized rune p is
// asked rather than stated: a question mark follows, after at most a few
// sentence-final particles (詐欺じゃない？, 詐欺じゃないよね?).
func questionAfter(nt *normText, p int32) bool {
	nr := nt.nr
	k := p
	for n := 0; n < 4 && int(k) < len(nr); n++ {
		switch nr[k].r {
		case 'よ', 'ね', 'な', 'か', 'の', 'さ', 'わ', 'w':
			k++
			continue
		}
		break
	}
	if k == 0 {
		return false
	}
	// the original text right after the last rune kept: spaces, ! and at
	// least one ? before anything else
	o := nr[k-1].e
	if int(k) < len(nr) {
		if nr[k].r != breakRune {
			return false
		}
		o = nr[k].s
	}
	src := nt.src
	if !nt.obOK {
		nt.buildOffsets()
	}
	for i := int(o); i < nt.origRunes() && i < int(o)+4; i++ {
		switch src[nt.ob[i]:nt.ob[i+1]] {
		case "?", "？":
			return true
		case " ", "　", "!", "！", "\n":
			continue
		}
		return false
	}
	return false
}

// litAt reports whether literal l occurs in the normalized text at p.
func litAt(nt *normText, l *literal, p int32) bool {
	if p < 0 || int(p)+len(l.runes) > len(nt.nr) {
		return false
	}
	for i, r := range l.runes {
		if nt.nr[int(p)+i].r != r {
			return false
		}
	}
	return litOK(nt, l, p, p+int32(len(l.runes)))
}

// targetBetween reports whether a target name lies in [a, b): a canceller
// separated from the hit by a target name speaks about something else
// (私は田中が無能だと思う).
func targetBetween(sc *scratch, a, b int32) bool {
	i, _ := slices.BinarySearchFunc(sc.tgts, a, func(t hit, a int32) int { return int(t.rs - a) })
	for ; i < len(sc.tgts) && sc.tgts[i].rs < b; i++ {
		if sc.tgts[i].re <= b {
			return true
		}
	}
	return false
}

// attribute finds, for every surviving hit, the target it applies to: in
// the same sentence, or in a preceding sentence when the hit's sentence
// names no target (the topic carries forward); never a target in a later
// sentence. A target in the hit's own clause is preferred; one in another
// clause must pass contrastBlocks (clause.go). Then the nearest wins, ties
// going to staff over company over product.
func (d *Detector) attribute(sc *scratch) {
	nt := &sc.nt
	sc.sentTgt = slices.Grow(sc.sentTgt[:0], int(nt.nsent))[:nt.nsent]
	clear(sc.sentTgt)
	for _, t := range sc.tgts {
		sc.sentTgt[d.sent(sc, t.rs)] = true
	}
	if len(sc.terms) > 0 && len(sc.tgts) > 0 {
		d.prepareClauses(sc)
	}
	for _, h := range sc.terms {
		r := &d.rules[h.ref]
		hs := d.sent(sc, h.rs)
		hc := -1
		best, bestD, bestSame := int32(-1), int32(math.MaxInt32), false
		var bestHit hit
		if r.objectBinds && d.objectElsewhere(sc, h) {
			if sc.tr != nil {
				sc.tr.hit(d, sc, h, "").Attribution = "not attributed: it acts on an object (…を) that is no target"
			}
			sc.found = append(sc.found, found{hit: h, target: -1, score: r.weight * kindFactor(d, -1)})
			continue
		}
		// targets are sorted by start and no longer than d.maxTarget
		i, _ := slices.BinarySearchFunc(sc.tgts, h.rs-r.near-d.maxTarget, func(t hit, x int32) int { return int(t.rs - x) })
		for _, t := range sc.tgts[i:] {
			if t.rs > h.re+r.near {
				break
			}
			dd := dist(h, t)
			if dd > r.near {
				continue
			}
			if r.kinds != 0 && r.kinds&(1<<uint(d.targets[t.ref].rank)) == 0 {
				continue
			}
			same := true
			if r.sameSentence {
				ts := d.sent(sc, t.rs)
				if ts != hs && (ts > hs || sc.sentTgt[hs]) {
					continue
				}
				if hc < 0 {
					hc = sc.clauseOf(h.rs)
				}
				if same = sc.clauseOf(t.rs) == hc; !same {
					if blocked, why := d.contrastBlocks(sc, h, t, hc); blocked {
						if sc.tr != nil {
							sc.tr.blocked(h, t, why)
						}
						continue
					}
				}
			}
			better := best < 0 || (same && !bestSame) ||
				(same == bestSame && (dd < bestD || (dd == bestD && d.targets[t.ref].rank > d.targets[best].rank)))
			if better {
				best, bestD, bestSame, bestHit = t.ref, dd, same, t
			}
		}
		if best >= 0 {
			allowed := func(u hit) bool {
				if !r.sameSentence || hc < 0 || sc.clauseOf(u.rs) == hc {
					return true
				}
				blocked, _ := d.contrastBlocks(sc, h, u, hc)
				return !blocked
			}
			if u, ok := d.phraseHead(sc, bestHit, r, allowed); ok {
				best = u.ref
			}
		}
		if sc.tr != nil {
			sc.tr.attributed(d, sc, h, best, bestD, bestSame)
		}
		if best < 0 && r.kinds != 0 {
			// a rule limited to some target kinds (a phone number near a
			// staff member) means nothing without one
			if sc.tr != nil {
				sc.tr.hit(d, sc, h, "dropped: its rule counts only when attributed to a target of its target_kinds")
			}
			continue
		}
		f := found{hit: h, target: best}
		f.score = r.weight * kindFactor(d, best)
		sc.found = append(sc.found, f)
	}
}

func kindFactor(d *Detector, t int32) float64 {
	if t < 0 {
		return 0.5
	}
	switch d.targets[t].Kind {
	case mention.KindStaff:
		return 1.0
	case mention.KindCompany:
		return 0.85
	}
	return 0.75
}

func (d *Detector) verdict(sc *scratch, v mention.Verdict) mention.Verdict {
	nt := &sc.nt
	if len(sc.found) == 0 {
		return v
	}
	type catAgg struct {
		cat     int
		alert   bool
		sev     int
		score   float64
		first   int32
		present bool
	}
	var cats [16]catAgg
	top := -1
	var maxScore, sumScore float64
	sev := -1
	v.Matches = make([]mention.Match, 0, len(sc.found))
	for i, f := range sc.found {
		r := &d.rules[f.ref]
		m := mention.Match{
			Category: categoryTable[r.cat].id,
			Rule:     r.id,
			Start:    int(nt.nr[f.rs].s),
			End:      int(nt.nr[f.re-1].e),
		}
		m.Term = nt.origSlice(int32(m.Start), int32(m.End))
		if f.target >= 0 {
			m.Target = d.targets[f.target].ID
		}
		v.Matches = append(v.Matches, m)
		if top < 0 || d.better(f, sc.found[top]) {
			top = i
		}
		if r.cat == complaintIndex {
			continue
		}
		alert := f.target >= 0
		c := &cats[r.cat]
		if !c.present {
			*c = catAgg{cat: r.cat, present: true, first: f.rs, sev: -1}
		}
		c.alert = c.alert || alert
		c.sev = max(c.sev, r.sev.Rank())
		c.score = max(c.score, f.score)
		if alert {
			v.Alert = true
		}
		sumScore += f.score
		maxScore = max(maxScore, f.score)
	}
	// severity: of the alerting matches if any, else of the abusive ones
	for _, f := range sc.found {
		r := &d.rules[f.ref]
		if r.cat == complaintIndex || (v.Alert && f.target < 0) {
			continue
		}
		sev = max(sev, r.sev.Rank())
	}
	v.Severity = rankSeverity(sev)
	if maxScore > 0 {
		v.Score = math.Round((maxScore+0.1*(sumScore-maxScore))*1000) / 1000
	}
	var orderBuf [16]catAgg
	order := orderBuf[:0]
	for _, c := range cats {
		if c.present {
			order = append(order, c)
		}
	}
	slices.SortStableFunc(order, func(a, b catAgg) int {
		switch {
		case a.alert != b.alert:
			if a.alert {
				return -1
			}
			return 1
		case a.sev != b.sev:
			return b.sev - a.sev
		case a.score != b.score:
			if a.score > b.score {
				return -1
			}
			return 1
		}
		return int(a.first - b.first)
	})
	// the top match's category leads
	if top >= 0 {
		tc := d.rules[sc.found[top].ref].cat
		for i, c := range order {
			if c.cat == tc && i > 0 {
				copy(order[1:i+1], order[:i])
				order[0] = c
				break
			}
		}
	}
	if len(order) > 0 {
		v.Categories = make([]string, 0, len(order))
	}
	for _, c := range order {
		v.Categories = append(v.Categories, categoryTable[c.cat].id)
	}
	// targets: by best match score, alerting ones first
	type tscore struct {
		t     int32
		score float64
		abuse bool
	}
	var tsBuf [8]tscore
	ts := tsBuf[:0]
	for _, f := range sc.found {
		if f.target < 0 {
			continue
		}
		abuse := d.rules[f.ref].cat != complaintIndex
		k := slices.IndexFunc(ts, func(x tscore) bool { return x.t == f.target })
		if k < 0 {
			ts = append(ts, tscore{t: f.target, score: f.score, abuse: abuse})
			continue
		}
		ts[k].score = max(ts[k].score, f.score)
		ts[k].abuse = ts[k].abuse || abuse
	}
	slices.SortStableFunc(ts, func(a, b tscore) int {
		if a.abuse != b.abuse {
			if a.abuse {
				return -1
			}
			return 1
		}
		if a.score > b.score {
			return -1
		}
		if a.score < b.score {
			return 1
		}
		return 0
	})
	if len(ts) > 0 {
		v.Targets = make([]string, 0, len(ts))
	}
	for _, t := range ts {
		v.Targets = append(v.Targets, d.targets[t.t].ID)
	}
	slices.SortStableFunc(v.Matches, func(a, b mention.Match) int {
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		return a.End - b.End
	})
	if top >= 0 {
		v.Explanation = d.explain(sc, sc.found[top], len(sc.found))
	}
	return v
}

// better orders matches for the explanation and the main category:
// abusive before complaint, attributed before not, then severity and score.
func (d *Detector) better(f, g found) bool {
	fa, ga := d.rules[f.ref].cat != complaintIndex, d.rules[g.ref].cat != complaintIndex
	if fa != ga {
		return fa
	}
	if fl, gl := f.target >= 0, g.target >= 0; fl != gl {
		return fl
	}
	fs, gs := d.rules[f.ref].sev.Rank(), d.rules[g.ref].sev.Rank()
	if fs != gs {
		return fs > gs
	}
	return f.score > g.score
}

func rankSeverity(r int) mention.Severity {
	switch r {
	case 1:
		return mention.SeverityMedium
	case 2:
		return mention.SeverityHigh
	case 3:
		return mention.SeverityCritical
	}
	return mention.SeverityInfo
}

func (d *Detector) explain(sc *scratch, f found, n int) string {
	nt := &sc.nt
	r := &d.rules[f.ref]
	term := strconv.Quote(nt.origSlice(nt.nr[f.rs].s, nt.nr[f.re-1].e))
	more := ""
	if n > 1 {
		more = " (" + strconv.Itoa(n) + " matches in all)"
	}
	cat := categoryTable[r.cat].id
	// plain concatenation: one allocation, where fmt boxes every argument
	if f.target < 0 {
		if r.cat == complaintIndex {
			return "Rule " + r.id + " matched " + term + ": a complaint naming no watched target" + more + "."
		}
		return "Rule " + r.id + " matched " + term + " (" + cat + ") but no watched target is named near it, so no alert" + more + "."
	}
	t := &d.targets[f.target]
	name := t.Name
	if name == "" && len(t.Aliases) > 0 {
		name = t.Aliases[0]
	}
	if r.cat == complaintIndex {
		return "Rule " + r.id + " matched " + term + ": legitimate criticism of " + string(t.Kind) + " " + t.ID + " (" + name + "), not alerted" + more + "."
	}
	return "Rule " + r.id + " matched " + term + " (" + cat + ", " + string(r.sev) + ") aimed at " + string(t.Kind) + " " + t.ID + " (" + name + ")" + more + "."
}
