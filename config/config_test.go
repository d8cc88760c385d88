package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestLoadGood(t *testing.T) {
	cfg, err := Load("testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Crawler.MaxBodyBytes != 2<<20 {
		t.Errorf("max_body_bytes: got %d", cfg.Crawler.MaxBodyBytes)
	}
	if cfg.Sources[1].Interval != 5*time.Minute || cfg.Crawler.Interval != 15*time.Minute {
		t.Errorf("intervals: %v %v", cfg.Sources[1].Interval, cfg.Crawler.Interval)
	}
	if cfg.Targets[1].Context[0] != "サンプル" || cfg.Targets[0].Aliases[2] != "Sample Inc." {
		t.Errorf("targets: %+v", cfg.Targets)
	}
	if cfg.SMTP.Port != 587 || cfg.SMTP.TLS != TLSStartTLS {
		t.Errorf("smtp defaults not applied: %+v", cfg.SMTP)
	}
	if s := fmt.Sprintf("%v %+v %#v", cfg.SMTP.Password, cfg.SMTP, cfg.SMTP.Password); strings.Contains(s, "hunter2") {
		t.Errorf("secret printed: %s", s)
	}
	if cfg.SMTP.Password.Reveal() != "hunter2" {
		t.Error("secret lost")
	}
}

func TestEnvOverrides(t *testing.T) {
	t.Setenv("MIMAMORI_DATA_DIR", "/tmp/elsewhere")
	t.Setenv("MIMAMORI_SMTP_PASSWORD", "from-env")
	t.Setenv("MIMAMORI_CRAWLER_TIMEOUT", "7s")
	t.Setenv("MIMAMORI_ALERT_TO", "a@example.jp,b@example.jp")
	cfg, err := Load("testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/tmp/elsewhere" || cfg.SMTP.Password.Reveal() != "from-env" || cfg.Crawler.Timeout != 7*time.Second ||
		len(cfg.Alert.To) != 2 {
		t.Fatalf("env overrides not applied: %s %s %v %v", cfg.DataDir, cfg.SMTP.Password.Reveal(), cfg.Crawler.Timeout, cfg.Alert.To)
	}
}

func TestLoadBad(t *testing.T) {
	cases := []struct {
		file string
		want []string // every error line that must appear
	}{
		{"bad-source-url.yml", []string{"sources[2].url: not an absolute http(s) URL"}},
		{"bad-unknown-key.yml", []string{"crawler.intervall: unknown key"}},
		{"bad-size.yml", []string{"crawler.max_body_bytes", `"lots" is not a size`}},
		{"bad-duplicate-ids.yml", []string{`targets[1].id: duplicate target id "c"`, `sources[1].id: duplicate source id "a"`,
			`sources[1].kind: "rss" is not feed or html`}},
		{"bad-smtp.yml", []string{"smtp.port: must be between 1 and 65535", `smtp.tls: "maybe" is not starttls, tls or none`,
			"smtp.username: required when smtp.password is set", "alert.to: at least one recipient",
			`alert.routes[0].name: "operator" is reserved`}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			_, err := Load("testdata/" + tc.file)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a ValidationError, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Error("secret in error")
			}
		})
	}
	if _, err := Load("testdata/bad-yaml.yml"); err == nil || !strings.Contains(err.Error(), "bad-yaml.yml") {
		t.Fatalf("broken YAML: want an error naming the file, got %v", err)
	}
	if _, err := Load("testdata/missing.yml"); err == nil || !strings.Contains(err.Error(), "missing.yml") {
		t.Fatalf("missing file: got %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte("targets: [{id: c, kind: company, name: X}]\n"))
	f.Add([]byte("sources: [{id: a, kind: feed, url: 'http://x'}]\ncrawler: {max_body_bytes: 1KiB}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := t.TempDir() + "/c.yml"
		if err := writeFile(p, data); err != nil {
			t.Skip()
		}
		Load(p) // must not panic
	})
}
