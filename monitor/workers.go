package monitor

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// DefaultStopTimeout bounds how long the daemon's workers get to stop once
// Run's context is cancelled.
const DefaultStopTimeout = 30 * time.Second

// ErrStopTimeout is returned (wrapped, with the workers named) by Run when
// some workers did not stop within the stop timeout.
var ErrStopTimeout = errors.New("workers did not stop in time")

// worker is one of the daemon's long-running goroutines.
//
// Policy: a worker that panics is recovered, logged with its stack and
// counted (mimamori_worker_panics_total). Workers that only drain or
// repeat work kept in the ledger or on disk (the index drain, alert
// delivery, evidence retries, re-checks, index upkeep, the crawler, whose
// cursors live in the ledger) are restarted with backoff: nothing is lost
// by running them again. A worker with restart false stops the daemon
// cleanly instead. A worker that returns an error (not a cancellation)
// stops the daemon cleanly and Run returns the error; one that returns
// nil is done and is not restarted.
type worker struct {
	name    string
	run     func(ctx context.Context) error
	restart bool
}

// supervisor runs workers as one group.
type supervisor struct {
	log         *zap.Logger
	metrics     *metrics
	stopTimeout time.Duration
	// backoffMin and backoffMax bound the wait before a restart; it
	// doubles after each panic and resets once a worker ran for
	// backoffMax without panicking.
	backoffMin, backoffMax time.Duration
}

func (s supervisor) withDefaults() supervisor {
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.stopTimeout <= 0 {
		s.stopTimeout = DefaultStopTimeout
	}
	if s.backoffMin <= 0 {
		s.backoffMin = time.Second
	}
	if s.backoffMax < s.backoffMin {
		s.backoffMax = max(time.Minute, s.backoffMin)
	}
	return s
}

// run runs ws until ctx is cancelled or a worker fails, then cancels the
// others and waits for them at most stopTimeout. It returns the first
// worker error, or an ErrStopTimeout naming the workers still running
// (also returned as stuck, sorted), or nil.
func (s supervisor) run(ctx context.Context, ws []worker) (stuck []string, err error) {
	s = s.withDefaults()
	g, gctx := errgroup.WithContext(ctx)
	var mu sync.Mutex
	running := map[string]bool{}
	for _, w := range ws {
		running[w.name] = true
		g.Go(func() error {
			defer func() {
				mu.Lock()
				delete(running, w.name)
				mu.Unlock()
			}()
			return s.supervise(gctx, w)
		})
	}
	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	select {
	case err := <-done: // every worker ended on its own, or one failed and the rest stopped
		if err == nil {
			<-ctx.Done()
		}
		return nil, err
	case <-gctx.Done():
	}
	if ctx.Err() != nil {
		s.log.Info("shutting down: finishing in-flight work", zap.Duration("stop_timeout", s.stopTimeout))
	} else {
		s.log.Warn("a worker failed; stopping the others", zap.Duration("stop_timeout", s.stopTimeout))
	}
	t := time.NewTimer(s.stopTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return nil, err
	case <-t.C:
	}
	mu.Lock()
	for name := range running {
		stuck = append(stuck, name)
	}
	mu.Unlock()
	sort.Strings(stuck)
	s.log.Error("workers did not stop in time; leaving them behind", zap.Strings("workers", stuck),
		zap.Duration("stop_timeout", s.stopTimeout))
	err = fmt.Errorf("%w (%s): %s", ErrStopTimeout, s.stopTimeout, strings.Join(stuck, ", "))
	select {
	case werr := <-done: // they stopped meanwhile after all
		if werr != nil {
			err = errors.Join(werr, err)
		}
	default:
		// A worker that failed is reported with the stuck ones: the
		// group's first error is only known once every worker returned.
	}
	return stuck, err
}

// supervise runs w, restarting it after a panic when its policy says so.
func (s supervisor) supervise(ctx context.Context, w worker) error {
	backoff := s.backoffMin
	for {
		started := time.Now()
		panicked, err := s.call(ctx, w)
		if !panicked {
			if err == nil || (ctx.Err() != nil && errors.Is(err, context.Canceled)) {
				return nil
			}
			return fmt.Errorf("worker %s: %w", w.name, err)
		}
		if !w.restart {
			return fmt.Errorf("worker %s: %w", w.name, err)
		}
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) >= s.backoffMax {
			backoff = s.backoffMin // it ran well for a while: not a crash loop
		}
		s.log.Warn("restarting worker after a panic", zap.String("worker", w.name), zap.Duration("after", backoff))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, s.backoffMax)
		if s.metrics != nil {
			s.metrics.workerRestarts.WithLabelValues(w.name).Inc()
		}
	}
}

// call runs w once and turns a panic into an error.
func (s supervisor) call(ctx context.Context, w worker) (panicked bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			panicked = true
			err = fmt.Errorf("panic: %v", r)
			if s.metrics != nil {
				s.metrics.workerPanics.WithLabelValues(w.name).Inc()
			}
			s.log.Error("worker panicked", zap.String("worker", w.name), zap.Any("panic", r),
				zap.String("stack", string(debug.Stack())))
		}
	}()
	return false, w.run(ctx)
}
