package detect

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"

	"mimamori/mention"
)

// categoryFile is one file of testdata/categories: examples written for
// these tests (never taken from the evaluation data), against testTargets.
type categoryFile struct {
	Category  string `yaml:"category"`
	Positives []struct {
		Text   string `yaml:"text"`
		Target string `yaml:"target"`
	} `yaml:"positives"`
	Negatives []string `yaml:"negatives"`
}

// TestCategoryFiles runs the per-category example files: for an abusive
// category a positive must list the category, and alert with a match of
// that category on its target when it names one (stay silent when it names
// none); a negative must neither list the category nor alert. For
// complaint, a positive must produce a complaint match (on its target) and
// never an alert or an abusive category; a negative no complaint match.
func TestCategoryFiles(t *testing.T) {
	d := testDetector(t)
	for _, cat := range Categories() {
		t.Run(cat, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "categories", cat+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var f categoryFile
			if err := yaml.Unmarshal(data, &f); err != nil {
				t.Fatal(err)
			}
			if f.Category != cat {
				t.Fatalf("file says category %q", f.Category)
			}
			if len(f.Positives) < 6 || len(f.Negatives) < 6 {
				t.Errorf("%d positives and %d negatives: write at least 6 of each", len(f.Positives), len(f.Negatives))
			}
			hasMatch := func(v mention.Verdict, target string) bool {
				return slices.ContainsFunc(v.Matches, func(m mention.Match) bool {
					return m.Category == cat && (target == "" || m.Target == target)
				})
			}
			for _, p := range f.Positives {
				v := d.Detect(p.Text)
				checkOffsets(t, p.Text, v)
				fail := func(why string) {
					t.Errorf("positive %q: %s\n  verdict: alert %v categories %v targets %v\n  %s", p.Text, why, v.Alert, v.Categories, v.Targets, v.Explanation)
				}
				if cat == CatComplaint {
					switch {
					case v.Alert || len(v.Categories) > 0:
						fail("a complaint must never alert or list an abusive category")
					case !hasMatch(v, p.Target):
						fail("no complaint match on " + p.Target)
					}
					continue
				}
				switch {
				case !slices.Contains(v.Categories, cat):
					fail("category not found")
				case p.Target == "" && v.Alert:
					fail("alert although no target is named")
				case p.Target != "" && !v.Alert:
					fail("no alert")
				case p.Target != "" && !hasMatch(v, p.Target):
					fail("no " + cat + " match attributed to " + p.Target)
				}
			}
			for _, text := range f.Negatives {
				v := d.Detect(text)
				checkOffsets(t, text, v)
				bad := v.Alert || slices.Contains(v.Categories, cat)
				if cat == CatComplaint {
					bad = v.Alert || hasMatch(v, "")
				}
				if bad {
					t.Errorf("negative %q: alert %v categories %v targets %v\n  %s", text, v.Alert, v.Categories, v.Targets, v.Explanation)
				}
			}
		})
	}
}
