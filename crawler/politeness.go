package crawler

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"mimamori/internal/backoff"
)

// HostLimiter is per-host politeness shared by every source of a process:
// at most Concurrency requests in flight to one host, a delay between two
// requests to it, and a host-wide pause after a 429 or 503 answer so that
// other sources on the same host wait too.
type HostLimiter struct {
	conc  int
	mu    sync.Mutex
	hosts map[string]*hostState
	now   func() time.Time
}

type hostState struct {
	sem     chan struct{}
	next    time.Time // earliest start of the next request
	blocked time.Time // no request before (429/503 back-off)
	why     string
}

// NewHostLimiter returns a limiter allowing concurrency requests in flight
// per host (at least 1).
func NewHostLimiter(concurrency int) *HostLimiter {
	return &HostLimiter{conc: max(concurrency, 1), hosts: map[string]*hostState{}, now: time.Now}
}

func (h *HostLimiter) host(name string) *hostState {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.hosts[name]
	if !ok {
		st = &hostState{sem: make(chan struct{}, h.conc)}
		h.hosts[name] = st
	}
	return st
}

// acquire waits for a slot to host and for its delay, then returns the
// release to call when the response was read. It fails at once with a
// *BackoffError while the host is paused, and with errCrawlDelayTooLong
// when the wait would exceed maxWait.
func (h *HostLimiter) acquire(ctx context.Context, host string, delay, maxWait time.Duration) (func(), error) {
	st := h.host(host)
	select {
	case st.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		h.mu.Lock()
		now := h.now()
		if now.Before(st.blocked) {
			until, why := st.blocked, st.why
			h.mu.Unlock()
			<-st.sem
			return nil, &BackoffError{Until: until, Reason: why}
		}
		wait := st.next.Sub(now)
		if wait <= 0 {
			st.next = now.Add(delay) // spacing between starts
			h.mu.Unlock()
			break
		}
		h.mu.Unlock()
		if wait > maxWait {
			<-st.sem
			return nil, fmt.Errorf("%w: %s to wait", errCrawlDelayTooLong, wait.Round(time.Second))
		}
		if err := backoff.Sleep(ctx, wait); err != nil {
			<-st.sem
			return nil, err
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			if n := h.now().Add(delay); n.After(st.next) {
				st.next = n // and between the end of one and the next start
			}
			h.mu.Unlock()
			<-st.sem
		})
	}, nil
}

// block pauses a host until the given time.
func (h *HostLimiter) block(host string, until time.Time, why string) {
	st := h.host(host)
	h.mu.Lock()
	defer h.mu.Unlock()
	if until.After(st.blocked) {
		st.blocked, st.why = until, why
	}
}

// retryAfter reads how long a 429 or 503 answer asks us to wait: the
// Retry-After header (seconds or an HTTP date), else the rate-limit reset
// headers APIs send instead (X: x-rate-limit-reset as Unix seconds; Reddit:
// x-ratelimit-reset as seconds to wait; Mastodon: an RFC 3339 time;
// Bluesky: RateLimit-Reset as Unix seconds). ok is false when none says.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			return time.Duration(min(n, 1<<31)) * time.Second, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	for _, name := range []string{"X-Rate-Limit-Reset", "X-RateLimit-Reset", "RateLimit-Reset"} {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return max(t.Sub(now), 0), true
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
			if f > 1e9 { // a Unix time
				return max(time.Unix(int64(f), 0).Sub(now), 0), true
			}
			return time.Duration(f * float64(time.Second)), true
		}
	}
	return 0, false
}
