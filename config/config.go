// Package config loads mimamori's one YAML configuration file with viper,
// applies MIMAMORI_… environment overrides and defaults, and validates it,
// naming the key and the problem for every mistake.
package config

import (
	"fmt"
	"time"

	"mimamori/mention"
)

// Secret is a string that never prints: logs and errors show <secret>.
type Secret string

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<secret>"
}

// GoString hides the value from %#v too.
func (s Secret) GoString() string { return s.String() }

// MarshalText hides the value when encoded (zap, JSON, YAML).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the real value; call it only where the secret is used.
func (s Secret) Reveal() string { return string(s) }

// Config is the whole configuration.
type Config struct {
	// DataDir holds the state database, the embedded index, evidence and
	// the file outbox.
	DataDir string `mapstructure:"data_dir"`
	// Log configures logging.
	Log LogConfig `mapstructure:"log"`
	// Targets are the company, products and staff watched over.
	Targets []mention.Target `mapstructure:"targets"`
	// Patterns adds user pattern files to the shipped default pack.
	Patterns PatternsConfig `mapstructure:"patterns"`
	// Crawler holds defaults for every source.
	Crawler CrawlerConfig `mapstructure:"crawler"`
	// Sources are the sites crawled.
	Sources []Source `mapstructure:"sources"`
	// Index selects and configures the search backend.
	Index IndexConfig `mapstructure:"index"`
	// Alert configures alert e-mails.
	Alert AlertConfig `mapstructure:"alert"`
	// SMTP is the mail relay; empty host means alerts go to the file outbox.
	SMTP SMTPConfig `mapstructure:"smtp"`
	// Evidence configures evidence capture.
	Evidence EvidenceConfig `mapstructure:"evidence"`
	// Metrics configures the Prometheus metrics endpoint.
	Metrics MetricsConfig `mapstructure:"metrics"`
}

// MetricsConfig configures the metrics endpoint.
type MetricsConfig struct {
	// Listen is the address of the /metrics endpoint (e.g. 127.0.0.1:9464);
	// empty disables it.
	Listen string `mapstructure:"listen"`
}

// LogConfig configures zap.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `mapstructure:"level"`
	// Format is json (daemon default) or console.
	Format string `mapstructure:"format"`
}

// PatternsConfig lists extra pattern files.
type PatternsConfig struct {
	// Files are YAML pattern files merged over the default pack by rule id.
	Files []string `mapstructure:"files"`
	// NoDefaultPack disables the shipped patterns.
	NoDefaultPack bool `mapstructure:"no_default_pack"`
}

// Index backends.
const (
	BackendEmbedded      = "embedded"
	BackendElasticsearch = "elasticsearch"
)

// IndexConfig selects the search backend.
type IndexConfig struct {
	// Backend is embedded (default) or elasticsearch.
	Backend string `mapstructure:"backend"`
	// Elasticsearch configures the elasticsearch backend.
	Elasticsearch ElasticsearchConfig `mapstructure:"elasticsearch"`
}

// ElasticsearchConfig configures the Elasticsearch backend.
type ElasticsearchConfig struct {
	// Addresses are the node URLs.
	Addresses []string `mapstructure:"addresses"`
	// Username for basic auth.
	Username string `mapstructure:"username"`
	// Password for basic auth.
	Password Secret `mapstructure:"password"`
	// APIKey is used instead of basic auth when set.
	APIKey Secret `mapstructure:"api_key"`
	// IndexPrefix names the write alias and the dated indices.
	IndexPrefix string `mapstructure:"index_prefix"`
	// Analyzer for text fields: standard, cjk or kuromoji.
	Analyzer string `mapstructure:"analyzer"`
	// RolloverMaxAge rolls the write index over after this age.
	RolloverMaxAge time.Duration `mapstructure:"rollover_max_age"`
	// RolloverMaxSize rolls over at this primary shard size in bytes.
	RolloverMaxSize int64 `mapstructure:"rollover_max_size"`
	// Retention deletes indices older than this (0 keeps everything).
	Retention time.Duration `mapstructure:"retention"`
	// SpoolMaxBytes caps the local spool that holds mentions while the
	// cluster is unreachable.
	SpoolMaxBytes int64 `mapstructure:"spool_max_bytes"`
}

// Default returns the configuration used for every key a file leaves out.
func Default() Config {
	return Config{
		DataDir: "data",
		Log:     LogConfig{Level: "info", Format: "json"},
		Crawler: CrawlerConfig{
			UserAgent:    "mimamori/0.1 (+https://example.invalid/mimamori-crawler; reputation monitoring)",
			Timeout:      30 * time.Second,
			MaxBodyBytes: 10 << 20,
			MaxRedirects: 5,
			Interval:     15 * time.Minute,
			Jitter:       0.1,
			Delay:        time.Second,
			MaxPages:     5,
		},
		Index: IndexConfig{
			Backend: BackendEmbedded,
			Elasticsearch: ElasticsearchConfig{
				IndexPrefix:     "mimamori-mentions",
				Analyzer:        "standard",
				RolloverMaxAge:  30 * 24 * time.Hour,
				RolloverMaxSize: 20 << 30,
				SpoolMaxBytes:   1 << 30,
			},
		},
		Alert: AlertConfig{
			From:              "mimamori@localhost",
			Language:          "ja",
			MinSeverity:       mention.SeverityMedium,
			RetryInitial:      30 * time.Second,
			RetryMax:          30 * time.Minute,
			AttachRawMaxBytes: 5 << 20,
			DeadAfter:         24 * time.Hour,
			SendLease:         5 * time.Minute,
			GroupWindow:       time.Minute,
			GroupMax:          20,
			MaxPerHour:        30,
			Escalation: EscalationConfig{
				PersistentWindow: 24 * time.Hour, PersistentThreshold: 3,
				AnonymousAuthors: []string{"名無しさん", "名無し", "匿名", "匿名希望", "Anonymous", "anonymous", "[deleted]"},
				SpikeWindow:      time.Hour, SpikeBaseline: 7 * 24 * time.Hour, SpikeMinCount: 20, SpikeFactor: 5,
			},
		},
		SMTP: SMTPConfig{Port: 587, TLS: TLSStartTLS, Timeout: 30 * time.Second},
	}
}

// FieldError is one validation problem.
type FieldError struct {
	Key     string
	Problem string
	// Env names the environment variable the faulty value came from
	// (MIMAMORI_CRAWLER_TIMEOUT), empty when it came from the file.
	Env string
}

func (e FieldError) Error() string {
	if e.Env != "" {
		return e.Key + " (from " + e.Env + "): " + e.Problem
	}
	return e.Key + ": " + e.Problem
}

// ValidationError lists every problem of a config.
type ValidationError struct {
	// File is the config file, empty when unknown.
	File   string
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	s := fmt.Sprintf("config %s: %d problem(s)", e.File, len(e.Errors))
	if e.File == "" {
		s = fmt.Sprintf("config: %d problem(s)", len(e.Errors))
	}
	for _, fe := range e.Errors {
		s += "\n  " + fe.Error()
	}
	return s
}
