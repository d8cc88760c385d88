package detect

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"mimamori/mention"
)

// payKind says what an automaton pattern stands for.
type payKind uint8

const (
	pkTerm    payKind = iota // abusive or complaint literal; ref = rule
	pkAnchor                 // literal near which a rule's regex runs; ref = rule
	pkRequire                // companion literal a rule requires; ref = rule
	pkTarget                 // target name or alias; ref = alias
	pkContext                // target context word; ref = target
	pkExclude                // target exclude phrase; ref = target
	pkCancel                 // canceller literal; ref = canceller
	pkExcept                 // canceller exception; ref = canceller
	pkClause                 // clause break (けど, but); ref unused
	pkOther                  // a word naming another party (他社); ref unused
	pkAnaphor                // a pronoun referring back to a target (あいつ, they); ref 0, or 1 for a part (担当, support)
)

type payload struct {
	kind payKind
	ref  int32
	lit  int32
}

// literal is what boundary checks need to know about a pattern.
type literal struct {
	runes []rune // normalized runes (for the masked-character matcher)
	// wordL / wordR: the literal starts / ends with a Latin letter or digit,
	// so the text must have a word boundary there.
	wordL, wordR bool
	latin        bool
	short        bool     // three runes or fewer and not Latin
	gaps         []int32  // positions i where the pattern has a space before rune i
	kana         []script // per rune, for strict_kana rules; nil otherwise
}

func (l *literal) gapAt(i int32) bool {
	for _, g := range l.gaps {
		if g == i {
			return true
		}
	}
	return false
}

type rule struct {
	id, file     string
	cat          int
	sev          mention.Severity
	weight       float64
	near         int32
	sameSentence bool
	objectBinds  bool
	within       int32
	hasReq       bool
	re           *regexp.Regexp
	window       int32
	strict       bool
	kinds        uint8 // bit per target rank; 0 = every kind
}

type canceller struct {
	id     string
	scope  cancelScope
	window int32
	cats   uint32  // bit per category index
	rules  []int32 // when set, only these rules
	// direct cancellers (adjacent to the hit, or right after a closing
	// quote) are compared in place instead of going through the automaton:
	// their terms are short and frequent (と, を, ない).
	direct bool
	lits   []literal
	// unlessQuestion: a question mark after the canceller voids it
	unlessQuestion bool
}

func (c *canceller) applies(cat int, rule int32) bool {
	if len(c.rules) > 0 {
		for _, r := range c.rules {
			if r == rule {
				return true
			}
		}
		return false
	}
	return c.cats&(1<<uint(cat)) != 0
}

type target struct {
	mention.Target
	rank int // staff 3, company 2, product 1
}

type aliasRef struct {
	target int32
	isName bool
}

type compiler struct {
	pats     []string
	index    map[string]int32
	pay      [][]payload
	lits     []literal
	maskable []bool
	nt       normText
}

// add normalizes text and registers it as a pattern with payload p.
func (c *compiler) add(text string, kind payKind, ref int32, maskable, strict bool) error {
	lit, err := c.literal(text, strict)
	if err != nil {
		return err
	}
	key := string(c.nt.buf)
	pi, ok := c.index[key]
	if !ok {
		pi = int32(len(c.pats))
		c.index[key] = pi
		c.pats = append(c.pats, key)
		c.pay = append(c.pay, nil)
		c.maskable = append(c.maskable, false)
	}
	for _, p := range c.pay[pi] {
		if p.kind == kind && p.ref == ref && (c.lits[p.lit].kana == nil) == (lit.kana == nil) {
			return nil // duplicate literal in the same entry
		}
	}
	c.lits = append(c.lits, lit)
	c.pay[pi] = append(c.pay[pi], payload{kind: kind, ref: ref, lit: int32(len(c.lits) - 1)})
	if maskable {
		c.maskable[pi] = true
	}
	return nil
}

// literal normalizes text into a literal; c.nt.buf holds its UTF-8 after.
func (c *compiler) literal(text string, strict bool) (literal, error) {
	c.nt.normalize(text)
	nr := c.nt.nr
	if len(nr) == 0 {
		return literal{}, fmt.Errorf("%q normalizes to nothing", text)
	}
	lit := literal{runes: make([]rune, len(nr))}
	for i, r := range nr {
		if r.r == breakRune {
			return lit, fmt.Errorf("%q spans a sentence break", text)
		}
		if r.r == maskRune {
			return lit, fmt.Errorf("%q contains a mask character", text)
		}
		lit.runes[i] = r.r
		if i > 0 && r.gap {
			lit.gaps = append(lit.gaps, int32(i))
		}
		if r.sc == scLatin {
			lit.latin = true
		}
	}
	lit.short = !lit.latin && len(nr) <= 3
	lit.wordL = nr[0].sc.word()
	lit.wordR = nr[len(nr)-1].sc.word()
	if strict {
		lit.kana = make([]script, len(nr))
		for i, r := range nr {
			lit.kana[i] = r.sc
		}
	}
	return lit, nil
}

