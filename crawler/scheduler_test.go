package crawler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"mimamori/mention"
)

// fakeRunner records when it ran; fn, when set, is the pass.
type fakeRunner struct {
	id       string
	interval time.Duration
	fn       func(ctx context.Context) ([]mention.Post, error)

	mu      sync.Mutex
	starts  []time.Time
	running atomic.Int32
	overlap atomic.Bool
}

func (f *fakeRunner) ID() string         { return f.id }
func (f *fakeRunner) Schedule() Schedule { return Schedule{Interval: f.interval} }
func (f *fakeRunner) Run(ctx context.Context) (Batch, error) {
	posts, err := f.run(ctx)
	return Batch{Posts: posts}, err
}

func (f *fakeRunner) run(ctx context.Context) ([]mention.Post, error) {
	if f.running.Add(1) > 1 {
		f.overlap.Store(true)
	}
	defer f.running.Add(-1)
	f.mu.Lock()
	f.starts = append(f.starts, time.Now())
	f.mu.Unlock()
	if f.fn != nil {
		return f.fn(ctx)
	}
	return []mention.Post{{SourceID: f.id, Permalink: "https://example.jp/" + f.id, Text: "本文"}}, nil
}

func (f *fakeRunner) runs() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.starts...)
}

// handled collects handler calls.
type handled struct {
	mu    sync.Mutex
	calls []string
	errs  []error
	posts int
}

func (h *handled) handle(_ context.Context, id string, posts []mention.Post, err error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, id)
	h.errs = append(h.errs, err)
	h.posts += len(posts)
	return nil
}

func TestOffsetSpreads(t *testing.T) {
	const interval = 15 * time.Minute
	seen := map[time.Duration]bool{}
	for _, id := range []string{"forum", "news-feed", "reviews", "blog", "sns-search"} {
		o := Offset(id, interval)
		if o < 0 || o >= interval {
			t.Errorf("Offset(%s) = %v outside [0, %v)", id, o, interval)
		}
		if o != Offset(id, interval) {
			t.Errorf("Offset(%s) not deterministic", id)
		}
		seen[o] = true
	}
	if len(seen) < 5 {
		t.Errorf("offsets collide: %v", seen)
	}
}

// TestSchedulerTimes: each source runs on its hashed phase, every
// interval, plus its jitter; Run returns on cancel.
func TestSchedulerTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &fakeRunner{id: "forum", interval: 10 * time.Minute}
		b := &fakeRunner{id: "news-feed", interval: time.Hour}
		h := &handled{}
		s, err := NewScheduler([]Runner{a, b}, h.handle, SchedulerOptions{
			Jitter: 0.1,
			Rand:   func() float64 { return 0.5 }, // jitter = 5% of the interval
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		time.Sleep(3 * time.Hour)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		for _, r := range []*fakeRunner{a, b} {
			runs := r.runs()
			want := int(3*time.Hour/r.interval) - 1 // the first slot may come up to one interval late
			if len(runs) < want || len(runs) > want+1 {
				t.Errorf("%s ran %d times in 3h, want %d–%d", r.id, len(runs), want, want+1)
			}
			jitter := r.interval / 20
			for i, at := range runs {
				// Phase within the interval, counted from the epoch.
				phase := time.Duration(at.UnixNano()%int64(r.interval)) - jitter
				if phase < 0 {
					phase += r.interval
				}
				if phase != Offset(r.id, r.interval) {
					t.Errorf("%s run %d at %v: phase %v, want offset %v", r.id, i, at.Sub(start), phase, Offset(r.id, r.interval))
				}
				if i > 0 && at.Sub(runs[i-1]) != r.interval {
					t.Errorf("%s runs %d and %d are %v apart", r.id, i-1, i, at.Sub(runs[i-1]))
				}
			}
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.calls) != len(a.runs())+len(b.runs()) || h.posts != len(h.calls) {
			t.Errorf("handler called %d times with %d posts", len(h.calls), h.posts)
		}
	})
}

// TestSchedulerNoOverlap: a pass longer than the interval never overlaps
// the next; missed slots are skipped, not run back to back.
func TestSchedulerNoOverlap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &fakeRunner{id: "slow", interval: time.Minute}
		r.fn = func(ctx context.Context) ([]mention.Post, error) {
			select {
			case <-time.After(150 * time.Second):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return nil, nil
		}
		s, _ := NewScheduler([]Runner{r}, nil, SchedulerOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		time.Sleep(20 * time.Minute)
		cancel()
		<-done
		if r.overlap.Load() {
			t.Error("two passes of one source overlapped")
		}
		runs := r.runs()
		for i := 1; i < len(runs); i++ {
			if d := runs[i].Sub(runs[i-1]); d != 3*time.Minute {
				t.Errorf("runs %d and %d are %v apart, want 3m (150s pass, 1m grid)", i-1, i, d)
			}
		}
		if len(runs) < 5 {
			t.Errorf("only %d runs", len(runs))
		}
	})
}

