package detect

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// General toxicity datasets (shared/data, see its README). They have no
// targets: they measure the abuse half of the detector, a post counting as
// flagged when Verdict.Categories is not empty.
const (
	DatasetInspection   = "inspection"   // ja-inspection-toxic/subset.csv
	DatasetJCommonsense = "jcommonsense" // ja-jcommonsense-morality/data_{val,test}.csv
	DatasetOpenAI       = "openai"       // en-openai-moderation/samples-1680.jsonl
	DatasetDavidson     = "davidson"     // en-davidson-hate-offensive/labeled_data.csv
)

// Datasets lists the dataset names EvaluateDataset accepts.
func Datasets() []string {
	return []string{DatasetInspection, DatasetJCommonsense, DatasetOpenAI, DatasetDavidson}
}

// Interval is a 95% Wilson score interval of a proportion.
type Interval struct {
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
}

// Wilson returns the 95% Wilson score interval of k successes in n trials
// (0..1 when n is 0). It stays inside [0, 1] and is sound for small n and
// proportions near 0 or 1, where the normal approximation is not.
func Wilson(k, n int) Interval {
	if n == 0 {
		return Interval{0, 1}
	}
	const z = 1.959963984540054
	p := float64(k) / float64(n)
	nn := float64(n)
	den := 1 + z*z/nn
	center := (p + z*z/(2*nn)) / den
	half := z * math.Sqrt(p*(1-p)/nn+z*z/(4*nn*nn)) / den
	return Interval{math.Max(0, center-half), math.Min(1, center+half)}
}

// SetReport scores the detector on one general dataset.
type SetReport struct {
	Dataset string `json:"dataset"`
	Path    string `json:"path"`
	// Labels says how rows were labelled positive and negative.
	Labels string `json:"labels"`
	Rows   int    `json:"rows"`
	// Positives and negatives, and how many of each the detector flagged.
	Pos int `json:"positives"`
	TP  int `json:"tp"`
	Neg int `json:"negatives"`
	FP  int `json:"fp"`
	// Other rows (neither label) and how many were flagged.
	Other        int `json:"other"`
	OtherFlagged int `json:"other_flagged"`

	Precision   float64  `json:"precision"`
	PrecisionCI Interval `json:"precision_ci"`
	Recall      float64  `json:"recall"`
	RecallCI    Interval `json:"recall_ci"`
	F1          float64  `json:"f1"`
	FPRate      float64  `json:"fp_rate"`
	FPRateCI    Interval `json:"fp_rate_ci"`

	// Confusion counts, per dataset label (the set's own categories or
	// classes), the main category the detector gave (None when not
	// flagged).
	Confusion map[string]map[string]int `json:"confusion"`
	// FalsePositiveTerms counts "rule term" of the matches in flagged
	// negatives, the most frequent first.
	FalsePositiveTerms []TermCount `json:"false_positive_terms"`
	// Samples are a few flagged negatives and missed positives.
	FalsePositives []string `json:"false_positives"`
	Misses         []string `json:"misses"`
}

// TermCount is a rule and term with a count.
type TermCount struct {
	Term  string `json:"term"`
	Count int    `json:"count"`
}

// datasetFile returns the file of dataset name under path (a file or the
// dataset's folder).
func datasetFiles(name, path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	var files []string
	switch name {
	case DatasetInspection:
		files = []string{"subset.csv"}
	case DatasetJCommonsense:
		files = []string{"data_val.csv", "data_test.csv"}
	case DatasetOpenAI:
		files = []string{"samples-1680.jsonl"}
	case DatasetDavidson:
		files = []string{"labeled_data.csv"}
	}
	for i, f := range files {
		files[i] = filepath.Join(path, f)
	}
	return files, nil
}

const (
	labelOther = -1
	labelNeg   = 0
	labelPos   = 1
)

// row is one labelled text of a dataset.
type row struct {
	text  string
	label int
	class string // the dataset's own category or class, for the confusion
}

