package monitor

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"mimamori/config"
	"mimamori/crawler"
	"mimamori/mention"
)

// Build wires a Monitor from a validated config: what Prepare builds (the
// detector with the default pattern pack and the user's files, the alert
// templates), one crawler source per configured source, and the
// configured index backend.
func Build(ctx context.Context, cfg config.Config, log *zap.Logger) (*Monitor, error) {
	parts, errs := Prepare(cfg)
	if len(errs) > 0 {
		return nil, &config.ValidationError{Errors: errs}
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
	m, err = New(Options{Config: cfg, Log: log, Detector: parts.Detector, Renderer: parts.Renderer, Store: store,
		NewCrawler: func(deps crawler.Options) (Crawler, error) { return NewCrawler(cfg, deps) }})
	if err != nil {
		store.Close()
		return nil, err
	}
	return m, nil
}

// NewCrawler builds the scheduler over every configured source. deps
// carry the logger, the crawl-state store (the ledger), the metrics
// registerer and the failing/recovered hooks; the sources share per-host
// politeness.
func NewCrawler(cfg config.Config, deps crawler.Options) (Crawler, error) {
	runners, err := crawler.NewSources(cfg.Crawler, cfg.Sources, deps)
	if err != nil {
		return nil, err
	}
	return &schedCrawler{runners: runners, opts: crawler.SchedulerOptions{Jitter: cfg.Crawler.Jitter,
		BoostInterval: cfg.Crawler.BoostInterval, Logger: deps.Logger}}, nil
}

type schedCrawler struct {
	runners []crawler.Runner
	opts    crawler.SchedulerOptions

	mu   sync.Mutex
	live *crawler.Scheduler // the running one, for Boost
}

func (c *schedCrawler) scheduler(h HandleFunc) (*crawler.Scheduler, error) {
	s, err := crawler.NewScheduler(c.runners, crawler.Handler(h), c.opts)
	if err == nil {
		c.mu.Lock()
		c.live = s
		c.mu.Unlock()
	}
	return s, err
}

// Boost makes a source run more often until the given time.
func (c *schedCrawler) Boost(sourceID string, until time.Time) {
	c.mu.Lock()
	s := c.live
	c.mu.Unlock()
	if s != nil {
		s.Boost(sourceID, until)
	}
}

// FetchPage fetches a post's own page with its source's rules.
func (c *schedCrawler) FetchPage(ctx context.Context, sourceID, link string) (*mention.Fetch, error) {
	for _, r := range c.runners {
		if s, ok := r.(*crawler.Source); ok && s.ID() == sourceID {
			return s.FetchPage(ctx, link)
		}
	}
	return nil, fmt.Errorf("fetch permalink %s: source %q is not configured", link, sourceID)
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
