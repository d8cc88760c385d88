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
//  2. One Aho-Corasick automaton (github.com/coregx/ahocorasick) finds, in a
//     single pass over the normalized text, every abusive literal, every
//     target name and alias, and every canceller (negation, admonition,
//     reported speech). Regular expressions (phone numbers, addresses) only
//     run inside small windows around anchor hits of that same pass.
//  3. Hits are filtered (word boundaries for Latin words, cancellers,
//     required companion words), then attributed to the nearest target in
//     the same sentence (or, when that sentence names none, a preceding one)
//     within the rule's distance.
//
// The Verdict lists every abusive category found even when no target is
// named (Alert is then false); Alert is true only when an abusive match is
// attributed to a target. The complaint category (legitimate criticism) is
// reported in Matches with severity info but is never abusive, never listed
// in Categories and never alerts.
//
// Evaluate scores a Detector against the labelled JSON-lines dev-set format.
package detect
