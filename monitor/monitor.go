// Package monitor wires mimamori's stages into the running pipeline —
// scheduler, crawler, detector, evidence, ledger, index and alerts — and
// owns the daemon's lifecycle. It is embeddable: the command line, the demo
// and the end-to-end tests all run this same code.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"mimamori/alert"
	"mimamori/config"
	"mimamori/crawler"
	"mimamori/evidence"
	"mimamori/index"
	"mimamori/internal/jst"
	"mimamori/ledger"
	"mimamori/mention"
)

// Version is the program version recorded in evidence manifests.
var Version = "0.1.0-dev"

// HandleFunc receives the posts of one source pass (and its error, if any;
// posts gathered before an error are still delivered).
// It returns nil only when every post was durably accepted; then the
// crawler saves the pass's crawl state (cursors, last post read, ETags).
type HandleFunc func(ctx context.Context, sourceID string, posts []mention.Post, err error) error

// Crawler runs the configured sources.
type Crawler interface {
	// RunOnce runs every source once and returns.
	RunOnce(ctx context.Context, handle HandleFunc) error
	// Run runs every source on its schedule until ctx is cancelled and
	// in-flight passes finished.
	Run(ctx context.Context, handle HandleFunc) error
	// Boost makes a source run more often until the given time.
	Boost(sourceID string, until time.Time)
	// FetchPage fetches one page of a source for evidence (a feed post's
	// own page, or the page of a capture being retried) under the
	// source's fetch rules (crawler.Source's FetchPage);
	// crawler.ErrNotAPage for a browser source.
	FetchPage(ctx context.Context, sourceID, link string) (*mention.Fetch, error)
}

// StoreOpener opens the search index for a config (embedded or
// Elasticsearch).
type StoreOpener func(ctx context.Context, cfg config.Config, log *zap.Logger) (index.DaemonStore, error)

// Options are a monitor's dependencies.
type Options struct {
	Config   config.Config
	Log      *zap.Logger
	Detector Detector
	Crawler  Crawler
	// NewCrawler builds the crawler once the ledger and the metrics
	// exist, when Crawler is nil.
	NewCrawler func(deps crawler.Options) (Crawler, error)
	// Store is the search index (nil: none). Alert claiming
	// (index.AlertClaimer) and upkeep (index.Maintainer) are used when the
	// store has them; New logs which it lacks.
	Store index.DaemonStore
	// Sender overrides the alert sender chosen from the config.
	Sender alert.Sender
	// Renderer is the alert renderer (Prepare's); nil builds it from the
	// config.
	Renderer *alert.Renderer
	Now      func() time.Time
}

// Monitor is the running pipeline.
type Monitor struct {
	cfg        config.Config
	log        *zap.Logger
	ledger     *ledger.Ledger
	store      index.DaemonStore
	maintainer index.Maintainer // nil: the store has no upkeep
	crawler    Crawler
	pipeline   *Pipeline
	indexer    *Indexer
	router     *alert.Router
	dispatcher *alert.Dispatcher
	sender     alert.Sender
	now        func() time.Time
	wake       chan struct{}
	evidence   *evidence.Store

	metrics *metrics

	// stopTimeout bounds the workers' stop (0: DefaultStopTimeout);
	// restartBackoff is the first wait before restarting a worker after
	// a panic (0: 1 s), doubling up to 30 times that.
	stopTimeout    time.Duration
	restartBackoff time.Duration
	// anchorTimeout bounds the chain head anchor at shutdown (0:
	// ShutdownAnchorTimeout).
	anchorTimeout time.Duration

	// evidenceFull and ledgerFull track a full evidence or data disk
	// (logged on change and summarised, not per failure).
	evidenceFull *diskFullState
	ledgerFull   *diskFullState

	lastSpikeCheck time.Time // only the alert loop (or Flush, not concurrently with it) touches it

	mu      sync.Mutex
	summary Summary
	closers []func() error
}

