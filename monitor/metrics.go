package monitor

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mimamori/ledger"
)

// metrics are the daemon's Prometheus metrics.
type metrics struct {
	reg         *prometheus.Registry
	posts       *prometheus.CounterVec
	alerts      prometheus.Counter
	passErrors  *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
	// diskFull is 1 while a store's disk is full (store: evidence, ledger).
	diskFull         *prometheus.GaugeVec
	diskFullFailures *prometheus.CounterVec
	workerPanics     *prometheus.CounterVec
	workerRestarts   *prometheus.CounterVec
}

func newMetrics(l *ledger.Ledger) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		posts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimamori_posts_total",
			Help: "Posts processed, by source and outcome (created, updated, unchanged, error)."}, []string{"source", "outcome"}),
		alerts: prometheus.NewCounter(prometheus.CounterOpts{Name: "mimamori_alerts_queued_total",
			Help: "Alerts queued in the outbox."}),
		passErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimamori_source_pass_errors_total",
			Help: "Source passes that failed, by source."}, []string{"source"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mimamori_source_last_success_timestamp_seconds",
			Help: "Unix time of the last successful pass of a source."}, []string{"source"}),
		diskFull: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mimamori_disk_full",
			Help: "1 while writes of a store (evidence, ledger) fail because its disk is full."}, []string{"store"}),
		diskFullFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimamori_disk_full_failures_total",
			Help: "Writes that failed because the disk was full, by store (evidence, ledger)."}, []string{"store"}),
		workerPanics: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimamori_worker_panics_total",
			Help: "Panics recovered in the daemon's workers, by worker."}, []string{"worker"}),
		workerRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimamori_worker_restarts_total",
			Help: "Workers restarted after a panic, by worker."}, []string{"worker"}),
	}
	backlog := func() ledger.SpoolStats {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, _ := l.IndexBacklog(ctx)
		return s
	}
	m.reg.MustRegister(m.posts, m.alerts, m.passErrors, m.lastSuccess, m.diskFull, m.diskFullFailures, m.workerPanics, m.workerRestarts,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mimamori_index_spool_jobs",
			Help: "Mentions waiting in the local spool to be indexed."}, func() float64 { return float64(backlog().Jobs) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mimamori_index_spool_bytes",
			Help: "Bytes of mentions waiting in the local spool."}, func() float64 { return float64(backlog().Bytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mimamori_index_spool_oldest_age_seconds",
			Help: "Age of the oldest spooled mention (0 when empty)."}, func() float64 {
			if o := backlog().Oldest; !o.IsZero() {
				return time.Since(o).Seconds()
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mimamori_alerts_pending",
			Help: "Alerts not yet delivered."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			n, _ := l.PendingAlertCount(ctx)
			return float64(n)
		}),
	)
	return m
}

func (m *metrics) observe(source string, s Summary, err error) {
	m.posts.WithLabelValues(source, "created").Add(float64(s.Created))
	m.posts.WithLabelValues(source, "updated").Add(float64(s.Updated))
	m.posts.WithLabelValues(source, "unchanged").Add(float64(s.Unchanged))
	m.posts.WithLabelValues(source, "error").Add(float64(s.Errors))
	m.alerts.Add(float64(s.Alerts))
	if err != nil {
		m.passErrors.WithLabelValues(source).Inc()
	} else {
		m.lastSuccess.WithLabelValues(source).SetToCurrentTime()
	}
}
