package alert

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"mimamori/config"
	"mimamori/internal/backoff"
	"mimamori/internal/jst"
	"mimamori/ledger"
	"mimamori/mention"
)

// Dispatcher delivers due notifications. Each is claimed in the ledger
// before it is sent (so two dispatchers never send one notification) and
// marked sent only after the sender succeeded. A dispatcher that dies
// between the two leaves the claim to expire after the lease, and the
// notification is sent again with the same Message-ID: at most one
// duplicate per such crash (none with the file outbox, which keeps one
// file per notification). Failures are retried with capped exponential
// backoff and jitter; a notification failing for longer than DeadAfter,
// or with an error its sender calls permanent, becomes a dead letter and
// raises an operator alert. When a channel (the mail sender, or one
// webhook) delivers again after failing, every notification of that
// channel waiting out its backoff is sent in the same Flush.
type Dispatcher struct {
	ledger    *ledger.Ledger
	render    *Renderer
	email     Sender
	webhook   *WebhookSender
	routes    map[string]config.Route
	channels  map[string][]string // channel -> its routes
	cfg       config.AlertConfig
	targets   map[string]mention.Target
	log       *zap.Logger
	now       func() time.Time
	lease     time.Duration
	retry     backoff.Policy
	afterSend func(id string)
	lastErr   string
	healthy   map[string]bool // channel -> its last delivery succeeded
	recovered map[string]bool // channels brought forward in this Flush
}

// DispatcherOption changes how a Dispatcher is built.
type DispatcherOption func(*Dispatcher)

// WithAfterSend makes the dispatcher call f with the notification id right
// after a sender accepted it and before the ledger records it. It is a
// test hook (the crash test kills the process there, as a power cut
// would); production code sets none.
func WithAfterSend(f func(id string)) DispatcherOption {
	return func(d *Dispatcher) { d.afterSend = f }
}

// NewDispatcher wires a dispatcher. email delivers mail routes; webhooks
// go out over HTTP.
func NewDispatcher(l *ledger.Ledger, r *Renderer, email Sender, cfg config.AlertConfig, targets map[string]mention.Target,
	now func() time.Time, log *zap.Logger, opts ...DispatcherOption) *Dispatcher {
	routes := map[string]config.Route{}
	for _, rt := range cfg.EffectiveRoutes() {
		routes[rt.Name] = rt
	}
	op := cfg.OperatorTo
	if len(op) == 0 {
		op = cfg.To
	}
	routes[OperatorRoute] = config.Route{Name: OperatorRoute, To: op, NoAttachments: true}
	channels := map[string][]string{}
	for name, rt := range routes {
		channels[channelOf(rt)] = append(channels[channelOf(rt)], name)
	}
	d := &Dispatcher{ledger: l, render: r, email: email, webhook: NewWebhookSender(30 * time.Second), routes: routes,
		channels: channels, cfg: cfg, targets: targets, log: log.Named("alert"), now: now, lease: cfg.SendLease,
		retry:   backoff.Policy{Initial: cfg.RetryInitial, Max: cfg.RetryMax, JitterBelow: 0.2, JitterAbove: 0.2},
		healthy: map[string]bool{}, recovered: map[string]bool{}}
	for _, o := range opts {
		o(d)
	}
	return d
}

// channelOf names the way a route's notifications leave: all mail routes
// share the mail sender; each webhook URL is a channel of its own.
func channelOf(rt config.Route) string {
	if rt.Webhook != "" {
		return "webhook " + rt.Webhook
	}
	return "mail"
}

// Flush delivers every notification due now and returns how many were
// delivered.
func (d *Dispatcher) Flush(ctx context.Context) (int, error) {
	clear(d.recovered)
	sent := 0
	for ctx.Err() == nil {
		n, ok, err := d.ledger.ClaimDue(ctx, d.now(), d.lease)
		if err != nil || !ok {
			return sent, err
		}
		if d.deliver(ctx, n) {
			sent++
		}
	}
	return sent, ctx.Err()
}

func (d *Dispatcher) deliver(ctx context.Context, n ledger.Notification) bool {
	rt, ok := d.routes[n.Route]
	var err error
	via := ""
	if !ok {
		err = fmt.Errorf("route %q is no longer configured", n.Route)
	} else {
		lang := rt.Language
		if lang == "" {
			lang = d.cfg.Language
		}
		if rt.Webhook != "" {
			via = "webhook " + rt.Name
			var subject, body string
			if subject, body, err = d.render.Render(lang, n); err == nil {
				err = d.webhook.Post(ctx, rt.Webhook, rt.WebhookFormat, n.ID, subject, body)
			}
		} else {
			via = d.email.Name()
			to := Recipients(rt, d.targets, n)
			if len(to) == 0 {
				to = d.cfg.To // e.g. a staff-contacts route for a staff member without contacts
			}
			if _, isFile := d.email.(*FileOutbox); len(to) == 0 && isFile {
				to = []string{"legal@localhost"} // the file outbox delivers to a folder, not to an address
			}
			if len(to) == 0 {
				err = Permanent(fmt.Errorf("route %s: %w (set alert.to or the route's to)", rt.Name, ErrNoRecipients))
			} else {
				msg, rerr := d.render.Message(lang, n, to, !rt.NoAttachments, d.now())
				if err = rerr; err == nil {
					err = d.email.Send(ctx, n.ID, msg)
				}
			}
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return false // shutting down: the claim expires and the notification is sent later
		}
		if ok && Retryable(err) {
			d.healthy[channelOf(rt)] = false // a permanent refusal came from a channel that works
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		d.failed(rctx, n, err)
		return false
	}
	if d.afterSend != nil {
		d.afterSend(n.ID)
	}
	d.lastErr = ""
	// Record with a context that survives shutdown: the mail is out, and a
	// cancelled record would send it again after the lease.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := d.ledger.MarkSent(rctx, n.ID, d.now(), via); err != nil {
		d.log.Error("record sent notification; it will be sent again after the lease", zap.String("notification", n.ID), zap.Error(err))
		return false
	}
	d.log.Info("alert delivered", zap.String("notification", n.ID), zap.String("route", n.Route), zap.String("kind", n.Kind),
		zap.Int("alerts", len(n.Alerts)), zap.String("via", via))
	d.delivered(rctx, channelOf(rt))
	return true
}