// New opens the ledger and wires the stages. The caller owns opts.Store
// until New succeeds; then Close closes it.
func New(opts Options) (*Monitor, error) {
	cfg := opts.Config
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	l, err := ledger.OpenDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	m := &Monitor{cfg: cfg, log: log, ledger: l, store: opts.Store, crawler: opts.Crawler, metrics: newMetrics(l),
		now: now, wake: make(chan struct{}, 1)}
	m.closers = append(m.closers, l.Close)
	if m.crawler == nil && opts.NewCrawler != nil {
		cr, err := opts.NewCrawler(crawler.Options{Logger: log, State: l, Registerer: m.metrics.reg,
			OnFailing: m.sourceFailing, OnRecovered: m.sourceRecovered, Now: now})
		if err != nil {
			l.Close()
			return nil, err
		}
		m.crawler = cr
	}
	if opts.Store != nil {
		m.closers = append(m.closers, opts.Store.Close)
	}
	ev, err := evidence.OpenFromConfig(cfg, "mimamori "+Version, log.Named("evidence"))
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("open evidence store: %w", err)
	}
	m.evidence = ev
	if !cfg.Evidence.DisableRender {
		if err := evidence.CheckChromium(cfg.Evidence.ChromiumPath); err != nil {
			log.Warn("Chromium unavailable: evidence bundles are stored without screenshot and PDF until it is installed; rendering is retried",
				zap.Error(err))
		}
	}
	targets := map[string]mention.Target{}
	kinds := map[string]mention.TargetKind{}
	for _, t := range cfg.Targets {
		targets[t.ID] = t
		kinds[t.ID] = t.Kind
	}
	sender := opts.Sender
	if sender == nil {
		if cfg.SMTP.Host != "" {
			sender = alert.NewSMTPSender(cfg.SMTP)
		} else {
			sender = alert.NewFileOutbox(cfg.OutboxDir())
		}
	}
	m.sender = sender
	r := opts.Renderer
	if r == nil {
		if r, err = alert.NewRenderer(cfg); err != nil {
			l.Close()
			return nil, fmt.Errorf("load alert templates: %w", err)
		}
	}
	esc := cfg.Alert.Escalation
	l.SetPolicy(ledger.Policy{PersistentWindow: esc.PersistentWindow, PersistentThreshold: esc.PersistentThreshold,
		AnonymousAuthors: esc.AnonymousAuthors})
	m.router = alert.NewRouter(l, cfg.Alert, targets, now, log)
	if opts.Store != nil {
		m.useOptionalCapabilities(opts.Store)
	}
	m.dispatcher = alert.NewDispatcher(l, r, sender, cfg.Alert, targets, now, log, testHooks(log.Named("alert"))...)
	if opts.Store != nil {
		m.indexer = NewIndexer(l, opts.Store, log)
	}
	sites := map[string]string{}
	needsJS := map[string]bool{}
	ownPages := map[string]bool{}
	for _, s := range cfg.Sources {
		sites[s.ID] = s.Site
		needsJS[s.ID] = s.Kind == "browser"
		ownPages[s.ID] = crawler.HasOwnPages(s.Kind) && !s.ListingEvidence
	}
	m.evidenceFull = newDiskFullState("evidence", log, now, m.metrics)
	m.ledgerFull = newDiskFullState("ledger", log, now, m.metrics)
	m.pipeline = &Pipeline{ledger: l, detector: opts.Detector, evidence: m.evidence, minSeverity: cfg.Alert.MinSeverity,
		sites: sites, needsJS: needsJS, ownPages: ownPages, kinds: kinds, log: log.Named("pipeline"), now: now, onAlert: m.wakeAlerts,
		evidenceFull: m.evidenceFull, ledgerFull: m.ledgerFull}
	if m.crawler != nil {
		m.pipeline.pages = m.crawler
	}
	if m.indexer != nil {
		m.pipeline.onAccept = m.indexer.Wake
	}
	if cfg.Index.Backend == config.BackendElasticsearch {
		m.pipeline.spoolMax = cfg.Index.Elasticsearch.SpoolMaxBytes
	}
	return m, nil
}

// Ledger exposes the ledger (for commands and tests).
func (m *Monitor) Ledger() *ledger.Ledger { return m.ledger }

// Sender returns where alerts go.
func (m *Monitor) Sender() alert.Sender { return m.sender }

// EvidenceDir returns the evidence root.
func (m *Monitor) EvidenceDir() string { return m.evidence.Root() }

// Summary returns what the monitor processed so far.
func (m *Monitor) Summary() Summary {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.summary
}

