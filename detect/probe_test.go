package detect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProbeGeneral prints the scores on the general toxicity sets under
// shared/data (the same as `mimamori eval --dataset ...`). It only logs;
// run it with MIMAMORI_PROBE=1 -v.
func TestProbeGeneral(t *testing.T) {
	if os.Getenv("MIMAMORI_PROBE") == "" {
		t.Skip("set MIMAMORI_PROBE=1 to run")
	}
	root, _ := filepath.Abs(filepath.Join("..", "..", "shared", "data"))
	d, err := New(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, dir string }{
		{DatasetInspection, "ja-inspection-toxic"},
		{DatasetJCommonsense, "ja-jcommonsense-morality"},
		{DatasetOpenAI, "en-openai-moderation"},
		{DatasetDavidson, "en-davidson-hate-offensive"},
	} {
		p := filepath.Join(root, c.dir)
		if _, err := os.Stat(p); err != nil {
			t.Logf("%s: %v", c.name, err)
			continue
		}
		rep, err := EvaluateDataset(d, c.name, p)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := rep.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		t.Log("\n" + b.String())
	}
}
