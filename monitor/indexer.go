package monitor

import (
	"context"
	"time"

	"go.uber.org/zap"

	"mimamori/index"
	"mimamori/internal/backoff"
	"mimamori/ledger"
	"mimamori/mention"
)

// Indexer drains the ledger's index spool into the search Store in order.
// A job leaves the spool only after the store accepted it, so an index
// that is down or slow loses nothing: the backlog waits in the ledger.
type Indexer struct {
	ledger  *ledger.Ledger
	store   index.Store
	log     *zap.Logger
	wake    chan struct{}
	batch   int
	failing bool
}

// NewIndexer wires an indexer.
func NewIndexer(l *ledger.Ledger, s index.Store, log *zap.Logger) *Indexer {
	return &Indexer{ledger: l, store: s, log: log.Named("indexer"), wake: make(chan struct{}, 1), batch: 200}
}

// Wake asks the indexer to drain now.
func (ix *Indexer) Wake() {
	select {
	case ix.wake <- struct{}{}:
	default:
	}
}

// Run drains the spool until ctx is cancelled, retrying with backoff while
// the store fails: the wait doubles from 2*interval with each failure in a
// row and stops doubling once it reaches 30s.
func (ix *Indexer) Run(ctx context.Context, interval time.Duration) {
	retry := indexRetryPolicy(interval)
	failures := 0
	for {
		_, err := ix.Drain(ctx)
		wait := interval
		if err != nil && ctx.Err() == nil {
			backlog, _ := ix.ledger.IndexBacklog(ctx)
			if !ix.failing {
				ix.log.Error("index store unavailable; mentions wait in the local spool", zap.Error(err),
					zap.Int("backlog_jobs", backlog.Jobs), zap.Int64("backlog_bytes", backlog.Bytes))
			} else {
				ix.log.Warn("index store still unavailable", zap.Int("backlog_jobs", backlog.Jobs), zap.Time("oldest", backlog.Oldest))
			}
			ix.failing = true
			failures++
			wait = retry.Delay(failures)
		} else if err == nil {
			if ix.failing {
				ix.log.Info("index store back; spool drained")
			}
			ix.failing = false
			failures = 0
		}
		if _, err := backoff.SleepOrWake(ctx, wait, ix.wake); err != nil {
			return
		}
	}
}

// indexRetryPolicy is the indexer's schedule after failures: from
// 2*interval, doubling, and no more doubling once 30s is reached (so the
// cap is the first such doubling at or above 30s, e.g. 32s for a 2s
// interval, and the interval itself when it is longer).
func indexRetryPolicy(interval time.Duration) backoff.Policy {
	limit := interval
	for limit > 0 && limit < 30*time.Second {
		limit *= 2
	}
	return backoff.Policy{Initial: min(2*interval, limit), Max: limit}
}

// Drain writes every spooled job to the store and returns how many.
func (ix *Indexer) Drain(ctx context.Context) (int, error) {
	n := 0
	for {
		jobs, err := ix.ledger.PendingIndex(ctx, ix.batch)
		if err != nil || len(jobs) == 0 {
			return n, err
		}
		ms := make([]mention.Mention, len(jobs))
		var last int64
		for i, j := range jobs {
			ms[i] = j.Mention
			if j.Seq > last {
				last = j.Seq
			}
		}
		if err := ix.store.Put(ctx, ms); err != nil {
			return n, err
		}
		if err := ix.ledger.AckIndex(ctx, last); err != nil {
			return n, err
		}
		n += len(jobs)
	}
}
