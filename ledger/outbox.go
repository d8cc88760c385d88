package ledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"mimamori/mention"
)

// Alert event states.
const (
	// AlertPending: created, not yet routed.
	AlertPending = "pending"
	// AlertRouted: placed into one or more notifications.
	AlertRouted = "routed"
	// AlertSilenced: matched a silence; no notification.
	AlertSilenced = "silenced"
	// AlertUnrouted: no route wanted it (below every route's threshold).
	AlertUnrouted = "unrouted"
	// AlertClaimedElsewhere: another daemon sharing the index alerted it.
	AlertClaimedElsewhere = "claimed_elsewhere"
)

// MarkAlert sets the state of a pending alert event without routing it.
func (l *Ledger) MarkAlert(ctx context.Context, id, state string) error {
	if _, err := l.db.ExecContext(ctx, `UPDATE alerts SET state = ? WHERE id = ? AND state = 'pending'`, state, id); err != nil {
		return fmt.Errorf("mark alert %s %s: %w", id, state, err)
	}
	return nil
}

// Notification states.
const (
	// NotifyOpen: still collecting alerts until it is due.
	NotifyOpen = "open"
	// NotifyPending: due or retrying.
	NotifyPending = "pending"
	// NotifySending: claimed by a dispatcher; if it stays here past its
	// next attempt (the dispatcher died mid-send) it is sent again.
	NotifySending = "sending"
	// NotifySent: delivered.
	NotifySent = "sent"
	// NotifyDead: undelivered for longer than the dead-letter age.
	NotifyDead = "dead"
)

// AlertEvent is one alert event with its mention (when it has one).
type AlertEvent struct {
	ID           string           `json:"id"`
	MentionID    string           `json:"mention_id,omitempty"`
	Kind         string           `json:"kind"`
	Created      time.Time        `json:"created"`
	State        string           `json:"state"`
	SeverityRank int              `json:"severity_rank"`
	Detail       json.RawMessage  `json:"detail,omitempty"`
	SilenceID    string           `json:"silence_id,omitempty"`
	Mention      *mention.Mention `json:"mention,omitempty"`
}

const alertCols = `a.id, a.mention_id, a.kind, a.created, a.state, a.severity_rank, a.detail, a.silence_id, coalesce(m.doc, '')`

func scanAlert(rows interface{ Scan(...any) error }) (AlertEvent, error) {
	var e AlertEvent
	var created int64
	var detail, doc string
	if err := rows.Scan(&e.ID, &e.MentionID, &e.Kind, &created, &e.State, &e.SeverityRank, &detail, &e.SilenceID, &doc); err != nil {
		return e, err
	}
	e.Created = time.Unix(0, created).UTC()
	e.Detail = json.RawMessage(detail)
	if doc != "" {
		m, err := decodeMention(doc)
		if err != nil {
			return e, err
		}
		e.Mention = &m
	}
	return e, nil
}

// PendingAlerts returns alert events not yet routed, oldest first.
func (l *Ledger) PendingAlerts(ctx context.Context, limit int) ([]AlertEvent, error) {
	return l.queryAlerts(ctx, `WHERE a.state = 'pending' ORDER BY a.created, a.id LIMIT ?`, limit)
}

// AlertEvents lists alert events, newest first.
func (l *Ledger) AlertEvents(ctx context.Context, limit int) ([]AlertEvent, error) {
	return l.queryAlerts(ctx, `ORDER BY a.created DESC, a.id LIMIT ?`, limit)
}

