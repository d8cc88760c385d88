package monitor

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"mimamori/evidence"
	"mimamori/ledger"
	"mimamori/mention"
)

// Detector decides on one text (detect.Detector).
type Detector interface {
	Detect(text string) mention.Verdict
}

// Capturer writes an evidence bundle (evidence.Store).
type Capturer interface {
	CaptureWith(ctx context.Context, m mention.Mention, f *mention.Fetch, o evidence.CaptureOptions) (evidence.Result, error)
	// ExistingCapture finds a bundle already stored for this version of
	// the mention (a capture whose ledger commit failed).
	ExistingCapture(m mention.Mention) (mention.EvidenceRef, bool)
}

var _ Capturer = (*evidence.Store)(nil)

// PageFetcher fetches one page of a source for evidence under its
// source's fetch rules (the Crawler).
type PageFetcher interface {
	FetchPage(ctx context.Context, sourceID, link string) (*mention.Fetch, error)
}

// Summary counts what one batch of posts became.
type Summary struct {
	Posts     int
	Unchanged int
	Created   int
	Updated   int
	Alerts    int
	Errors    int
	// Deferred counts posts not accepted because the index spool is full.
	Deferred int
}

func (s *Summary) add(o Summary) {
	s.Posts += o.Posts
	s.Unchanged += o.Unchanged
	s.Created += o.Created
	s.Updated += o.Updated
	s.Alerts += o.Alerts
	s.Errors += o.Errors
	s.Deferred += o.Deferred
}

// Pipeline takes posts from a crawler to the ledger: detect, capture
// evidence for alertable posts, accept (mention + index job + pending
// alert in one transaction).
type Pipeline struct {
	ledger      *ledger.Ledger
	detector    Detector
	evidence    Capturer
	minSeverity mention.Severity
	sites       map[string]string
	needsJS     map[string]bool
	// ownPages marks the sources whose posts are published on pages of
	// their own (feeds, APIs): an alertable post's evidence is its own
	// page, fetched through pages, with the listing as a second record.
	ownPages map[string]bool
	pages    PageFetcher
	kinds    map[string]mention.TargetKind
	log      *zap.Logger
	now      func() time.Time
	onAlert  func()
	onAccept func()
	// spoolMax caps the index spool in bytes (0: no cap). Over the cap,
	// only alertable posts are accepted; the others are deferred to a later
	// pass (they are still on the site, and nothing accepted is dropped).
	spoolMax int64
	// evidenceFull and ledgerFull track a full evidence or data disk: such
	// failures are counted and summarised there, not logged per post.
	// Nil: no tracking (every failure is logged).
	evidenceFull *diskFullState
	ledgerFull   *diskFullState
}

// AnalyzedText is the text the detector sees and the mention stores:
// the title and the body, so offsets of matches point into Mention.Text.
func AnalyzedText(p mention.Post) string {
	title, text := strings.TrimSpace(p.Title), strings.TrimSpace(p.Text)
	if title == "" || strings.HasPrefix(text, title) {
		return text
	}
	return title + "\n" + text
}

// Process runs the pipeline over posts of one source. A post that fails is
// logged and counted; the others go on.
func (p *Pipeline) Process(ctx context.Context, sourceID string, posts []mention.Post) Summary {
	var sum Summary
	full := false
	if p.spoolMax > 0 {
		if b, err := p.ledger.IndexBacklog(ctx); err == nil && b.Bytes >= p.spoolMax {
			full = true
			p.log.Error("index spool full: only alertable posts are accepted until the index catches up",
				zap.String("source", sourceID), zap.Int64("spool_bytes", b.Bytes), zap.Int64("spool_max_bytes", p.spoolMax),
				zap.Int("spool_jobs", b.Jobs), zap.Time("oldest", b.Oldest))
		}
	}
	for _, post := range posts {
		sum.Posts++
		o, err := p.one(ctx, sourceID, post, full)
		if err != nil {
			sum.Errors++
			if p.ledgerFull != nil && isDiskFull(err) {
				p.ledgerFull.fail("process post", err)
				p.log.Debug("process post: disk full", zap.String("source", sourceID), zap.String("permalink", post.Permalink), zap.Error(err))
				continue
			}
			p.log.Error("process post", zap.String("source", sourceID), zap.String("permalink", post.Permalink), zap.Error(err))
			continue
		}
		p.ledgerFull.ok()
		sum.add(o)
	}
	return sum
}

