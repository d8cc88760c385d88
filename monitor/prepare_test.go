package monitor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mimamori/config"
	"mimamori/mention"
)

func TestPrepare(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badRegex := write("bad-regex.yaml", "version: 1\nrules:\n  - id: my-phone\n    category: doxxing\n"+
		"    regex: '0[789]0([0-9]{8}'\n    anchors: [電話]\n")
	goodRules := write("good.yaml", "version: 1\nrules:\n  - id: my-insult\n    category: insult\n    terms: [ばかもの]\n")
	tmplDir := filepath.Join(dir, "templates")
	if err := os.Mkdir(tmplDir, 0o700); err != nil {
		t.Fatal(err)
	}
	write("templates/en.tmpl", `{{define "subject"}}{{.Broken`)
	notPEM := write("ca.pem", "not a certificate\n")

	cases := []struct {
		name   string
		mutate func(*config.Config)
		want   []string // substrings of "key: problem" lines, each must appear
	}{
		{"defaults", nil, nil},
		{"good pattern file", func(c *config.Config) { c.Patterns.Files = []string{goodRules} }, nil},
		{"invalid regex names the key, the file and the pattern", func(c *config.Config) {
			c.Patterns.Files = []string{goodRules, badRegex}
		}, []string{"patterns.files[1]: load detector: detect: " + badRegex + `: rule "my-phone": regex:`, "0[789]0([0-9]{8}"}},
		{"broken template", func(c *config.Config) { c.Alert.TemplatesDir = tmplDir }, []string{"alert.templates_dir: load alert templates:", "en.tmpl"}},
		{"TSA CA without certificates", func(c *config.Config) { c.Evidence.TSA.CAFile = notPEM }, []string{"evidence.tsa.ca_file:", notPEM}},
		{"source secret missing from the environment", func(c *config.Config) {
			c.Sources = []config.Source{{ID: "api", Kind: config.SourceJSON, URL: "https://api.example/v1",
				JSON: config.JSONMapping{Text: "text"}, Auth: config.SourceAuth{Type: config.AuthBearer, Env: "MIMAMORI_TEST_UNSET_TOKEN"}}}
		}, []string{"sources[0]: crawler: source api: auth.env: environment variable MIMAMORI_TEST_UNSET_TOKEN is not set"}},
		{"bad selector and bad cron, every problem reported", func(c *config.Config) {
			c.Patterns.Files = []string{badRegex}
			c.Sources = []config.Source{
				{ID: "a", Kind: config.SourceHTML, URL: "https://a.example/", HTML: config.HTMLSelectors{Item: "div[", Text: "p"}},
				{ID: "b", Kind: config.SourceFeed, URL: "https://b.example/feed", Cron: "61 * * * *"},
			}
		}, []string{"patterns.files[0]:", "sources[0]: crawler: source a:", "sources[1]: crawler: source b:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			cfg.Targets = []mention.Target{{ID: "company", Kind: mention.KindCompany, Name: "株式会社サンプル"}}
			if tc.mutate != nil {
				tc.mutate(&cfg)
			}
			p, errs := Prepare(cfg)
			var lines []string
			for _, e := range errs {
				lines = append(lines, e.Error())
			}
			got := strings.Join(lines, "\n")
			if len(tc.want) == 0 {
				if len(errs) > 0 {
					t.Fatalf("want no problem, got:\n%s", got)
				}
				if p.Detector == nil || p.Renderer == nil {
					t.Fatalf("prepared parts missing: %+v", p)
				}
				return
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("problems lack %q:\n%s", w, got)
				}
			}
			if entries, _ := os.ReadDir(cfg.DataDir); len(entries) > 0 {
				t.Errorf("Prepare wrote into the data dir: %v", entries)
			}
		})
	}
}