func (l *Ledger) queryAlerts(ctx context.Context, where string, args ...any) ([]AlertEvent, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT `+alertCols+` FROM alerts a LEFT JOIN mentions m ON m.id = a.mention_id `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	defer rows.Close()
	var out []AlertEvent
	for rows.Next() {
		e, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("read alerts: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// AddAlert records an alert event that does not come from Accept (a spike,
// an operator alert). It is a no-op when the id exists, or when dedupeKey
// is set and an alert with that key was created after since.
func (l *Ledger) AddAlert(ctx context.Context, id, kind, dedupeKey string, at, since time.Time, rank int, detail any) (bool, error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("add alert %s: %w", id, err)
	}
	defer tx.Rollback()
	if dedupeKey != "" {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM alerts WHERE dedupe_key = ? AND created >= ?`, dedupeKey, since.UnixNano()).Scan(&n); err != nil {
			return false, fmt.Errorf("add alert %s: %w", id, err)
		}
		if n > 0 {
			return false, nil
		}
	}
	ok, err := insertAlert(ctx, tx, id, "", kind, dedupeKey, at, rank, detail)
	if err != nil {
		return false, err
	}
	return ok, tx.Commit()
}

// Placement says where the router puts an alert for one route.
type Placement struct {
	Route string
	// Kind of notification: single, group, digest, overflow, operator.
	Kind string
	// GroupKey collects alerts into one open notification of the route
	// (empty: a notification of its own).
	GroupKey string
	// Due is when a new notification is sent.
	Due time.Time
	// MaxItems caps the alerts in one grouped notification.
	MaxItems int
}

// RouteAlert places a pending alert event into notifications, one per
// placement, in one transaction, and marks it routed (or silenced, or
// unrouted when placements is empty). Placing an alert twice is a no-op.
func (l *Ledger) RouteAlert(ctx context.Context, alertID string, now time.Time, silenceID string, placements []Placement) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("route alert %s: %w", alertID, err)
	}
	defer tx.Rollback()
	var state string
	if err := tx.QueryRowContext(ctx, `SELECT state FROM alerts WHERE id = ?`, alertID).Scan(&state); err != nil {
		return fmt.Errorf("route alert %s: %w", alertID, err)
	}
	if state != AlertPending {
		return nil
	}
	newState := AlertRouted
	switch {
	case silenceID != "":
		newState = AlertSilenced
		placements = nil
	case len(placements) == 0:
		newState = AlertUnrouted
	}
	for _, p := range placements {
		nid := ""
		if p.GroupKey != "" {
			err := tx.QueryRowContext(ctx, `SELECT n.id FROM notifications n WHERE n.route = ? AND n.group_key = ? AND n.state = 'open'
				AND (SELECT count(*) FROM notification_items i WHERE i.notification_id = n.id) < ? ORDER BY n.created LIMIT 1`,
				p.Route, p.GroupKey, max(p.MaxItems, 1)).Scan(&nid)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("route alert %s: %w", alertID, err)
			}
		}
		if nid == "" {
			nid = p.Route + "-" + p.Kind + "-" + alertID
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO notifications (id, route, kind, group_key, created, due, state)
				VALUES (?, ?, ?, ?, ?, ?, 'open')`, nid, p.Route, p.Kind, p.GroupKey, now.UnixNano(), p.Due.UnixNano()); err != nil {
				return fmt.Errorf("route alert %s: %w", alertID, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO notification_items (notification_id, alert_id) VALUES (?, ?)`, nid, alertID); err != nil {
			return fmt.Errorf("route alert %s: %w", alertID, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE alerts SET state = ?, silence_id = ? WHERE id = ?`, newState, silenceID, alertID); err != nil {
		return fmt.Errorf("route alert %s: %w", alertID, err)
	}
	return tx.Commit()
}

// RecentNotifications counts a route's notifications created since t,
// digests not included (for the per-route hourly cap).
func (l *Ledger) RecentNotifications(ctx context.Context, route string, since time.Time) (int, error) {
	var n int
	err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM notifications WHERE route = ? AND created >= ? AND kind IN ('single', 'group')`,
		route, since.UnixNano()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count notifications of %s: %w", route, err)
	}
	return n, nil
}

