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

func TestDurations(t *testing.T) {
	const base = "targets: [{id: c, kind: company, name: X}]\n"
	cases := []struct {
		name string
		yaml string
		env  map[string]string
		want string // substring of the error; "" means Load succeeds
	}{
		{"go duration", "crawler: {timeout: 90s}\n", nil, ""},
		{"bare zero accepted", "crawler: {max_backoff: 0}\nevidence: {retention: 0}\n", nil, ""},
		{"string zero accepted", "crawler: {alert_after: \"0\"}\n", nil, ""},
		{"negative recheck means never", "evidence: {recheck_interval: -1s}\n", nil, ""},
		{"typo", "crawler: {timeout: 3o s}\n", nil,
			`crawler.timeout: "3o s" is not a duration; use a Go duration such as 90s or 15m`},
		{"unitless int", "crawler: {timeout: 30}\n", nil, "crawler.timeout: 30 has no unit; use a Go duration"},
		{"unitless float", "crawler: {delay: 1.5}\n", nil, "crawler.delay: 1.5 has no unit"},
		{"unitless string", "alert: {escalation: {spike_window: \"45\"}}\n", nil, `alert.escalation.spike_window: "45" has no unit`},
		{"bool", "smtp: {timeout: true}\n", nil, "smtp.timeout: true is not a duration"},
		{"per source", "sources: [{id: a, kind: feed, url: 'https://x.example/f', interval: 600}]\n", nil,
			"sources[0].interval: 600 has no unit"},
		{"per source browser", "sources: [{id: a, kind: feed, url: 'https://x.example/f', browser: {timeout: 20}}]\n", nil,
			"sources[0].browser.timeout: 20 has no unit"},
		{"per source alert_after", "sources: [{id: a, kind: feed, url: 'https://x.example/f', alert_after: 3600}]\n", nil,
			"sources[0].alert_after: 3600 has no unit"},
		{"evidence tsa", "evidence: {tsa: {timeout: 15}}\n", nil, "evidence.tsa.timeout: 15 has no unit"},
		{"elasticsearch", "index: {elasticsearch: {retention: 7}}\n", nil, "index.elasticsearch.retention: 7 has no unit"},
		{"env typo names the variable", "", map[string]string{"MIMAMORI_CRAWLER_TIMEOUT": "abc"},
			`crawler.timeout (from MIMAMORI_CRAWLER_TIMEOUT): "abc" is not a duration; use a Go duration such as 90s or 15m`},
		{"env unitless names the variable", "", map[string]string{"MIMAMORI_ALERT_RETRY_MAX": "30"},
			`alert.retry_max (from MIMAMORI_ALERT_RETRY_MAX): "30" has no unit`},
		{"env validation names the variable", "", map[string]string{"MIMAMORI_CRAWLER_TIMEOUT": "-5s"},
			"crawler.timeout (from MIMAMORI_CRAWLER_TIMEOUT): must be positive"},
		{"env list element names the variable", "", map[string]string{"MIMAMORI_ALERT_TO": "ok@example.jp,nope"},
			`alert.to[1] (from MIMAMORI_ALERT_TO): not an e-mail address: "nope"`},
		{"env size names the variable", "", map[string]string{"MIMAMORI_CRAWLER_MAX_BODY_BYTES": "lots"},
			`crawler.max_body_bytes (from MIMAMORI_CRAWLER_MAX_BODY_BYTES):`},
		{"file value is not blamed on the env", "crawler: {timeout: 30}\n", map[string]string{"MIMAMORI_SMTP_TIMEOUT": "5s"},
			"crawler.timeout: 30 has no unit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			p := t.TempDir() + "/c.yml"
			if err := writeFile(p, []byte(base+tc.yaml)); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error lacks %q:\n%v", tc.want, err)
			}
		})
	}
}
