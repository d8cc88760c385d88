package monitor

import (
	"errors"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"mimamori/evidence"
)

// sqliteFull is SQLITE_FULL, the primary result code of a write to a
// database whose disk is full.
const sqliteFull = 13

// isDiskFull reports whether err says a disk has no room left: the
// evidence store's ErrDiskFull, ENOSPC or EDQUOT from the file system, or
// SQLite's "database or disk is full".
func isDiskFull(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, evidence.ErrDiskFull) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	var coded interface{ Code() int }
	return errors.As(err, &coded) && coded.Code()&0xff == sqliteFull
}

// diskFullSummaryEvery is how often a disk-full condition that lasts is
// summarised in the log.
const diskFullSummaryEvery = time.Minute

// diskFullState tracks one store (evidence, ledger) whose disk is full.
// A full disk is an expected, lasting condition: every capture or write
// fails the same way until an operator frees space. Logging each failure
// (with a stack trace) floods the log and hides everything else, so the
// state is logged once when it starts, summarised every
// diskFullSummaryEvery while it lasts (on the next failure after that)
// and logged once when it ends; the metrics count every failure.
type diskFullState struct {
	store    string // "evidence" or "ledger"
	log      *zap.Logger
	now      func() time.Time
	every    time.Duration
	gauge    prometheus.Gauge
	failures prometheus.Counter

	mu       sync.Mutex
	failing  bool
	since    time.Time // when the state started
	total    int       // failures since it started
	pending  int       // failures since the last line
	lastLine time.Time
	lastOp   string
	lastErr  error
}

func newDiskFullState(store string, log *zap.Logger, now func() time.Time, mt *metrics) *diskFullState {
	return &diskFullState{store: store, log: log, now: now, every: diskFullSummaryEvery,
		gauge: mt.diskFull.WithLabelValues(store), failures: mt.diskFullFailures.WithLabelValues(store)}
}

// fail records a failure of op caused by a full disk.
func (d *diskFullState) fail(op string, err error) {
	if d == nil {
		return
	}
	d.failures.Inc()
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	d.total++
	d.pending++
	d.lastOp, d.lastErr = op, err
	if !d.failing {
		d.failing, d.since, d.lastLine, d.pending = true, now, now, 0
		d.gauge.Set(1)
		// Warn, not Error: an expected condition needs no stack trace.
		d.log.Warn("disk full: "+d.store+" writes failing until space is freed; failures are summarised every "+d.every.String(),
			zap.String("store", d.store), zap.String("op", op), zap.Error(err))
		return
	}
	if now.Sub(d.lastLine) >= d.every {
		d.log.Warn("disk still full: "+d.store+" writes failing", zap.String("store", d.store),
			zap.Time("since", d.since), zap.Int("failures_since_last_summary", d.pending), zap.Int("failures_total", d.total),
			zap.String("last_op", op), zap.NamedError("last_error", err))
		d.lastLine, d.pending = now, 0
	}
}

// ok records a write that succeeded; it ends the state if one is on.
func (d *diskFullState) ok() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.failing {
		return
	}
	now := d.now()
	d.log.Info("disk space back: "+d.store+" writes succeed again", zap.String("store", d.store),
		zap.Time("since", d.since), zap.Duration("lasted", now.Sub(d.since)), zap.Int("failures_total", d.total),
		zap.String("last_op", d.lastOp), zap.NamedError("last_error", d.lastErr))
	d.failing, d.total, d.pending, d.lastErr, d.lastOp = false, 0, 0, nil, ""
	d.gauge.Set(0)
}

// active reports whether the state is on.
func (d *diskFullState) active() bool {
	if d == nil {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failing
}
