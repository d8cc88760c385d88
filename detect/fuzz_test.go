package detect

import (
	"testing"
	"unicode/utf8"
)

func FuzzDetect(f *testing.F) {
	for _, c := range positives {
		f.Add(c.text)
	}
	for _, s := range negatives {
		f.Add(s)
	}
	for _, s := range []string{
		"", "。", "!!!", "○○○○", "ﾀﾋね", "4ね", "「「「」", "\"", "ミ○○○ム", "a\u0301\u0301\u0301",
		"ミナトテレコムの佐藤 090-1234-5678 自宅は横浜市港北区", "\xff\xfe", "ｶﾞｷﾞｸﾞ", "一一一", "ーーー",
	} {
		f.Add(s)
	}
	d, err := New(testTargets, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		v := d.Detect(text)
		checkOffsets(t, text, v)
		if v.Alert && len(v.Targets) == 0 {
			t.Errorf("%q: alert without targets", text)
		}
		if v.Alert && len(v.Categories) == 0 {
			t.Errorf("%q: alert without categories", text)
		}
		if !v.Severity.Valid() {
			t.Errorf("%q: severity %q", text, v.Severity)
		}
		for _, m := range v.Matches {
			if m.Category == "" || m.Rule == "" || (utf8.ValidString(text) && !utf8.ValidString(m.Term)) {
				t.Errorf("%q: bad match %+v", text, m)
			}
		}
	})
}
