package crawler

import (
	"regexp"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"mimamori/internal/jst"
)

// commonLayouts are tried, in order, when a source names no layout (and
// after it when the named one fails). Zone-less ones are read as JST.
var commonLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05 MST",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006/01/02 15:04:05",
	"2006/01/02 15:04",
	"2006/1/2 15:04:05",
	"2006/1/2 15:04",
	"2006-1-2 15:04:05",
	"2006-1-2 15:04",
	"2006.1.2 15:04:05",
	"2006.1.2 15:04",
	"2006年1月2日 15時4分5秒",
	"2006年1月2日 15時4分",
	"2006年1月2日 15:04:05",
	"2006年1月2日 15:04",
	"2006-01-02",
	"2006/1/2",
	"2006.1.2",
	"2006年1月2日",
	time.RFC1123Z,
	time.RFC1123,
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 MST",
	time.RFC850,
	time.ANSIC,
}

// weekdayRe matches a weekday in parentheses, as in 2024/05/01(水) 12:34.
var weekdayRe = regexp.MustCompile(`\s*\((?:月|火|水|木|金|土|日|Mon|Tue|Wed|Thu|Fri|Sat|Sun)\)\s*`)

// parseTime reads a post time. layout, when set, is tried first. Times
// without a zone are JST. ok is false when nothing matched.
func parseTime(s, layout string) (t time.Time, ok bool) {
	// NFKC turns full-width digits, colons and parentheses into ASCII.
	s = collapseSpace(norm.NFKC.String(s))
	if s == "" {
		return time.Time{}, false
	}
	if layout != "" {
		if t, err := time.ParseInLocation(layout, s, jst.Zone); err == nil {
			return t, true
		}
	}
	s = strings.TrimSpace(weekdayRe.ReplaceAllString(s, " "))
	for _, l := range commonLayouts {
		if t, err := time.ParseInLocation(l, s, jst.Zone); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