// handle is the crawler callback: process what a pass brought, even when
// the pass failed part-way, and log the failure with the source named.
func (m *Monitor) handle(ctx context.Context, sourceID string, posts []mention.Post, err error) error {
	// Posts already fetched are processed even during shutdown.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	s := m.pipeline.Process(pctx, sourceID, posts)
	m.mu.Lock()
	m.summary.add(s)
	m.mu.Unlock()
	m.metrics.observe(sourceID, s, err)
	if err != nil && !errors.Is(err, context.Canceled) {
		m.log.Error("source pass failed", zap.String("source", sourceID), zap.Int("posts_kept", len(posts)), zap.Error(err))
	}
	m.log.Info("source pass done", zap.String("source", sourceID), zap.Int("posts", s.Posts), zap.Int("new", s.Created),
		zap.Int("edited", s.Updated), zap.Int("unchanged", s.Unchanged), zap.Int("alerts", s.Alerts), zap.Int("errors", s.Errors), zap.Int("deferred", s.Deferred))
	if s.Alerts > 0 && m.crawler != nil {
		m.crawler.Boost(sourceID, m.now().Add(time.Hour))
	}
	if s.Errors > 0 || s.Deferred > 0 {
		return fmt.Errorf("source %s: %d of %d posts not accepted (%d errors, %d deferred)", sourceID, s.Errors+s.Deferred, len(posts), s.Errors, s.Deferred)
	}
	return nil
}

// sourceFailing is the crawler's OnFailing hook: a source broken for
// alert_after (a site redesign, a revoked token) is an operator alert.
func (m *Monitor) sourceFailing(sourceID string, since time.Time, lastErr error) {
	m.log.Error("source failing: operator alert", zap.String("source", sourceID), zap.Time("since", since), zap.Error(lastErr))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := m.now()
	title := fmt.Sprintf("ソース %s が %s から失敗し続けています / source failing since %s", sourceID,
		since.In(jst.Zone).Format("2006-01-02 15:04 JST"), since.UTC().Format(time.RFC3339))
	detail := fmt.Sprintf("source: %s\nlast error: %v\n\nサイトの改修、認証情報の失効、ブロックなどが考えられます。"+
		"この間の投稿は収集されていません。設定を確認し、mimamori crawl --once で確認してください。", sourceID, lastErr)
	if err := alert.OperatorAlert(ctx, m.ledger, "source-failing:"+sourceID, title, detail, now, 24*time.Hour); err != nil {
		m.log.Error("raise operator alert", zap.String("source", sourceID), zap.Error(err))
	}
	m.wakeAlerts()
}

// sourceRecovered is the crawler's OnRecovered hook.
func (m *Monitor) sourceRecovered(sourceID string, since time.Time) {
	m.log.Info("source recovered", zap.String("source", sourceID), zap.Time("failing_since", since))
}

// Once crawls every source once, indexes what was accepted and delivers
// due alerts. Sources that failed do not stop the others; their errors are
// returned (joined) after everything else was delivered.
func (m *Monitor) Once(ctx context.Context) (Summary, error) {
	var crawlErr error
	if m.crawler != nil {
		crawlErr = m.crawler.RunOnce(ctx, m.handle)
	}
	// Captures queued by earlier runs that are due: a deployment that runs
	// "crawl --once" from cron retries them once per run.
	if rep, err := m.RetryCaptures(ctx); err != nil && ctx.Err() == nil {
		m.log.Warn("retry failed captures", zap.Error(err))
	} else if rep.Stored > 0 {
		m.log.Info("failed captures retried", zap.Int("stored", rep.Stored), zap.Int("waiting", rep.Waiting))
	}
	if err := m.Flush(ctx); err != nil {
		return m.Summary(), errors.Join(err, crawlErr)
	}
	if crawlErr != nil {
		return m.Summary(), fmt.Errorf("some sources failed: %w", crawlErr)
	}
	return m.Summary(), nil
}

