package crawler

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the crawler's per-source Prometheus metrics. Sources built
// with the same Registerer share them.
type metrics struct {
	pages       *prometheus.CounterVec
	posts       *prometheus.CounterVec
	errors      *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
	failing     *prometheus.GaugeVec
	backoff     *prometheus.GaugeVec
	duration    *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		pages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimamori_crawler_pages_fetched_total",
			Help: "Pages fetched, by source and HTTP status class (2xx, 304, 4xx, 5xx)."}, []string{"source", "status"}),
		posts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimamori_crawler_posts_found_total",
			Help: "Posts extracted by passes, by source (before deduplication)."}, []string{"source"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mimamori_crawler_errors_total",
			Help: "Failed passes, by source and error kind."}, []string{"source", "kind"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mimamori_crawler_last_success_timestamp_seconds",
			Help: "Unix time of the last successful pass of a source."}, []string{"source"}),
		failing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mimamori_crawler_source_failing",
			Help: "1 while a source has been failing for longer than its alert_after."}, []string{"source"}),
		backoff: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mimamori_crawler_backoff_until_timestamp_seconds",
			Help: "Unix time before which a rate-limited source does not run (0: none)."}, []string{"source"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mimamori_crawler_pass_duration_seconds",
			Help:    "Duration of source passes.",
			Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300}}, []string{"source"}),
	}
	if reg == nil {
		return m
	}
	m.pages = register(reg, m.pages)
	m.posts = register(reg, m.posts)
	m.errors = register(reg, m.errors)
	m.lastSuccess = register(reg, m.lastSuccess)
	m.failing = register(reg, m.failing)
	m.backoff = register(reg, m.backoff)
	m.duration = register(reg, m.duration)
	return m
}

// register registers c, or returns the collector already registered under
// its name, so that every source of a process shares one set.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a different collector under our name: a programming error
	}
	return c
}

func statusClass(code int) string {
	switch {
	case code == 304:
		return "304"
	case code >= 200 && code < 300:
		return "2xx"
	case code >= 300 && code < 400:
		return "3xx"
	case code >= 400 && code < 500:
		return "4xx"
	case code >= 500:
		return "5xx"
	}
	return "other"
}