// EvaluateDataset runs d over a general toxicity dataset (name from
// Datasets; path is its file or folder) and scores it.
func EvaluateDataset(d *Detector, name, path string) (SetReport, error) {
	rep := SetReport{Dataset: name, Path: path, Confusion: map[string]map[string]int{}}
	var read func(io.Reader, func(row)) error
	switch name {
	case DatasetInspection:
		rep.Labels = "positive: Toxic + Very Toxic votes outnumber Not Toxic + Hard to Say; negative: Not Toxic outnumbers all the others; the rest left out"
		read = readInspection
	case DatasetJCommonsense:
		rep.Labels = "every sentence negative (everyday acts, moral or not: a false-positive probe)"
		read = readJCommonsense
	case DatasetOpenAI:
		rep.Labels = "positive: HR = 1 (harassment); negative: HR = 0; rows without HR left out"
		read = readOpenAI
	case DatasetDavidson:
		rep.Labels = "unanimous rows only: positive when every vote is hate or offensive, negative when every vote is neither"
		read = readDavidson
	default:
		return rep, fmt.Errorf("detect: unknown dataset %q (%s)", name, strings.Join(Datasets(), ", "))
	}
	files, err := datasetFiles(name, path)
	if err != nil {
		return rep, fmt.Errorf("detect: dataset %s: %w", name, err)
	}
	fpTerms := map[string]int{}
	judge := func(r row) {
		rep.Rows++
		v := d.Detect(r.text)
		flagged := len(v.Categories) > 0
		got := None
		if flagged {
			got = v.Categories[0]
		}
		if r.label != labelOther && r.class != "" {
			if rep.Confusion[r.class] == nil {
				rep.Confusion[r.class] = map[string]int{}
			}
			rep.Confusion[r.class][got]++
		}
		switch r.label {
		case labelPos:
			rep.Pos++
			if flagged {
				rep.TP++
			} else if len(rep.Misses) < 15 {
				rep.Misses = append(rep.Misses, clip(r.text))
			}
		case labelNeg:
			rep.Neg++
			if !flagged {
				break
			}
			rep.FP++
			for _, m := range v.Matches {
				if m.Category != CatComplaint {
					fpTerms[m.Rule+" "+m.Term]++
				}
			}
			if len(rep.FalsePositives) < 15 {
				rep.FalsePositives = append(rep.FalsePositives, fmt.Sprintf("%v %s", v.Categories, clip(r.text)))
			}
		default:
			rep.Other++
			if flagged {
				rep.OtherFlagged++
			}
		}
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return rep, fmt.Errorf("detect: dataset %s: %w", name, err)
		}
		err = read(fh, judge)
		fh.Close()
		if err != nil {
			return rep, fmt.Errorf("detect: dataset %s: %s: %w", name, f, err)
		}
	}
	rep.Precision = ratio(rep.TP, rep.TP+rep.FP)
	rep.PrecisionCI = Wilson(rep.TP, rep.TP+rep.FP)
	rep.Recall = ratio(rep.TP, rep.Pos)
	rep.RecallCI = Wilson(rep.TP, rep.Pos)
	if rep.Precision+rep.Recall > 0 {
		rep.F1 = 2 * rep.Precision * rep.Recall / (rep.Precision + rep.Recall)
	}
	rep.FPRate = ratio(rep.FP, rep.Neg)
	rep.FPRateCI = Wilson(rep.FP, rep.Neg)
	for t, n := range fpTerms {
		rep.FalsePositiveTerms = append(rep.FalsePositiveTerms, TermCount{t, n})
	}
	slices.SortFunc(rep.FalsePositiveTerms, func(a, b TermCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Term, b.Term)
	})
	if len(rep.FalsePositiveTerms) > 25 {
		rep.FalsePositiveTerms = rep.FalsePositiveTerms[:25]
	}
	return rep, nil
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 140 {
		return string(r[:140]) + "…"
	}
	return s
}

func readCSV(r io.Reader, header func([]string) error, each func([]string) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	first := true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if first {
			first = false
			if err := header(rec); err != nil {
				return err
			}
			continue
		}
		if err := each(rec); err != nil {
			return err
		}
	}
}

// columns maps the header's names to indices and checks that want exist.
func columns(h []string, want ...string) (map[string]int, error) {
	m := map[string]int{}
	for i, c := range h {
		m[strings.TrimSpace(strings.TrimPrefix(c, "\ufeff"))] = i
	}
	for _, w := range want {
		if _, ok := m[w]; !ok {
			return nil, fmt.Errorf("no column %q in header %q", w, h)
		}
	}
	return m, nil
}

