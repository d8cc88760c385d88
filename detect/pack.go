package detect

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"

	"gopkg.in/yaml.v3"

	"mimamori/detect/patterns"
	"mimamori/mention"
)

// Category ids, from the design's taxonomy.
const (
	CatThreat                = "threat"
	CatDoxxing               = "doxxing"
	CatDefamation            = "defamation"
	CatInsult                = "insult"
	CatIntimidation          = "intimidation"
	CatDiscrimination        = "discrimination"
	CatSexual                = "sexual"
	CatDisruption            = "disruption"
	CatUnauthorizedRecording = "unauthorized_recording"
	CatUnreasonableDemand    = "unreasonable_demand"
	CatComplaint             = "complaint"
)

var categoryTable = []struct {
	id  string
	sev mention.Severity
}{
	{CatThreat, mention.SeverityCritical},
	{CatDoxxing, mention.SeverityCritical},
	{CatDefamation, mention.SeverityHigh},
	{CatInsult, mention.SeverityHigh},
	{CatIntimidation, mention.SeverityHigh},
	{CatDiscrimination, mention.SeverityHigh},
	{CatSexual, mention.SeverityHigh},
	{CatDisruption, mention.SeverityHigh},
	{CatUnauthorizedRecording, mention.SeverityHigh},
	{CatUnreasonableDemand, mention.SeverityMedium},
	{CatComplaint, mention.SeverityInfo},
}

// Categories returns the category ids in the design's order.
func Categories() []string {
	out := make([]string, len(categoryTable))
	for i, c := range categoryTable {
		out[i] = c.id
	}
	return out
}

// DefaultSeverity returns the design's default severity of a category and
// whether the category is known.
func DefaultSeverity(category string) (mention.Severity, bool) {
	i := categoryIndex(category)
	if i < 0 {
		return "", false
	}
	return categoryTable[i].sev, true
}

func categoryIndex(c string) int {
	for i, x := range categoryTable {
		if x.id == c {
			return i
		}
	}
	return -1
}

var complaintIndex = categoryIndex(CatComplaint)

// Pattern pack YAML. See patterns/default.yaml for the documented format.
type packFile struct {
	Version     int             `yaml:"version"`
	Rules       []ruleSpec      `yaml:"rules"`
	Cancellers  []cancelSpec    `yaml:"cancellers"`
	Attribution attributionSpec `yaml:"attribution"`
}

// attributionSpec lists the words target attribution uses to find clauses
// and who a clause is about (see patterns/default.yaml). A user file's
// lists extend the default ones.
type attributionSpec struct {
	ClauseBreaks   []string `yaml:"clause_breaks"`
	Particles      []string `yaml:"particles"`
	Copulas        []string `yaml:"copulas"`
	Honorifics     []string `yaml:"honorifics"`
	Anaphora       []string `yaml:"anaphora"`
	Parts          []string `yaml:"parts"`
	Others         []string `yaml:"others"`
	EntitySuffixes []string `yaml:"entity_suffixes"`
}

func (a *attributionSpec) extend(b attributionSpec) {
	a.ClauseBreaks = append(a.ClauseBreaks, b.ClauseBreaks...)
	a.Particles = append(a.Particles, b.Particles...)
	a.Copulas = append(a.Copulas, b.Copulas...)
	a.Honorifics = append(a.Honorifics, b.Honorifics...)
	a.Anaphora = append(a.Anaphora, b.Anaphora...)
	a.Parts = append(a.Parts, b.Parts...)
	a.Others = append(a.Others, b.Others...)
	a.EntitySuffixes = append(a.EntitySuffixes, b.EntitySuffixes...)
}

type ruleSpec struct {
	ID          string   `yaml:"id"`
	Category    string   `yaml:"category"`
	Severity    string   `yaml:"severity"`
	Weight      *float64 `yaml:"weight"`
	Lang        string   `yaml:"lang"`
	Description string   `yaml:"description"`
	Terms       []string `yaml:"terms"`
	Regex       string   `yaml:"regex"`
	Anchors     []string `yaml:"anchors"`
	Window      int      `yaml:"window"`
	Requires    []string `yaml:"requires"`
	Within      int      `yaml:"within"`
	NearTarget  int      `yaml:"near_target"`
	// SameSentence (default true) keeps attribution inside the sentence
	// (or a preceding one when the hit's sentence names no target); false
	// allows any target within NearTarget.
	SameSentence *bool `yaml:"same_sentence"`
	StrictKana   bool  `yaml:"strict_kana"`
	// ObjectBinds: a noun marked with を right before the hit is what the
	// hit acts on (ゾンビを殺す); unless it is a target or an anaphor
	// (お前を, あいつを) the hit is not attributed.
	ObjectBinds bool     `yaml:"object_binds"`
	TargetKinds []string `yaml:"target_kinds"`
	Disabled    bool     `yaml:"disabled"`

	file string
}

type cancelSpec struct {
	ID          string   `yaml:"id"`
	Description string   `yaml:"description"`
	Scope       string   `yaml:"scope"`
	Window      *int     `yaml:"window"`
	Categories  []string `yaml:"categories"`
	Rules       []string `yaml:"rules"`
	Terms       []string `yaml:"terms"`
	Except      []string `yaml:"except"`
	// UnlessQuestion: the canceller does not apply when a question mark
	// follows it (詐欺じゃない？ asks, it does not deny).
	UnlessQuestion bool `yaml:"unless_question"`
	Disabled       bool `yaml:"disabled"`

	file string
}

// Defaults applied when a rule leaves a field out.
const (
	defaultNearTarget  = 60
	defaultWithin      = 12
	defaultRegexWindow = 30
	defaultCancelWin   = 4
	maxDistance        = 10000
)

