// Package detect decides whether a post attacks a watched target (the
// company, a product or a staff member) and, if so, how badly.
//
// A Detector is built once from the configured targets and a pattern pack
// (the embedded default pack in detect/patterns plus optional user YAML
// files that extend or override it rule by rule). Detect then works on one
// text at a time and is safe for concurrent use:
//
//  1. The text is normalized once (NFKC, lower case, katakana folded to
//     hiragana, long-vowel and repeat variants, spaces, zero-width and
//     punctuation inserted between characters, kanji look-alikes of kana,
//     masked characters and net spellings such as 氏ね/タヒね/4ね), keeping a
//     map from every normalized rune back to the original rune offsets.
//     Runes that NFKC leaves alone or maps one to one (checked against
//     golang.org/x/text/unicode/norm by table, see nfkc.go) skip the norm
//     package; the rest go through it one segment at a time.
//  2. One Aho-Corasick automaton (acdfa.go: a dense byte DFA written for
//     this package, checked against github.com/coregx/ahocorasick in the
//     tests) finds every abusive literal, target name and alias, canceller
//     and attribution word. It runs while the normalized bytes are written,
//     so its table loads overlap the normalization work; a text rewritten
//     by a later step (look-alikes, net spellings, shortened runs) is
//     scanned again. Regular expressions (phone numbers, addresses) only
//     run inside small windows around anchor hits of that same pass.
//  3. Hits are filtered (word boundaries for Latin words, cancellers,
//     required companion words), then attributed to a target: in the hit's
//     own clause first, else in another clause of its sentence (or, when
//     that sentence names none, a preceding one) unless the hit's clause is
//     about another party or the target is contrasted with it (clause.go).
//
// The Verdict lists every abusive category found even when no target is
// named (Alert is then false); Alert is true only when an abusive match is
// attributed to a target. The complaint category (legitimate criticism) is
// reported in Matches with severity info but is never abusive, never listed
// in Categories and never alerts.
//
// Detect allocates only its result (the verdict's slices and explanation):
// the normalization and matching buffers are pooled, so allocations per
// post do not grow with the text.
//
// Trace returns every step of one decision (normalized text, clauses,
// target names, rule hits with original and normalized spans, cancellers
// that fired, attribution) for `mimamori patterns test`.
//
// Evaluate scores a Detector against the labelled JSON-lines dev-set
// format; EvaluateDataset against the general toxicity sets of shared/data.
package detect
