package detect

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"mimamori/mention"
)

// None stands for "no alert" in the category confusion.
const None = "none"

// Example is one labelled post of the dev-set JSON-lines format.
type Example struct {
	ID       string `json:"id"`
	Text     string `json:"text"`
	Alert    bool   `json:"alert"`
	Category string `json:"category,omitempty"`
	Target   string `json:"target,omitempty"`
}

// Case is an example with the detector's verdict on it.
type Case struct {
	Example
	Verdict mention.Verdict `json:"verdict"`
	// Got is the predicted main category (None when not alerted).
	Got string `json:"got"`
}

// Report scores a Detector on labelled examples. Alert is the positive
// class; the confusion counts expected category (None for silent posts)
// against the predicted main category (None when not alerted).
type Report struct {
	Total     int     `json:"total"`
	TP        int     `json:"tp"`
	FP        int     `json:"fp"`
	FN        int     `json:"fn"`
	TN        int     `json:"tn"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	// CategoryHits counts true positives whose main category is right;
	// TargetHits those whose expected target is among the verdict's targets.
	CategoryHits int                       `json:"category_hits"`
	TargetHits   int                       `json:"target_hits"`
	Confusion    map[string]map[string]int `json:"confusion"`
	Misses       []Case                    `json:"misses"`
	FalseAlarms  []Case                    `json:"false_alarms"`
	// WrongCategory lists true positives with another main category or
	// target.
	WrongCategory []Case `json:"wrong_category"`
}

// MainCategory returns the main category of an alerting verdict (the first
// of its Categories) or None.
func MainCategory(v mention.Verdict) string {
	if !v.Alert || len(v.Categories) == 0 {
		return None
	}
	return v.Categories[0]
}

// Evaluate runs d over the JSON lines in r (fields id, text, alert,
// category, target; blank lines are skipped) and scores it.
func Evaluate(d *Detector, r io.Reader) (Report, error) {
	rep := Report{Confusion: map[string]map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		b := strings.TrimSpace(sc.Text())
		if b == "" {
			continue
		}
		var ex Example
		if err := json.Unmarshal([]byte(b), &ex); err != nil {
			return rep, fmt.Errorf("detect: evaluate: line %d: %w", line, err)
		}
		v := d.Detect(ex.Text)
		c := Case{Example: ex, Verdict: v, Got: MainCategory(v)}
		want := None
		if ex.Alert {
			want = ex.Category
			if want == "" {
				want = "(unlabelled)"
			}
		}
		if rep.Confusion[want] == nil {
			rep.Confusion[want] = map[string]int{}
		}
		rep.Confusion[want][c.Got]++
		rep.Total++
		switch {
		case ex.Alert && v.Alert:
			rep.TP++
			catOK := ex.Category == "" || ex.Category == c.Got
			tgtOK := ex.Target == "" || slices.Contains(v.Targets, ex.Target)
			if catOK {
				rep.CategoryHits++
			}
			if tgtOK {
				rep.TargetHits++
			}
			if !catOK || !tgtOK {
				rep.WrongCategory = append(rep.WrongCategory, c)
			}
		case ex.Alert:
			rep.FN++
			rep.Misses = append(rep.Misses, c)
		case v.Alert:
			rep.FP++
			rep.FalseAlarms = append(rep.FalseAlarms, c)
		default:
			rep.TN++
		}
	}
	if err := sc.Err(); err != nil {
		return rep, fmt.Errorf("detect: evaluate: %w", err)
	}
	rep.Precision = ratio(rep.TP, rep.TP+rep.FP)
	rep.Recall = ratio(rep.TP, rep.TP+rep.FN)
	if rep.Precision+rep.Recall > 0 {
		rep.F1 = 2 * rep.Precision * rep.Recall / (rep.Precision + rep.Recall)
	}
	return rep, nil
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// WriteText prints the report for a terminal.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "posts %d  alerts expected %d  raised %d\n", r.Total, r.TP+r.FN, r.TP+r.FP)
	fmt.Fprintf(&b, "alert  precision %.3f  recall %.3f  F1 %.3f  (tp %d fp %d fn %d tn %d)\n",
		r.Precision, r.Recall, r.F1, r.TP, r.FP, r.FN, r.TN)
	if r.TP > 0 {
		fmt.Fprintf(&b, "true positives with the expected main category %d/%d, with the expected target %d/%d\n",
			r.CategoryHits, r.TP, r.TargetHits, r.TP)
	}

	// confusion: rows expected, columns predicted
	rows := make([]string, 0, len(r.Confusion))
	colSet := map[string]bool{}
	for want, m := range r.Confusion {
		rows = append(rows, want)
		for got := range m {
			colSet[got] = true
		}
	}
	order := func(s []string) {
		pos := func(c string) int {
			if c == None {
				return len(categoryTable) + 1
			}
			if i := categoryIndex(c); i >= 0 {
				return i
			}
			return len(categoryTable)
		}
		slices.SortFunc(s, func(a, b string) int {
			if pa, pb := pos(a), pos(b); pa != pb {
				return pa - pb
			}
			return strings.Compare(a, b)
		})
	}
	cols := make([]string, 0, len(colSet))
	for c := range colSet {
		cols = append(cols, c)
	}
	order(rows)
	order(cols)
	b.WriteString("\ncategory confusion (rows expected, columns predicted main category)\n")
	fmt.Fprintf(&b, "%-24s", "")
	for _, c := range cols {
		fmt.Fprintf(&b, " %6.6s", c)
	}
	b.WriteString("\n")
	for _, row := range rows {
		fmt.Fprintf(&b, "%-24s", row)
		for _, c := range cols {
			if n := r.Confusion[row][c]; n > 0 {
				fmt.Fprintf(&b, " %6d", n)
			} else {
				fmt.Fprintf(&b, " %6s", ".")
			}
		}
		b.WriteString("\n")
	}
	list := func(title string, cs []Case) {
		if len(cs) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n%s (%d)\n", title, len(cs))
		for _, c := range cs {
			want := None
			if c.Alert {
				want = c.Category + " -> " + c.Target
			}
			fmt.Fprintf(&b, "  %s  want %s  got %s %v %v\n    %s\n", c.ID, want, c.Got, c.Verdict.Categories, c.Verdict.Targets, c.Text)
			if c.Verdict.Explanation != "" {
				fmt.Fprintf(&b, "    %s\n", c.Verdict.Explanation)
			}
		}
	}
	list("misses", r.Misses)
	list("false alarms", r.FalseAlarms)
	list("alerted with another category or target", r.WrongCategory)
	_, err := io.WriteString(w, b.String())
	return err
}
