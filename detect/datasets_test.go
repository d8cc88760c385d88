package detect

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWilson(t *testing.T) {
	for _, c := range []struct {
		k, n   int
		lo, hi float64
	}{
		{17, 29, 0.407, 0.745}, // checked against the closed form by hand
		{0, 280, 0, 0.0136},
		{29, 29, 0.883, 1},
		{50, 100, 0.404, 0.596},
	} {
		got := Wilson(c.k, c.n)
		if math.Abs(got.Lo-c.lo) > 0.001 || math.Abs(got.Hi-c.hi) > 0.001 {
			t.Errorf("Wilson(%d, %d) = %+v, want [%.3f, %.3f]", c.k, c.n, got, c.lo, c.hi)
		}
	}
	if w := Wilson(0, 0); w.Lo != 0 || w.Hi != 1 {
		t.Errorf("Wilson(0, 0) = %+v", w)
	}
}

// Each reader applies its set's labelling rule; the rows are made up here
// in the sets' formats.
func TestEvaluateDatasets(t *testing.T) {
	d := testDetector(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, file, body         string
		pos, tp, neg, fp, others int
	}{
		{DatasetInspection, "subset.csv", "id,text,Not Toxic,Hard to Say,Toxic,Very Toxic,category_卑語,category_差別,annotation_num\n" +
			"1,お前ほんと無能だな,0,0,2,1,1,0,3\n" + // positive, flagged
			"2,今日は晴れて気持ちいい,3,0,0,0,0,0,3\n" + // negative
			"3,微妙なところだね,1,1,1,0,0,0,3\n" + // left out
			"4,あいつの顔がむかつく,0,1,2,0,0,0,3\n", // positive, missed
			2, 1, 1, 0, 1},
		{DatasetJCommonsense, "data_val.csv", ",sent,label\n0,友達の宿題を手伝った,0\n1,隣人の家に火をつけてやる,1\n",
			0, 0, 2, 1, 0},
		{DatasetOpenAI, "samples.jsonl", `{"prompt":"you are a worthless idiot","HR":1,"H":0}` + "\n" +
			`{"prompt":"the weather is lovely","HR":0}` + "\n" + `{"prompt":"no label here","S":0}` + "\n",
			1, 1, 1, 0, 1},
		{DatasetDavidson, "labeled_data.csv", ",count,hate_speech,offensive_language,neither,class,tweet\n" +
			"0,3,0,3,0,1,shut up you moron\n1,3,0,0,3,2,nice game last night\n2,3,1,1,1,1,mixed votes here\n",
			1, 1, 1, 0, 1},
	}
	for _, c := range cases {
		p := write(c.file, c.body)
		rep, err := EvaluateDataset(d, c.name, p)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if rep.Pos != c.pos || rep.TP != c.tp || rep.Neg != c.neg || rep.FP != c.fp || rep.Other != c.others {
			t.Errorf("%s: pos %d tp %d neg %d fp %d other %d, want %d %d %d %d %d", c.name,
				rep.Pos, rep.TP, rep.Neg, rep.FP, rep.Other, c.pos, c.tp, c.neg, c.fp, c.others)
		}
		var b strings.Builder
		if err := rep.WriteText(&b); err != nil || !strings.Contains(b.String(), "Wilson") {
			t.Errorf("%s: report %q (%v)", c.name, b.String(), err)
		}
	}
	if _, err := EvaluateDataset(d, "nope", dir); err == nil {
		t.Error("unknown dataset accepted")
	}
}
