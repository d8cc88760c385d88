package detect

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
)

// TestProbeGeneral measures the abuse half of the detector (Categories not
// empty) on the general toxicity sets under shared/data. It only logs; run
// it with MIMAMORI_PROBE=1 (add -v to see the figures).
func TestProbeGeneral(t *testing.T) {
	if os.Getenv("MIMAMORI_PROBE") == "" {
		t.Skip("set MIMAMORI_PROBE=1 to run")
	}
	root, _ := filepath.Abs(filepath.Join("..", "..", "shared", "data"))
	d, err := New(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	type tally struct {
		pos, posHit, neg, negHit, other, otherHit int
		fpTerms                                   map[string]int
		fpSamples                                 []string
	}
	report := func(name string, c *tally) {
		t.Logf("%s: recall %d/%d (%.3f)  false positives %d/%d (%.3f)  unlabelled flagged %d/%d",
			name, c.posHit, c.pos, ratio(c.posHit, c.pos), c.negHit, c.neg, ratio(c.negHit, c.neg), c.otherHit, c.other)
		type kv struct {
			k string
			v int
		}
		var kvs []kv
		for k, v := range c.fpTerms {
			kvs = append(kvs, kv{k, v})
		}
		sort.Slice(kvs, func(i, j int) bool { return kvs[i].v > kvs[j].v })
		for i, x := range kvs {
			if i >= 25 {
				break
			}
			t.Logf("   fp %4d %s", x.v, x.k)
		}
		if os.Getenv("MIMAMORI_PROBE") == "2" {
			for _, s := range c.fpSamples {
				t.Logf("   sample %s", s)
			}
		}
	}
	judge := func(c *tally, text string, label int) {
		v := d.Detect(text)
		hit := len(v.Categories) > 0
		switch label {
		case 1:
			c.pos++
			if hit {
				c.posHit++
			}
		case 0:
			c.neg++
			if hit {
				c.negHit++
				for _, m := range v.Matches {
					if m.Category != CatComplaint {
						c.fpTerms[m.Rule+" "+m.Term]++
					}
				}
				if len(c.fpSamples) < 40 {
					c.fpSamples = append(c.fpSamples, fmt.Sprintf("%v %q", v.Categories, text))
				}
			}
		default:
			c.other++
			if hit {
				c.otherHit++
			}
		}
	}
	readCSV := func(path string) [][]string {
		f, err := os.Open(path)
		if err != nil {
			t.Skip(err)
		}
		defer f.Close()
		r := csv.NewReader(f)
		r.FieldsPerRecord = -1
		rows, err := r.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return rows[1:]
	}
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }

	{ // jcommonsense morality: every flag is a false positive to explain
		c := &tally{fpTerms: map[string]int{}}
		for _, f := range []string{"data_val.csv", "data_test.csv"} {
			for _, row := range readCSV(filepath.Join(root, "ja-jcommonsense-morality", f)) {
				judge(c, row[1], 0)
			}
		}
		report("ja-jcommonsense-morality", c)
	}
	{ // inspection toxic
		c := &tally{fpTerms: map[string]int{}}
		for _, row := range readCSV(filepath.Join(root, "ja-inspection-toxic", "subset.csv")) {
			nt, hs, tx, vt := atoi(row[2]), atoi(row[3]), atoi(row[4]), atoi(row[5])
			label := -1
			if tx+vt > nt+hs {
				label = 1
			} else if nt > hs+tx+vt {
				label = 0
			}
			judge(c, row[1], label)
		}
		report("ja-inspection-toxic", c)
	}
	{ // openai moderation: HR
		c := &tally{fpTerms: map[string]int{}}
		f, err := os.Open(filepath.Join(root, "en-openai-moderation", "samples-1680.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var row struct {
				Prompt string `json:"prompt"`
				HR     *int   `json:"HR"`
			}
			if json.Unmarshal(sc.Bytes(), &row) != nil || row.HR == nil {
				continue
			}
			judge(c, row.Prompt, *row.HR)
		}
		f.Close()
		report("en-openai-moderation (HR)", c)
	}
	{ // davidson, unanimous rows
		c := &tally{fpTerms: map[string]int{}}
		for _, row := range readCSV(filepath.Join(root, "en-davidson-hate-offensive", "labeled_data.csv")) {
			n, h, o, ne := atoi(row[1]), atoi(row[2]), atoi(row[3]), atoi(row[4])
			label := -1
			switch {
			case ne == n:
				label = 0
			case h+o == n:
				label = 1
			}
			judge(c, row[6], label)
		}
		report("en-davidson (unanimous)", c)
	}
	_ = io.EOF
}
