package relay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/internal/pgtest"
	"github.com/plantbridge/plantbridge/relay/store"
)

// benchListRecords is the size of the work order table BenchmarkListAPI reads; set
// PLANTBRIDGE_BENCH_RECORDS to try another.
func benchListRecords() int {
	if n, err := strconv.Atoi(os.Getenv("PLANTBRIDGE_BENCH_RECORDS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// BenchmarkListAPI serves GET /v1/connections/{id}/work_orders?page_size=100 over
// loopback HTTP to 64 concurrent clients that walk cursors, from a store holding a
// million work orders, on SQLite and on PostgreSQL. Beside it, in the same run: the
// same number of clients calling /healthz (the HTTP baseline) and calling the store's
// ListRecords directly (the store baseline).
func BenchmarkListAPI(b *testing.B) {
	TuneRuntime() // the relay's own GC settings, as plantbridge-relay serve runs
	for _, driver := range []string{"sqlite", "postgres"} {
		b.Run("store="+driver, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.DataDir = b.TempDir()
			cfg.API.RateLimit, cfg.API.RateBurst = 1e9, 1<<30
			if driver == "postgres" {
				pg := pgtest.Start(b)
				cfg.Store.Driver, cfg.Store.DSN = "postgres", pg.CreateDB(b, "bench")
			}
			log := slog.New(slog.DiscardHandler)
			st, err := OpenStore(context.Background(), cfg, log)
			if err != nil {
				b.Fatal(err)
			}
			srv, err := NewWithStore(cfg, st, log, Options{})
			if err != nil {
				b.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); srv.Serve(ctx, ln) }()
			defer func() { cancel(); <-done }()
			base := "http://" + ln.Addr().String()

			acct, _ := st.CreateAccount(ctx, "bench")
			_, key, _ := st.CreateAPIKey(ctx, acct.ID, "bench")
			conn, err := st.CreateConnection(ctx, acct.ID, store.NewConnection{Name: "plant", System: "maximo"})
			if err != nil {
				b.Fatal(err)
			}
			n := benchListRecords()
			start := time.Now()
			var stamps []time.Time
			for i := 0; i < n; i += 1000 {
				res, err := st.ApplyBatch(ctx, conn.ID, fmt.Sprint("load-", i), "work_orders", benchWorkOrders(conn.ID, i, min(1000, n-i)), store.ApplyOptions{})
				if err != nil {
					b.Fatal(err)
				}
				stamps = append(stamps, res.ModifiedAt)
			}
			load := time.Since(start)

			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
			get := func(url string) error {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				io.Copy(io.Discard, resp.Body)
				if resp.StatusCode != 200 {
					return fmt.Errorf("status %d", resp.StatusCode)
				}
				return nil
			}
			list := base + "/v1/connections/" + conn.ID + "/work_orders?page_size=100"
			// Each client walks from its own place in the table, following next cursors,
			// and starts again there when it reaches the end.
			walker := func(g int) func() error {
				from := stamps[g*len(stamps)/64].Add(-time.Microsecond).Format(time.RFC3339Nano)
				first := list + "&modified_after=" + url.QueryEscape(from)
				var cursor string
				return func() error {
					u := first
					if cursor != "" {
						u = first + "&cursor=" + url.QueryEscape(cursor)
					}
					req, _ := http.NewRequest(http.MethodGet, u, nil)
					req.Header.Set("Authorization", "Bearer "+key)
					resp, err := client.Do(req)
					if err != nil {
						return err
					}
					defer resp.Body.Close()
					// The client reads only the cursor, which the relay writes first, and
					// discards the rest: decoding 100 records would cost the client more
					// CPU than the relay spends, on the same two cores.
					head := make([]byte, 512)
					n, _ := io.ReadFull(resp.Body, head)
					io.Copy(io.Discard, resp.Body)
					if resp.StatusCode != 200 {
						return fmt.Errorf("status %d", resp.StatusCode)
					}
					cursor = ""
					if next, ok := bytes.CutPrefix(head[:n], []byte(`{"next":"`)); ok {
						if end := bytes.IndexByte(next, '"'); end > 0 {
							cursor = string(next[:end])
						}
					}
					return nil
				}
			}
			storeWalker := func(g int) func() error {
				start := &store.RecordCursor{ModifiedAt: stamps[g*len(stamps)/64].Add(-time.Microsecond)}
				after := start
				return func() error {
					page, err := st.ListRecords(ctx, store.RecordQuery{ConnectionID: conn.ID, Model: "work_orders", After: after, Limit: 100})
					after = page.Next
					if after == nil {
						after = start
					}
					return err
				}
			}
			healthz := func(int) func() error { return func() error { return get(base + "/healthz") } }
			// Warm the page cache and the connection pools.
			measure(64, 3*time.Second, walker)
			rows := []benchRow{
				{"healthz (HTTP baseline)", measure(64, 5*time.Second, healthz)},
				{"store ListRecords (store baseline)", measure(64, 5*time.Second, storeWalker)},
				{"GET work_orders page_size=100", measure(64, 10*time.Second, walker)},
			}
			b.Logf("%s: %d work orders loaded in %s (%.0f rows/s)", driver, n, load.Round(time.Millisecond), float64(n)/load.Seconds())
			b.Logf("%-38s %10s %9s %9s", "64 concurrent clients", "req/s", "p50 ms", "p99 ms")
			for _, r := range rows {
				b.Logf("%-38s %10.0f %9.2f %9.2f", r.name, r.res.rate, ms(r.res.p50), ms(r.res.p99))
			}
			api := rows[2].res
			b.Logf("API list = %.0f%% of the HTTP baseline, %.0f%% of the store baseline",
				100*api.rate/rows[0].res.rate, 100*api.rate/rows[1].res.rate)
			b.ReportMetric(api.rate, "req/s")
			b.ReportMetric(ms(api.p50), "p50-ms")
			b.ReportMetric(ms(api.p99), "p99-ms")
			b.ReportMetric(float64(n)/load.Seconds(), "ingest-rows/s")
		})
	}
}

type benchRow struct {
	name string
	res  benchResult
}

type benchResult struct {
	rate     float64
	p50, p99 time.Duration
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// measure runs clients goroutines, each calling its op in a loop for d, and returns the
// rate and latency percentiles of the calls.
func measure(clients int, d time.Duration, op func(g int) func() error) benchResult {
	var (
		mu   sync.Mutex
		lats []time.Duration
		fail atomic.Int64
		wg   sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	for g := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := op(g)
			var local []time.Duration
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := f(); err != nil {
					fail.Add(1)
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lats)
	if len(lats) == 0 {
		return benchResult{}
	}
	return benchResult{rate: float64(len(lats)-int(fail.Load())) / elapsed.Seconds(),
		p50: lats[len(lats)/2], p99: lats[len(lats)*99/100]}
}

func benchWorkOrders(connID string, from, n int) []model.Record {
	out := make([]model.Record, n)
	for i := range out {
		k := from + i
		remote := fmt.Sprintf("BEDFORD/%07d", k)
		updated := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(k) * time.Minute)
		out[i] = model.Record{ID: model.RecordID(connID, "work_orders", remote), RemoteID: remote, RemoteUpdatedAt: &updated,
			Fields: map[string]any{"number": fmt.Sprintf("%07d", k), "title": "Replace seal on pump " + remote,
				"status": "open", "remote_status": "WAPPR", "priority": "normal", "type": "corrective",
				"estimated_hours": "2.5", "site_id": "BEDFORD"},
			CustomFields: map[string]any{"crew": "A"}}
	}
	return out
}
