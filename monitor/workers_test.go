package monitor

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"mimamori/crawler"
	"mimamori/mention"
)

// stuckForever blocks until the test ends, ignoring cancellation.
func stuckForever(t *testing.T) func(ctx context.Context) error {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	return func(ctx context.Context) error { <-release; return nil }
}

// untilCancel blocks until ctx is cancelled, like a well-behaved worker.
func untilCancel(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }

// panicsTimes panics on its first n runs, then behaves.
func panicsTimes(n int32, runs *atomic.Int32) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if runs.Add(1) <= n {
			panic("boom")
		}
		return untilCancel(ctx)
	}
}

func TestSupervisor(t *testing.T) {
	tests := []struct {
		name    string
		workers func(t *testing.T, runs *atomic.Int32) []worker
		// cancelAfter cancels the context after this long (0: never; a
		// worker must end the run).
		cancelAfter time.Duration
		wantErr     error  // errors.Is
		wantErrText string // in the error
		wantStuck   []string
		wantRuns    int32 // of the counted worker
		wantPanics  float64
	}{
		{
			name: "a panicking drain is restarted and the others go on",
			workers: func(t *testing.T, runs *atomic.Int32) []worker {
				return []worker{{name: "index", restart: true, run: panicsTimes(2, runs)}, {name: "alerts", restart: true, run: untilCancel}}
			},
			cancelAfter: 300 * time.Millisecond, wantRuns: 3, wantPanics: 2,
		},
		{
			name: "a panic in a worker that is not restarted stops the daemon cleanly",
			workers: func(t *testing.T, runs *atomic.Int32) []worker {
				return []worker{{name: "metrics", run: panicsTimes(1, runs)}, {name: "alerts", restart: true, run: untilCancel}}
			},
			wantErrText: "worker metrics: panic: boom", wantRuns: 1, wantPanics: 1,
		},
		{
			name: "a worker error stops the others",
			workers: func(t *testing.T, runs *atomic.Int32) []worker {
				return []worker{{name: "crawler", restart: true, run: func(context.Context) error { runs.Add(1); return errors.New("no sources") }},
					{name: "alerts", restart: true, run: untilCancel}}
			},
			wantErrText: "worker crawler: no sources", wantRuns: 1,
		},
		{
			name: "a worker that ignores cancellation is named after the stop timeout",
			workers: func(t *testing.T, runs *atomic.Int32) []worker {
				return []worker{{name: "recheck", restart: true, run: stuckForever(t)}, {name: "alerts", restart: true, run: untilCancel},
					{name: "evidence", restart: true, run: stuckForever(t)}}
			},
			cancelAfter: 50 * time.Millisecond, wantErr: ErrStopTimeout, wantErrText: "evidence, recheck",
			wantStuck: []string{"evidence", "recheck"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelAfter > 0 {
				time.AfterFunc(tt.cancelAfter, cancel)
			}
			var runs atomic.Int32
			mt := newMetrics(nil)
			core, logs := observer.New(zapcore.InfoLevel)
			sup := supervisor{log: zap.New(core), metrics: mt, stopTimeout: 200 * time.Millisecond,
				backoffMin: 10 * time.Millisecond, backoffMax: 40 * time.Millisecond}
			start := time.Now()
			stuck, err := sup.run(ctx, tt.workers(t, &runs))
			if took := time.Since(start); took > tt.cancelAfter+sup.stopTimeout+time.Second {
				t.Errorf("run took %s", took)
			}
			switch {
			case tt.wantErr == nil && tt.wantErrText == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			case tt.wantErrText != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErrText)):
				t.Fatalf("error %v, want it to say %q", err, tt.wantErrText)
			}
			if strings.Join(stuck, ",") != strings.Join(tt.wantStuck, ",") {
				t.Errorf("stuck %v, want %v", stuck, tt.wantStuck)
			}
			if tt.wantRuns > 0 && runs.Load() != tt.wantRuns {
				t.Errorf("%d runs, want %d", runs.Load(), tt.wantRuns)
			}
			if got := collectSum(t, mt.workerPanics); got != tt.wantPanics {
				t.Errorf("panic counter %v, want %v", got, tt.wantPanics)
			}
			if tt.wantPanics > 0 {
				p := logs.FilterMessage("worker panicked").All()
				if len(p) != int(tt.wantPanics) || !strings.Contains(p[0].ContextMap()["stack"].(string), "panicsTimes") {
					t.Errorf("panics not logged with their stack: %+v", p)
				}
			}
		})
	}
}

// panickyCrawler panics on its first pass, then runs like a crawler.
type panickyCrawler struct{ runs atomic.Int32 }

func (c *panickyCrawler) RunOnce(ctx context.Context, h HandleFunc) error { return nil }
func (c *panickyCrawler) Boost(string, time.Time)                         {}
func (c *panickyCrawler) FetchPage(context.Context, string, string) (*mention.Fetch, error) {
	return nil, crawler.ErrNotAPage
}
func (c *panickyCrawler) Run(ctx context.Context, h HandleFunc) error {
	if c.runs.Add(1) == 1 {
		var xs []int
		_ = xs[c.runs.Load()] // a real runtime panic: index out of range
	}
	<-ctx.Done()
	return ctx.Err()
}

// stubbornCrawler never returns until released, whatever its context.
type stubbornCrawler struct{ release chan struct{} }

func (c *stubbornCrawler) RunOnce(ctx context.Context, h HandleFunc) error { return nil }
func (c *stubbornCrawler) Boost(string, time.Time)                         {}
func (c *stubbornCrawler) FetchPage(context.Context, string, string) (*mention.Fetch, error) {
	return nil, crawler.ErrNotAPage
}
func (c *stubbornCrawler) Run(ctx context.Context, h HandleFunc) error { <-c.release; return nil }

// TestRunRecoversAPanickingCrawler: the daemon survives a crawler panic,
// runs the crawler again and stops cleanly.
func TestRunRecoversAPanickingCrawler(t *testing.T) {
	m, _ := testMonitor(t, nil)
	c := &panickyCrawler{}
	m.crawler = c
	m.restartBackoff = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for c.runs.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if c.runs.Load() != 2 {
		t.Fatalf("crawler ran %d times, want 2 (restarted once)", c.runs.Load())
	}
	if got := collectSum(t, m.metrics.workerRestarts); got != 1 {
		t.Errorf("restart counter %v", got)
	}
}

// TestRunStopIsBounded: a crawler that ignores cancellation does not hold
// the daemon: Run returns after the stop timeout and names it.
func TestRunStopIsBounded(t *testing.T) {
	m, _ := testMonitor(t, nil)
	c := &stubbornCrawler{release: make(chan struct{})}
	t.Cleanup(func() { close(c.release) })
	m.crawler = c
	m.stopTimeout = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := m.Run(ctx)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Run took %s to return", took)
	}
	if !errors.Is(err, ErrStopTimeout) || !strings.Contains(err.Error(), "crawler") {
		t.Fatalf("Run: %v, want a stop timeout naming the crawler", err)
	}
}

// collectSum sums the counters c collects.
func collectSum(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 16)
	go func() { c.Collect(ch); close(ch) }()
	var sum float64
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		sum += d.GetCounter().GetValue()
	}
	return sum
}
