// Package metrics holds the relay's Prometheus metrics: API requests by route and
// status, connected agents, tunnel round trips, sync ingest, and webhook deliveries.
//
// The metrics live in a registry of the relay's own rather than the process-wide
// default, so that several relays in one process (tests, embedders) do not collide and
// nothing a library registers globally ends up on /metrics by accident. Every label
// takes values from a small fixed set: routes are ServeMux patterns, never raw paths;
// models outside the unified nine count as "custom"; webhook outcomes are the
// constants below.
//
// /metrics is served without authentication on the relay's listener. Operators should
// not expose it publicly: block /metrics at the load balancer or reverse proxy and
// scrape the relay from inside the network.
package metrics

import (
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/plantbridge/plantbridge/connectors/model"
)

// Metrics are the relay's metrics. A nil *Metrics records nothing, so that parts of
// the relay built without metrics (in tests) need no checks.
type Metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	tunnelRTT       prometheus.Histogram
	ingestBatches   *prometheus.CounterVec
	ingestRecords   *prometheus.CounterVec
	webhookAttempts *prometheus.CounterVec
	webhookDuration prometheus.Histogram

	// agents counts the connected agents when scraped; set by the relay.
	agents atomic.Pointer[func() int]
}

// Route labels for requests that matched no route of their own.
const (
	// RouteUnmatched labels requests for paths and methods the API does not serve.
	RouteUnmatched = "unmatched"
)

// Webhook delivery attempt outcomes, the values of the outcome label.
const (
	// WebhookSuccess: the receiver answered 2xx.
	WebhookSuccess = "success"
	// WebhookHTTPError: the receiver answered, with another status (3xx included:
	// redirects are not followed).
	WebhookHTTPError = "http_error"
	// WebhookNetworkError: no answer: the target was refused, the connection or TLS
	// failed, or the attempt timed out.
	WebhookNetworkError = "network_error"
	// WebhookAbandoned: the relay stopped during the attempt; it is sent again.
	WebhookAbandoned = "abandoned"
	// webhookOther stands in for an outcome not listed here, to bound the label.
	webhookOther = "other"
)

// latencyBuckets spans a cached list page (a millisecond) to an agent call at its
// timeout (30 s).
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// New returns metrics in a registry of their own, with the Go runtime and process
// collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "plantbridge_relay", Name: "http_requests_total",
		Help: "API requests served, by route pattern and status code.",
	}, []string{"route", "code"})
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "plantbridge_relay", Name: "http_request_duration_seconds",
		Help:    "Time to serve an API request, by route pattern and status code.",
		Buckets: latencyBuckets,
	}, []string{"route", "code"})
	agents := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "plantbridge_relay", Name: "connected_agents",
		Help: "Agents with a tunnel to this relay.",
	}, func() float64 {
		if f := m.agents.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	m.tunnelRTT = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "plantbridge_relay", Name: "tunnel_rtt_seconds",
		Help:    "Round-trip times of the keepalive pings of all agent tunnels.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	})
	m.ingestBatches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "plantbridge_relay", Name: "ingest_batches_total",
		Help: `Sync batches received from agents, by model ("custom" for custom models) and result (stored, or duplicate for a re-sent batch that changed nothing).`,
	}, []string{"model", "result"})
	m.ingestRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "plantbridge_relay", Name: "ingest_records_total",
		Help: `Records stored from sync batches (re-sent batches not counted), by model ("custom" for custom models).`,
	}, []string{"model"})
	m.webhookAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "plantbridge_relay", Name: "webhook_attempts_total",
		Help: "Webhook delivery attempts, by outcome: success, http_error, network_error, abandoned.",
	}, []string{"outcome"})
	m.webhookDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "plantbridge_relay", Name: "webhook_attempt_duration_seconds",
		Help:    "Time of a webhook delivery attempt, from sending to the end of the answer.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	m.reg.MustRegister(m.requests, m.requestDuration, agents, m.tunnelRTT, m.ingestBatches, m.ingestRecords,
		m.webhookAttempts, m.webhookDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The outcomes are known in advance: listing them makes rate() work from the
	// first attempt, and dashboards show zeros rather than gaps.
	for _, o := range []string{WebhookSuccess, WebhookHTTPError, WebhookNetworkError, WebhookAbandoned} {
		m.webhookAttempts.WithLabelValues(o)
	}
	return m
}

// Registry returns the registry the metrics are in, for embedders that add their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text or OpenMetrics format. Errors
// while gathering go to log (nil discards them).
func (m *Metrics) Handler(log *slog.Logger) http.Handler {
	opts := promhttp.HandlerOpts{Registry: m.reg, EnableOpenMetrics: true}
	if log != nil {
		opts.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	}
	return promhttp.HandlerFor(m.reg, opts)
}

// ObserveRequest records one API request. route is the ServeMux pattern that served
// it ("GET /v1/connections/{id}"); "" counts as RouteUnmatched.
func (m *Metrics) ObserveRequest(route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = RouteUnmatched
	}
	code := strconv.Itoa(status)
	m.requests.WithLabelValues(route, code).Inc()
	m.requestDuration.WithLabelValues(route, code).Observe(d.Seconds())
}

// SetConnectedAgents sets the function that counts connected agents when the metrics
// are scraped.
func (m *Metrics) SetConnectedAgents(count func() int) {
	if m == nil {
		return
	}
	m.agents.Store(&count)
}

// ObserveTunnelRTT records the round trip of one keepalive ping.
func (m *Metrics) ObserveTunnelRTT(rtt time.Duration) {
	if m == nil {
		return
	}
	m.tunnelRTT.Observe(rtt.Seconds())
}

// IngestBatch records one sync batch of modelName holding records records; duplicate
// is a re-sent batch that the relay had stored before.
func (m *Metrics) IngestBatch(modelName string, records int, duplicate bool) {
	if m == nil {
		return
	}
	label := modelName
	if model.Lookup(modelName) == nil {
		label = "custom"
	}
	if duplicate {
		m.ingestBatches.WithLabelValues(label, "duplicate").Inc()
		return
	}
	m.ingestBatches.WithLabelValues(label, "stored").Inc()
	m.ingestRecords.WithLabelValues(label).Add(float64(records))
}

// WebhookObserver is told about every webhook delivery attempt; *Metrics is one. The
// webhook dispatcher takes one (or its WebhookAttempt method as a func) so that it
// needs no Prometheus of its own.
type WebhookObserver interface {
	WebhookAttempt(outcome string, d time.Duration)
}

var _ WebhookObserver = (*Metrics)(nil)

// WebhookAttempt records one webhook delivery attempt: its outcome (one of the
// Webhook… constants; anything else counts as "other") and how long it took. The
// webhook dispatcher calls it once per attempt, after recording the attempt.
func (m *Metrics) WebhookAttempt(outcome string, d time.Duration) {
	if m == nil {
		return
	}
	switch outcome {
	case WebhookSuccess, WebhookHTTPError, WebhookNetworkError, WebhookAbandoned:
	default:
		outcome = webhookOther
	}
	m.webhookAttempts.WithLabelValues(outcome).Inc()
	m.webhookDuration.Observe(d.Seconds())
}