// kindRank orders target kinds: attacks on staff rank above the company.
func kindRank(k mention.TargetKind) int {
	switch k {
	case mention.KindStaff:
		return 3
	case mention.KindCompany:
		return 2
	case mention.KindProduct:
		return 1
	}
	return 0
}

func defaultWeight(s mention.Severity) float64 {
	switch s {
	case mention.SeverityCritical:
		return 1.0
	case mention.SeverityHigh:
		return 0.8
	case mention.SeverityMedium:
		return 0.6
	}
	return 0.2
}

// corporateAffixes are stripped from a company name to derive an alias.
var corporateAffixes = []string{
	"株式会社", "有限会社", "合同会社", "(株)", "（株）", "㈱", "(有)", "（有）",
	" co., ltd.", " co.,ltd.", " co. ltd.", " inc.", " inc", " corporation", " corp.", " ltd.", " llc",
}

func stripCorporate(name string) string {
	s := strings.TrimSpace(name)
	low := strings.ToLower(s)
	for _, a := range corporateAffixes {
		if strings.HasPrefix(low, a) {
			return strings.TrimSpace(s[len(a):])
		}
		if strings.HasSuffix(low, a) {
			return strings.TrimSpace(s[:len(s)-len(a)])
		}
	}
	return ""
}

// compile builds the detector's tables from targets and the merged pack.
func compile(d *Detector, targets []mention.Target, p *pack) error {
	c := &compiler{index: map[string]int32{}}

	seen := map[string]bool{}
	for ti, t := range targets {
		bad := func(format string, a ...any) error {
			return fmt.Errorf("detect: target %q: %s", t.ID, fmt.Sprintf(format, a...))
		}
		if t.ID == "" {
			return fmt.Errorf("detect: target #%d: missing id", ti+1)
		}
		if seen[t.ID] {
			return bad("duplicate id")
		}
		seen[t.ID] = true
		rank := kindRank(t.Kind)
		if rank == 0 {
			return bad("unknown kind %q (company, staff, product)", t.Kind)
		}
		d.targets = append(d.targets, target{Target: t, rank: rank})
		names := 0
		addName := func(s string, isName bool) error {
			if strings.TrimSpace(s) == "" {
				return nil
			}
			d.aliases = append(d.aliases, aliasRef{target: int32(ti), isName: isName})
			if err := c.add(s, pkTarget, int32(len(d.aliases)-1), true, false); err != nil {
				return bad("alias: %v", err)
			}
			names++
			return nil
		}
		if err := addName(t.Name, true); err != nil {
			return err
		}
		if t.Kind == mention.KindCompany {
			if err := addName(stripCorporate(t.Name), true); err != nil {
				return err
			}
		}
		for _, a := range t.Aliases {
			if err := addName(a, false); err != nil {
				return err
			}
		}
		if names == 0 {
			return bad("needs a name or an alias")
		}
		for _, w := range t.Context {
			if err := c.add(w, pkContext, int32(ti), false, false); err != nil {
				return bad("context: %v", err)
			}
		}
		for _, w := range t.Exclude {
			if err := c.add(w, pkExclude, int32(ti), false, false); err != nil {
				return bad("exclude: %v", err)
			}
		}
	}

	for i := range p.rules {
		rs := &p.rules[i]
		if rs.Disabled {
			continue
		}
		if err := validateRule(rs); err != nil {
			return err
		}
		cat := categoryIndex(rs.Category)
		r := rule{
			id: rs.ID, file: rs.file, cat: cat,
			sev:          categoryTable[cat].sev,
			near:         defaultNearTarget,
			sameSentence: true,
			within:       defaultWithin,
			window:       defaultRegexWindow,
			strict:       rs.StrictKana,
		}
		if rs.Severity != "" {
			r.sev = mention.Severity(rs.Severity)
		}
		r.weight = defaultWeight(r.sev)
		if rs.Weight != nil {
			r.weight = *rs.Weight
		}
		if rs.NearTarget > 0 {
			r.near = int32(rs.NearTarget)
		}
		if rs.SameSentence != nil {
			r.sameSentence = *rs.SameSentence
		}
		r.objectBinds = rs.ObjectBinds
		if rs.Within > 0 {
			r.within = int32(rs.Within)
		}
		if rs.Window > 0 {
			r.window = int32(rs.Window)
		}
		if rs.Regex != "" {
			r.re = regexp.MustCompile(rs.Regex) // validated above
		}
		r.hasReq = len(rs.Requires) > 0
		for _, k := range rs.TargetKinds {
			r.kinds |= 1 << uint(kindRank(mention.TargetKind(k)))
		}
		ri := int32(len(d.rules))
		d.rules = append(d.rules, r)
		bad := func(what, term string, err error) error {
			return fmt.Errorf("detect: %s: rule %q: %s %q: %v", rs.file, rs.ID, what, term, err)
		}
		for _, t := range rs.Terms {
			if err := c.add(t, pkTerm, ri, true, rs.StrictKana); err != nil {
				return bad("term", t, err)
			}
		}
		for _, t := range rs.Anchors {
			if err := c.add(t, pkAnchor, ri, false, false); err != nil {
				return bad("anchor", t, err)
			}
		}
		for _, t := range rs.Requires {
			if err := c.add(t, pkRequire, ri, false, false); err != nil {
				return bad("requires", t, err)
			}
		}
	}
	if len(d.rules) == 0 {
		return fmt.Errorf("detect: no pattern rules (the default pack is off and no pattern file adds a rule)")
	}

	for i := range p.cancellers {
		cs := &p.cancellers[i]
		if cs.Disabled {
			continue
		}
		if err := validateCanceller(cs); err != nil {
			return err
		}
		scope, _ := parseScope(cs.Scope)
		cn := canceller{id: cs.ID, scope: scope, window: defaultCancelWin, unlessQuestion: cs.UnlessQuestion}
		if scope == scopeAfterQuote {
			cn.window = 1
		}
		if cs.Window != nil {
			cn.window = int32(*cs.Window)
		}
		for _, id := range cs.Rules {
			k := slices.IndexFunc(d.rules, func(r rule) bool { return r.id == id })
			if k < 0 {
				return fmt.Errorf("detect: %s: canceller %q: unknown or disabled rule %q", cs.file, cs.ID, id)
			}
			cn.rules = append(cn.rules, int32(k))
		}
		if len(cs.Categories) == 0 {
			for ci := range categoryTable {
				if ci != complaintIndex {
					cn.cats |= 1 << uint(ci)
				}
			}
		}
		for _, cat := range cs.Categories {
			cn.cats |= 1 << uint(categoryIndex(cat))
		}
		ci := int32(len(d.cancs))
		cn.direct = len(cs.Except) == 0 && (scope == scopeAfterQuote ||
			((scope == scopeBefore || scope == scopeAfter) && cn.window == 0))
		if cn.direct {
			for _, t := range cs.Terms {
				l, err := c.literal(t, false)
				if err != nil {
					return fmt.Errorf("detect: %s: canceller %q: term %q: %v", cs.file, cs.ID, t, err)
				}
				cn.lits = append(cn.lits, l)
			}
			d.cancs = append(d.cancs, cn)
			d.direct = append(d.direct, ci)
			continue
		}
		d.cancs = append(d.cancs, cn)
		for _, t := range cs.Terms {
			if err := c.add(t, pkCancel, ci, false, false); err != nil {
				return fmt.Errorf("detect: %s: canceller %q: term %q: %v", cs.file, cs.ID, t, err)
			}
		}
		for _, t := range cs.Except {
			if err := c.add(t, pkExcept, ci, false, false); err != nil {
				return fmt.Errorf("detect: %s: canceller %q: except %q: %v", cs.file, cs.ID, t, err)
			}
		}
	}

	if err := compileAttribution(d, c, &p.attribution); err != nil {
		return err
	}

	ac, err := buildAutomaton(c.pats)
	if err != nil {
		return err
	}
	d.ac = ac
	d.pay = c.pay
	for _, ps := range c.pay {
		for _, p := range ps {
			if p.kind == pkTarget {
				d.maxTarget = max(d.maxTarget, int32(len(c.lits[p.lit].runes)))
			}
		}
	}
	d.lits = c.lits
	for pi, m := range c.maskable {
		if m {
			d.maskPats = append(d.maskPats, int32(pi))
		}
	}
	return nil
}

