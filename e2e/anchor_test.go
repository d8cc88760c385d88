package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"mimamori/config"
	"mimamori/demo"
	"mimamori/evidence"
	"mimamori/mention"
)

// TestEvidenceChainAnchorCLI: `evidence chain anchor` records the head;
// `evidence verify --chain` says which recorded heads it checked, and
// after the newest three bundles are deleted and chain.jsonl cut to match
// it exits 1 naming the anchored head.
func TestEvidenceChainAnchorCLI(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "mimamori.yaml")
	yaml := demo.ConfigYAML("http://127.0.0.1:9", filepath.Join(dir, "data")) + "evidence:\n  disable_render: true\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := evidence.OpenFromConfig(cfg, "mimamori-e2e", nil)
	if err != nil {
		t.Fatal(err)
	}
	var refs []mention.EvidenceRef
	for i := 0; i < 5; i++ {
		f := &mention.Fetch{RequestURL: "https://forum.example.jp/t/1", FinalURL: "https://forum.example.jp/t/1", Method: "GET",
			StatusCode: 200, Header: http.Header{"Content-Type": {"text/html"}}, FetchedAt: time.Now(), Body: []byte("<html>詐欺会社</html>")}
		ref, err := s.CaptureContext(context.Background(), mention.Mention{ID: fmt.Sprintf("m%d", i), Version: 1, SourceID: "forum",
			URL: f.FinalURL, Text: "株式会社サンプルは詐欺会社"}, f)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	head, _ := s.ChainHead()

	out, code := mimamori(t, "evidence", "verify", "--chain", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "no recorded heads in chain-heads.jsonl") {
		t.Fatalf("verify before any anchor: exit %d\n%s", code, out)
	}
	out, code = mimamori(t, "evidence", "chain", "anchor", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("record 1 in chain-heads.jsonl: line %d sha256 %s", head.Seq, head.LineSHA256)) ||
		!strings.Contains(out, "no TSA configured") {
		t.Fatalf("chain anchor: exit %d\n%s", code, out)
	}
	out, code = mimamori(t, "evidence", "chain", "anchor", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "nothing anchored") || !strings.Contains(out, "unchanged since anchor 1") {
		t.Fatalf("second chain anchor: exit %d\n%s", code, out)
	}
	out, code = mimamori(t, "evidence", "verify", "--chain", "--config", cfgPath)
	used := regexp.MustCompile(fmt.Sprintf(`checked against 1 recorded head\(s\) \(newest seq %d at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d JST, not timestamped\)`, head.Seq))
	t.Logf("verify --chain:\n%s", out)
	if code != 0 || !used.MatchString(out) {
		t.Fatalf("verify --chain: exit %d, want it to name the recorded head it used:\n%s", code, out)
	}

	// Delete the newest three bundles and cut chain.jsonl to match.
	root := cfg.EvidenceDir()
	for _, r := range refs[2:] {
		os.RemoveAll(r.Path)
	}
	chain := filepath.Join(root, evidence.ChainFile)
	data, _ := os.ReadFile(chain)
	i := strings.Index(string(data), `"bundle_id":"`+refs[2].BundleID+`"`)
	i = strings.LastIndexByte(string(data[:i]), '\n') + 1
	os.WriteFile(chain, data[:i], 0o640)
	out, code = mimamori(t, "evidence", "verify", "--chain", "--config", cfgPath)
	t.Logf("verify --chain after the cut:\n%s", out)
	if code != 1 || !strings.Contains(out, fmt.Sprintf("recorded head 1 (line %d, bundle %s at position 5", head.Seq, refs[4].BundleID)) ||
		!strings.Contains(out, "removed from the end of the chain") {
		t.Fatalf("verify --chain after the cut: exit %d, want 1 naming the recorded head:\n%s", code, out)
	}
	// Anchoring the cut chain says the anchored head is gone.
	out, code = mimamori(t, "evidence", "chain", "anchor", "--config", cfgPath)
	t.Logf("chain anchor after the cut:\n%s", out)
	if code != 1 || !strings.Contains(out, "PROBLEM: ") || !strings.Contains(out, "lines were removed since") {
		t.Fatalf("chain anchor of a cut chain: exit %d\n%s", code, out)
	}
	// --head still works beside the recorded heads.
	out, code = mimamori(t, "evidence", "verify", "--chain", "--config", cfgPath, "--head", fmt.Sprintf("%d:%s", head.Seq, head.LineSHA256))
	if code != 1 || !strings.Contains(out, "the expected head") || !strings.Contains(out, "and against --head") {
		t.Fatalf("verify --chain --head: exit %d\n%s", code, out)
	}
}
