package crawler

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"

	"mimamori/internal/backoff"
)

// stateTimeout bounds the state writes made outside a Batch commit.
const stateTimeout = 5 * time.Second

// loadHealth reads the back-off and failing streak saved before a
// restart, so that neither is forgotten by restarting.
func (s *Source) loadHealth() {
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	read := func(key string) string {
		v, _, err := s.state.GetState(ctx, s.src.ID, key)
		if err != nil {
			s.log.Warn("read crawl state", zap.String("key", key), zap.Error(err))
		}
		return v
	}
	if t, err := time.Parse(time.RFC3339Nano, read(keyBackoff)); err == nil {
		s.backoffUntil = t
		s.metrics.backoff.WithLabelValues(s.src.ID).Set(float64(t.Unix()))
	}
	if t, err := time.Parse(time.RFC3339Nano, read(keyFailingSince)); err == nil {
		s.failingSince = t
		s.notified = read(keyFailingNotified) == "1"
		if s.notified {
			s.metrics.failing.WithLabelValues(s.src.ID).Set(1)
		}
	}
}

// putNow saves health state at once (not through a Batch: it is not about
// posts).
func (s *Source) putNow(key, value string) {
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	if err := s.state.PutState(ctx, s.src.ID, key, value); err != nil {
		s.log.Warn("save crawl state", zap.String("key", key), zap.Error(err))
	}
}

// backOff records a 429 or 503 answer and returns until when the source
// waits: the answer's Retry-After (or rate-limit reset), else a doubling
// wait, capped by max_backoff.
func (s *Source) backOff(h http.Header) time.Time {
	now := s.now()
	s.mu.Lock()
	wait, ok := retryAfter(h, now)
	if !ok {
		wait = backoff.Policy{Initial: firstBackoff, Max: s.maxBackoff}.Base(s.rateLimited + 1)
	}
	s.rateLimited++
	wait = min(max(wait, time.Second), s.maxBackoff)
	until := now.Add(wait)
	if until.After(s.backoffUntil) {
		s.backoffUntil = until
	}
	until = s.backoffUntil
	s.mu.Unlock()
	s.metrics.backoff.WithLabelValues(s.src.ID).Set(float64(until.Unix()))
	s.putNow(keyBackoff, until.UTC().Format(time.RFC3339Nano))
	s.log.Warn("rate limited: the source waits", zap.Time("until", until), zap.Duration("wait", wait))
	return until
}

// observe updates metrics and the failing streak after a pass; skipped
// is true for a pass not made because of a back-off (it neither starts nor
// ends a streak, but may make it long enough to report).
func (s *Source) observe(ctx context.Context, err error, skipped bool) {
	id := s.src.ID
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return // shutdown, not a failure of the site
	}
	now := s.now()
	var (
		report, recovered bool
		since             time.Time
	)
	s.mu.Lock()
	switch {
	case err == nil:
		s.metrics.lastSuccess.WithLabelValues(id).Set(float64(now.Unix()))
		s.rateLimited = 0
		if !s.backoffUntil.IsZero() {
			s.backoffUntil = time.Time{}
			s.metrics.backoff.WithLabelValues(id).Set(0)
			defer s.putNow(keyBackoff, "")
		}
		if !s.failingSince.IsZero() {
			since, recovered = s.failingSince, s.notified
			s.failingSince, s.notified = time.Time{}, false
			s.metrics.failing.WithLabelValues(id).Set(0)
			defer s.putNow(keyFailingSince, "")
			defer s.putNow(keyFailingNotified, "")
		}
	default:
		if !skipped {
			s.metrics.errors.WithLabelValues(id, ErrorKind(err)).Inc()
		}
		if s.failingSince.IsZero() && !skipped {
			s.failingSince = now
			defer s.putNow(keyFailingSince, now.UTC().Format(time.RFC3339Nano))
		}
		if !s.failingSince.IsZero() && !s.notified && now.Sub(s.failingSince) >= s.alertAfter {
			s.notified, report, since = true, true, s.failingSince
			s.metrics.failing.WithLabelValues(id).Set(1)
			defer s.putNow(keyFailingNotified, "1")
		}
	}
	s.mu.Unlock()
	switch {
	case report:
		s.log.Error("source failing: operator alert", zap.Time("since", since), zap.Duration("for", now.Sub(since)), zap.Error(err))
		if s.onFailing != nil {
			s.onFailing(id, since, err)
		}
	case recovered:
		s.log.Info("source recovered", zap.Time("failing_since", since))
		if s.onRecovered != nil {
			s.onRecovered(id, since)
		}
	}
}
