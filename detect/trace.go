package detect

import (
	"fmt"
	"strings"

	"mimamori/mention"
)

// Trace is a step-by-step account of how Detect judged one text, for users
// debugging their pattern packs (`mimamori patterns test`). Spans carry
// both the original rune offsets (Start, End, Term: what Verdict.Matches
// report) and the normalized ones the patterns are matched against.
type Trace struct {
	Text string `json:"text"`
	// Normalized is the text every literal is matched against; sentence
	// breaks are shown as "\n".
	Normalized string `json:"normalized"`
	Sentences  int    `json:"sentences"`
	// Clauses are the normalized clauses attribution works in (computed
	// only when the text has both a rule hit and a target name).
	Clauses    []string         `json:"clauses,omitempty"`
	Targets    []TraceTarget    `json:"targets"`
	Hits       []TraceHit       `json:"hits"`
	Cancellers []TraceCanceller `json:"cancellers"`
	Verdict    mention.Verdict  `json:"verdict"`
}

// TraceSpan locates a hit in the original and the normalized text.
type TraceSpan struct {
	Start      int    `json:"start"` // runes of the original text
	End        int    `json:"end"`
	Term       string `json:"term"` // the original text of the span
	Normalized string `json:"normalized"`
	NormStart  int    `json:"norm_start"` // runes of the normalized text
	NormEnd    int    `json:"norm_end"`
}

// TraceTarget is a target name or alias found in the text.
type TraceTarget struct {
	TraceSpan
	Target string `json:"target"`
	Kind   string `json:"kind"`
	// Status is "kept" or why the name was set aside.
	Status string `json:"status"`
}

// TraceHit is a rule hit (a literal term or a regex match).
type TraceHit struct {
	TraceSpan
	Rule     string  `json:"rule"`
	Category string  `json:"category"`
	Severity string  `json:"severity"`
	Weight   float64 `json:"weight"`
	// Status is "kept" or why the hit was dropped: inside a target name,
	// no companion word, cancelled, inside a longer hit.
	Status string `json:"status"`
	// Canceller is the id of the canceller that voided the hit.
	Canceller string `json:"canceller,omitempty"`
	// Target is the id of the target the hit was attributed to.
	Target string `json:"target,omitempty"`
	// Attribution says how the target was chosen or why none was.
	Attribution string `json:"attribution,omitempty"`
}

// TraceCanceller is a canceller that fired.
type TraceCanceller struct {
	TraceSpan
	ID    string `json:"id"`
	Scope string `json:"scope"`
	// Cancelled names the hit it voided: rule id and term.
	Cancelled string `json:"cancelled"`
}

type hitKey struct{ rs, re, ref int32 }

// tracer collects the decisions of one Detect call.
type tracer struct {
	targets []TraceTarget
	hits    []TraceHit
	hitAt   map[hitKey]int
	cancs   []TraceCanceller
	block   map[hitKey][]string
}

func (d *Detector) span(sc *scratch, rs, re int32) TraceSpan {
	nt := &sc.nt
	if re <= rs || int(re) > len(nt.nr) {
		return TraceSpan{}
	}
	s, e := nt.nr[rs].s, nt.nr[re-1].e
	return TraceSpan{
		Start: int(s), End: int(e), Term: nt.origSlice(s, e),
		Normalized: string(nt.buf[nt.r2b[rs]:nt.r2b[re]]), NormStart: int(rs), NormEnd: int(re),
	}
}

func (tr *tracer) hit(d *Detector, sc *scratch, h hit, status string) *TraceHit {
	k := hitKey{h.rs, h.re, h.ref}
	if i, ok := tr.hitAt[k]; ok {
		if status != "" {
			tr.hits[i].Status = status
		}
		return &tr.hits[i]
	}
	r := &d.rules[h.ref]
	tr.hits = append(tr.hits, TraceHit{
		TraceSpan: d.span(sc, h.rs, h.re), Rule: r.id, Category: categoryTable[r.cat].id,
		Severity: string(r.sev), Weight: r.weight, Status: status,
	})
	tr.hitAt[k] = len(tr.hits) - 1
	return &tr.hits[len(tr.hits)-1]
}

func (tr *tracer) cancel(d *Detector, sc *scratch, h hit, ci int32, at hit) {
	cn := &d.cancs[ci]
	th := tr.hit(d, sc, h, "cancelled by "+cn.id)
	th.Canceller = cn.id
	tr.cancs = append(tr.cancs, TraceCanceller{
		TraceSpan: d.span(sc, at.rs, at.re), ID: cn.id, Scope: scopeName(cn.scope),
		Cancelled: fmt.Sprintf("%s %q", th.Rule, th.Term),
	})
}

func (tr *tracer) target(d *Detector, sc *scratch, h hit, ti int32, status string) {
	for i := range tr.targets {
		x := &tr.targets[i]
		if x.NormStart == int(h.rs) && x.NormEnd == int(h.re) && x.Target == d.targets[ti].ID {
			x.Status = status
			return
		}
	}
	t := &d.targets[ti]
	tr.targets = append(tr.targets, TraceTarget{TraceSpan: d.span(sc, h.rs, h.re), Target: t.ID, Kind: string(t.Kind), Status: status})
}

