package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetrics: each recorder lands in its series with bounded labels.
func TestMetrics(t *testing.T) {
	m := New()
	m.ObserveRequest("GET /v1/connections/{id}", 200, 3*time.Millisecond)
	m.ObserveRequest("GET /v1/connections/{id}", 200, 5*time.Millisecond)
	m.ObserveRequest("", 404, time.Millisecond)
	m.SetConnectedAgents(func() int { return 3 })
	m.ObserveTunnelRTT(20 * time.Millisecond)
	m.IngestBatch("work_orders", 10, false)
	m.IngestBatch("work_orders", 10, true)
	m.IngestBatch("meters", 4, false)
	m.WebhookAttempt(WebhookSuccess, 50*time.Millisecond)
	m.WebhookAttempt("teapot", time.Second)

	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"requests by route", testutil.ToFloat64(m.requests.WithLabelValues("GET /v1/connections/{id}", "200")), 2},
		{"unmatched requests", testutil.ToFloat64(m.requests.WithLabelValues(RouteUnmatched, "404")), 1},
		{"stored batches", testutil.ToFloat64(m.ingestBatches.WithLabelValues("work_orders", "stored")), 1},
		{"duplicate batches", testutil.ToFloat64(m.ingestBatches.WithLabelValues("work_orders", "duplicate")), 1},
		{"records, duplicates not counted", testutil.ToFloat64(m.ingestRecords.WithLabelValues("work_orders")), 10},
		{"custom models as one label", testutil.ToFloat64(m.ingestRecords.WithLabelValues("custom")), 4},
		{"webhook successes", testutil.ToFloat64(m.webhookAttempts.WithLabelValues(WebhookSuccess)), 1},
		{"unknown outcomes as other", testutil.ToFloat64(m.webhookAttempts.WithLabelValues("other")), 1},
		{"outcomes listed before they happen", testutil.ToFloat64(m.webhookAttempts.WithLabelValues(WebhookNetworkError)), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.requestDuration); n != 2 {
		t.Errorf("%d latency series, want 2 (one per route and code)", n)
	}

	rec := httptest.NewRecorder()
	m.Handler(nil).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, body)
	}
	for _, want := range []string{
		"plantbridge_relay_connected_agents 3",
		"plantbridge_relay_tunnel_rtt_seconds_count 1",
		`plantbridge_relay_http_request_duration_seconds_bucket{code="200",route="GET /v1/connections/{id}",le="0.005"} 2`,
		"go_goroutines ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

// TestNilMetrics: a relay part built without metrics records nothing and does not
// fail.
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.ObserveRequest("x", 200, time.Second)
	m.SetConnectedAgents(func() int { return 1 })
	m.ObserveTunnelRTT(time.Second)
	m.IngestBatch("work_orders", 1, false)
	m.WebhookAttempt(WebhookSuccess, time.Second)
}

// TestRegistriesApart: two relays in one process keep their own metrics.
func TestRegistriesApart(t *testing.T) {
	a, b := New(), New()
	a.ObserveRequest("GET /v1/connections", 200, time.Millisecond)
	if got := testutil.ToFloat64(b.requests.WithLabelValues("GET /v1/connections", "200")); got != 0 {
		t.Fatalf("b counts a's request: %v", got)
	}
}
