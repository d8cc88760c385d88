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
// some, with an error) and the error. It returns nil only when every post
// was durably accepted (or deliberately dropped); the Scheduler then
// commits the pass's crawl state. Any error leaves the state where it was,
// so the next pass reads the same posts again. On shutdown it may be
// called with a cancelled ctx for the pass that was interrupted.
type Handler func(ctx context.Context, sourceID string, posts []mention.Post, err error) error

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	// Jitter is the fraction of the interval added at random to each run
	// (0–0.5; larger values are clamped to 0.5). Cron sources get the same
	// fraction of the time to their next activation, counted at most as
	// an hour.
	Jitter float64
	// BoostInterval is the time between runs of a boosted source (see
	// Boost) when shorter than its schedule; 0 means DefaultBoostInterval.
	BoostInterval time.Duration
	// Logger receives pass summaries and recovered panics.
	Logger *zap.Logger
	// Rand returns a number in [0, 1) for the jitter; nil uses math/rand.
	Rand func() float64
	// Concurrency bounds RunOnce; 0 means 2.
	Concurrency int
}

// commitTimeout bounds saving a pass's crawl state.
const commitTimeout = 30 * time.Second

// Scheduler runs each source on its schedule. An interval source's first
// run is placed at an offset derived from a hash of its id, so sources
// spread over their interval and a restart keeps the same phase (no
// stampede); cron sources run at their activations. Each run is delayed by
// random jitter. A source never runs twice at once, does not run while it
// backs off after a 429/503 (see Source.NotBefore), and runs more often
// while boosted.
type Scheduler struct {
	runners []Runner
	handle  Handler
	jitter  float64
	boostIv time.Duration
	rand    func() float64
	conc    int
	log     *zap.Logger
	state   map[string]*runnerState
}

type runnerState struct {
	busy chan struct{} // a one-slot semaphore
	wake chan struct{} // Boost wakes the loop
	mu   sync.Mutex
	// boostUntil is when the boost ends.
	boostUntil time.Time
}

// notBefore is implemented by runners that can ask to wait (Source).
type notBefore interface{ NotBefore() time.Time }

// NewScheduler returns a scheduler for runners; handle is called after
// every pass. Runner ids must be unique.
func NewScheduler(runners []Runner, handle Handler, opts SchedulerOptions) (*Scheduler, error) {
	s := &Scheduler{
		runners: runners,
		handle:  handle,
		jitter:  min(max(opts.Jitter, 0), 0.5),
		boostIv: opts.BoostInterval,
		rand:    opts.Rand,
		conc:    opts.Concurrency,
		log:     opts.Logger,
		state:   map[string]*runnerState{},
	}
	if s.handle == nil {
		s.handle = func(context.Context, string, []mention.Post, error) error { return nil }
	}
	if s.boostIv <= 0 {
		s.boostIv = DefaultBoostInterval
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
		if _, dup := s.state[r.ID()]; dup {
			return nil, fmt.Errorf("crawler: two sources with id %q", r.ID())
		}
		if sc := r.Schedule(); sc.Cron == nil && sc.Interval <= 0 {
			return nil, fmt.Errorf("crawler: source %s: interval must be positive", r.ID())
		}
		s.state[r.ID()] = &runnerState{busy: make(chan struct{}, 1), wake: make(chan struct{}, 1)}
	}
	return s, nil
}

// Boost makes a source run every BoostInterval (when that is sooner than
// its schedule) until the given time: the monitor calls it for sources
// that recently produced alerts, since more posts tend to follow. A
// repeated call extends the boost; an unknown id is ignored.
func (s *Scheduler) Boost(sourceID string, until time.Time) {
	st, ok := s.state[sourceID]
	if !ok {
		return
	}
	st.mu.Lock()
	if until.After(st.boostUntil) {
		st.boostUntil = until
	}
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
	s.log.Info("source boosted", zap.String("source", sourceID), zap.Time("until", until))
}