// delivered notes that channel works. The first success after a failure
// (or since the start) brings forward every notification of the channel
// that waits out a backoff, so that after an outage the backlog goes out
// in this Flush instead of one by one as each backoff ends. It happens at
// most once per channel and Flush: a notification that fails again is
// not tried over and over within one Flush.
func (d *Dispatcher) delivered(ctx context.Context, channel string) {
	if d.healthy[channel] {
		return
	}
	d.healthy[channel] = true
	if d.recovered[channel] {
		return
	}
	d.recovered[channel] = true
	n, err := d.ledger.RetryNow(ctx, d.channels[channel], d.now())
	if err != nil {
		d.log.Warn("bring forward waiting notifications; they are sent when their backoff ends", zap.String("channel", channelName(channel)),
			zap.Error(err))
		return
	}
	if n > 0 {
		d.log.Info("delivery works again: sending the waiting notifications now", zap.String("channel", channelName(channel)), zap.Int("notifications", n))
	}
}

// channelName is a channel for logs: a webhook URL carries its token.
func channelName(channel string) string {
	if channel == "mail" {
		return channel
	}
	return "webhook"
}

func (d *Dispatcher) failed(ctx context.Context, n ledger.Notification, cause error) {
	now := d.now()
	next := now.Add(d.retry.Delay(n.Attempts))
	first, err := d.ledger.MarkFailed(ctx, n.ID, cause, now, next)
	if err != nil {
		d.log.Error("record failed delivery", zap.String("notification", n.ID), zap.Error(err))
		return
	}
	if !Retryable(cause) || now.Sub(first) >= d.cfg.DeadAfter {
		d.dead(ctx, n, cause, first)
		return
	}
	if cause.Error() != d.lastErr { // log once per distinct failure
		d.log.Warn("alert delivery failed; will retry", zap.String("notification", n.ID), zap.String("route", n.Route),
			zap.Int("attempt", n.Attempts), zap.Time("next_attempt", next), zap.Error(cause))
		d.lastErr = cause.Error()
	}
}

func (d *Dispatcher) dead(ctx context.Context, n ledger.Notification, cause error, first time.Time) {
	if err := d.ledger.MarkDead(ctx, n.ID, cause); err != nil {
		d.log.Error("record dead letter", zap.String("notification", n.ID), zap.Error(err))
		return
	}
	d.log.Error("alert undeliverable: moved to dead letters", zap.String("notification", n.ID), zap.String("route", n.Route),
		zap.Time("failing_since", first), zap.Bool("permanent", !Retryable(cause)), zap.Error(cause))
	if n.Route == OperatorRoute {
		return // the operator's own channel is down: the log above is what is left
	}
	now := d.now()
	_, err := d.ledger.AddAlert(ctx, "operator-dead-"+n.ID, ledger.AlertKindOperator, "", now, now, mention.SeverityHigh.Rank(),
		OperatorDetail{
			Title: fmt.Sprintf("通知 %s を %s 以上配信できませんでした / notification undeliverable", n.ID, d.cfg.DeadAfter),
			Detail: fmt.Sprintf("route: %s\nalerts: %d\nfailing since: %s\nlast error: %v\n\n再送: mimamori alerts resend %s",
				n.Route, len(n.Alerts), first.In(jst.Zone).Format(time.RFC3339), cause, n.ID),
		})
	if err != nil {
		d.log.Error("raise operator alert", zap.Error(err))
	}
}

// OperatorAlert raises an operator alert (a failing source, a refused
// index write) with a dedupe key: one per key within the window.
func OperatorAlert(ctx context.Context, l *ledger.Ledger, key, title, detail string, now time.Time, window time.Duration) error {
	_, err := l.AddAlert(ctx, fmt.Sprintf("operator-%s-%d", shortKey(key), now.UnixNano()), ledger.AlertKindOperator, "operator:"+key,
		now, now.Add(-window), mention.SeverityHigh.Rank(), OperatorDetail{Title: title, Detail: detail})
	return err
}

func shortKey(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r < 128 && (r == '-' || r == '_' || r == '.' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')) {
			out = append(out, r)
		}
	}
	if len(out) > 40 {
		out = out[:40]
	}
	return string(out)
}

// ErrNoRecipients is returned when a route resolves to nobody.
var ErrNoRecipients = errors.New("no recipients")
