package detect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mimamori/detect/patterns"
	"mimamori/mention"
)

func writePack(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pack.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultPackCoversEveryCategory(t *testing.T) {
	pf, err := parsePack(defaultPackName, patterns.Default)
	if err != nil {
		t.Fatal(err)
	}
	langs := map[string]map[string]bool{}
	for _, r := range pf.Rules {
		if err := validateRule(&r); err != nil {
			t.Error(err)
		}
		if langs[r.Category] == nil {
			langs[r.Category] = map[string]bool{}
		}
		langs[r.Category][r.Lang] = true
	}
	for _, c := range Categories() {
		if !langs[c]["ja"] || !langs[c]["en"] {
			t.Errorf("category %s: languages %v, want ja and en", c, langs[c])
		}
	}
}

func TestUserPackOverridesAndExtends(t *testing.T) {
	p := writePack(t, `
version: 1
rules:
  - id: insult-words-ja        # replaces the default rule: 無能 is no longer listed
    category: insult
    terms: [ポンコツ社員]
  - id: threat-violence-ja
    disabled: true
  - id: custom-leak
    category: doxxing
    severity: critical
    terms: [社内資料を流出]
cancellers:
  - id: negation-ja
    disabled: true
`)
	d, err := New(testTargets, Options{PatternFiles: []string{p}})
	if err != nil {
		t.Fatal(err)
	}
	if v := d.Detect("ミナトテレコムの佐藤は無能"); v.Alert {
		t.Errorf("overridden rule still matches: %s", v.Explanation)
	}
	if v := d.Detect("ミナトテレコムの佐藤はポンコツ社員"); !v.Alert || !strings.Contains(v.Explanation, "insult-words-ja") {
		t.Errorf("override not applied: %+v", v)
	}
	if v := d.Detect("ミナトテレコムの佐藤、殺してやる"); v.Alert && v.Categories[0] == CatThreat {
		t.Errorf("disabled rule still matches: %s", v.Explanation)
	}
	if v := d.Detect("ミナトテレコムの社内資料を流出させた"); !v.Alert || v.Categories[0] != CatDoxxing || v.Severity != mention.SeverityCritical {
		t.Errorf("new rule not applied: %+v", v)
	}
	if v := d.Detect("ミナトテレコムは詐欺ではない"); !v.Alert {
		t.Errorf("disabled canceller still cancels: %+v", v)
	}
}

func TestNoDefaultPack(t *testing.T) {
	if _, err := New(testTargets, Options{NoDefaultPack: true}); err == nil {
		t.Error("no rules at all: want an error")
	}
	p := writePack(t, "rules:\n  - id: only\n    category: insult\n    terms: [ポンコツ社員]\n")
	d, err := New(testTargets, Options{NoDefaultPack: true, PatternFiles: []string{p}})
	if err != nil {
		t.Fatal(err)
	}
	if v := d.Detect("ミナトテレコムの佐藤は無能"); v.Alert {
		t.Errorf("default rule used without the default pack: %+v", v)
	}
	if v := d.Detect("ミナトテレコムの佐藤はポンコツ社員"); !v.Alert {
		t.Errorf("user rule not applied: %+v", v)
	}
}

func TestPackErrors(t *testing.T) {
	cases := []struct {
		body string
		want []string // substrings of the error: file, rule id, problem
	}{
		{"rules:\n  - id: r1\n    category: thret\n    terms: [x]\n", []string{"rule \"r1\"", "unknown category \"thret\""}},
		{"rules:\n  - id: r2\n    category: insult\n    severity: huge\n    terms: [x]\n", []string{"rule \"r2\"", "unknown severity"}},
		{"rules:\n  - id: r3\n    category: doxxing\n    regex: '(['\n    anchors: [x]\n", []string{"rule \"r3\"", "regex"}},
		{"rules:\n  - id: r4\n    category: doxxing\n    regex: '[0-9]+'\n", []string{"rule \"r4\"", "anchors"}},
		{"rules:\n  - id: r5\n    category: insult\n", []string{"rule \"r5\"", "needs terms or regex"}},
		{"rules:\n  - id: r6\n    category: insult\n    terms: ['、、']\n", []string{"rule \"r6\"", "normalizes to nothing"}},
		{"rules:\n  - id: r7\n    category: insult\n    terms: ['死ね。死ね']\n", []string{"rule \"r7\"", "sentence break"}},
		{"rules:\n  - id: r8\n    category: insult\n    weight: 2\n    terms: [x]\n", []string{"rule \"r8\"", "weight"}},
		{"rules:\n  - id: r9\n    category: insult\n    tems: [x]\n", []string{"field tems not found"}},
		{"rules:\n  - category: insult\n    terms: [x]\n", []string{"missing id"}},
		{"rules:\n  - id: d\n    category: insult\n    terms: [x]\n  - id: d\n    category: insult\n    terms: [y]\n", []string{"rule \"d\"", "duplicate"}},
		{"rules:\n  - id: r10\n    category: insult\n    terms: [x]\n    target_kinds: [ceo]\n", []string{"rule \"r10\"", "target kind"}},
		{"cancellers:\n  - id: c1\n    scope: around\n    terms: [x]\n", []string{"canceller \"c1\"", "unknown scope"}},
		{"cancellers:\n  - id: c2\n    scope: after\n    rules: [nope]\n    terms: [x]\n", []string{"canceller \"c2\"", "unknown or disabled rule \"nope\""}},
		{"version: 7\n", []string{"version 7"}},
	}
	for _, c := range cases {
		p := writePack(t, c.body)
		_, err := New(testTargets, Options{PatternFiles: []string{p}})
		if err == nil {
			t.Errorf("%q: no error", c.body)
			continue
		}
		msg := err.Error()
		for _, w := range append([]string{p}, c.want...) {
			if !strings.Contains(msg, w) {
				t.Errorf("error %q does not mention %q", msg, w)
			}
		}
	}
	if _, err := New(testTargets, Options{PatternFiles: []string{"/nonexistent/pack.yaml"}}); err == nil ||
		!strings.Contains(err.Error(), "/nonexistent/pack.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestTargetErrors(t *testing.T) {
	cases := []struct {
		targets []mention.Target
		want    string
	}{
		{[]mention.Target{{Kind: mention.KindCompany, Name: "x"}}, "missing id"},
		{[]mention.Target{{ID: "a", Kind: "ceo", Name: "x"}}, "unknown kind"},
		{[]mention.Target{{ID: "a", Kind: mention.KindStaff}}, "needs a name"},
		{[]mention.Target{{ID: "a", Kind: mention.KindStaff, Name: "x"}, {ID: "a", Kind: mention.KindStaff, Name: "y"}}, "duplicate"},
		{[]mention.Target{{ID: "a", Kind: mention.KindStaff, Name: "・・"}}, "normalizes to nothing"},
	}
	for _, c := range cases {
		_, err := New(c.targets, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.targets, err, c.want)
		}
	}
}
