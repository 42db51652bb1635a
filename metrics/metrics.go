// Package metrics exposes gaspay to Prometheus. Request latency,
// notification verdicts and box refusals are counted as they happen, per
// replica; the ledger's own figures (orders, payments, refunds, credits by
// state and age, the janitor's closes, open alerts, rate-limit refusals)
// are read from the database at scrape time, so that every replica reports
// the same truth and a restart loses nothing. Aggregate those with max(),
// not sum().
//
// Everything lives in a Registry built by New: nothing is registered in
// client_golang's global default registry.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"gaspay/models"
)

// Metrics holds gaspay's collectors.
type Metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.HistogramVec
	notifications *prometheus.CounterVec
	boxRefused    *prometheus.CounterVec
}

// New builds the registry. store, when set, feeds the ledger's figures.
func New(store *models.Store, log *slog.Logger) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gaspay_http_request_duration_seconds",
		Help:    "Time to answer a request, by route pattern, method and status.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method", "status"})
	m.notifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gaspay_notifications_total",
		Help: "Payment notifications received, by provider and verdict (taken, duplicate, late_refund, conflict_refund, other_payment, mismatch, unknown_order, refused, not_payment, failed).",
	}, []string{"provider", "verdict"})
	m.boxRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gaspay_box_frames_refused_total",
		Help: "Box requests (HELLOs, frames, reads, writes) refused, by the answer's code.",
	}, []string{"reason"})
	m.reg.MustRegister(m.requests, m.notifications, m.boxRefused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if store != nil {
		m.reg.MustRegister(&ledger{store: store, log: log, ttl: 10 * time.Second})
	}
	return m
}

// Request records one answered request; route is the router's pattern
// ("/api/orders/:no"), or "unmatched".
func (m *Metrics) Request(route, method string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Observe(d.Seconds())
}

// Notification records a payment notification's verdict.
func (m *Metrics) Notification(provider, verdict string) {
	m.notifications.WithLabelValues(provider, verdict).Inc()
}

// BoxRefused records a refused box request by its answer's code.
func (m *Metrics) BoxRefused(reason string) { m.boxRefused.WithLabelValues(reason).Inc() }

// Handler serves the registry in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registry is the registry, for tests and for collectors added by others.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ledger reads the ledger's figures at scrape time, at most once per ttl
// (several Prometheus servers scraping must not load the database).
type ledger struct {
	store *models.Store
	log   *slog.Logger
	ttl   time.Duration

	mu   sync.Mutex
	at   time.Time
	last []prometheus.Metric
}

var (
	descOrders   = prometheus.NewDesc("gaspay_orders", "Orders by channel and status.", []string{"channel", "status"}, nil)
	descClosed   = prometheus.NewDesc("gaspay_orders_closed", "Closed orders by reason: the janitor's closes (unpaid, not_at_provider, closed_at_provider) and refused prepays.", []string{"reason"}, nil)
	descPayments = prometheus.NewDesc("gaspay_payments", "Payments taken by provider and source (notify, query and close are the janitor's or the order path's queries, partner).", []string{"provider", "source"}, nil)
	descRefunds  = prometheus.NewDesc("gaspay_refunds", "Refunds by the order's channel and the refund's status.", []string{"channel", "status"}, nil)
	descCredits  = prometheus.NewDesc("gaspay_credits", "Credits by kind and delivery state.", []string{"kind", "status"}, nil)
	descOlder    = prometheus.NewDesc("gaspay_credits_pending_older_than", "Pending credits older than an age.", []string{"kind", "age"}, nil)
	descOldest   = prometheus.NewDesc("gaspay_credits_pending_oldest_seconds", "Age of the oldest pending credit of a kind.", []string{"kind"}, nil)
	descAlerts   = prometheus.NewDesc("gaspay_alerts_open", "Alerts for staff not yet resolved, by kind.", []string{"kind"}, nil)
	descRefusals = prometheus.NewDesc("gaspay_rate_limit_refusals_today", "Requests refused by rate limits today (UTC), by kind.", []string{"kind"}, nil)
	descUp       = prometheus.NewDesc("gaspay_ledger_scrape_ok", "1 if the ledger's figures were read from the database.", nil, nil)
)

func (l *ledger) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOrders, descClosed, descPayments, descRefunds, descCredits, descOlder, descOldest, descAlerts, descRefusals, descUp} {
		ch <- d
	}
}

func (l *ledger) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil || time.Since(l.at) > l.ttl {
		l.last, l.at = l.read(), time.Now()
	}
	for _, m := range l.last {
		ch <- m
	}
}

func (l *ledger) read() []prometheus.Metric {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := l.store.Ops(ctx, time.Now())
	if err != nil {
		l.log.Warn("metrics: ledger not read", slog.String("err", err.Error()))
		return []prometheus.Metric{prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)}
	}
	out := []prometheus.Metric{prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)}
	add := func(d *prometheus.Desc, rows []models.Count, two bool) {
		for _, r := range rows {
			labels := []string{r.A}
			if two {
				labels = append(labels, r.B)
			}
			out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(r.N), labels...))
		}
	}
	add(descOrders, s.Orders, true)
	add(descClosed, s.Closed, false)
	add(descPayments, s.Payments, true)
	add(descRefunds, s.Refunds, true)
	add(descCredits, s.Credits, true)
	add(descOlder, s.PendingOlder, true)
	add(descAlerts, s.OpenAlerts, false)
	add(descRefusals, s.Refusals, false)
	for kind, age := range s.OldestPending {
		out = append(out, prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age, kind))
	}
	return out
}
