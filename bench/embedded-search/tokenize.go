package main

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// normalize is the canonical form used both by candidate B and by the
// brute-force ground truth: NFKC + lower case.
func normalize(s string) string {
	return strings.ToLower(norm.NFKC.String(s))
}

func isCJK(r rune) bool {
	switch r {
	case 'ー', '々', 'ゝ', 'ゞ', 'ヽ', 'ヾ':
		return true
	}
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana)
}

// tokenize: runs of CJK -> overlapping bigrams (single-char run -> unigram);
// other letter/digit runs -> one word token; everything else separates.
func tokenize(s string) []string {
	rs := []rune(normalize(s))
	var out []string
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case isCJK(r):
			j := i
			for j < len(rs) && isCJK(rs[j]) {
				j++
			}
			if j-i == 1 {
				out = append(out, string(rs[i:j]))
			} else {
				for k := i; k+1 < j; k++ {
					out = append(out, string(rs[k:k+2]))
				}
			}
			i = j
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			j := i
			for j < len(rs) && !isCJK(rs[j]) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j])) {
				j++
			}
			out = append(out, string(rs[i:j]))
			i = j
		default:
			i++
		}
	}
	return out
}