// Notification is one mail (or webhook post) of a route, with its alerts.
type Notification struct {
	ID           string       `json:"id"`
	Route        string       `json:"route"`
	Kind         string       `json:"kind"`
	GroupKey     string       `json:"group_key,omitempty"`
	Created      time.Time    `json:"created"`
	Due          time.Time    `json:"due"`
	State        string       `json:"state"`
	Attempts     int          `json:"attempts"`
	NextAttempt  time.Time    `json:"next_attempt"`
	FirstFailure time.Time    `json:"first_failure,omitzero"`
	LastError    string       `json:"last_error,omitempty"`
	SentAt       time.Time    `json:"sent_at,omitzero"`
	Via          string       `json:"via,omitempty"`
	Alerts       []AlertEvent `json:"alerts,omitempty"`
}

const notifCols = `id, route, kind, group_key, created, due, state, attempts, next_attempt, first_failure, last_error, sent_at, via`

func scanNotification(r interface{ Scan(...any) error }) (Notification, error) {
	var n Notification
	var created, due, next, ff, sent int64
	err := r.Scan(&n.ID, &n.Route, &n.Kind, &n.GroupKey, &created, &due, &n.State, &n.Attempts, &next, &ff, &n.LastError, &sent, &n.Via)
	n.Created, n.Due, n.NextAttempt = time.Unix(0, created).UTC(), time.Unix(0, due).UTC(), time.Unix(0, next).UTC()
	if ff > 0 {
		n.FirstFailure = time.Unix(0, ff).UTC()
	}
	if sent > 0 {
		n.SentAt = time.Unix(0, sent).UTC()
	}
	return n, err
}