// compileAttribution registers the clause and topic words: clause breaks,
// other parties and anaphora go through the automaton; particles, copulas,
// honorifics and entity suffixes are compared in place where needed.
func compileAttribution(d *Detector, c *compiler, a *attributionSpec) error {
	for _, l := range []struct {
		name string
		kind payKind
		list []string
		ref  int32
	}{{"clause_breaks", pkClause, a.ClauseBreaks, 0}, {"others", pkOther, a.Others, 0},
		{"anaphora", pkAnaphor, a.Anaphora, 0}, {"parts", pkAnaphor, a.Parts, 1}} {
		for _, t := range l.list {
			if err := c.add(t, l.kind, l.ref, false, false); err != nil {
				return fmt.Errorf("detect: attribution: %s %q: %v", l.name, t, err)
			}
		}
	}
	for _, l := range []struct {
		name string
		dst  *[]literal
		list []string
	}{{"particles", &d.particles, a.Particles}, {"copulas", &d.copulas, a.Copulas},
		{"honorifics", &d.honorifics, a.Honorifics}, {"entity_suffixes", &d.suffixes, a.EntitySuffixes}} {
		for _, t := range l.list {
			lit, err := c.literal(t, false)
			if err != nil {
				return fmt.Errorf("detect: attribution: %s %q: %v", l.name, t, err)
			}
			*l.dst = append(*l.dst, lit)
		}
	}
	for _, p := range d.particles {
		if !slices.Contains(d.particleFirst, p.runes[0]) {
			d.particleFirst = append(d.particleFirst, p.runes[0])
		}
	}
	return nil
}
