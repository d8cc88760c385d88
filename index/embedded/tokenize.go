package embedded

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// tokenize turns text into the space-separated tokens stored in the FTS5
// table: NFKC and lower case, runs of Japanese characters as overlapping
// bigrams (so two-character words such as 詐欺 are found without a
// dictionary), other letter and digit runs as words.
func tokenize(text string) []string {
	s := strings.ToLower(norm.NFKC.String(text))
	var toks []string
	var run []rune
	var word strings.Builder
	flushRun := func() {
		switch len(run) {
		case 0:
		case 1:
			toks = append(toks, string(run))
		default:
			for i := 0; i+1 < len(run); i++ {
				toks = append(toks, string(run[i:i+2]))
			}
		}
		run = run[:0]
	}
	flushWord := func() {
		if word.Len() > 0 {
			toks = append(toks, word.String())
			word.Reset()
		}
	}
	for _, r := range s {
		switch {
		case isCJK(r):
			flushWord()
			run = append(run, r)
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			flushRun()
			word.WriteRune(r)
		default:
			flushRun()
			flushWord()
		}
	}
	flushRun()
	flushWord()
	return toks
}

func isCJK(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana) || r == 'ー' || r == '々'
}

// ftsPhrase builds an FTS5 query that matches the tokens of q in order.
// Each token is quoted, so user input cannot inject FTS5 syntax.
func ftsPhrase(q string) string {
	toks := tokenize(q)
	if len(toks) == 0 {
		return ""
	}
	parts := make([]string, len(toks))
	for i, t := range toks {
		parts[i] = `"` + strings.ReplaceAll(t, `"`, `""`) + `"`
	}
	return strings.Join(parts, " + ")
}
