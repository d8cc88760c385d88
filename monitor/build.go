package monitor

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"mimamori/config"
	"mimamori/crawler"
	"mimamori/detect"
	"mimamori/mention"
)

// Build wires a Monitor from a validated config: the detector with the
// default pattern pack and the user's files, one crawler source per
// configured source, and the configured index backend.
func Build(ctx context.Context, cfg config.Config, log *zap.Logger) (*Monitor, error) {
	det, err := detect.New(cfg.Targets, detect.Options{PatternFiles: cfg.Patterns.Files, NoDefaultPack: cfg.Patterns.NoDefaultPack})
	if err != nil {
		return nil, fmt.Errorf("load detector: %w", err)
	}
	cr, err := NewCrawler(cfg, log)
	if err != nil {
		return nil, err
	}
	var m *Monitor
	deadLetter := func(mn mention.Mention, status int, reason string) {
		if m != nil {
			m.deadLetter(mn, status, reason)
		}
	}
	store, err := OpenStore(ctx, cfg, log, deadLetter)
	if err != nil {
		return nil, err
	}
	m, err = New(Options{Config: cfg, Log: log, Detector: det, Crawler: cr, Store: store})
	if err != nil {
		store.Close()
		return nil, err
	}
	return m, nil
}

// NewCrawler builds the scheduler over every configured source.
func NewCrawler(cfg config.Config, log *zap.Logger) (Crawler, error) {
	var runners []crawler.Runner
	for _, s := range cfg.Sources {
		src, err := crawler.NewSource(cfg.Crawler, s, log)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", s.ID, err)
		}
		runners = append(runners, src)
	}
	return &schedCrawler{runners: runners, opts: crawler.SchedulerOptions{Jitter: cfg.Crawler.Jitter, Logger: log}}, nil
}

type schedCrawler struct {
	runners []crawler.Runner
	opts    crawler.SchedulerOptions
}

func (c *schedCrawler) scheduler(h HandleFunc) (*crawler.Scheduler, error) {
	return crawler.NewScheduler(c.runners, crawler.Handler(h), c.opts)
}

func (c *schedCrawler) RunOnce(ctx context.Context, h HandleFunc) error {
	s, err := c.scheduler(h)
	if err != nil {
		return err
	}
	return s.RunOnce(ctx)
}

func (c *schedCrawler) Run(ctx context.Context, h HandleFunc) error {
	s, err := c.scheduler(h)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}
