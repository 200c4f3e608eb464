package webhooks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/relay/store"
)

// benchReceivers starts n receivers, each its own server as distinct
// customers' endpoints are, which note when each event arrived.
type benchReceivers struct {
	mu      sync.Mutex // guards arrived
	arrived map[string][]time.Time
	srvs    []*httptest.Server
}

func newBenchReceivers(b *testing.B, n int) *benchReceivers {
	br := &benchReceivers{arrived: map[string][]time.Time{}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderID)
		now := time.Now()
		br.mu.Lock()
		br.arrived[id] = append(br.arrived[id], now)
		br.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	for range n {
		srv := httptest.NewServer(h)
		b.Cleanup(srv.Close)
		br.srvs = append(br.srvs, srv)
	}
	return br
}

func (br *benchReceivers) count(ids []string) int {
	br.mu.Lock()
	defer br.mu.Unlock()
	n := 0
	for _, id := range ids {
		n += len(br.arrived[id])
	}
	return n
}

// BenchmarkDelivery measures delivery to 100 healthy local endpoints on
// SQLite: throughput with a backlog (events queued as fast as they can be,
// each to every endpoint), and the delay from Emit to arrival at a steady
// 1,000 deliveries/s (10 events/s × 100 endpoints).
func BenchmarkDelivery(b *testing.B) {
	const endpoints = 100
	ctx := context.Background()
	st := tempStore(b)
	f := newFixture(b, st, "acme")
	br := newBenchReceivers(b, endpoints)
	for _, srv := range br.srvs {
		createEndpoint(b, st, f.acct.ID, store.NewWebhookEndpoint{URL: srv.URL + "/hooks"})
	}
	opts := testOptions(b)
	opts.Logger = nil
	svc := start(b, st, opts)
	emit := func() string {
		id, err := svc.Emit(ctx, Event{AccountID: f.acct.ID, Type: EventSyncCompleted, ConnectionID: f.conn.ID,
			Data: SyncCompletedData{Model: "work_orders", RecordsSynced: 1250}})
		if err != nil {
			b.Fatal(err)
		}
		return id
	}
	wait := func(ids []string, what string) {
		deadline := time.Now().Add(5 * time.Minute)
		for br.count(ids) < len(ids)*endpoints {
			if time.Now().After(deadline) {
				b.Fatalf("%s: %d of %d deliveries after 5 minutes", what, br.count(ids), len(ids)*endpoints)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	for range b.N {
		// Throughput: a backlog of 100 events × 100 endpoints.
		const burst = 100
		start := time.Now()
		var ids []string
		for range burst {
			ids = append(ids, emit())
		}
		wait(ids, "burst")
		elapsed := time.Since(start)
		b.ReportMetric(float64(burst*endpoints)/elapsed.Seconds(), "deliveries/s")

		// Delay at a steady 1,000 deliveries/s for 5 seconds.
		const rate, seconds = 10, 5
		emitted := map[string]time.Time{}
		ids = ids[:0]
		tick := time.NewTicker(time.Second / rate)
		for range rate * seconds {
			<-tick.C
			t0 := time.Now()
			id := emit()
			emitted[id] = t0
			ids = append(ids, id)
		}
		tick.Stop()
		wait(ids, "steady")
		var delays []time.Duration
		br.mu.Lock()
		for _, id := range ids {
			for _, at := range br.arrived[id] {
				delays = append(delays, at.Sub(emitted[id]))
			}
		}
		br.mu.Unlock()
		slices.Sort(delays)
		pct := func(p float64) float64 {
			return float64(delays[int(p*float64(len(delays)-1))].Microseconds()) / 1000
		}
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
		b.ReportMetric(float64(delays[len(delays)-1].Microseconds())/1000, "max-ms")
	}
}