// Flush indexes the spool and delivers due alerts once. Failures are
// logged, not returned, when the work stays safely queued.
func (m *Monitor) Flush(ctx context.Context) error {
	if m.indexer != nil {
		if _, err := m.indexer.Drain(ctx); err != nil {
			backlog, _ := m.ledger.IndexBacklog(ctx)
			m.log.Error("index store unavailable; mentions wait in the local spool", zap.Error(err), zap.Int("backlog_jobs", backlog.Jobs))
		}
	}
	if _, err := m.alerts(ctx, true); err != nil {
		return fmt.Errorf("deliver alerts: %w", err)
	}
	return nil
}

func (m *Monitor) wakeAlerts() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// alerts routes pending alert events, checks for spikes and delivers due
// notifications. With releaseGroups, open groups are sent now instead of
// at the end of their window (a one-shot run does not wait). It returns
// how many events were routed or raised and notifications delivered.
func (m *Monitor) alerts(ctx context.Context, releaseGroups bool) (int, error) {
	done, err := m.router.Route(ctx)
	if err != nil {
		return done, err
	}
	if now := m.now(); releaseGroups || now.Sub(m.lastSpikeCheck) >= time.Minute {
		m.lastSpikeCheck = now
		n, err := alert.Spikes(ctx, m.ledger, m.cfg.Alert.Escalation, now)
		done += n
		if err != nil {
			return done, err
		}
	}
	n, err := m.router.Route(ctx) // a spike alert is routed at once
	done += n
	if err != nil {
		return done, err
	}
	if releaseGroups {
		if err := m.ledger.ReleaseGroups(ctx, m.now()); err != nil {
			return done, err
		}
	}
	n, err = m.dispatcher.Flush(ctx)
	return done + n, err
}

// alertLoop runs alerts every interval and whenever a new alert arrives.
func (m *Monitor) alertLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := m.alerts(ctx, false)
		switch {
		case err != nil && ctx.Err() != nil:
		case err != nil && isDiskFull(err):
			m.ledgerFull.fail("deliver alerts", err) // summarised, not logged every round
		case err != nil:
			m.log.Error("alerts", zap.Error(err))
		case n > 0:
			m.ledgerFull.ok() // something was written: there is room again
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.wake:
		}
	}
}

// Run runs the daemon until ctx is cancelled: sources on their schedules,
// the indexer, the alert dispatcher, evidence retries, re-checks, index
// upkeep and the metrics endpoint, as one group of workers (see worker for
// the panic and restart policy). On cancel every worker gets the stop
// timeout (DefaultStopTimeout) to finish in-flight work; then Run indexes
// and delivers what is due (bounded by 20 s), anchors the evidence chain
// head (bounded by ShutdownAnchorTimeout) and returns nil. A worker
// that fails stops the daemon cleanly and Run returns its error; workers
// that did not stop in time are named in an ErrStopTimeout.
func (m *Monitor) Run(ctx context.Context) error {
	m.log.Info("mimamori started", zap.String("version", Version), zap.Int("sources", len(m.cfg.Sources)),
		zap.Int("targets", len(m.cfg.Targets)), zap.String("data_dir", m.cfg.DataDir), zap.String("alerts_to", m.sender.Name()),
		zap.String("index", m.cfg.Index.Backend))
	var ws []worker
	if m.cfg.Metrics.Listen != "" {
		w, err := m.metricsWorker(m.cfg.Metrics.Listen)
		if err != nil {
			return err
		}
		ws = append(ws, w)
	}
	ws = append(ws, m.workers()...)
	sup := supervisor{log: m.log, metrics: m.metrics, stopTimeout: m.stopTimeout,
		backoffMin: m.restartBackoff, backoffMax: 30 * m.restartBackoff}
	stuck, err := sup.run(ctx, ws)
	if slices.Contains(stuck, "alerts") || slices.Contains(stuck, "index") {
		// The final flush would run beside the stuck drain.
		m.log.Warn("final delivery skipped: a drain did not stop; alerts and index jobs stay queued for the next start",
			zap.Strings("stuck", stuck))
	} else {
		fctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if ferr := m.Flush(fctx); ferr != nil {
			m.log.Warn("final delivery incomplete; alerts stay queued for the next start", zap.Error(ferr))
		}
	}
	m.anchorAtShutdown()
	if err != nil {
		m.log.Error("mimamori stopped with an error", zap.Error(err))
		return err
	}
	m.log.Info("mimamori stopped")
	return nil
}

