package detect

import (
	"strings"
	"testing"
)

func TestEvaluate(t *testing.T) {
	d := testDetector(t)
	in := strings.Join([]string{
		`{"id":"a1","text":"ミナトテレコムの佐藤、殺してやる","alert":true,"category":"threat","target":"staff-sato"}`,
		`{"id":"a2","text":"ミナトテレコムは詐欺集団","alert":true,"category":"insult","target":"minato"}`,
		`{"id":"a3","text":"ミナトテレコムの対応が遅い","alert":true,"category":"unreasonable_demand","target":"minato"}`,
		``,
		`{"id":"n1","text":"ミナトテレコムの新プラン、安くて良い","alert":false}`,
		`{"id":"n2","text":"ミナトテレコムの佐藤は無能","alert":false}`,
	}, "\n")
	rep, err := Evaluate(d, strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total != 5 || rep.TP != 2 || rep.FN != 1 || rep.FP != 1 || rep.TN != 1 {
		t.Fatalf("counts %+v", rep)
	}
	if rep.Precision != 2.0/3 || rep.Recall != 2.0/3 || rep.F1 < 0.666 || rep.F1 > 0.667 {
		t.Errorf("precision %v recall %v f1 %v", rep.Precision, rep.Recall, rep.F1)
	}
	if rep.CategoryHits != 1 || rep.TargetHits != 2 || len(rep.WrongCategory) != 1 || rep.WrongCategory[0].ID != "a2" {
		t.Errorf("category/target agreement: %d %d %+v", rep.CategoryHits, rep.TargetHits, rep.WrongCategory)
	}
	if rep.Confusion["insult"]["defamation"] != 1 || rep.Confusion["unreasonable_demand"][None] != 1 ||
		rep.Confusion[None]["insult"] != 1 || rep.Confusion[None][None] != 1 {
		t.Errorf("confusion %v", rep.Confusion)
	}
	if len(rep.Misses) != 1 || rep.Misses[0].ID != "a3" || len(rep.FalseAlarms) != 1 || rep.FalseAlarms[0].ID != "n2" {
		t.Errorf("misses %+v false alarms %+v", rep.Misses, rep.FalseAlarms)
	}
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, w := range []string{"precision 0.667", "recall 0.667", "misses (1)", "a3", "false alarms (1)", "n2", "category confusion"} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}

	if _, err := Evaluate(d, strings.NewReader("{not json\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad line: %v", err)
	}
}
