package monitor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"mimamori/config"
	"mimamori/index"
	"mimamori/index/elastic"
	"mimamori/index/embedded"
	"mimamori/mention"
)

// DeadLetterFunc receives a mention the index refused for good, with the
// HTTP status (0: refused before sending) and the reason.
type DeadLetterFunc func(m mention.Mention, status int, reason string)

// OpenStore opens the configured search index. For Elasticsearch, a
// cluster that is unreachable at start is not fatal: the store connects
// when the cluster answers, and mentions wait in the ledger's spool until
// then. A cluster that answers but lacks this version's template is an
// error telling the operator to run `mimamori setup elasticsearch`.
func OpenStore(ctx context.Context, cfg config.Config, log *zap.Logger, deadLetter DeadLetterFunc) (index.DaemonStore, error) {
	switch cfg.Index.Backend {
	case config.BackendEmbedded:
		return embedded.Open(filepath.Join(cfg.DataDir, "index.db"))
	case config.BackendElasticsearch:
		open := func(ctx context.Context) (*elastic.Store, error) {
			return elastic.OpenWithOptions(ctx, cfg.Index.Elasticsearch, log.Named("elasticsearch"),
				elastic.Options{DeadLetter: deadLetter})
		}
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		s, err := open(octx)
		if err == nil {
			return &esStore{open: open, s: s, log: log}, nil
		}
		if !errors.Is(err, elastic.ErrUnavailable) {
			return nil, fmt.Errorf("open elasticsearch index: %w", err)
		}
		log.Warn("elasticsearch unreachable at start; mentions wait in the local spool until it answers", zap.Error(err))
		return &esStore{open: open, log: log}, nil
	}
	return nil, fmt.Errorf("index.backend %q is not available", cfg.Index.Backend)
}

// esStore connects to Elasticsearch on first use after an outage at start.
type esStore struct {
	open func(context.Context) (*elastic.Store, error)
	log  *zap.Logger
	mu   sync.Mutex
	s    *elastic.Store
}

// esStore is shared by several daemons: it claims alerts and has upkeep.
// Without this guard a dropped method would silently turn alert claiming
// or rollover off (the monitor would only log that the store lacks it).
var _ index.SharedStore = (*esStore)(nil)

func (e *esStore) get(ctx context.Context) (*elastic.Store, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.s != nil {
		return e.s, nil
	}
	s, err := e.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to elasticsearch: %w", err)
	}
	e.log.Info("connected to elasticsearch")
	e.s = s
	return s, nil
}

func (e *esStore) Put(ctx context.Context, ms []mention.Mention) error {
	s, err := e.get(ctx)
	if err != nil {
		return err
	}
	return s.Put(ctx, ms)
}

func (e *esStore) Get(ctx context.Context, id string) (mention.Mention, error) {
	s, err := e.get(ctx)
	if err != nil {
		return mention.Mention{}, err
	}
	return s.Get(ctx, id)
}

func (e *esStore) Search(ctx context.Context, q index.Query) ([]mention.Mention, int, error) {
	s, err := e.get(ctx)
	if err != nil {
		return nil, 0, err
	}
	return s.Search(ctx, q)
}

func (e *esStore) SetStatus(ctx context.Context, id, status, note string) error {
	s, err := e.get(ctx)
	if err != nil {
		return err
	}
	return s.SetStatus(ctx, id, status, note)
}

// Refresh makes writes searchable (tests).
func (e *esStore) Refresh(ctx context.Context) error {
	s, err := e.get(ctx)
	if err != nil {
		return err
	}
	return s.Refresh(ctx)
}

// Maintain rolls the write index over and applies retention.
func (e *esStore) Maintain(ctx context.Context, now time.Time) error {
	s, err := e.get(ctx)
	if err != nil {
		return err
	}
	if rolled, err := s.MaybeRollover(ctx); err != nil {
		return fmt.Errorf("rollover: %w", err)
	} else if rolled {
		e.log.Info("rolled the mentions index over")
	}
	deleted, err := s.ApplyRetention(ctx, now)
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	if len(deleted) > 0 {
		e.log.Info("deleted indices past retention", zap.Strings("indices", deleted))
	}
	return nil
}

func (e *esStore) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.s != nil {
		return e.s.Close()
	}
	return nil
}

// RecordChainHead implements index.ChainHeadRecorder.
func (e *esStore) RecordChainHead(ctx context.Context, h index.ChainHead) error {
	s, err := e.get(ctx)
	if err != nil {
		return err
	}
	return s.RecordChainHead(ctx, h)
}

// ChainHeads implements index.ChainHeadRecorder.
func (e *esStore) ChainHeads(ctx context.Context, limit int) ([]index.ChainHead, error) {
	s, err := e.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.ChainHeads(ctx, limit)
}

// ClaimAlert implements index.AlertClaimer.
func (e *esStore) ClaimAlert(ctx context.Context, alertID, by string) (bool, error) {
	s, err := e.get(ctx)
	if err != nil {
		return false, err
	}
	return s.ClaimAlert(ctx, alertID, by)
}
