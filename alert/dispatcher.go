package alert

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"syscall"
	"time"

	"go.uber.org/zap"

	"mimamori/config"
	"mimamori/internal/jst"
	"mimamori/ledger"
	"mimamori/mention"
)

// FailpointEnv names the environment variable of the crash test hook: when
// it is "crash-after-send" the process kills itself right after a mail was
// accepted and before the ledger records it, as a power cut would. Only
// the end-to-end tests set it.
const FailpointEnv = "MIMAMORI_FAILPOINT"

// Dispatcher delivers due notifications. Each is claimed in the ledger
// before it is sent (so two dispatchers never send one notification) and
// marked sent only after the sender succeeded. A dispatcher that dies
// between the two leaves the claim to expire after the lease, and the
// notification is sent again with the same Message-ID: at most one
// duplicate per such crash (none with the file outbox, which keeps one
// file per notification). Failures are retried with capped exponential
// backoff and jitter; a notification failing for longer than DeadAfter
// becomes a dead letter and raises an operator alert.
type Dispatcher struct {
	ledger    *ledger.Ledger
	render    *Renderer
	email     Sender
	webhook   *WebhookSender
	routes    map[string]config.Route
	cfg       config.AlertConfig
	targets   map[string]mention.Target
	log       *zap.Logger
	now       func() time.Time
	lease     time.Duration
	failpoint string
	lastErr   string
}

// NewDispatcher wires a dispatcher. email delivers mail routes; webhooks
// go out over HTTP.
func NewDispatcher(l *ledger.Ledger, r *Renderer, email Sender, cfg config.AlertConfig, targets map[string]mention.Target,
	now func() time.Time, log *zap.Logger) *Dispatcher {
	routes := map[string]config.Route{}
	for _, rt := range cfg.EffectiveRoutes() {
		routes[rt.Name] = rt
	}
	op := cfg.OperatorTo
	if len(op) == 0 {
		op = cfg.To
	}
	routes[OperatorRoute] = config.Route{Name: OperatorRoute, To: op, NoAttachments: true}
	return &Dispatcher{ledger: l, render: r, email: email, webhook: NewWebhookSender(30 * time.Second), routes: routes, cfg: cfg,
		targets: targets, log: log.Named("alert"), now: now, lease: cfg.SendLease, failpoint: os.Getenv(FailpointEnv)}
}

// Flush delivers every notification due now and returns how many were
// delivered.
func (d *Dispatcher) Flush(ctx context.Context) (int, error) {
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
				err = fmt.Errorf("route %s: %w (set alert.to or the route's to)", rt.Name, ErrNoRecipients)
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
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		d.failed(rctx, n, err)
		return false
	}
	if d.failpoint == "crash-after-send" {
		d.log.Warn("failpoint: killing the process after a send, before recording it", zap.String("notification", n.ID))
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
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
	return true
}

func (d *Dispatcher) failed(ctx context.Context, n ledger.Notification, cause error) {
	now := d.now()
	next := now.Add(d.backoff(n.Attempts))
	first, err := d.ledger.MarkFailed(ctx, n.ID, cause, now, next)
	if err != nil {
		d.log.Error("record failed delivery", zap.String("notification", n.ID), zap.Error(err))
		return
	}
	if now.Sub(first) >= d.cfg.DeadAfter {
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
		zap.Time("failing_since", first), zap.Error(cause))
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

func (d *Dispatcher) backoff(attempts int) time.Duration {
	b := d.cfg.RetryInitial
	for i := 1; i < attempts && b < d.cfg.RetryMax; i++ {
		b *= 2
	}
	b = min(b, d.cfg.RetryMax)
	return time.Duration(float64(b) * (0.8 + 0.4*rand.Float64())) // ±20% jitter
}

// ErrNoRecipients is returned when a route resolves to nobody.
var ErrNoRecipients = errors.New("no recipients")