func (p *Pipeline) one(ctx context.Context, sourceID string, post mention.Post, spoolFull bool) (Summary, error) {
	now := p.now().UTC()
	if post.SourceID == "" {
		post.SourceID = sourceID
	}
	if post.Permalink == "" {
		return Summary{}, fmt.Errorf("post without permalink")
	}
	text := AnalyzedText(post)
	id := mention.ID(post.SourceID, post.Permalink)
	hash := mention.ContentHash(post.Title, text, post.Author)
	known, version, err := p.ledger.Known(ctx, id)
	if err != nil {
		return Summary{}, err
	}
	if known == hash {
		return Summary{Unchanged: 1}, p.ledger.Touch(ctx, id, now)
	}
	v := p.detector.Detect(text)
	m := mention.Mention{
		ID: id, SourceID: post.SourceID, Site: p.site(post), URL: post.Permalink, Author: post.Author,
		Title: post.Title, Text: text, Published: post.Published.UTC(), FirstSeen: now, LastSeen: now,
		Version: version + 1, ContentHash: hash,
		Alert: v.Alert, Severity: v.Severity, Score: v.Score, Categories: v.Categories, Targets: v.Targets,
		Matches: v.Matches, Explanation: v.Explanation, Status: mention.StatusNew,
	}
	m.TargetKinds = p.kindsOf(v.Targets)
	if m.Severity == "" {
		m.Severity = mention.SeverityInfo
	}
	alertable := v.Alert && m.Severity.Rank() >= p.minSeverity.Rank()
	if spoolFull && !alertable {
		return Summary{Deferred: 1}, nil
	}
	var captureErr error
	var existing *mention.EvidenceRef
	if alertable {
		if ref, ok := p.evidence.ExistingCapture(m); ok {
			existing = &ref
		}
	}
	if existing != nil {
		// A bundle of this very version is stored already: a pass whose
		// ledger commit failed after the capture. Link it; never a second.
		m.Evidence = existing
		p.log.Info("evidence bundle of an earlier, uncommitted pass linked instead of capturing again",
			zap.String("mention", id), zap.String("bundle", existing.BundleID))
	} else if alertable {
		opts := evidence.CaptureOptions{NeedsJS: p.needsJS[post.SourceID]}
		if version > 0 { // an edit: link the new capture to the first one
			if prev, err := p.ledger.Mention(ctx, id); err == nil && prev.Evidence != nil {
				opts.Subject = prev.Evidence.BundleID
			}
		}
		primary := post.Fetch
		if p.ownPages[post.SourceID] && p.pages != nil && post.Fetch != nil {
			primary = p.postPage(ctx, post, text, &opts)
		}
		if primary != nil {
			opts.TLSPeerCertificates = primary.TLSPeerCertificates
		}
		res, err := p.evidence.CaptureWith(ctx, m, primary, opts)
		captureErr = err
		switch {
		case err != nil && p.evidenceFull != nil && isDiskFull(err):
			// Expected while the disk is full: counted and summarised by
			// the state, not logged per post. The alert still goes out.
			p.evidenceFull.fail("capture evidence", err)
			p.log.Debug("capture evidence: disk full", zap.String("mention", id), zap.String("url", post.Permalink), zap.Error(err))
		case err != nil:
			// The alert still goes out, saying capture failed: a lost alert
			// is worse than an alert without a bundle.
			p.log.Error("capture evidence", zap.String("mention", id), zap.String("url", post.Permalink),
				zap.Bool("disk_full", errors.Is(err, evidence.ErrDiskFull)), zap.Error(err))
		default:
			p.evidenceFull.ok()
			m.Evidence = &res.Ref
			for _, msg := range res.Messages() {
				p.log.Warn("evidence incomplete", zap.String("mention", id), zap.String("detail", msg))
			}
		}
	}
	res, err := p.ledger.Accept(ctx, m, alertable)
	if err != nil {
		return Summary{}, err
	}
	if captureErr != nil && res.Outcome != ledger.Unchanged {
		// The alert goes out saying evidence is not secured yet; the
		// capture is tried again while the post is reachable.
		p.queueCapture(ctx, m, post.Fetch, captureErr)
	}
	var s Summary
	switch res.Outcome {
	case ledger.Created:
		s.Created = 1
	case ledger.Updated:
		s.Updated = 1
	case ledger.Unchanged:
		s.Unchanged = 1
	}
	if p.onAccept != nil {
		p.onAccept()
	}
	if res.Alerted {
		s.Alerts = 1
		p.log.Info("alert queued", zap.String("mention", id), zap.String("url", post.Permalink),
			zap.String("severity", string(m.Severity)), zap.Strings("categories", m.Categories), zap.Strings("targets", m.Targets))
		if p.onAlert != nil {
			p.onAlert()
		}
	}
	return s, nil
}