// defaultPackName names the embedded pack in error messages.
const defaultPackName = "detect/patterns/default.yaml"

// pack is the merged set of rules and cancellers, in load order.
type pack struct {
	rules       []ruleSpec
	cancellers  []cancelSpec
	attribution attributionSpec
}

func parsePack(name string, data []byte) (*packFile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var pf packFile
	if err := dec.Decode(&pf); err != nil {
		if errors.Is(err, io.EOF) {
			return &pf, nil
		}
		return nil, fmt.Errorf("detect: %s: %w", name, err)
	}
	if pf.Version != 0 && pf.Version != 1 {
		return nil, fmt.Errorf("detect: %s: unsupported version %d (want 1)", name, pf.Version)
	}
	seen := map[string]bool{}
	for i := range pf.Rules {
		r := &pf.Rules[i]
		r.file = name
		if r.ID == "" {
			return nil, fmt.Errorf("detect: %s: rule #%d: missing id", name, i+1)
		}
		if seen["r:"+r.ID] {
			return nil, fmt.Errorf("detect: %s: rule %q: duplicate id in the same file", name, r.ID)
		}
		seen["r:"+r.ID] = true
	}
	for i := range pf.Cancellers {
		c := &pf.Cancellers[i]
		c.file = name
		if c.ID == "" {
			return nil, fmt.Errorf("detect: %s: canceller #%d: missing id", name, i+1)
		}
		if seen["c:"+c.ID] {
			return nil, fmt.Errorf("detect: %s: canceller %q: duplicate id in the same file", name, c.ID)
		}
		seen["c:"+c.ID] = true
	}
	return &pf, nil
}

// loadPack merges the default pack (unless disabled) with the user files:
// an entry with an id already present replaces it in place, a new id is
// appended, and disabled: true removes it.
func loadPack(opts Options) (*pack, error) {
	p := &pack{}
	ruleAt := map[string]int{}
	cancAt := map[string]int{}
	merge := func(pf *packFile) {
		for _, r := range pf.Rules {
			if i, ok := ruleAt[r.ID]; ok {
				p.rules[i] = r
				continue
			}
			ruleAt[r.ID] = len(p.rules)
			p.rules = append(p.rules, r)
		}
		for _, c := range pf.Cancellers {
			if i, ok := cancAt[c.ID]; ok {
				p.cancellers[i] = c
				continue
			}
			cancAt[c.ID] = len(p.cancellers)
			p.cancellers = append(p.cancellers, c)
		}
		p.attribution.extend(pf.Attribution)
	}
	if !opts.NoDefaultPack {
		pf, err := parsePack(defaultPackName, patterns.Default)
		if err != nil {
			return nil, err
		}
		merge(pf)
	}
	for _, f := range opts.PatternFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("detect: pattern file: %w", err)
		}
		pf, err := parsePack(f, data)
		if err != nil {
			return nil, err
		}
		merge(pf)
	}
	return p, nil
}

// validateRule checks a rule's fields (not its terms, which compile checks).
func validateRule(r *ruleSpec) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("detect: %s: rule %q: %s", r.file, r.ID, fmt.Sprintf(format, a...))
	}
	if categoryIndex(r.Category) < 0 {
		if r.Category == "" {
			return bad("missing category")
		}
		return bad("unknown category %q", r.Category)
	}
	if r.Severity != "" && !mention.Severity(r.Severity).Valid() {
		return bad("unknown severity %q (info, medium, high, critical)", r.Severity)
	}
	if r.Weight != nil && (*r.Weight < 0 || *r.Weight > 1) {
		return bad("weight %v outside [0, 1]", *r.Weight)
	}
	if len(r.Terms) == 0 && r.Regex == "" {
		return bad("needs terms or regex")
	}
	if r.Regex != "" {
		if _, err := regexp.Compile(r.Regex); err != nil {
			return bad("regex: %v", err)
		}
		if len(r.Anchors) == 0 {
			return bad("regex needs anchors (literals near which it runs)")
		}
	} else if len(r.Anchors) > 0 {
		return bad("anchors without regex")
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"window", r.Window}, {"within", r.Within}, {"near_target", r.NearTarget}} {
		if v.n < 0 || v.n > maxDistance {
			return bad("%s %d outside [0, %d]", v.name, v.n, maxDistance)
		}
	}
	if len(r.Requires) == 0 && r.Within != 0 {
		return bad("within without requires")
	}
	for _, k := range r.TargetKinds {
		switch mention.TargetKind(k) {
		case mention.KindCompany, mention.KindStaff, mention.KindProduct:
		default:
			return bad("unknown target kind %q (company, staff, product)", k)
		}
	}
	return nil
}

type cancelScope uint8

const (
	scopeBefore cancelScope = iota
	scopeAfter
	scopeSentence
	scopeAfterQuote
)

func parseScope(s string) (cancelScope, bool) {
	switch s {
	case "before":
		return scopeBefore, true
	case "after":
		return scopeAfter, true
	case "sentence":
		return scopeSentence, true
	case "after_quote":
		return scopeAfterQuote, true
	}
	return 0, false
}

func validateCanceller(c *cancelSpec) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("detect: %s: canceller %q: %s", c.file, c.ID, fmt.Sprintf(format, a...))
	}
	if _, ok := parseScope(c.Scope); !ok {
		return bad("unknown scope %q (before, after, sentence, after_quote)", c.Scope)
	}
	if len(c.Terms) == 0 {
		return bad("needs terms")
	}
	if c.Window != nil && (*c.Window < 0 || *c.Window > maxDistance) {
		return bad("window %d outside [0, %d]", *c.Window, maxDistance)
	}
	for _, cat := range c.Categories {
		if categoryIndex(cat) < 0 {
			return bad("unknown category %q", cat)
		}
	}
	return nil
}
