// Package cron parses standard five-field cron expressions (minute, hour,
// day of month, month, day of week) and computes their next activation.
// It imports nothing of ours and is no pipeline stage, so config can
// validate with it and the crawler can schedule with it.
//
// Supported: "*", numbers, ranges "a-b", steps "*/n" and "a-b/n", lists
// "a,b", month and weekday names (jan, mon), 7 as Sunday, the macros
// @yearly @annually @monthly @weekly @daily @midnight @hourly, and a
// leading "CRON_TZ=Area/City " (or "TZ=") naming the time zone. When both
// day of month and day of week are restricted, a day matches if either does
// (as in Vixie cron).
package cron

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed expression.
type Schedule struct {
	minute, hour, dom, month, dow uint64 // bit i set: value i allowed
	domStar, dowStar              bool
	loc                           *time.Location // nil: the time's own zone
	expr                          string
}

// String returns the expression as written.
func (s *Schedule) String() string { return s.expr }

var macros = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

var monthNames = map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
	"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}

var dowNames = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

// Parse parses a five-field expression.
func Parse(expr string) (*Schedule, error) {
	s := &Schedule{expr: expr}
	spec := strings.TrimSpace(expr)
	for _, p := range []string{"CRON_TZ=", "TZ="} {
		if strings.HasPrefix(spec, p) {
			name, rest, _ := strings.Cut(spec[len(p):], " ")
			loc, err := time.LoadLocation(name)
			if err != nil {
				return nil, fmt.Errorf("cron %q: time zone: %v", expr, err)
			}
			s.loc = loc
			spec = strings.TrimSpace(rest)
			break
		}
	}
	if m, ok := macros[strings.ToLower(spec)]; ok {
		spec = m
	}
	fields := strings.Fields(spec)
	if len(fields) != 5 {
		return nil, fmt.Errorf("cron %q: want 5 fields (minute hour day-of-month month day-of-week), got %d", expr, len(fields))
	}
	var err error
	parse := func(i int, name string, lo, hi int, names map[string]int) uint64 {
		if err != nil {
			return 0
		}
		var bits uint64
		bits, err = parseField(fields[i], lo, hi, names)
		if err != nil {
			err = fmt.Errorf("cron %q: %s field %q: %v", expr, name, fields[i], err)
		}
		return bits
	}
	s.minute = parse(0, "minute", 0, 59, nil)
	s.hour = parse(1, "hour", 0, 23, nil)
	s.dom = parse(2, "day-of-month", 1, 31, nil)
	s.month = parse(3, "month", 1, 12, monthNames)
	s.dow = parse(4, "day-of-week", 0, 7, dowNames)
	if err != nil {
		return nil, err
	}
	if s.dow&(1<<7) != 0 { // 7 is Sunday too
		s.dow |= 1
		s.dow &^= 1 << 7
	}
	s.domStar = fields[2] == "*" || strings.HasPrefix(fields[2], "*/") || fields[2] == "?"
	s.dowStar = fields[4] == "*" || strings.HasPrefix(fields[4], "*/") || fields[4] == "?"
	return s, nil
}

func parseField(f string, lo, hi int, names map[string]int) (uint64, error) {
	var bits uint64
	for _, part := range strings.Split(f, ",") {
		if part == "" {
			return 0, fmt.Errorf("empty list element")
		}
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n <= 0 || n > hi {
				return 0, fmt.Errorf("bad step %q", stepStr)
			}
			step = n
		}
		var from, to int
		switch {
		case rng == "*" || rng == "?":
			from, to = lo, hi
			if hi == 7 { // day of week: 0-6
				to = 6
			}
		default:
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if from, err = value(a, lo, hi, names); err != nil {
				return 0, err
			}
			to = from
			if isRange {
				if to, err = value(b, lo, hi, names); err != nil {
					return 0, err
				}
				if to < from {
					return 0, fmt.Errorf("range %d-%d goes backwards", from, to)
				}
			} else if hasStep {
				to = hi // "5/15" means 5-max/15
			}
		}
		for v := from; v <= to; v += step {
			bits |= 1 << uint(v)
		}
	}
	return bits, nil
}

func value(s string, lo, hi int, names map[string]int) (int, error) {
	if n, ok := names[strings.ToLower(s)]; ok {
		return n, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d out of range %d-%d", n, lo, hi)
	}
	return n, nil
}

// Next returns the first activation strictly after t, or the zero time
// when there is none within five years (e.g. "0 0 30 2 *").
func (s *Schedule) Next(t time.Time) time.Time {
	orig := t.Location()
	if s.loc != nil {
		t = t.In(s.loc)
	}
	loc := t.Location()
	// Start at the next whole minute.
	t = t.Truncate(time.Minute).Add(time.Minute)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		if s.month&(1<<uint(t.Month())) == 0 {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
			continue
		}
		if !s.dayMatches(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
			continue
		}
		if s.hour&(1<<uint(t.Hour())) == 0 {
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc)
			continue
		}
		if s.minute&(1<<uint(t.Minute())) == 0 {
			t = t.Add(time.Minute)
			continue
		}
		return t.In(orig)
	}
	return time.Time{}
}

func (s *Schedule) dayMatches(t time.Time) bool {
	dom := s.dom&(1<<uint(t.Day())) != 0
	dow := s.dow&(1<<uint(t.Weekday())) != 0
	if s.domStar || s.dowStar {
		return dom && dow
	}
	return dom || dow
}