func atoiField(rec []string, i int) (int, error) {
	if i >= len(rec) {
		return 0, fmt.Errorf("short record %q", rec)
	}
	return strconv.Atoi(strings.TrimSpace(rec[i]))
}

func readInspection(r io.Reader, judge func(row)) error {
	var col map[string]int
	var cats []string
	return readCSV(r, func(h []string) error {
		var err error
		col, err = columns(h, "text", "Not Toxic", "Hard to Say", "Toxic", "Very Toxic")
		for _, c := range h {
			if strings.HasPrefix(c, "category_") {
				cats = append(cats, c)
			}
		}
		return err
	}, func(rec []string) error {
		var v [4]int
		for i, c := range []string{"Not Toxic", "Hard to Say", "Toxic", "Very Toxic"} {
			n, err := atoiField(rec, col[c])
			if err != nil {
				return err
			}
			v[i] = n
		}
		label := labelOther
		switch {
		case v[2]+v[3] > v[0]+v[1]:
			label = labelPos
		case v[0] > v[1]+v[2]+v[3]:
			label = labelNeg
		}
		// the set's own category: the one with the most votes
		class, best := "not toxic", 0
		if label == labelPos {
			class = "toxic (no category)"
		}
		for _, c := range cats {
			if n, err := atoiField(rec, col[c]); err == nil && n > best {
				class, best = strings.TrimPrefix(c, "category_"), n
			}
		}
		if label == labelNeg {
			class = "not toxic"
		}
		judge(row{text: rec[col["text"]], label: label, class: class})
		return nil
	})
}

func readJCommonsense(r io.Reader, judge func(row)) error {
	var col map[string]int
	return readCSV(r, func(h []string) error {
		var err error
		col, err = columns(h, "sent", "label")
		return err
	}, func(rec []string) error {
		class := "moral act"
		if n, _ := atoiField(rec, col["label"]); n == 1 {
			class = "immoral act"
		}
		judge(row{text: rec[col["sent"]], label: labelNeg, class: class})
		return nil
	})
}

func readOpenAI(r io.Reader, judge func(row)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		text, _ := rec["prompt"].(string)
		hr, ok := rec["HR"].(float64)
		label := labelOther
		if ok {
			label = labelNeg
			if hr == 1 {
				label = labelPos
			}
		}
		// the other flags of the row, for the confusion
		var flags []string
		for _, f := range []string{"HR", "H", "H2", "V", "V2", "S", "S3", "SH"} {
			if x, ok := rec[f].(float64); ok && x == 1 {
				flags = append(flags, f)
			}
		}
		class := "no flag"
		if len(flags) > 0 {
			class = strings.Join(flags, "+")
		}
		judge(row{text: text, label: label, class: class})
	}
	return sc.Err()
}

func readDavidson(r io.Reader, judge func(row)) error {
	var col map[string]int
	return readCSV(r, func(h []string) error {
		var err error
		col, err = columns(h, "count", "hate_speech", "offensive_language", "neither", "tweet")
		return err
	}, func(rec []string) error {
		var v [4]int
		for i, c := range []string{"count", "hate_speech", "offensive_language", "neither"} {
			n, err := atoiField(rec, col[c])
			if err != nil {
				return err
			}
			v[i] = n
		}
		label, class := labelOther, ""
		switch {
		case v[3] == v[0]:
			label, class = labelNeg, "neither"
		case v[1]+v[2] == v[0] && v[1] == v[0]:
			label, class = labelPos, "hate"
		case v[1]+v[2] == v[0] && v[2] == v[0]:
			label, class = labelPos, "offensive"
		case v[1]+v[2] == v[0]:
			label, class = labelPos, "hate+offensive"
		}
		judge(row{text: rec[col["tweet"]], label: label, class: class})
		return nil
	})
}

