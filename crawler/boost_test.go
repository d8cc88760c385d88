package crawler

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"mimamori/internal/cron"
	"mimamori/mention"
)

// schedRunner is a fakeRunner with a configurable schedule, back-off and
// commit.
type schedRunner struct {
	fakeRunner
	sched     Schedule
	mu2       sync.Mutex
	notBefore time.Time
	commits   int
}

func (r *schedRunner) Schedule() Schedule { return r.sched }
func (r *schedRunner) NotBefore() time.Time {
	r.mu2.Lock()
	defer r.mu2.Unlock()
	return r.notBefore
}
func (r *schedRunner) Run(ctx context.Context) (Batch, error) {
	b, err := r.fakeRunner.Run(ctx)
	b.Commit = func(context.Context) error {
		r.mu2.Lock()
		r.commits++
		r.mu2.Unlock()
		return nil
	}
	return b, err
}

func mustCron(t *testing.T, expr string) *cron.Schedule {
	t.Helper()
	c, err := cron.Parse(expr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSchedulerCron: a cron source runs at its activations (plus
// jitter), never between.
func TestSchedulerCron(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &schedRunner{fakeRunner: fakeRunner{id: "office"}, sched: Schedule{Cron: mustCron(t, "0 9,12,18 * * *")}}
		s, err := NewScheduler([]Runner{r}, nil, SchedulerOptions{Jitter: 0.1, Rand: func() float64 { return 0.5 }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		time.Sleep(48 * time.Hour)
		cancel()
		<-done
		runs := r.runs()
		if len(runs) != 6 {
			t.Fatalf("%d runs in two days, want 6: %v", len(runs), runs)
		}
		for _, at := range runs {
			// Jitter: half of 10% of the gap to the next activation,
			// counted at most as an hour: 3 minutes.
			u := at.UTC()
			base := time.Date(u.Year(), u.Month(), u.Day(), u.Hour(), 0, 0, 0, time.UTC)
			if h := base.Hour(); (h != 9 && h != 12 && h != 18) || at.Sub(base) != 3*time.Minute {
				t.Errorf("run at %v", at.UTC())
			}
		}
		if r.commits != 6 {
			t.Errorf("%d commits", r.commits)
		}
	})
}

// TestSchedulerBoost: a boosted source runs every BoostInterval until the
// boost ends, then on its own interval again.
func TestSchedulerBoost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &schedRunner{fakeRunner: fakeRunner{id: "forum"}, sched: Schedule{Interval: time.Hour}}
		s, _ := NewScheduler([]Runner{r}, nil, SchedulerOptions{BoostInterval: 5 * time.Minute})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		time.Sleep(time.Second)
		start := time.Now()
		s.Boost("forum", start.Add(30*time.Minute))
		s.Boost("unknown", start.Add(time.Hour)) // ignored
		time.Sleep(3 * time.Hour)
		cancel()
		<-done
		var during, after int
		for _, at := range r.runs() {
			if at.Sub(start) <= 30*time.Minute {
				during++
			} else {
				after++
			}
		}
		// Boosted: at once, then every 5 minutes up to 30 (7), plus the
		// regular slot if it fell in the window.
		if during < 6 || during > 8 {
			t.Errorf("%d runs during the 30-minute boost, want about 7: %v", during, r.runs())
		}
		if after < 2 || after > 3 {
			t.Errorf("%d runs in the 2.5 h after the boost, want 2–3 (hourly)", after)
		}
	})
}

// TestSchedulerWaitsForBackoff: slots before NotBefore are skipped.
func TestSchedulerWaitsForBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &schedRunner{fakeRunner: fakeRunner{id: "api"}, sched: Schedule{Interval: 10 * time.Minute}}
		r.notBefore = time.Now().Add(time.Hour)
		s, _ := NewScheduler([]Runner{r}, nil, SchedulerOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		time.Sleep(2 * time.Hour)
		cancel()
		<-done
		runs := r.runs()
		if len(runs) < 5 || len(runs) > 7 {
			t.Errorf("%d runs", len(runs))
		}
		for _, at := range runs {
			if at.Before(r.notBefore) {
				t.Errorf("ran at %v, before the back-off ended at %v", at, r.notBefore)
			}
		}
	})
}

// TestSchedulerCommit: Commit runs after an accepting handler, also for a
// pass with an error (its state covers the pages read), and not after a
// refusing one.
func TestSchedulerCommit(t *testing.T) {
	r := &schedRunner{fakeRunner: fakeRunner{id: "a", fn: func(context.Context) ([]mention.Post, error) {
		return []mention.Post{{Text: "x"}}, errors.New("page 2 failed")
	}}, sched: Schedule{Interval: time.Hour}}
	refuse := true
	s, _ := NewScheduler([]Runner{r}, func(context.Context, string, []mention.Post, error) error {
		if refuse {
			return errors.New("spool full")
		}
		return nil
	}, SchedulerOptions{})
	s.RunOnce(context.Background())
	if r.commits != 0 {
		t.Fatal("committed after a refusal")
	}
	refuse = false
	s.RunOnce(context.Background())
	if r.commits != 1 {
		t.Fatalf("%d commits after acceptance", r.commits)
	}
}
