package monitor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"mimamori/crawler"
	"mimamori/evidence"
	"mimamori/ledger"
	"mimamori/mention"
)

// captureRetryBackoff is the wait before attempt n+1 of a queued capture:
// 1 min doubling to 1 h.
func captureRetryBackoff(attempts int) time.Duration {
	d := time.Minute
	for i := 1; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// queueCapture records a failed capture of an alerted post, to be tried
// again while the post is reachable (RetryCaptures).
func (p *Pipeline) queueCapture(ctx context.Context, m mention.Mention, f *mention.Fetch, cause error) {
	page := m.URL
	if f != nil && f.FinalURL != "" {
		page = f.FinalURL
	}
	now := p.now().UTC()
	r := ledger.CaptureRetry{MentionID: m.ID, Version: m.Version, SourceID: m.SourceID, URL: m.URL, Page: page, Since: now,
		Attempts: 1, NextAttempt: now.Add(captureRetryBackoff(1)), LastError: cause.Error()}
	if err := p.ledger.QueueCapture(ctx, r); err != nil {
		p.log.Error("queue the failed capture for a retry", zap.String("mention", m.ID), zap.Error(err))
	}
}

// RetryReport says what RetryCaptures did.
type CaptureRetryReport struct {
	Stored, Waiting, Gone, Dropped int
}

// RetryCaptures tries again, for every queued capture that is due, to
// capture the alerted post: it fetches the page again under the source's
// rules (the post's own page for a feed or API post, else the page it was
// read from), checks the post is still on it, stores the bundle, links it
// to the mention and tells the legal team (an evidence_secured alert, in
// the same ledger transaction). A post found deleted is no longer tried;
// one edited since, or past window, is dropped (an edit is captured by the
// crawler's own pass).
func (p *Pipeline) RetryCaptures(ctx context.Context, window time.Duration) (CaptureRetryReport, error) {
	var rep CaptureRetryReport
	qs, err := p.ledger.CaptureRetries(ctx)
	if err != nil {
		return rep, err
	}
	now := p.now().UTC()
	for _, q := range qs {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		if q.Gone != "" {
			rep.Gone++
			continue
		}
		mn, err := p.ledger.Mention(ctx, q.MentionID)
		switch {
		case errors.Is(err, ledger.ErrNotFound), err == nil && (mn.Version != q.Version || mn.Evidence != nil):
			p.ledger.DropCapture(ctx, q.MentionID)
			rep.Dropped++
			continue
		case err != nil:
			return rep, err
		case window > 0 && now.Sub(q.Since) > window:
			p.log.Warn("queued capture given up: the post could not be captured within the retry window",
				zap.String("mention", q.MentionID), zap.String("url", q.URL), zap.Duration("window", window), zap.String("last_error", q.LastError))
			p.ledger.DropCapture(ctx, q.MentionID)
			rep.Dropped++
			continue
		case now.Before(q.NextAttempt):
			rep.Waiting++
			continue
		}
		stored, gone, cause := p.retryOne(ctx, mn, q)
		switch {
		case stored:
			rep.Stored++
		case gone != "":
			q.Gone, q.LastError = gone, gone
			p.ledger.QueueCapture(ctx, q)
			rep.Gone++
			p.log.Warn("queued capture: the post is gone; it was alerted without evidence", zap.String("mention", q.MentionID),
				zap.String("url", q.URL), zap.String("why", gone))
		default:
			q.Attempts++
			q.LastError = cause.Error()
			q.NextAttempt = now.Add(captureRetryBackoff(q.Attempts))
			p.ledger.QueueCapture(ctx, q)
			rep.Waiting++
			if p.evidenceFull != nil && isDiskFull(cause) {
				p.evidenceFull.fail("retry capture", cause)
			} else {
				p.log.Warn("queued capture failed again; will retry", zap.String("mention", q.MentionID), zap.String("url", q.URL),
					zap.Int("attempts", q.Attempts), zap.Time("next_attempt", q.NextAttempt), zap.Error(cause))
			}
		}
	}
	return rep, nil
}

// retryOne makes one attempt; it returns stored, or why the post is gone,
// or the error that leaves it queued.
func (p *Pipeline) retryOne(ctx context.Context, mn mention.Mention, q ledger.CaptureRetry) (bool, string, error) {
	if p.pages == nil {
		return false, "", errors.New("no crawler to fetch the page with")
	}
	own := p.ownPages[mn.SourceID]
	link := q.Page
	if own {
		link = mn.URL
	}
	page, err := p.pages.FetchPage(ctx, mn.SourceID, link)
	if err != nil {
		if errors.Is(err, crawler.ErrNotAPage) {
			return false, "", fmt.Errorf("retry capture of %s: %w", mn.ID, err)
		}
		return false, "", fmt.Errorf("retry capture of %s: fetch %s: %w", mn.ID, link, err)
	}
	if deleted, why := evidence.LooksDeleted(page.StatusCode, page.Header, page.Body, mn.Text); deleted {
		return false, fmt.Sprintf("%s answered: %s", link, why), nil
	}
	if page.StatusCode < 200 || page.StatusCode > 299 {
		return false, "", fmt.Errorf("retry capture of %s: %s answered HTTP %d", mn.ID, link, page.StatusCode)
	}
	if !showsPost(page, mn.Text) {
		return false, "", fmt.Errorf("retry capture of %s: %s does not show the post now", mn.ID, link)
	}
	opts := evidence.CaptureOptions{NeedsJS: p.needsJS[mn.SourceID], TLSPeerCertificates: page.TLSPeerCertificates}
	if own {
		found := true
		opts.Permalink = &evidence.PermalinkCapture{URL: mn.URL, Status: evidence.PermalinkCaptured, StatusCode: page.StatusCode, TextFound: &found}
	}
	res, err := p.evidence.CaptureWith(ctx, mn, page, opts)
	if err != nil {
		return false, "", err
	}
	p.evidenceFull.ok()
	linked, err := p.ledger.SetEvidence(ctx, mn.ID, mn.Version, res.Ref, p.now().UTC())
	if err != nil {
		// The bundle is stored; the next attempt links it (ExistingCapture).
		return false, "", fmt.Errorf("retry capture of %s: link bundle %s: %w", mn.ID, res.Ref.BundleID, err)
	}
	if linked {
		p.log.Info("evidence secured late for an alerted post; the legal team is told", zap.String("mention", mn.ID),
			zap.String("url", mn.URL), zap.String("bundle", res.Ref.BundleID), zap.Time("first_failure", q.Since))
		if p.onAlert != nil {
			p.onAlert()
		}
		if p.onAccept != nil {
			p.onAccept()
		}
	}
	return linked, "", nil
}

// showsPost reports whether page shows the post's text: all of it, or one
// of its lines (a title and a body are apart on an article page).
func showsPost(page *mention.Fetch, text string) bool {
	if evidence.PageShows(page, text) {
		return true
	}
	for _, line := range strings.Split(text, "\n") {
		if utf8.RuneCountInString(strings.TrimSpace(line)) >= 8 && evidence.PageShows(page, line) {
			return true
		}
	}
	return false
}