// attributed records how hit h found target best (or none).
func (tr *tracer) attributed(d *Detector, sc *scratch, h hit, best, dd int32, same bool) {
	th := tr.hit(d, sc, h, "")
	r := &d.rules[h.ref]
	if best >= 0 {
		th.Target = d.targets[best].ID
		where := "in the same clause"
		switch {
		case !r.sameSentence:
			where = "within near_target"
		case !same && d.sent(sc, h.rs) != d.sent(sc, lastTargetOf(sc, best, h)):
			where = "in a preceding sentence (the hit's sentence names no target)"
		case !same:
			where = "in another clause of the sentence"
		}
		th.Attribution = fmt.Sprintf("attributed to %s %s, %s, %d normalized runes away", d.targets[best].Kind, th.Target, where, dd)
		return
	}
	if bs := tr.block[hitKey{h.rs, h.re, h.ref}]; len(bs) > 0 {
		var why []string
		for _, b := range bs {
			var ti int
			var reason string
			if _, err := fmt.Sscanf(b, "%d:", &ti); err == nil {
				reason = b[strings.IndexByte(b, ':')+1:]
				why = append(why, fmt.Sprintf("%s: %s", d.targets[ti].ID, reason))
			}
		}
		th.Attribution = "not attributed: " + strings.Join(why, "; ")
		return
	}
	th.Attribution = fmt.Sprintf("not attributed: no target within %d normalized runes in its sentence (or a preceding one when its sentence names none)", r.near)
}

// lastTargetOf returns the start of the hit of target ti nearest before h.
func lastTargetOf(sc *scratch, ti int32, h hit) int32 {
	p := h.rs
	for _, t := range sc.tgts {
		if t.ref == ti && t.rs <= h.rs {
			p = t.rs
		}
	}
	return p
}

func (tr *tracer) blocked(h, t hit, why string) {
	k := hitKey{h.rs, h.re, h.ref}
	tr.block[k] = append(tr.block[k], fmt.Sprintf("%d:%s", t.ref, why))
}

// Trace runs Detect on text and returns every step of its decision.
func (d *Detector) Trace(text string) Trace {
	tr := &tracer{hitAt: map[hitKey]int{}, block: map[hitKey][]string{}}
	sc := d.pool.Get().(*scratch)
	defer d.pool.Put(sc)
	v := d.run(sc, text, tr)
	nt := &sc.nt
	out := Trace{
		Text:       text,
		Normalized: string(nt.buf),
		Sentences:  int(nt.nsent),
		Targets:    tr.targets,
		Hits:       tr.hits,
		Cancellers: tr.cancs,
		Verdict:    v,
	}
	if len(nt.nr) == 0 {
		out.Sentences = 0
	}
	if len(sc.cuts) > 0 && len(sc.terms) > 0 && len(sc.tgts) > 0 {
		for k := range sc.cuts {
			cs, ce := sc.clauseSpan(k)
			if c := strings.TrimSuffix(string(nt.buf[nt.r2b[cs]:nt.r2b[ce]]), "\n"); c != "" {
				out.Clauses = append(out.Clauses, c)
			}
		}
	}
	if out.Targets == nil {
		out.Targets = []TraceTarget{}
	}
	if out.Hits == nil {
		out.Hits = []TraceHit{}
	}
	if out.Cancellers == nil {
		out.Cancellers = []TraceCanceller{}
	}
	return out
}

// WriteText prints a trace for a terminal.
func (t Trace) WriteText(w *strings.Builder) {
	fmt.Fprintf(w, "text        %s\n", t.Text)
	fmt.Fprintf(w, "normalized  %s\n", strings.ReplaceAll(t.Normalized, "\n", " ⏎ "))
	if len(t.Clauses) > 0 {
		fmt.Fprintf(w, "clauses     %s\n", strings.Join(t.Clauses, " | "))
	}
	w.WriteString("\ntargets\n")
	if len(t.Targets) == 0 {
		w.WriteString("  (none)\n")
	}
	for _, x := range t.Targets {
		fmt.Fprintf(w, "  %-14s %-8s [%d,%d) %q  norm %q  %s\n", x.Target, x.Kind, x.Start, x.End, x.Term, x.Normalized, x.Status)
	}
	w.WriteString("\nrule hits\n")
	if len(t.Hits) == 0 {
		w.WriteString("  (none)\n")
	}
	for _, h := range t.Hits {
		fmt.Fprintf(w, "  %-26s %-22s %-8s [%d,%d) %q  norm %q  %s", h.Rule, h.Category, h.Severity, h.Start, h.End, h.Term, h.Normalized, h.Status)
		if h.Target != "" {
			fmt.Fprintf(w, " -> %s", h.Target)
		}
		w.WriteString("\n")
		if h.Attribution != "" {
			fmt.Fprintf(w, "  %26s %s\n", "", h.Attribution)
		}
	}
	w.WriteString("\ncancellers that fired\n")
	if len(t.Cancellers) == 0 {
		w.WriteString("  (none)\n")
	}
	for _, c := range t.Cancellers {
		fmt.Fprintf(w, "  %-22s %-11s [%d,%d) %q cancelled %s\n", c.ID, c.Scope, c.Start, c.End, c.Term, c.Cancelled)
	}
	v := t.Verdict
	fmt.Fprintf(w, "\nverdict     alert %v  severity %s  score %.3f  categories %v  targets %v\n", v.Alert, v.Severity, v.Score, v.Categories, v.Targets)
	if v.Explanation != "" {
		fmt.Fprintf(w, "            %s\n", v.Explanation)
	}
}

func scopeName(s cancelScope) string {
	switch s {
	case scopeBefore:
		return "before"
	case scopeAfter:
		return "after"
	case scopeSentence:
		return "sentence"
	case scopeAfterQuote:
		return "after_quote"
	}
	return "?"
}
