package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"time"

	"mimamori/internal/pemcert"
)

var oidRe = regexp.MustCompile(`^[0-2](\.[0-9]+)+$`)

// EvidenceConfig configures evidence capture. Zero values mean the
// defaults named on each field.
type EvidenceConfig struct {
	// Dir is the evidence root (default <data_dir>/evidence).
	Dir string `mapstructure:"dir"`
	// TSA is the RFC 3161 time-stamping authority.
	TSA TSAConfig `mapstructure:"tsa"`
	// ChromiumPath is the headless browser (default /usr/bin/chromium).
	ChromiumPath string `mapstructure:"chromium_path"`
	// DisableRender turns screenshots and PDFs off.
	DisableRender bool `mapstructure:"disable_render"`
	// RenderTimeout bounds one rendering, browser start to exit (default 60s).
	RenderTimeout time.Duration `mapstructure:"render_timeout"`
	// JSSettle is how long a page of a source that needs JavaScript runs
	// after its load event before its DOM is recorded (default 2s).
	JSSettle time.Duration `mapstructure:"js_settle"`
	// ViewportWidth is the browser window width in CSS pixels (default 1280).
	ViewportWidth int `mapstructure:"viewport_width"`
	// MaxScreenshotHeight caps full-page screenshots (default 15000 px).
	MaxScreenshotHeight int `mapstructure:"max_screenshot_height"`
	// AllowPrivateSubresources lets rendered pages load images and styles
	// from loopback and private addresses (default: refused).
	AllowPrivateSubresources bool `mapstructure:"allow_private_subresources"`
	// Retention deletes the files of bundles older than this; manifests,
	// tokens and the chain are kept (0 keeps everything).
	Retention time.Duration `mapstructure:"retention"`
	// LightRetention does the same for light bundles of posts that did not
	// alert (0 keeps them).
	LightRetention time.Duration `mapstructure:"light_retention"`
	// RetryInterval is how often pending timestamps and renderings are
	// retried and retention runs (default 10m).
	RetryInterval time.Duration `mapstructure:"retry_interval"`
	// RecheckInterval is how often alerted posts are fetched again to record
	// an edit or a deletion (0: 6h; negative: never).
	RecheckInterval time.Duration `mapstructure:"recheck_interval"`
	// RecheckFor is how long after first seen a post is re-checked (0: 30 days).
	RecheckFor time.Duration `mapstructure:"recheck_for"`
}

// TSAConfig configures the time-stamping authority.
type TSAConfig struct {
	// URL of the TSA (empty: no trusted timestamps).
	URL string `mapstructure:"url"`
	// CAFile is the PEM CA the TSA certificate must chain to; required
	// with url.
	CAFile string `mapstructure:"ca_file"`
	// Timeout bounds one request (default 15s).
	Timeout time.Duration `mapstructure:"timeout"`
	// PolicyOID asks for a TSA policy (optional, dotted form).
	PolicyOID string `mapstructure:"policy_oid"`
}

// EvidenceDir returns the evidence root.
func (c *Config) EvidenceDir() string {
	if c.Evidence.Dir != "" {
		return c.Evidence.Dir
	}
	return filepath.Join(c.DataDir, "evidence")
}

// EvidenceRetryInterval returns evidence.retry_interval or its default.
func (c *Config) EvidenceRetryInterval() time.Duration {
	if c.Evidence.RetryInterval > 0 {
		return c.Evidence.RetryInterval
	}
	return 10 * time.Minute
}

// validateEvidence checks evidence settings.
func (c *Config) validateEvidence() []FieldError {
	var errs []FieldError
	add := func(key, format string, args ...any) {
		errs = append(errs, FieldError{Key: key, Problem: fmt.Sprintf(format, args...)})
	}
	e := c.Evidence
	if e.TSA.URL != "" {
		if u, err := url.Parse(e.TSA.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("evidence.tsa.url", "not an absolute http(s) URL: %q", e.TSA.URL)
		}
		if e.TSA.CAFile == "" {
			add("evidence.tsa.ca_file", "required when evidence.tsa.url is set (tokens are verified against it)")
		}
	}
	if e.TSA.CAFile != "" {
		if _, err := pemcert.Read(e.TSA.CAFile); err != nil {
			add("evidence.tsa.ca_file", "%v", err)
		}
	}
	if e.TSA.PolicyOID != "" && !oidRe.MatchString(e.TSA.PolicyOID) {
		add("evidence.tsa.policy_oid", "%q is not a dotted OID", e.TSA.PolicyOID)
	}
	for key, d := range map[string]time.Duration{"evidence.tsa.timeout": e.TSA.Timeout, "evidence.render_timeout": e.RenderTimeout,
		"evidence.js_settle": e.JSSettle, "evidence.retention": e.Retention, "evidence.light_retention": e.LightRetention,
		"evidence.retry_interval": e.RetryInterval} {
		if d < 0 {
			add(key, "must not be negative")
		}
	}
	if e.RenderTimeout > 0 && e.RenderTimeout < 5*time.Second {
		add("evidence.render_timeout", "%v is too short for a browser to start (at least 5s)", e.RenderTimeout)
	}
	if e.ViewportWidth < 0 || (e.ViewportWidth > 0 && (e.ViewportWidth < 320 || e.ViewportWidth > 4096)) {
		add("evidence.viewport_width", "must be between 320 and 4096")
	}
	if e.MaxScreenshotHeight < 0 || e.MaxScreenshotHeight > 30000 {
		add("evidence.max_screenshot_height", "must be between 1 and 30000 (0: default)")
	}
	if e.Retention > 0 && e.Retention < 24*time.Hour {
		add("evidence.retention", "%v is shorter than a day; evidence must outlive the legal process", e.Retention)
	}
	if e.LightRetention > 0 && e.LightRetention < time.Hour {
		add("evidence.light_retention", "%v is shorter than an hour", e.LightRetention)
	}
	return errs
}
