package detect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"mimamori/mention"
)

// devDir returns the shared dev set, or skips the test when it is absent.
func devDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "shared", "data", "dev"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "posts.jsonl")); err != nil {
		t.Skipf("dev set not found at %s", dir)
	}
	return dir
}

func loadTargets(t testing.TB, path string) []mention.Target {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Targets []mention.Target `yaml:"targets"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.Targets
}

func TestDevSet(t *testing.T) {
	dir := devDir(t)
	d, err := New(loadTargets(t, filepath.Join(dir, "config.yaml")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "posts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := Evaluate(d, f)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + b.String())
	if rep.Total != 44 {
		t.Errorf("read %d posts, want 44", rep.Total)
	}
	if rep.Precision < 0.9 || rep.Recall < 0.9 {
		t.Errorf("precision %.3f recall %.3f, want both >= 0.9", rep.Precision, rep.Recall)
	}
}