// workers are the daemon's long-running goroutines (without the metrics
// endpoint). All of them are restarted after a panic: each only repeats
// work whose state is in the ledger or on disk.
func (m *Monitor) workers() []worker {
	var ws []worker
	if m.crawler != nil {
		ws = append(ws, worker{name: "crawler", restart: true, run: func(ctx context.Context) error {
			return m.crawler.Run(ctx, m.handle)
		}})
	}
	if m.indexer != nil {
		ws = append(ws, worker{name: "index", restart: true, run: func(ctx context.Context) error {
			m.indexer.Run(ctx, 2*time.Second)
			return nil
		}})
	}
	ws = append(ws, worker{name: "alerts", restart: true, run: func(ctx context.Context) error {
		m.alertLoop(ctx, 2*time.Second)
		return nil
	}})
	if m.maintainer != nil {
		ws = append(ws, worker{name: "index-upkeep", restart: true, run: func(ctx context.Context) error {
			m.maintain(ctx, time.Hour)
			return nil
		}})
	}
	ws = append(ws,
		worker{name: "evidence", restart: true, run: func(ctx context.Context) error {
			m.evidenceLoop(ctx, m.cfg.EvidenceRetryInterval())
			return nil
		}},
		worker{name: "recheck", restart: true, run: func(ctx context.Context) error {
			m.recheckLoop(ctx)
			return nil
		}})
	return ws
}

// deadLetter records a mention the index refused for good.
func (m *Monitor) deadLetter(mn mention.Mention, status int, reason string) {
	m.log.Error("index refused a mention; kept in the dead-letter table", zap.String("mention", mn.ID),
		zap.Int("version", mn.Version), zap.Int("status", status), zap.String("reason", reason))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.ledger.DeadLetter(ctx, mn.ID, mn.Version, status, reason); err != nil {
		m.log.Error("record dead letter", zap.String("mention", mn.ID), zap.Error(err))
	}
}

