package detect

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestTrace(t *testing.T) {
	d := testDetector(t)

	tr := d.Trace("ﾐﾅﾄﾃﾚｺﾑの佐藤は詐・欺。「ミナトテレコムは無能」と書かれていた")
	if !strings.HasPrefix(tr.Normalized, "みなとてれこむの佐藤は詐欺\n") {
		t.Errorf("normalized %q", tr.Normalized)
	}
	if tr.Sentences != 2 {
		t.Errorf("sentences %d", tr.Sentences)
	}
	if !reflect.DeepEqual(tr.Verdict, d.Detect(tr.Text)) {
		t.Error("trace verdict differs from Detect")
	}
	var fraud, insult *TraceHit
	for i := range tr.Hits {
		switch tr.Hits[i].Rule {
		case "defamation-fraud-ja":
			if tr.Hits[i].Status == "kept" {
				fraud = &tr.Hits[i]
			}
		case "insult-words-ja":
			insult = &tr.Hits[i]
		}
	}
	if fraud == nil || fraud.Term != "詐・欺" || fraud.Start != 11 || fraud.End != 14 || fraud.Normalized != "詐欺" ||
		fraud.Target != "staff-sato" || !strings.Contains(fraud.Attribution, "same clause") {
		t.Errorf("fraud hit %+v", fraud)
	}
	if insult == nil || !strings.HasPrefix(insult.Status, "cancelled by ") || insult.Canceller == "" {
		t.Errorf("insult hit %+v", insult)
	}
	if len(tr.Cancellers) == 0 || tr.Cancellers[0].ID != insult.Canceller || !strings.Contains(tr.Cancellers[0].Cancelled, "無能") {
		t.Errorf("cancellers %+v", tr.Cancellers)
	}
	kept := 0
	for _, x := range tr.Targets {
		if x.Status == "kept" {
			kept++
		}
	}
	if kept < 2 {
		t.Errorf("targets %+v", tr.Targets)
	}

	// contrast: the blocked target is named in the attribution
	tr = d.Trace("A社は詐欺、ミナトテレコムは良い")
	if len(tr.Clauses) != 2 || tr.Verdict.Alert {
		t.Fatalf("clauses %q alert %v", tr.Clauses, tr.Verdict.Alert)
	}
	if a := tr.Hits[0].Attribution; !strings.Contains(a, "minato") || !strings.Contains(a, "another party") {
		t.Errorf("attribution %q", a)
	}

	// bare staff alias and context are explained
	tr = d.Trace("伊藤、佐藤、死ね")
	for _, x := range tr.Targets {
		if x.Status == "kept" {
			t.Errorf("target %+v kept without context", x)
		}
	}

	// the JSON form has the documented fields
	b, err := json.Marshal(d.Trace("ミナトテレコムは詐欺"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{`"normalized"`, `"hits"`, `"targets"`, `"cancellers"`, `"verdict"`, `"norm_start"`, `"attribution"`} {
		if !strings.Contains(string(b), f) {
			t.Errorf("JSON lacks %s: %s", f, b)
		}
	}
	var w strings.Builder
	d.Trace("ミナトテレコムは詐欺").WriteText(&w)
	for _, want := range []string{"normalized", "rule hits", "defamation-fraud-ja", "verdict     alert true"} {
		if !strings.Contains(w.String(), want) {
			t.Errorf("text trace lacks %q:\n%s", want, w.String())
		}
	}
}