func (st *runnerState) boostedUntil() time.Time {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.boostUntil
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
			busy := s.state[r.ID()].busy
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

// slots walks a runner's schedule.
type slots struct {
	sc Schedule
	id string
}

// first is the first slot at or after now.
func (sl slots) first(now time.Time) time.Time {
	if sl.sc.Cron != nil {
		return sl.sc.Cron.Next(now.Add(-time.Nanosecond))
	}
	return firstSlot(now, sl.id, sl.sc.Interval)
}

// after is the first slot after slot that is not before now: slots missed
// by a long pass are skipped rather than run back to back.
func (sl slots) after(slot, now time.Time) time.Time {
	if sl.sc.Cron != nil {
		n := sl.sc.Cron.Next(slot)
		if n.Before(now) {
			n = sl.sc.Cron.Next(now.Add(-time.Nanosecond))
		}
		return n
	}
	iv := sl.sc.Interval
	slot = slot.Add(iv)
	if slot.Before(now) {
		slot = slot.Add(iv * (now.Sub(slot)/iv + 1))
	}
	return slot
}

// gap is the jitter's base: the interval, or for cron the time to the
// next activation, at most an hour (a daily job stays near its hour).
func (sl slots) gap(slot time.Time) time.Duration {
	if sl.sc.Cron != nil {
		if n := sl.sc.Cron.Next(slot); !n.IsZero() {
			return min(n.Sub(slot), time.Hour)
		}
		return 0
	}
	return sl.sc.Interval
}

func (s *Scheduler) loop(ctx context.Context, r Runner) {
	st := s.state[r.ID()]
	sl := slots{sc: r.Schedule(), id: r.ID()}
	slot := sl.first(time.Now())
	if slot.IsZero() {
		s.log.Warn("cron schedule never fires: source not scheduled", zap.String("source", r.ID()))
		return
	}
	jitter := time.Duration(s.rand() * s.jitter * float64(sl.gap(slot)))
	var lastStart time.Time
	for {
		now := time.Now()
		if nb, ok := r.(notBefore); ok {
			if until := nb.NotBefore(); slot.Before(until) {
				for slot.Before(until) && !slot.IsZero() {
					slot = sl.after(slot, until)
				}
				jitter = time.Duration(s.rand() * s.jitter * float64(sl.gap(slot)))
				s.log.Info("source backing off: next run delayed", zap.String("source", r.ID()), zap.Time("next", slot))
			}
		}
		if slot.IsZero() {
			return
		}
		at := slot.Add(jitter)
		boosted := false
		if bu := st.boostedUntil(); now.Before(bu) {
			b := now
			if !lastStart.IsZero() {
				b = lastStart.Add(s.boostIv)
			}
			if b.Before(at) && b.Before(bu) {
				at, boosted = b, true
			}
		}
		t := time.NewTimer(time.Until(at))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-st.wake:
			t.Stop()
			continue // a boost: recompute
		case <-t.C:
		}
		if nb, ok := r.(notBefore); ok && time.Now().Before(nb.NotBefore()) {
			continue // a back-off began meanwhile (another pass, RunOnce)
		}
		select {
		case st.busy <- struct{}{}:
			lastStart = time.Now()
			_ = s.pass(ctx, r)
			<-st.busy
		default:
			s.log.Info("previous pass still running: slot skipped", zap.String("source", r.ID()))
		}
		if boosted {
			continue // the regular slot still comes
		}
		slot = sl.after(slot, time.Now())
		jitter = time.Duration(s.rand() * s.jitter * float64(sl.gap(slot)))
	}
}

// pass runs one pass with panics recovered, logs it, calls the handler
// and, when the handler accepted the posts, commits the crawl state.
func (s *Scheduler) pass(ctx context.Context, r Runner) (err error) {
	start := time.Now()
	var batch Batch
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("source %s: panic in pass: %v", r.ID(), p)
				batch = Batch{}
				s.log.Error("panic in pass", zap.String("source", r.ID()),
					zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
			}
		}()
		batch, err = r.Run(ctx)
	}()
	if err != nil {
		s.log.Warn("pass failed", zap.String("source", r.ID()), zap.Int("posts", len(batch.Posts)),
			zap.Duration("took", time.Since(start)), zap.String("kind", ErrorKind(err)), zap.Error(err))
	} else {
		s.log.Info("pass done", zap.String("source", r.ID()), zap.Int("posts", len(batch.Posts)),
			zap.Duration("took", time.Since(start)))
	}
	var herr error
	func() {
		defer func() {
			if p := recover(); p != nil {
				herr = fmt.Errorf("panic in handler: %v", p)
				s.log.Error("panic in handler", zap.String("source", r.ID()),
					zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
			}
		}()
		herr = s.handle(ctx, r.ID(), batch.Posts, err)
	}()
	switch {
	case herr != nil:
		s.log.Warn("posts not all accepted: crawl state not advanced (they are read again next pass)",
			zap.String("source", r.ID()), zap.Error(herr))
	case batch.Commit != nil:
		// Accepted posts are committed even during shutdown.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		if cerr := batch.Commit(cctx); cerr != nil {
			s.log.Error("crawl state not saved: the pass is read again next time", zap.String("source", r.ID()), zap.Error(cerr))
		}
		cancel()
	}
	return err
}