// ClaimDue claims the oldest notification that is due at now: it is
// marked sending, its attempt counted, and it becomes due again only at
// now+lease (if the claimer dies mid-send, the notification is sent again
// after the lease). It returns false when nothing is due.
func (l *Ledger) ClaimDue(ctx context.Context, now time.Time, lease time.Duration) (Notification, bool, error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return Notification{}, false, fmt.Errorf("claim notification: %w", err)
	}
	defer tx.Rollback()
	n, err := scanNotification(tx.QueryRowContext(ctx, `SELECT `+notifCols+` FROM notifications
		WHERE state IN ('open', 'pending', 'sending') AND due <= ? AND next_attempt <= ? ORDER BY due, id LIMIT 1`,
		now.UnixNano(), now.UnixNano()))
	if errors.Is(err, sql.ErrNoRows) {
		return Notification{}, false, nil
	}
	if err != nil {
		return Notification{}, false, fmt.Errorf("claim notification: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE notifications SET state = 'sending', attempts = attempts + 1, next_attempt = ? WHERE id = ?`,
		now.Add(lease).UnixNano(), n.ID); err != nil {
		return Notification{}, false, fmt.Errorf("claim notification %s: %w", n.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return Notification{}, false, fmt.Errorf("claim notification %s: %w", n.ID, err)
	}
	n.State = NotifySending
	n.Attempts++
	n.Alerts, err = l.notificationAlerts(ctx, n.ID)
	return n, true, err
}

func (l *Ledger) notificationAlerts(ctx context.Context, id string) ([]AlertEvent, error) {
	return l.queryAlerts(ctx, `JOIN notification_items i ON i.alert_id = a.id WHERE i.notification_id = ? ORDER BY a.severity_rank DESC, a.created, a.id`, id)
}

// Notification returns one notification with its alerts.
func (l *Ledger) Notification(ctx context.Context, id string) (Notification, error) {
	n, err := scanNotification(l.db.QueryRowContext(ctx, `SELECT `+notifCols+` FROM notifications WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return n, fmt.Errorf("notification %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return n, fmt.Errorf("notification %s: %w", id, err)
	}
	n.Alerts, err = l.notificationAlerts(ctx, id)
	return n, err
}

// Notifications lists notifications, newest first; state filters when set.
func (l *Ledger) Notifications(ctx context.Context, state string, limit int) ([]Notification, error) {
	q := `SELECT ` + notifCols + ` FROM notifications`
	args := []any{}
	if state != "" {
		q += ` WHERE state = ?`
		args = append(args, state)
	}
	q += ` ORDER BY created DESC, id LIMIT ?`
	rows, err := l.db.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, fmt.Errorf("list notifications: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// MarkSent records a delivered notification. Call it only after the
// sender reported success.
func (l *Ledger) MarkSent(ctx context.Context, id string, at time.Time, via string) error {
	if _, err := l.db.ExecContext(ctx, `UPDATE notifications SET state = 'sent', sent_at = ?, via = ?, last_error = '' WHERE id = ?`,
		at.UnixNano(), via, id); err != nil {
		return fmt.Errorf("mark notification %s sent: %w", id, err)
	}
	return nil
}

// MarkFailed records a failed attempt and when to try again. It returns
// the time of the first failure of the current streak.
func (l *Ledger) MarkFailed(ctx context.Context, id string, cause error, now, next time.Time) (time.Time, error) {
	if _, err := l.db.ExecContext(ctx, `UPDATE notifications SET state = 'pending', last_error = ?, next_attempt = ?,
		first_failure = CASE WHEN first_failure = 0 THEN ? ELSE first_failure END WHERE id = ?`,
		cause.Error(), next.UnixNano(), now.UnixNano(), id); err != nil {
		return time.Time{}, fmt.Errorf("mark notification %s failed: %w", id, err)
	}
	var ff int64
	if err := l.db.QueryRowContext(ctx, `SELECT first_failure FROM notifications WHERE id = ?`, id).Scan(&ff); err != nil {
		return time.Time{}, fmt.Errorf("mark notification %s failed: %w", id, err)
	}
	return time.Unix(0, ff).UTC(), nil
}

// RetryNow makes every notification of routes that failed and waits out
// its backoff due at now, for a channel that delivers again after an
// outage. Attempts and the first failure are kept: a notification that
// fails again backs off further and still becomes a dead letter in time.
// It returns how many it brought forward.
func (l *Ledger) RetryNow(ctx context.Context, routes []string, now time.Time) (int, error) {
	if len(routes) == 0 {
		return 0, nil
	}
	args := []any{now.UnixNano(), now.UnixNano(), now.UnixNano()}
	for _, r := range routes {
		args = append(args, r)
	}
	res, err := l.db.ExecContext(ctx, `UPDATE notifications SET next_attempt = ?
		WHERE state = 'pending' AND first_failure > 0 AND next_attempt > ? AND due <= ?
		AND route IN (?`+strings.Repeat(", ?", len(routes)-1)+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("retry failed notifications now: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("retry failed notifications now: %w", err)
	}
	return int(n), nil
}

// MarkDead moves a notification to the dead-letter state.
func (l *Ledger) MarkDead(ctx context.Context, id string, cause error) error {
	if _, err := l.db.ExecContext(ctx, `UPDATE notifications SET state = 'dead', last_error = ? WHERE id = ?`, cause.Error(), id); err != nil {
		return fmt.Errorf("mark notification %s dead: %w", id, err)
	}
	return nil
}

// Resend puts a notification back to be delivered now (an operator's
// explicit wish, also for dead letters). It keeps its id, so the mail
// carries the same Message-ID.
func (l *Ledger) Resend(ctx context.Context, id string, now time.Time) error {
	r, err := l.db.ExecContext(ctx, `UPDATE notifications SET state = 'pending', next_attempt = 0, due = min(due, ?), first_failure = 0 WHERE id = ?`,
		now.UnixNano(), id)
	if err != nil {
		return fmt.Errorf("resend notification %s: %w", id, err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return fmt.Errorf("resend notification %s: %w", id, ErrNotFound)
	}
	return nil
}

// PendingAlertCount returns how many alert events or notifications wait
// for delivery.
func (l *Ledger) PendingAlertCount(ctx context.Context) (int, error) {
	var a, n int
	if err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM alerts WHERE state = 'pending'`).Scan(&a); err != nil {
		return 0, err
	}
	if err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM notifications WHERE state IN ('open', 'pending', 'sending')`).Scan(&n); err != nil {
		return 0, err
	}
	return a + n, nil
}

// Silence mutes alerts matching every non-empty field until Expires.
type Silence struct {
	ID       string    `json:"id"`
	Author   string    `json:"author,omitempty"`
	Site     string    `json:"site,omitempty"`
	Target   string    `json:"target,omitempty"`
	SourceID string    `json:"source_id,omitempty"`
	Category string    `json:"category,omitempty"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	Comment  string    `json:"comment,omitempty"`
}

// Matches reports whether s mutes an alert about m at time t.
func (s Silence) Matches(m *mention.Mention, t time.Time) bool {
	if m == nil || !t.Before(s.Expires) {
		return false
	}
	if s.Author != "" && !strings.EqualFold(s.Author, m.Author) {
		return false
	}
	if s.Site != "" && s.Site != m.Site {
		return false
	}
	if s.SourceID != "" && s.SourceID != m.SourceID {
		return false
	}
	if s.Target != "" && !slices.Contains(m.Targets, s.Target) {
		return false
	}
	if s.Category != "" && !slices.Contains(m.Categories, s.Category) {
		return false
	}
	return s.Author != "" || s.Site != "" || s.SourceID != "" || s.Target != "" || s.Category != ""
}

// AddSilence stores a silence.
func (l *Ledger) AddSilence(ctx context.Context, s Silence) error {
	if _, err := l.db.ExecContext(ctx, `INSERT INTO silences (id, author, site, target, source_id, category, created, expires, comment)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, s.ID, s.Author, s.Site, s.Target, s.SourceID, s.Category,
		s.Created.UnixNano(), s.Expires.UnixNano(), s.Comment); err != nil {
		return fmt.Errorf("add silence %s: %w", s.ID, err)
	}
	return nil
}

// ExpireSilence ends a silence at now.
func (l *Ledger) ExpireSilence(ctx context.Context, id string, now time.Time) error {
	r, err := l.db.ExecContext(ctx, `UPDATE silences SET expires = ? WHERE id = ? AND expires > ?`, now.UnixNano(), id, now.UnixNano())
	if err != nil {
		return fmt.Errorf("expire silence %s: %w", id, err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return fmt.Errorf("expire silence %s: no active silence with that id: %w", id, ErrNotFound)
	}
	return nil
}

// Silences returns the silences active at now (all when now is zero).
func (l *Ledger) Silences(ctx context.Context, now time.Time) ([]Silence, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT id, author, site, target, source_id, category, created, expires, comment
		FROM silences WHERE expires > ? ORDER BY created`, now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("list silences: %w", err)
	}
	defer rows.Close()
	var out []Silence
	for rows.Next() {
		var s Silence
		var c, e int64
		if err := rows.Scan(&s.ID, &s.Author, &s.Site, &s.Target, &s.SourceID, &s.Category, &c, &e, &s.Comment); err != nil {
			return nil, fmt.Errorf("list silences: %w", err)
		}
		s.Created, s.Expires = time.Unix(0, c).UTC(), time.Unix(0, e).UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}

// MentionCounts returns, per target, how many mentions were first seen in
// [from, to).
func (l *Ledger) MentionCounts(ctx context.Context, from, to time.Time) (map[string]int, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT j.value, count(*) FROM mentions, json_each(mentions.targets) j
		WHERE mentions.first_seen >= ? AND mentions.first_seen < ? GROUP BY j.value`, from.UnixNano(), to.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("count mentions per target: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var t string
		var n int
		if err := rows.Scan(&t, &n); err != nil {
			return nil, err
		}
		out[t] = n
	}
	return out, rows.Err()
}

func decodeMention(doc string) (mention.Mention, error) {
	var m mention.Mention
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		return m, fmt.Errorf("decode mention: %w", err)
	}
	return m, nil
}

// ReleaseGroups makes open grouped notifications due at now, for one-shot
// runs and shutdown, which do not wait for a group window to end.
func (l *Ledger) ReleaseGroups(ctx context.Context, now time.Time) error {
	if _, err := l.db.ExecContext(ctx, `UPDATE notifications SET due = ? WHERE state = 'open' AND kind = 'group' AND due > ?`,
		now.UnixNano(), now.UnixNano()); err != nil {
		return fmt.Errorf("release grouped notifications: %w", err)
	}
	return nil
}
