package relay

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	unified "github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/internal/leaktest"
	"github.com/plantbridge/plantbridge/tunnel/wire"
)

// scrape reads the relay's /metrics.
func (tr *testRelay) scrape() map[string]*dto.MetricFamily {
	tr.t.Helper()
	resp, err := http.Get(tr.base + "/metrics")
	if err != nil {
		tr.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		tr.t.Fatalf("scrape: %d %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		tr.t.Fatalf("parse the scrape: %v", err)
	}
	return fams
}

// sample returns the value of the series of family name with the given labels (a
// counter or gauge's value, a histogram's count), and whether it exists.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetricsEndpoint: after API calls and an agent's session, /metrics has requests
// by route pattern and status, the connected agents, tunnel round trips and ingest
// counts, and no label holds a raw path.
func TestMetricsEndpoint(t *testing.T) {
	leaktest.Check(t)
	tr := startRelay(t, relayOpts{})
	id, token := tr.connection("maximo")
	for range 3 {
		tr.must(200, "GET", "/v1/connections/"+id, nil)
	}
	tr.call("GET", "/v1/connections", nil, "")                    // 401 before any route's handler
	tr.call("GET", "/v1/nothing", nil, tr.key)                    // no route
	tr.call("GET", "/v1/connections/conn_nope", nil, tr.key)      // 404 of a route
	tr.call("GET", "/v1/connections/"+id+"/widgets", nil, tr.key) // 404 of the model route

	agent := tr.startAgent(token)
	waitFor(t, 5*time.Second, "a tunnel round trip", func() bool {
		n, _ := sample(tr.scrape(), "plantbridge_relay_tunnel_rtt_seconds")
		return n >= 1
	})
	var recs []unified.Record
	for i := range 3 {
		recs = append(recs, agent.workOrder(i, fmt.Sprint("Pump ", i)))
	}
	agent.upload("b1", "work_orders", recs, "", false)
	agent.upload("b1", "work_orders", recs, "", false) // re-sent: a duplicate
	custom := unified.Record{ID: unified.RecordID(id, "meters", "M1"), RemoteID: "M1", Model: "meters", Fields: map[string]any{}}
	agent.upload("b2", "meters", []unified.Record{custom}, "", false)
	if code := agent.post(wire.PathSyncState, wire.SyncState{Model: "work_orders", Status: "done"}, nil); code != 204 {
		t.Fatalf("sync state: %d", code)
	}

	fams := tr.scrape()
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"plantbridge_relay_http_requests_total", []string{"route", "GET /v1/connections/{id}", "code", "200"}, 3},
		{"plantbridge_relay_http_request_duration_seconds", []string{"route", "GET /v1/connections/{id}", "code", "200"}, 3},
		{"plantbridge_relay_http_requests_total", []string{"route", "POST /v1/connections", "code", "201"}, 1},
		{"plantbridge_relay_http_requests_total", []string{"route", "GET /v1/connections", "code", "401"}, 1},
		{"plantbridge_relay_http_requests_total", []string{"route", "unmatched", "code", "404"}, 1},
		{"plantbridge_relay_http_requests_total", []string{"route", "GET /v1/connections/{id}", "code", "404"}, 1},
		{"plantbridge_relay_http_requests_total", []string{"route", "GET /v1/connections/{id}/{model}", "code", "404"}, 1},
		{"plantbridge_relay_http_requests_total", []string{"route", wire.EnrollPath, "code", "200"}, 1},
		{"plantbridge_relay_connected_agents", nil, 1},
		{"plantbridge_relay_ingest_batches_total", []string{"model", "work_orders", "result", "stored"}, 1},
		{"plantbridge_relay_ingest_batches_total", []string{"model", "work_orders", "result", "duplicate"}, 1},
		{"plantbridge_relay_ingest_records_total", []string{"model", "work_orders"}, 3},
		{"plantbridge_relay_ingest_records_total", []string{"model", "custom"}, 1},
		{"plantbridge_relay_webhook_attempts_total", []string{"outcome", "success"}, 0},
	} {
		got, ok := sample(fams, c.name, c.labels...)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if rtt, _ := sample(fams, "plantbridge_relay_tunnel_rtt_seconds"); rtt < 1 {
		t.Errorf("no tunnel round trips")
	}
	if _, ok := sample(fams, "go_goroutines"); !ok {
		t.Error("no Go runtime metrics")
	}
	// Route labels are patterns: no connection id, no model or custom model name
	// outside the patterns.
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), id) || strings.Contains(l.GetValue(), "widgets") || l.GetValue() == "meters" {
					t.Errorf("%s has a label from the data: %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}

	agent.stop()
	waitFor(t, 5*time.Second, "no agents connected", func() bool {
		n, _ := sample(tr.scrape(), "plantbridge_relay_connected_agents")
		return n == 0
	})
}

// TestMetricsListen: with metrics_listen set, /metrics is served there and the API's
// listener answers 404 for it; a bad address is a config error.
func TestMetricsListen(t *testing.T) {
	leaktest.Check(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // free it for the relay; a race with another process is unlikely on loopback
	tr := startRelay(t, relayOpts{cfg: func(c *Config) { c.MetricsListen = addr }})
	if r := tr.call("GET", "/metrics", nil, tr.key); r.status != http.StatusNotFound {
		t.Errorf("/metrics on the API listener: %d, want 404", r.status)
	}
	var body []byte
	waitFor(t, 5*time.Second, "metrics listener", func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ = io.ReadAll(resp.Body)
		return resp.StatusCode == 200
	})
	if !strings.Contains(string(body), "plantbridge_relay_connected_agents") {
		t.Errorf("metrics listener answered without the relay's metrics: %.300s", body)
	}

	for _, bad := range []string{"9464", "127.0.0.1:8080"} {
		path := filepath.Join(t.TempDir(), "relay.yaml")
		os.WriteFile(path, []byte("version: 1\nlisten: 127.0.0.1:8080\nmetrics_listen: \""+bad+"\"\n"), 0o600)
		if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), "metrics_listen") {
			t.Errorf("metrics_listen %q: %v", bad, err)
		}
	}
}