// TestSchedulerWaitsForInFlight: Run returns only after the pass in flight
// has seen the cancellation and finished; the handler still gets its
// result.
func TestSchedulerWaitsForInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var finished atomic.Bool
		started := make(chan struct{})
		r := &fakeRunner{id: "forum", interval: time.Minute}
		r.fn = func(ctx context.Context) ([]mention.Post, error) {
			close(started)
			<-ctx.Done()
			time.Sleep(5 * time.Second) // cleanup after cancel
			finished.Store(true)
			return []mention.Post{{Text: "partial"}}, ctx.Err()
		}
		h := &handled{}
		s, _ := NewScheduler([]Runner{r}, h.handle, SchedulerOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		<-started
		cancel()
		<-done
		if !finished.Load() {
			t.Fatal("Run returned before the pass finished")
		}
		if len(h.calls) != 1 || !errors.Is(h.errs[0], context.Canceled) || h.posts != 1 {
			t.Errorf("handler got %v %v %d posts", h.calls, h.errs, h.posts)
		}
	})
}

// TestSchedulerRecoversPanic: a panicking pass is reported to the handler
// as an error, logged with a stack, and the source keeps its schedule.
func TestSchedulerRecoversPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zap.ErrorLevel)
		r := &fakeRunner{id: "buggy", interval: time.Minute}
		r.fn = func(context.Context) ([]mention.Post, error) { panic("selector bug") }
		h := &handled{}
		s, _ := NewScheduler([]Runner{r}, h.handle, SchedulerOptions{Logger: zap.New(core)})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		time.Sleep(3 * time.Minute)
		cancel()
		<-done
		if len(h.calls) < 2 {
			t.Fatalf("%d passes: the loop died after a panic", len(h.calls))
		}
		if err := h.errs[0]; err == nil || !strings.Contains(err.Error(), "source buggy: panic in pass: selector bug") {
			t.Errorf("handler error %v", err)
		}
		entries := logs.FilterMessage("panic in pass").All()
		if len(entries) == 0 || !strings.Contains(entries[0].ContextMap()["stack"].(string), "TestSchedulerRecoversPanic") {
			t.Errorf("panic not logged with a stack: %v", entries)
		}
	})
}

// TestRunOnce: every source once, at most two at a time, errors joined;
// a handler panic does not take the scheduler down.
func TestRunOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cur, peak atomic.Int32
		slow := func(ctx context.Context) ([]mention.Post, error) {
			if n := cur.Add(1); n > peak.Load() {
				peak.Store(n)
			}
			defer cur.Add(-1)
			time.Sleep(time.Second)
			return nil, nil
		}
		var runners []Runner
		var fakes []*fakeRunner
		for _, id := range []string{"a", "b", "c", "d", "e"} {
			f := &fakeRunner{id: id, interval: time.Hour, fn: slow}
			fakes = append(fakes, f)
			runners = append(runners, f)
		}
		fakes[2].fn = func(context.Context) ([]mention.Post, error) {
			return nil, errors.New("source c: GET x: HTTP status 500")
		}
		h := &handled{}
		handle := func(ctx context.Context, id string, posts []mention.Post, err error) error {
			h.handle(ctx, id, posts, err)
			if id == "d" {
				panic("handler bug")
			}
			return nil
		}
		s, err := NewScheduler(runners, handle, SchedulerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = s.RunOnce(context.Background())
		if err == nil || !strings.Contains(err.Error(), "HTTP status 500") {
			t.Errorf("RunOnce error %v", err)
		}
		if p := peak.Load(); p != 2 {
			t.Errorf("peak concurrency %d, want 2", p)
		}
		for _, f := range fakes {
			if n := len(f.runs()); n != 1 {
				t.Errorf("%s ran %d times", f.id, n)
			}
		}
		if len(h.calls) != 5 {
			t.Errorf("handler called %d times", len(h.calls))
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Errorf("RunOnce took %v, want 2s (4 one-second passes, 2 at a time)", d)
		}
	})
}

func TestNewSchedulerRejects(t *testing.T) {
	a := &fakeRunner{id: "a", interval: time.Minute}
	if _, err := NewScheduler([]Runner{a, &fakeRunner{id: "a", interval: time.Minute}}, nil, SchedulerOptions{}); err == nil {
		t.Error("duplicate ids accepted")
	}
	if _, err := NewScheduler([]Runner{&fakeRunner{id: "z"}}, nil, SchedulerOptions{}); err == nil {
		t.Error("zero interval accepted")
	}
}

// TestSchedulerWithSource runs a real Source under RunOnce.
func TestSchedulerWithSource(t *testing.T) {
	s := newSite(t, "")
	s.serveThread(t)
	src, err := newTestSource(crawlerConfig(), htmlSource(s.URL+"/thread"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &handled{}
	sch, err := NewScheduler([]Runner{src}, h.handle, SchedulerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(h.calls) != 1 || h.calls[0] != "forum" || h.posts != 4 {
		t.Errorf("handler: %v, %d posts", h.calls, h.posts)
	}
}
