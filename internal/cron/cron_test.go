package cron

import (
	"strings"
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	jst := time.FixedZone("JST", 9*3600)
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04", s, jst)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		expr, from string
		want       []string // successive activations
	}{
		// Every 10 minutes.
		{"*/10 * * * *", "2024-05-01 12:03", []string{"2024-05-01 12:10", "2024-05-01 12:20"}},
		// Strictly after: an activation at "from" itself is not returned.
		{"*/10 * * * *", "2024-05-01 12:10", []string{"2024-05-01 12:20"}},
		// Office hours on weekdays (2024-05-03 is a Friday).
		{"0 9-18/3 * * mon-fri", "2024-05-03 17:00", []string{"2024-05-03 18:00", "2024-05-06 09:00", "2024-05-06 12:00"}},
		// Lists and 7 as Sunday (2024-05-05 is a Sunday).
		{"30 8,20 * * 7", "2024-05-01 00:00", []string{"2024-05-05 08:30", "2024-05-05 20:30", "2024-05-12 08:30"}},
		// Day of month OR day of week when both are restricted.
		{"0 0 1 * sun", "2024-05-01 00:00", []string{"2024-05-05 00:00", "2024-05-12 00:00", "2024-05-19 00:00", "2024-05-26 00:00", "2024-06-01 00:00"}},
		// Month names, year rollover.
		{"0 0 1 jan *", "2024-05-01 00:00", []string{"2025-01-01 00:00"}},
		{"@hourly", "2024-05-01 23:59", []string{"2024-05-02 00:00"}},
		{"@daily", "2024-02-28 12:00", []string{"2024-02-29 00:00", "2024-03-01 00:00"}},
		// "5/15": from 5 on, every 15.
		{"5/15 * * * *", "2024-05-01 12:00", []string{"2024-05-01 12:05", "2024-05-01 12:20", "2024-05-01 12:35", "2024-05-01 12:50", "2024-05-01 13:05"}},
		// Feb 29 only.
		{"0 0 29 2 *", "2024-03-01 00:00", []string{"2028-02-29 00:00"}},
	}
	for _, c := range cases {
		s, err := Parse(c.expr)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		from := at(c.from)
		for _, w := range c.want {
			got := s.Next(from)
			if !got.Equal(at(w)) {
				t.Errorf("%s after %s: %v, want %s", c.expr, from.Format("2006-01-02 15:04"), got, w)
				break
			}
			from = got
		}
	}
	never, _ := Parse("0 0 30 2 *")
	if n := never.Next(at("2024-01-01 00:00")); !n.IsZero() {
		t.Errorf("Feb 30: %v", n)
	}
}

func TestTimeZone(t *testing.T) {
	s, err := Parse("CRON_TZ=Asia/Tokyo 0 9 * * *")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	got := s.Next(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)) // 09:00 JST
	if !got.Equal(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).Add(24*time.Hour)) || got.Location() != time.UTC {
		t.Errorf("next %v", got)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ expr, want string }{
		{"* * * *", "want 5 fields"},
		{"60 * * * *", `minute field "60": 60 out of range 0-59`},
		{"* 24 * * *", "hour field"},
		{"* * 0 * *", "day-of-month field"},
		{"* * * 13 *", "month field"},
		{"* * * * 8", "day-of-week field"},
		{"*/0 * * * *", `bad step "0"`},
		{"5-1 * * * *", "goes backwards"},
		{"a * * * *", `"a" is not a number`},
		{"1,,2 * * * *", "empty list element"},
		{"CRON_TZ=Nowhere/City * * * * *", "time zone"},
	}
	for _, c := range cases {
		_, err := Parse(c.expr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want %q", c.expr, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"*/10 * * * *", "0 9-18/3 * * mon-fri", "@daily", "0 0 1,15 * sun", "CRON_TZ=UTC 1 2 3 4 5"} {
		f.Add(s)
	}
	from := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := Parse(expr)
		if err != nil {
			return
		}
		if n := s.Next(from); !n.IsZero() && !n.After(from) {
			t.Fatalf("%q: next %v not after %v", expr, n, from)
		}
	})
}