// WriteText prints the report for a terminal.
func (r SetReport) WriteText(w io.Writer) error {
	var b strings.Builder
	pct := func(x float64) string { return fmt.Sprintf("%.3f", x) }
	ci := func(c Interval) string { return fmt.Sprintf("[%.3f, %.3f]", c.Lo, c.Hi) }
	fmt.Fprintf(&b, "dataset %s (%s): %d rows\n", r.Dataset, r.Path, r.Rows)
	fmt.Fprintf(&b, "labels: %s\n", r.Labels)
	fmt.Fprintf(&b, "flagged = the verdict lists an abusive category (targets play no part)\n\n")
	if r.Pos > 0 {
		fmt.Fprintf(&b, "positives %d, flagged %d: recall %s  95%% Wilson %s\n", r.Pos, r.TP, pct(r.Recall), ci(r.RecallCI))
	}
	fmt.Fprintf(&b, "negatives %d, flagged %d: false-positive rate %s  95%% Wilson %s\n", r.Neg, r.FP, pct(r.FPRate), ci(r.FPRateCI))
	if r.Pos > 0 {
		fmt.Fprintf(&b, "precision %s  95%% Wilson %s   F1 %s   (tp %d fp %d fn %d tn %d)\n",
			pct(r.Precision), ci(r.PrecisionCI), pct(r.F1), r.TP, r.FP, r.Pos-r.TP, r.Neg-r.FP)
	}
	if r.Other > 0 {
		fmt.Fprintf(&b, "left out (neither label) %d, flagged %d (%.3f)\n", r.Other, r.OtherFlagged, ratio(r.OtherFlagged, r.Other))
	}
	if len(r.Confusion) > 0 {
		rows := make([]string, 0, len(r.Confusion))
		colSet := map[string]bool{}
		for k, m := range r.Confusion {
			rows = append(rows, k)
			for c := range m {
				colSet[c] = true
			}
		}
		slices.Sort(rows)
		cols := make([]string, 0, len(colSet))
		for c := range colSet {
			cols = append(cols, c)
		}
		pos := func(c string) int {
			if c == None {
				return 100
			}
			return categoryIndex(c)
		}
		slices.SortFunc(cols, func(a, b string) int { return pos(a) - pos(b) })
		b.WriteString("\nconfusion (rows: the set's label or category, columns: main category found)\n")
		fmt.Fprintf(&b, "%-26s", "")
		for _, c := range cols {
			fmt.Fprintf(&b, " %6.6s", c)
		}
		b.WriteString("\n")
		for _, k := range rows {
			b.WriteString(padWidth(k, 26))
			for _, c := range cols {
				if n := r.Confusion[k][c]; n > 0 {
					fmt.Fprintf(&b, " %6d", n)
				} else {
					fmt.Fprintf(&b, " %6s", ".")
				}
			}
			b.WriteString("\n")
		}
	}
	if len(r.FalsePositiveTerms) > 0 {
		b.WriteString("\nmost frequent matches in flagged negatives (rule term: count)\n")
		for _, t := range r.FalsePositiveTerms {
			fmt.Fprintf(&b, "  %5d  %s\n", t.Count, t.Term)
		}
	}
	if len(r.FalsePositives) > 0 {
		b.WriteString("\nflagged negatives (sample)\n")
		for _, s := range r.FalsePositives {
			fmt.Fprintf(&b, "  %s\n", s)
		}
	}
	if len(r.Misses) > 0 {
		b.WriteString("\nmissed positives (sample)\n")
		for _, s := range r.Misses {
			fmt.Fprintf(&b, "  %s\n", s)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// padWidth pads s with spaces to w terminal columns, counting CJK and other
// wide runes as two.
func padWidth(s string, w int) string {
	n := 0
	for _, r := range s {
		if r >= 0x1100 && (r <= 0x115F || (r >= 0x2E80 && r <= 0xA4CF) || (r >= 0xAC00 && r <= 0xD7A3) ||
			(r >= 0xF900 && r <= 0xFAFF) || (r >= 0xFE30 && r <= 0xFE4F) || (r >= 0xFF00 && r <= 0xFF60) ||
			(r >= 0xFFE0 && r <= 0xFFE6) || r >= 0x1F300) {
			n += 2
		} else {
			n++
		}
	}
	if n >= w {
		return s + " "
	}
	return s + strings.Repeat(" ", w-n)
}
