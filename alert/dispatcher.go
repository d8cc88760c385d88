package alert

import (
	"context"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"mimamori/ledger"
)

// Outbox is the durable list of alerts to deliver (the ledger).
type Outbox interface {
	DueAlerts(ctx context.Context, now time.Time, limit int) ([]ledger.PendingAlert, error)
	MarkSent(ctx context.Context, id string, at time.Time, via string) error
	MarkFailed(ctx context.Context, id string, cause error, next time.Time) error
}

// Dispatcher delivers due alerts from the outbox. An alert is marked sent
// only after its sender succeeded; a failed one is retried with capped
// exponential backoff and jitter, across restarts, until it goes out.
type Dispatcher struct {
	outbox  Outbox
	render  *Renderer
	sender  Sender
	log     *zap.Logger
	initial time.Duration
	max     time.Duration
	now     func() time.Time
	wake    chan struct{}
	lastErr string
}

// NewDispatcher wires a dispatcher.
func NewDispatcher(outbox Outbox, r *Renderer, s Sender, retryInitial, retryMax time.Duration, log *zap.Logger) *Dispatcher {
	return &Dispatcher{outbox: outbox, render: r, sender: s, log: log.Named("alert"), initial: retryInitial,
		max: retryMax, now: time.Now, wake: make(chan struct{}, 1)}
}

// Wake asks the dispatcher to look at the outbox now (a new alert was
// enqueued).
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers due alerts until ctx is cancelled, polling every interval.
func (d *Dispatcher) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := d.Flush(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("deliver alerts", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.wake:
		}
	}
}

// Flush delivers every alert due now and returns how many were sent.
func (d *Dispatcher) Flush(ctx context.Context) (int, error) {
	sent := 0
	for {
		due, err := d.outbox.DueAlerts(ctx, d.now(), 50)
		if err != nil {
			return sent, err
		}
		if len(due) == 0 {
			return sent, nil
		}
		progress := false
		for _, p := range due {
			if ctx.Err() != nil {
				return sent, ctx.Err()
			}
			if d.deliver(ctx, p) {
				sent++
				progress = true
			}
		}
		if !progress {
			return sent, nil
		}
	}
}

func (d *Dispatcher) deliver(ctx context.Context, p ledger.PendingAlert) bool {
	a := Alert{ID: p.ID, Kind: p.Kind, Created: p.Created, Mention: p.Mention}
	msg, err := d.render.Message(a, d.now())
	if err == nil {
		err = d.sender.Send(ctx, p.ID, msg)
	}
	if err != nil {
		next := d.now().Add(d.backoff(p.Attempts))
		if ctx.Err() != nil {
			return false // shutting down: the alert stays pending as it was
		}
		if merr := d.outbox.MarkFailed(ctx, p.ID, err, next); merr != nil {
			d.log.Error("record failed alert delivery", zap.String("alert", p.ID), zap.Error(merr))
		}
		if err.Error() != d.lastErr { // log once per distinct failure
			d.log.Warn("alert delivery failed; will retry", zap.String("alert", p.ID), zap.String("sender", d.sender.Name()),
				zap.Int("attempt", p.Attempts+1), zap.Time("next_attempt", next), zap.Error(err))
			d.lastErr = err.Error()
		}
		return false
	}
	d.lastErr = ""
	if err := d.outbox.MarkSent(ctx, p.ID, d.now(), d.sender.Name()); err != nil {
		// Delivered but not recorded: the next pass sends it again with the
		// same Message-ID (the file outbox skips it).
		d.log.Error("record sent alert", zap.String("alert", p.ID), zap.Error(err))
		return false
	}
	d.log.Info("alert delivered", zap.String("alert", p.ID), zap.String("mention", p.Mention.ID),
		zap.String("severity", string(p.Mention.Severity)), zap.String("sender", d.sender.Name()))
	return true
}

func (d *Dispatcher) backoff(attempts int) time.Duration {
	b := d.initial
	for i := 0; i < attempts && b < d.max; i++ {
		b *= 2
	}
	if b > d.max {
		b = d.max
	}
	// ±20% jitter so many daemons do not retry in step
	j := time.Duration(float64(b) * (0.8 + 0.4*rand.Float64()))
	return j
}
