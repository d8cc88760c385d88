package monitor

import (
	"fmt"
	"strings"

	"mimamori/alert"
	"mimamori/config"
	"mimamori/crawler"
	"mimamori/detect"
	"mimamori/evidence"
)

// Prepared is what the daemon builds from the configuration alone.
type Prepared struct {
	Detector *detect.Detector
	Renderer *alert.Renderer
}

// Prepare builds every part of the daemon that needs no network connection
// and writes nothing: the detector with the default pack and the pattern
// files, the alert templates, the TSA CA certificates and every crawler
// source (its selectors, cron schedule and auth secret). Build runs it
// first; "mimamori config check" runs it to find what Load's validation
// cannot. Every problem is returned, each naming its key.
func Prepare(cfg config.Config) (*Prepared, []config.FieldError) {
	var errs []config.FieldError
	add := func(key string, err error) {
		errs = append(errs, config.FieldError{Key: key, Problem: err.Error()})
	}
	p := &Prepared{}
	det, err := detect.New(cfg.Targets, detect.Options{PatternFiles: cfg.Patterns.Files, NoDefaultPack: cfg.Patterns.NoDefaultPack})
	if err != nil {
		add(patternKey(cfg.Patterns.Files, err), fmt.Errorf("load detector: %w", err))
	}
	p.Detector = det
	r, err := alert.NewRenderer(cfg)
	if err != nil {
		add("alert.templates_dir", fmt.Errorf("load alert templates: %w", err))
	}
	p.Renderer = r
	if f := cfg.Evidence.TSA.CAFile; f != "" {
		if _, err := evidence.LoadCAFile(f); err != nil {
			add("evidence.tsa.ca_file", err)
		}
	}
	// Sources built here use a memory state and no metrics; Build builds
	// them again over the ledger. One host limiter, as NewSources shares.
	deps := crawler.Options{Hosts: crawler.NewHostLimiter(cfg.Crawler.HostConcurrency)}
	for i, s := range cfg.Sources {
		if _, err := crawler.NewSource(cfg.Crawler, s, deps); err != nil {
			add(fmt.Sprintf("sources[%d]", i), err)
		}
	}
	return p, errs
}

// patternKey names the patterns.files entry a detector error is about
// (its message names the file), or patterns when it names none.
func patternKey(files []string, err error) string {
	msg := err.Error()
	for i := len(files) - 1; i >= 0; i-- {
		if strings.Contains(msg, "detect: "+files[i]+":") || strings.Contains(msg, "detect: pattern file: open "+files[i]+":") {
			return fmt.Sprintf("patterns.files[%d]", i)
		}
	}
	return "patterns"
}