// evidenceLoop fetches pending timestamps and renderings, prunes bundles
// past retention, and anchors and logs the evidence chain head (a later
// copy of the chain must contain it: that is what catches a chain cut or
// rewritten).
func (m *Monitor) evidenceLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if rep, err := m.evidence.RetryPending(ctx); err != nil && ctx.Err() == nil {
			if isDiskFull(err) {
				m.evidenceFull.fail("evidence retry", err)
			} else {
				m.log.Warn("evidence retry", zap.Error(err))
			}
		} else if err == nil {
			m.log.Debug("evidence retry", zap.Any("report", rep))
		}
		if rep, err := m.RetryCaptures(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("retry failed captures", zap.Error(err))
		} else if rep.Stored+rep.Waiting > 0 {
			m.log.Info("failed captures retried", zap.Int("stored", rep.Stored), zap.Int("waiting", rep.Waiting),
				zap.Int("gone", rep.Gone), zap.Int("dropped", rep.Dropped))
		}
		if _, err := m.evidence.Prune(ctx, time.Now()); err != nil && ctx.Err() == nil {
			if isDiskFull(err) {
				m.evidenceFull.fail("evidence retention", err)
			} else {
				m.log.Warn("evidence retention", zap.Error(err))
			}
		}
		if ctx.Err() == nil { // stopping: Run anchors once the workers stopped
			m.recordChainHead(ctx, evidence.AnchorSchedule)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RetryCaptures retries the queued captures of alerted posts whose
// capture failed (Pipeline.RetryCaptures), within evidence.recheck_for
// (default 30 days) of the first failure.
func (m *Monitor) RetryCaptures(ctx context.Context) (CaptureRetryReport, error) {
	window := m.cfg.Evidence.RecheckFor
	if window <= 0 {
		window = 30 * 24 * time.Hour
	}
	return m.pipeline.RetryCaptures(ctx, window)
}

// ShutdownAnchorTimeout bounds the anchor of the evidence chain head at
// shutdown (TSA request and index record included), so a hanging TSA or
// index cannot hold the daemon's exit.
const ShutdownAnchorTimeout = 15 * time.Second

// anchorAtShutdown anchors the chain head once the workers stopped (the
// caller closes the stores afterwards). It waits at most the anchor
// timeout, also for the chain lock and the disk; past it the anchor is
// left behind and logged.
func (m *Monitor) anchorAtShutdown() {
	d := m.anchorTimeout
	if d <= 0 {
		d = ShutdownAnchorTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.recordChainHead(ctx, evidence.AnchorShutdown)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		select {
		case <-done:
		case <-time.After(time.Second): // the TSA and index requests end with ctx; a stuck disk does not
			m.log.Warn("evidence chain head not anchored at shutdown: it did not finish in time", zap.Duration("timeout", d))
		}
	}
}

// recordChainHead anchors the evidence chain head (chain-heads.jsonl, with
// a TSA token when one is configured; see evidence.Store.AnchorHead) and
// writes it to the log and to the index: a later copy of the chain must
// contain it, so a chain cut or rewritten is caught (evidence verify
// --chain checks every anchored head; a head from the log or the index
// is checked with --head SEQ:SHA).
func (m *Monitor) recordChainHead(ctx context.Context, reason string) {
	if _, err := m.evidence.AnchorHead(ctx, reason); err != nil && ctx.Err() == nil {
		if isDiskFull(err) {
			m.evidenceFull.fail("anchor evidence chain head", err)
		} else {
			m.log.Warn("anchor evidence chain head", zap.String("reason", reason), zap.Error(err))
		}
	}
	h, err := m.evidence.ChainHead()
	if err != nil || h.Seq == 0 {
		return
	}
	m.log.Info("evidence chain head", zap.Int64("seq", h.Seq), zap.String("line_sha256", h.LineSHA256),
		zap.Int64("position", h.Position), zap.String("bundle", h.BundleID), zap.Time("at", h.At))
	if m.store == nil {
		return
	}
	err = m.store.RecordChainHead(ctx, index.ChainHead{Seq: h.Seq, LineSHA256: h.LineSHA256, Position: h.Position,
		BundleID: h.BundleID, ManifestSHA256: h.ManifestSHA256, At: h.At, Recorded: m.now().UTC()})
	if err != nil && ctx.Err() == nil {
		m.log.Warn("record evidence chain head in the index", zap.Error(err))
	}
}

// useOptionalCapabilities wires the store's optional capabilities and logs
// the ones it lacks. They are optional by design: only a store shared by
// several daemons (Elasticsearch) claims alerts, and only Elasticsearch has
// upkeep. The Elasticsearch store is guarded at compile time
// (index.SharedStore), so on it neither can go missing unnoticed.
func (m *Monitor) useOptionalCapabilities(s index.DaemonStore) {
	var missing []string
	if c, ok := s.(index.AlertClaimer); ok {
		host, _ := os.Hostname()
		m.router.ShareWith(c, fmt.Sprintf("%s:%s", host, m.cfg.DataDir))
	} else {
		missing = append(missing, "alert claiming (this daemon alerts every post itself; the index is not shared)")
	}
	if mt, ok := s.(index.Maintainer); ok {
		m.maintainer = mt
	} else {
		missing = append(missing, "index upkeep (no rollover or retention to run)")
	}
	if len(missing) > 0 {
		m.log.Info("index store lacks optional capabilities", zap.String("backend", m.cfg.Index.Backend),
			zap.Strings("missing", missing))
	}
}

func (m *Monitor) maintain(ctx context.Context, every time.Duration) {
	mt := m.maintainer
	if mt == nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := mt.Maintain(ctx, time.Now()); err != nil && ctx.Err() == nil {
			m.log.Warn("index maintenance", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// metricsWorker listens on addr (an error now: a wrong address fails the
// start) and returns the worker serving /metrics there. It is not
// restarted: a failing endpoint stops the daemon cleanly.
func (m *Monitor) metricsWorker(addr string) (worker, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return worker{}, fmt.Errorf("metrics.listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.metrics.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	m.log.Info("metrics endpoint", zap.String("url", "http://"+ln.Addr().String()+"/metrics"))
	return worker{name: "metrics", run: func(ctx context.Context) error {
		stop := context.AfterFunc(ctx, func() { srv.Close() })
		defer stop()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve metrics: %w", err)
		}
		return nil
	}}, nil
}

// Close closes the ledger and the store, in reverse order of opening.
func (m *Monitor) Close() error {
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		if err := m.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	m.closers = nil
	return errors.Join(errs...)
}
