package detect

import (
	"slices"
	"testing"
)

// Attribution works on clauses: contrast and topic switches keep a hit away
// from a target named in another clause.
func TestContrastAttribution(t *testing.T) {
	d := testDetector(t)
	cases := []struct {
		text   string
		target string // "" = must not alert
	}{
		{"A社は詐欺、ミナトテレコムは良い", ""},
		{"ミナトテレコムは詐欺、A社は良い", "minato"},
		{"アオバ通信は詐欺だけど、ミナトテレコムは良心的", ""},
		{"ミナトテレコムは良心的だけど、アオバ通信は詐欺", ""},
		{"ソフトバンクは詐欺、ミナトテレコムは良い", ""},
		{"ミナトテレコムは良いけど、ソフトバンクは詐欺", ""},
		{"ミナトテレコムは良い会社。A社は詐欺", ""},
		{"ミナトテレコムに乗り換えた。前の会社は詐欺だった", ""},
		{"詐欺だよね、でもミナトテレコムは対応が丁寧", ""},
		{"ミナトテレコムの佐藤さんは親切、山田さんは無能", ""},
		{"Acme is a scam, but Minato Telecom is great", ""},
		{"Minato Telecom is great, Acme is a scam", ""},
		{"Minato Telecom is fine. Acme is a scam.", ""},

		{"ミナトテレコムの佐藤、マジで無能", "staff-sato"},
		{"マジで無能、ミナトテレコムの佐藤", "staff-sato"},
		{"詐欺だわ、ミナトテレコムって", "minato"},
		{"ミナトテレコムは安いけど詐欺", "minato"},
		{"ミナトテレコムは最悪、担当は無能", "minato"},
		{"ミナトテレコムに電話した、料金は詐欺レベル", "minato"},
		{"ミナトテレコムは対応も遅いし、店員は無能", "minato"},
		{"ミナトテレコムの件、A社の担当は無能", ""},
		{"Minato Telecom support? They are useless idiots", "minato"},
		{"ミナトテレコムの佐藤は良い人、伊藤店長は無能", "staff-ito"},
		{"ミナトテレコムの佐藤は良い人、でも伊藤は無能", "staff-ito"},

		{"ミナトテレコムの佐藤さんは優しいけど、上司は無能", "minato"},
		{"ミナトテレコムの回線遅いし、サポートの佐藤は無能", "staff-sato"},
		{"The Minato Telecom guy was rude but Acme support are idiots", ""},
		{"Minato Telecom support is useless, they are idiots", "minato"},
		{"I love Minato Telecom, my old provider was a scam", ""},
		{"ミナトテレコムを解約してアオバ通信にしたけど、アオバ通信は詐欺だった", ""},
		{"ミナトテレコムに電話した。オペレーターの態度が最悪、クズ", "minato"},

		// questions are accusations, not denials
		{"ミナトテレコムって詐欺じゃない？", "minato"},
		{"ミナトテレコムって詐欺じゃないよね?", "minato"},
		{"ミナトテレコムは詐欺じゃない", ""},
		{"ミナトテレコムは詐欺じゃないと思う、普通に良い会社", ""},
	}
	for _, c := range cases {
		v := d.Detect(c.text)
		switch {
		case c.target == "" && v.Alert:
			tr := d.Trace(c.text)
			t.Errorf("%q: unexpected alert on %v: %s (clauses %q)", c.text, v.Targets, v.Explanation, tr.Clauses)
		case c.target != "" && !v.Alert:
			tr := d.Trace(c.text)
			var why []string
			for _, h := range tr.Hits {
				why = append(why, h.Rule+": "+h.Status+" "+h.Attribution)
			}
			t.Errorf("%q: no alert, want one on %s (clauses %q; %q)", c.text, c.target, tr.Clauses, why)
		case c.target != "" && !slices.Contains(v.Targets, c.target):
			t.Errorf("%q: targets %v, want %s", c.text, v.Targets, c.target)
		}
	}
}
