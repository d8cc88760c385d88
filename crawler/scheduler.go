package crawler

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"

	"mimamori/mention"
)

// Handler receives the result of every pass: the posts found (possibly
// some, with an error) and the error. On shutdown it may be called with a
// cancelled ctx and a context error for the pass that was interrupted.
type Handler func(ctx context.Context, sourceID string, posts []mention.Post, err error)

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	// Jitter is the fraction of the interval added at random to each run
	// (0–0.5; larger values are clamped to 0.5).
	Jitter float64
	// Logger receives pass summaries and recovered panics.
	Logger *zap.Logger
	// Rand returns a number in [0, 1) for the jitter; nil uses math/rand.
	Rand func() float64
	// Concurrency bounds RunOnce; 0 means 2.
	Concurrency int
}

// Scheduler runs each source on its own interval. The first run of a
// source is placed at an offset derived from a hash of its id, so sources
// spread over their interval and a restart keeps the same phase (no
// stampede); each run is then delayed by random jitter. A source never
// runs twice at once.
type Scheduler struct {
	runners []Runner
	handle  Handler
	jitter  float64
	rand    func() float64
	conc    int
	log     *zap.Logger
	busy    map[string]chan struct{} // per runner: a one-slot semaphore
}

// NewScheduler returns a scheduler for runners; handle is called after
// every pass. Runner ids must be unique.
func NewScheduler(runners []Runner, handle Handler, opts SchedulerOptions) (*Scheduler, error) {
	s := &Scheduler{
		runners: runners,
		handle:  handle,
		jitter:  min(max(opts.Jitter, 0), 0.5),
		rand:    opts.Rand,
		conc:    opts.Concurrency,
		log:     opts.Logger,
		busy:    map[string]chan struct{}{},
	}
	if s.handle == nil {
		s.handle = func(context.Context, string, []mention.Post, error) {}
	}
	if s.rand == nil {
		s.rand = rand.Float64
	}
	if s.conc <= 0 {
		s.conc = 2
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.log = s.log.Named("scheduler")
	for _, r := range runners {
		if _, dup := s.busy[r.ID()]; dup {
			return nil, fmt.Errorf("crawler: two sources with id %q", r.ID())
		}
		if r.Interval() <= 0 {
			return nil, fmt.Errorf("crawler: source %s: interval must be positive", r.ID())
		}
		s.busy[r.ID()] = make(chan struct{}, 1)
	}
	return s, nil
}

// Run runs every source on its schedule until ctx is cancelled, then waits
// for the passes in flight (they see the cancelled ctx) and returns nil.
func (s *Scheduler) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, r := range s.runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(ctx, r)
		}()
	}
	wg.Wait()
	return nil
}

// RunOnce runs every source once, at most Concurrency at a time, waiting
// for a source that is already running. It returns the pass errors joined.
func (s *Scheduler) RunOnce(ctx context.Context) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, s.conc)
	)
	for _, r := range s.runners {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return errors.Join(append(errs, ctx.Err())...)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			busy := s.busy[r.ID()]
			select {
			case busy <- struct{}{}:
			case <-ctx.Done():
				mu.Lock()
				errs = append(errs, fmt.Errorf("source %s: %w", r.ID(), ctx.Err()))
				mu.Unlock()
				return
			}
			err := s.pass(ctx, r)
			<-busy
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Offset returns where in its interval a source with this id runs: a hash
// of the id spread over the interval.
func Offset(id string, interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	return time.Duration(h.Sum64() % uint64(interval))
}

// firstSlot returns the first time at or after now whose phase within the
// interval (counted from the Unix epoch) is the source's offset.
func firstSlot(now time.Time, id string, interval time.Duration) time.Time {
	off := Offset(id, interval)
	phase := time.Duration(now.UnixNano() % int64(interval))
	wait := (off - phase + interval) % interval
	return now.Add(wait)
}

func (s *Scheduler) loop(ctx context.Context, r Runner) {
	interval := r.Interval()
	busy := s.busy[r.ID()]
	slot := firstSlot(time.Now(), r.ID(), interval)
	for {
		at := slot.Add(time.Duration(s.rand() * s.jitter * float64(interval)))
		t := time.NewTimer(time.Until(at))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		select {
		case busy <- struct{}{}:
			_ = s.pass(ctx, r)
			<-busy
		default:
			s.log.Info("previous pass still running: slot skipped", zap.String("source", r.ID()))
		}
		// Next slot on the grid; slots missed by a long pass are skipped
		// rather than run back to back.
		now := time.Now()
		slot = slot.Add(interval)
		if slot.Before(now) {
			slot = slot.Add(interval * (now.Sub(slot)/interval + 1))
		}
	}
}

// pass runs one pass with panics recovered, logs it and calls the handler.
func (s *Scheduler) pass(ctx context.Context, r Runner) (err error) {
	start := time.Now()
	var posts []mention.Post
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("source %s: panic in pass: %v", r.ID(), p)
				s.log.Error("panic in pass", zap.String("source", r.ID()),
					zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
			}
		}()
		posts, err = r.Run(ctx)
	}()
	if err != nil {
		s.log.Warn("pass failed", zap.String("source", r.ID()), zap.Int("posts", len(posts)),
			zap.Duration("took", time.Since(start)), zap.Error(err))
	} else {
		s.log.Info("pass done", zap.String("source", r.ID()), zap.Int("posts", len(posts)),
			zap.Duration("took", time.Since(start)))
	}
	func() {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic in handler", zap.String("source", r.ID()),
					zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
			}
		}()
		s.handle(ctx, r.ID(), posts, err)
	}()
	return err
}
