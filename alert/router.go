package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"mimamori/config"
	"mimamori/index"
	"mimamori/internal/jst"
	"mimamori/ledger"
	"mimamori/mention"
)

// OperatorRoute is the built-in route of operator alerts.
const OperatorRoute = "operator"

// Router places pending alert events into notifications of the routes
// that want them: silences first, then each route's filters, then grouping
// (one thread or author within the group window), digests (hourly, daily)
// and the per-route hourly cap, beyond which alerts roll into an overflow
// digest.
type Router struct {
	ledger  *ledger.Ledger
	cfg     config.AlertConfig
	routes  []config.Route
	targets map[string]mention.Target
	now     func() time.Time
	log     *zap.Logger
	claimer index.AlertClaimer
	daemon  string
	// claimDown is when the claim store last failed: for a minute after,
	// alerts are routed without asking it, so an outage delays nothing.
	claimDown time.Time
}

// ShareWith makes the router claim each post's alert in a store shared
// with other daemons (Elasticsearch) before routing it: of several daemons
// watching the same sources, one alerts each post. daemon names this one.
func (r *Router) ShareWith(c index.AlertClaimer, daemon string) { r.claimer, r.daemon = c, daemon }

// claimed reports whether this daemon may alert e. A claim store that
// cannot be reached does not hold an alert back: a possible duplicate is
// better than a late alert.
func (r *Router) claimed(ctx context.Context, e ledger.AlertEvent) bool {
	if r.claimer == nil || (e.Kind != ledger.AlertKindNew && e.Kind != ledger.AlertKindSeverityUp) {
		return true
	}
	if r.now().Sub(r.claimDown) < time.Minute {
		return true
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ok, err := r.claimer.ClaimAlert(cctx, e.ID, r.daemon)
	if err != nil {
		r.claimDown = r.now()
		r.log.Warn("cannot claim the alert in the shared index; alerting anyway (a second daemon may alert it too)",
			zap.String("alert", e.ID), zap.Error(err))
		return true
	}
	return ok
}

// NewRouter returns a router for cfg's routes.
func NewRouter(l *ledger.Ledger, cfg config.AlertConfig, targets map[string]mention.Target, now func() time.Time, log *zap.Logger) *Router {
	return &Router{ledger: l, cfg: cfg, routes: cfg.EffectiveRoutes(), targets: targets, now: now, log: log.Named("router")}
}

// Route routes every pending alert event and returns how many it routed.
func (r *Router) Route(ctx context.Context) (int, error) {
	n := 0
	for {
		now := r.now()
		events, err := r.ledger.PendingAlerts(ctx, 200)
		if err != nil || len(events) == 0 {
			return n, err
		}
		silences, err := r.ledger.Silences(ctx, now)
		if err != nil {
			return n, err
		}
		for _, e := range events {
			if !r.claimed(ctx, e) {
				if err := r.ledger.MarkAlert(ctx, e.ID, ledger.AlertClaimedElsewhere); err != nil {
					return n, err
				}
				r.log.Info("alert claimed by another daemon sharing the index", zap.String("alert", e.ID))
				n++
				continue
			}
			silenced := ""
			for _, s := range silences {
				if s.Matches(e.Mention, now) {
					silenced = s.ID
					break
				}
			}
			var ps []ledger.Placement
			if silenced == "" {
				if ps, err = r.placements(ctx, e, now); err != nil {
					return n, err
				}
			}
			if err := r.ledger.RouteAlert(ctx, e.ID, now, silenced, ps); err != nil {
				return n, err
			}
			switch {
			case silenced != "":
				r.log.Info("alert silenced", zap.String("alert", e.ID), zap.String("silence", silenced))
			case len(ps) == 0:
				r.log.Warn("no route takes this alert", zap.String("alert", e.ID), zap.String("kind", e.Kind))
			}
			n++
		}
	}
}

// placements decides where an event goes.
func (r *Router) placements(ctx context.Context, e ledger.AlertEvent, now time.Time) ([]ledger.Placement, error) {
	if e.Kind == ledger.AlertKindOperator {
		return []ledger.Placement{{Route: OperatorRoute, Kind: "single", Due: now}}, nil
	}
	var out []ledger.Placement
	for _, rt := range r.routes {
		if !r.wants(rt, e) {
			continue
		}
		p, err := r.place(ctx, rt, e, now)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (r *Router) place(ctx context.Context, rt config.Route, e ledger.AlertEvent, now time.Time) (ledger.Placement, error) {
	local := now.In(jst.Zone)
	hour := local.Truncate(time.Hour)
	switch rt.Mode {
	case config.ModeHourly:
		return ledger.Placement{Route: rt.Name, Kind: "digest", GroupKey: "hourly:" + hour.Format(time.RFC3339),
			Due: hour.Add(time.Hour), MaxItems: 1 << 30}, nil
	case config.ModeDaily:
		day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, jst.Zone)
		return ledger.Placement{Route: rt.Name, Kind: "digest", GroupKey: "daily:" + day.Format("2006-01-02"),
			Due: day.AddDate(0, 0, 1), MaxItems: 1 << 30}, nil
	}
	recent, err := r.ledger.RecentNotifications(ctx, rt.Name, now.Add(-time.Hour))
	if err != nil {
		return ledger.Placement{}, err
	}
	if recent >= r.cfg.MaxPerHour {
		return ledger.Placement{Route: rt.Name, Kind: "overflow", GroupKey: "overflow:" + hour.Format(time.RFC3339),
			Due: hour.Add(time.Hour), MaxItems: 1 << 30}, nil
	}
	if key := r.groupKey(e); key != "" && r.cfg.GroupWindow > 0 {
		return ledger.Placement{Route: rt.Name, Kind: "group", GroupKey: key, Due: now.Add(r.cfg.GroupWindow), MaxItems: r.cfg.GroupMax}, nil
	}
	return ledger.Placement{Route: rt.Name, Kind: "single", Due: now}, nil
}

// groupKey is the thread of a post (its URL without the fragment, for
// posts that are anchors in a thread page) or else its named author.
func (r *Router) groupKey(e ledger.AlertEvent) string {
	m := e.Mention
	if m == nil || (e.Kind != ledger.AlertKindNew && e.Kind != ledger.AlertKindSeverityUp) {
		return ""
	}
	if u, err := url.Parse(m.URL); err == nil && u.Fragment != "" {
		u.Fragment = ""
		return "thread:" + m.SourceID + " " + u.String()
	}
	author := strings.TrimSpace(m.Author)
	if author == "" {
		return ""
	}
	for _, a := range r.cfg.Escalation.AnonymousAuthors {
		if strings.EqualFold(a, author) {
			return ""
		}
	}
	return "author:" + m.Site + " " + author
}

// wants reports whether route rt takes event e.
func (r *Router) wants(rt config.Route, e ledger.AlertEvent) bool {
	if len(rt.Kinds) > 0 && !slices.Contains(rt.Kinds, e.Kind) &&
		(e.Kind != ledger.AlertKindEvidence || !slices.Contains(rt.Kinds, ledger.AlertKindNew)) {
		return false
	}
	minSev := rt.MinSeverity
	if minSev == "" {
		minSev = r.cfg.MinSeverity
	}
	rank := e.SeverityRank
	if e.Mention != nil && (e.Kind == ledger.AlertKindNew || e.Kind == ledger.AlertKindSeverityUp) {
		rank = e.Mention.Severity.Rank()
	}
	if rank < minSev.Rank() {
		return false
	}
	targets := r.eventTargets(e)
	if len(rt.Targets) > 0 && !overlaps(rt.Targets, targets) {
		return false
	}
	if len(rt.TargetKinds) > 0 {
		var kinds []string
		for _, t := range targets {
			kinds = append(kinds, string(r.targets[t].Kind))
		}
		if !overlaps(rt.TargetKinds, kinds) {
			return false
		}
	}
	if len(rt.Categories) > 0 && e.Mention != nil && !overlaps(rt.Categories, e.Mention.Categories) {
		return false
	}
	return true
}

// eventTargets are the target ids an event is about.
func (r *Router) eventTargets(e ledger.AlertEvent) []string {
	var d struct {
		Target string `json:"target"`
	}
	if len(e.Detail) > 0 && json.Unmarshal(e.Detail, &d) == nil && d.Target != "" {
		return []string{d.Target}
	}
	if e.Mention != nil {
		return e.Mention.Targets
	}
	return nil
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// Recipients returns the mail recipients of a notification on route rt:
// the route's addresses, plus the contacts of named staff targets when the
// route asks for them.
func Recipients(rt config.Route, targets map[string]mention.Target, n ledger.Notification) []string {
	seen := map[string]bool{}
	var out []string
	add := func(a string) {
		if a != "" && !seen[strings.ToLower(a)] {
			seen[strings.ToLower(a)] = true
			out = append(out, a)
		}
	}
	for _, a := range rt.To {
		add(a)
	}
	if rt.ToStaffContacts {
		for _, e := range n.Alerts {
			var ids []string
			if e.Mention != nil {
				ids = e.Mention.Targets
			}
			for _, id := range ids {
				if t := targets[id]; t.Kind == mention.KindStaff {
					for _, c := range t.Contacts {
						add(c)
					}
				}
			}
		}
	}
	return out
}

// Spikes raises a spike alert for every target whose mentions in the last
// window reach both the minimum count and factor times the usual rate.
func Spikes(ctx context.Context, l *ledger.Ledger, esc config.EscalationConfig, now time.Time) (int, error) {
	if esc.SpikeWindow <= 0 || esc.SpikeMinCount <= 0 {
		return 0, nil
	}
	cur, err := l.MentionCounts(ctx, now.Add(-esc.SpikeWindow), now.Add(time.Nanosecond))
	if err != nil {
		return 0, err
	}
	base, err := l.MentionCounts(ctx, now.Add(-esc.SpikeBaseline), now.Add(-esc.SpikeWindow))
	if err != nil {
		return 0, err
	}
	spans := float64(esc.SpikeBaseline-esc.SpikeWindow) / float64(esc.SpikeWindow)
	raised := 0
	for target, n := range cur {
		rate := 0.0
		if spans > 0 {
			rate = float64(base[target]) / spans
		}
		if n < esc.SpikeMinCount || float64(n) < esc.SpikeFactor*rate {
			continue
		}
		d := SpikeDetail{Target: target, Count: n, Baseline: rate, Window: esc.SpikeWindow.String()}
		ok, err := l.AddAlert(ctx, fmt.Sprintf("spike-%s-%d", target, now.Unix()), ledger.AlertKindSpike, "spike:"+target,
			now, now.Add(-esc.SpikeWindow), mention.SeverityHigh.Rank(), d)
		if err != nil {
			return raised, err
		}
		if ok {
			raised++
		}
	}
	return raised, nil
}