// postPage fetches the post's own page (its permalink) for a post read
// from a listing (a feed, an API answer) and returns the exchange to
// capture first: the page when it answered 2xx and shows the post's text,
// else the listing. opts records the listing as a second record, what the
// permalink answered, and why it is not the primary capture.
func (p *Pipeline) postPage(ctx context.Context, post mention.Post, text string, opts *evidence.CaptureOptions) *mention.Fetch {
	listing := post.Fetch
	pc := &evidence.PermalinkCapture{URL: post.Permalink}
	opts.Permalink = pc
	page, err := p.pages.FetchPage(ctx, post.SourceID, post.Permalink)
	if err != nil {
		pc.Status, pc.Reason = evidence.PermalinkNotCaptured, "not fetched: "+err.Error()
		p.log.Warn("post's own page not fetched; the listing is the evidence", zap.String("url", post.Permalink), zap.Error(err))
		return listing
	}
	pc.StatusCode = page.StatusCode
	if page.StatusCode < 200 || page.StatusCode > 299 {
		pc.Status, pc.Reason = evidence.PermalinkNotCaptured, fmt.Sprintf("the page answered HTTP %d", page.StatusCode)
		opts.PermalinkAnswer = page
		p.log.Warn("post's own page answered an error; the listing is the evidence and the answer is kept",
			zap.String("url", post.Permalink), zap.Int("status", page.StatusCode))
		return listing
	}
	found := showsPost(page, text) || evidence.PageShows(page, post.Text)
	pc.TextFound = &found
	if !found {
		pc.Status = evidence.PermalinkNotCaptured
		pc.Reason = "the page does not show the post's text (a login or cookie wall, or a changed page); it is kept as a record"
		opts.PermalinkAnswer = page
		p.log.Warn("post's own page does not show the post; the listing is the evidence and the page is kept",
			zap.String("url", post.Permalink))
		return listing
	}
	pc.Status = evidence.PermalinkCaptured
	opts.Listing = listing
	return page
}

func (p *Pipeline) site(post mention.Post) string {
	if s := p.sites[post.SourceID]; s != "" {
		return s
	}
	if u, err := url.Parse(post.Permalink); err == nil {
		return u.Host
	}
	return post.SourceID
}

func (p *Pipeline) kindsOf(targets []string) []string {
	var out []string
	seen := map[mention.TargetKind]bool{}
	for _, t := range targets {
		if k, ok := p.kinds[t]; ok && !seen[k] {
			seen[k] = true
			out = append(out, string(k))
		}
	}
	return out
}
