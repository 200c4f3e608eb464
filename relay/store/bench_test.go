package store

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// benchRecords is the size of the table that BenchmarkListRecords reads: a
// large plant's work order history.
const benchRecords = 1_000_000

// BenchmarkListRecords walks pages of 100 work orders by cursor in a
// 1,000,000-record SQLite store, from random starting points, with 1 and with
// 64 concurrent readers. It reports pages per second and the latency of one
// page. The parent loads the table once; the sub-benchmarks reuse it.
func BenchmarkListRecords(b *testing.B) {
	ctx := context.Background()
	s, err := openSQLite(ctx, filepath.Join(b.TempDir(), "relay.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	acct, err := s.CreateAccount(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	conn, err := s.CreateConnection(ctx, acct.ID, NewConnection{Name: "plant", System: "maximo"})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var stamps []time.Time
	const batch = 1000
	for i := 0; i < benchRecords; i += batch {
		res, err := s.ApplyBatch(ctx, conn.ID, fmt.Sprint("load-", i), "work_orders", workOrders(conn.ID, i, batch, "bench"), ApplyOptions{})
		if err != nil {
			b.Fatal(err)
		}
		stamps = append(stamps, res.ModifiedAt)
	}
	b.Logf("loaded %d records in %s", benchRecords, time.Since(start).Round(time.Millisecond))

	list := func(b *testing.B, after *RecordCursor) (*RecordCursor, time.Duration) {
		t0 := time.Now()
		page, err := s.ListRecords(ctx, RecordQuery{ConnectionID: conn.ID, Model: "work_orders", After: after, Limit: 100})
		d := time.Since(t0)
		if err != nil {
			b.Error(err)
		}
		return page.Next, d
	}
	// Measure a relay in its steady state: each read connection maps the
	// file on its own, and until its pages are faulted in, reads are about
	// half as fast.
	var warm sync.WaitGroup
	for g := range 64 {
		warm.Go(func() {
			after := &RecordCursor{ModifiedAt: stamps[g*len(stamps)/64]}
			for range 300 {
				if after, _ = list(b, after); after == nil {
					after = &RecordCursor{ModifiedAt: stamps[0]}
				}
			}
		})
	}
	warm.Wait()

	b.Run("readers=1", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		var lat []time.Duration
		var after *RecordCursor
		for b.Loop() {
			if after == nil {
				after = &RecordCursor{ModifiedAt: stamps[rng.IntN(len(stamps))]}
			}
			var d time.Duration
			after, d = list(b, after)
			lat = append(lat, d)
		}
		reportLatency(b, lat)
	})
	b.Run("readers=64", func(b *testing.B) {
		var (
			mu  sync.Mutex
			lat []time.Duration
		)
		// RunParallel starts parallelism × GOMAXPROCS goroutines.
		procs := runtime.GOMAXPROCS(0)
		b.SetParallelism((64 + procs - 1) / procs)
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
			var mine []time.Duration
			var after *RecordCursor
			for pb.Next() {
				if after == nil {
					after = &RecordCursor{ModifiedAt: stamps[rng.IntN(len(stamps))]}
				}
				var d time.Duration
				after, d = list(b, after)
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
		reportLatency(b, lat)
	})
}

// reportLatency reports requests per second and the p50 and p99 latency.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkApplyBatch applies batches of 1000 work orders: new records, and
// the same records again in new batches (an overlap window re-read, where
// nothing changes). It reports records per second.
func BenchmarkApplyBatch(b *testing.B) {
	backends := []struct {
		name string
		b    backend
	}{{"sqlite", sqliteBackend}, {"postgres", postgresBackend}}
	for _, be := range backends {
		for _, unchanged := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/unchanged=%v", be.name, unchanged), func(b *testing.B) {
				ctx := context.Background()
				s := be.b.open(b, be.b.fresh(b), Options{Logger: slog.New(slog.DiscardHandler)})
				acct, _ := s.CreateAccount(ctx, "bench")
				conn, err := s.CreateConnection(ctx, acct.ID, NewConnection{Name: "plant", System: "maximo"})
				if err != nil {
					b.Fatal(err)
				}
				const batch = 1000
				recs := workOrders(conn.ID, 0, batch, "bench")
				n := 0
				for b.Loop() {
					if !unchanged {
						recs = workOrders(conn.ID, n*batch, batch, "bench")
					}
					if _, err := s.ApplyBatch(ctx, conn.ID, fmt.Sprint("b", n), "work_orders", recs, ApplyOptions{}); err != nil {
						b.Fatal(err)
					}
					n++
				}
				b.ReportMetric(float64(n*batch)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}
