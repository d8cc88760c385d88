package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	s := time.Second
	tests := []struct {
		name    string
		p       Policy
		attempt int
		want    time.Duration
	}{
		{"first attempt", Policy{Initial: s, Max: 30 * s}, 1, s},
		{"attempt zero counts as one", Policy{Initial: s, Max: 30 * s}, 0, s},
		{"doubles", Policy{Initial: s, Max: 30 * s}, 3, 4 * s},
		{"capped", Policy{Initial: s, Max: 30 * s}, 6, 30 * s},
		{"stays capped", Policy{Initial: s, Max: 30 * s}, 1000, 30 * s},
		{"max below initial", Policy{Initial: 10 * s, Max: 5 * s}, 1, 5 * s},
		{"no cap", Policy{Initial: s}, 11, 1024 * s},
		{"no initial", Policy{Max: s}, 5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Base(tt.attempt); got != tt.want {
				t.Fatalf("Base(%d) = %v, want %v", tt.attempt, got, tt.want)
			}
		})
	}
}

func TestNoCapDoesNotOverflow(t *testing.T) {
	p := Policy{Initial: time.Second}
	if d := p.Base(1 << 20); d < p.Base(50) || d <= 0 {
		t.Fatalf("Base overflowed: %v", d)
	}
}

func TestJitterBounds(t *testing.T) {
	tests := []struct {
		name   string
		p      Policy
		lo, hi time.Duration
	}{
		{"exact", Policy{Initial: time.Second}, time.Second, time.Second},
		{"plus minus 20%", Policy{Initial: time.Second, JitterBelow: 0.2, JitterAbove: 0.2}, 800 * time.Millisecond, 1200 * time.Millisecond},
		{"equal jitter", Policy{Initial: time.Second, JitterBelow: 0.5}, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for range 200 {
				d := tt.p.Delay(1)
				if d < tt.lo || d > tt.hi {
					t.Fatalf("Delay = %v, want within [%v, %v]", d, tt.lo, tt.hi)
				}
				seen[d] = true
			}
			if tt.lo != tt.hi && len(seen) < 2 {
				t.Fatal("no jitter")
			}
		})
	}
}

func TestWaitReturnsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	err := Policy{Initial: time.Hour}.Wait(ctx, 1)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 10*time.Second {
		t.Fatalf("Wait = %v after %v, want context.Canceled at once", err, time.Since(start))
	}
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a cancelled context = %v", err)
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep = %v", err)
	}
}

func TestSleepOrWake(t *testing.T) {
	wake := make(chan struct{}, 1)
	wake <- struct{}{}
	woken, err := SleepOrWake(context.Background(), time.Hour, wake)
	if !woken || err != nil {
		t.Fatalf("SleepOrWake = %v, %v; want woken", woken, err)
	}
	woken, err = SleepOrWake(context.Background(), time.Millisecond, wake)
	if woken || err != nil {
		t.Fatalf("SleepOrWake = %v, %v; want the timer", woken, err)
	}
}
