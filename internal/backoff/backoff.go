// Package backoff is mimamori's one retry schedule: a delay that doubles
// with each attempt from Initial up to Max, spread by jitter so that many
// retrying parties do not hit a recovering server in step, and waits that
// end early when their context is cancelled.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is a capped exponential schedule with jitter.
type Policy struct {
	// Initial is the delay before the second attempt (after attempt 1).
	Initial time.Duration
	// Max caps the delay before jitter; zero or less means no cap.
	Max time.Duration
	// JitterBelow and JitterAbove spread the delay d uniformly over
	// [d*(1-JitterBelow), d*(1+JitterAbove)]: 0.2 and 0.2 is ±20%; 0.5 and
	// 0 is "equal jitter", between half the delay and all of it. Zero
	// means an exact delay.
	JitterBelow, JitterAbove float64
}

// Base returns the delay after the given attempt (1, 2, ...) without
// jitter: Initial*2^(attempt-1), capped by Max. Attempts below 1 count
// as 1.
func (p Policy) Base(attempt int) time.Duration {
	if p.Initial <= 0 {
		return 0
	}
	d := p.Initial
	for i := 1; i < attempt; i++ {
		if p.Max > 0 && d >= p.Max {
			break
		}
		if d > (1<<62)/2 { // would overflow; no real schedule gets here
			break
		}
		d *= 2
	}
	if p.Max > 0 {
		d = min(d, p.Max)
	}
	return d
}

// Delay returns the delay after the given attempt, with jitter.
func (p Policy) Delay(attempt int) time.Duration {
	d := p.Base(attempt)
	lo, hi := 1-p.JitterBelow, 1+p.JitterAbove
	if lo == hi || d == 0 {
		return d
	}
	return time.Duration(float64(d) * (lo + (hi-lo)*rand.Float64()))
}

// Wait sleeps for Delay(attempt). It returns ctx.Err() if ctx ends first.
func (p Policy) Wait(ctx context.Context, attempt int) error {
	return Sleep(ctx, p.Delay(attempt))
}

// Sleep waits for d. It returns ctx.Err() if ctx ends first (also when it
// has already ended), else nil.
func Sleep(ctx context.Context, d time.Duration) error {
	_, err := SleepOrWake(ctx, d, nil)
	return err
}

// SleepOrWake waits for d or until wake delivers, whichever is first, and
// says whether wake ended the wait. It returns ctx.Err() if ctx ends
// first. A nil wake never delivers.
func SleepOrWake(ctx context.Context, d time.Duration, wake <-chan struct{}) (woken bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if d <= 0 {
		return false, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-t.C:
		return false, nil
	case <-wake:
		return true, nil
	}
}
