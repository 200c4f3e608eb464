package connectors

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/dialect"
)

// benchDB returns a SQLite Maximo fixture with rows work orders, generated
// once into a cache directory under os.TempDir keyed by the row count.
func benchDB(b *testing.B, rows int) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "plantbridge-bench")
	path := filepath.Join(dir, fmt.Sprintf("maximo-v2-%d.db", rows))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	os.MkdirAll(dir, 0o755)
	tmp := path + ".tmp"
	os.Remove(tmp)
	db, err := sql.Open("sqlite3", tmp+"?_journal_mode=OFF&_synchronous=OFF")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	t := &testing.T{}
	f := &fixture{t: t, d: dialect.SQLite, db: db}
	for _, s := range fixtureDDL(dialect.SQLite) {
		if _, err := db.Exec(s); err != nil {
			b.Fatal(err)
		}
	}
	// Integrations that poll ROWSTAMP add this index (demodb's WORKORDER_NDX5).
	if _, err := db.Exec(`CREATE INDEX "WORKORDER_NDX5" ON "WORKORDER" ("ROWSTAMP")`); err != nil {
		b.Fatal(err)
	}
	tx, _ := db.Begin()
	q := `INSERT INTO "WORKORDER" ("WORKORDERID","WONUM","SITEID","ORGID","DESCRIPTION","STATUS","STATUSDATE","WOPRIORITY","WORKTYPE","ASSETNUM","LOCATION",
"PARENT","PMNUM","LEAD","REPORTEDBY","REPORTDATE","TARGCOMPDATE","ESTDUR","ACTLABHRS","WOCLASS","ISTASK","HISTORYFLAG","CHANGEDATE","CHANGEBY","ROWSTAMP")
VALUES (?,?,?,'EAGLENA',?,?,?,?,?,'11430','BR200',NULL,'PM100','WILSON','SMITH',?,?,?,'1.5','WORKORDER',0,0,?,'MAXADMIN',?)`
	st, err := tx.Prepare(q)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < rows; i++ {
		at := fixtureBase.Add(time.Duration(i) * time.Second).Format("2006-01-02 15:04:05")
		if _, err := st.Exec(i+1, fmt.Sprint(100000+i/2), []string{"BEDFORD", "TEXAS"}[i%2], fmt.Sprintf("Work order %d: inspect pump seal", i),
			fixtureStatuses[i%len(fixtureStatuses)], at, 1+i%5, []string{"CM", "PM", "EM"}[i%3], at, at, fmt.Sprintf("%d.25", i%9), at, i+1); err != nil {
			b.Fatal(err)
		}
	}
	st.Close()
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	_ = f
	db.Close()
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkReadMaximoWorkOrders reads and maps a 1,000,000-row WORKORDER and,
// in the same run, scans it raw with SELECT *; it reports rows/s of both,
// their ratio, and the peak heap during the mapped read.
//
// Mapping allocates two maps per record (Fields and RemoteData), so the
// garbage collector's pacing decides much of the result: compare a run
// with GOMEMLIMIT=56MiB GOGC=400, which lets the heap grow towards the
// limit before collecting, with the default settings.
func BenchmarkReadMaximoWorkOrders(b *testing.B) {
	rows := 1_000_000
	if testing.Short() {
		rows = 100_000
	}
	path := benchDB(b, rows)
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	loc, _ := time.LoadLocation("America/New_York")
	c, err := OpenDB(context.Background(), db, dialect.SQLite, Config{System: "maximo", ConnectionID: "bench", Location: loc})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	var mapped, raw time.Duration
	var peak uint64
	for b.Loop() {
		// Raw scan of every column, the ceiling for the mapped read.
		start := time.Now()
		rs, err := db.QueryContext(ctx, `SELECT * FROM "WORKORDER"`)
		if err != nil {
			b.Fatal(err)
		}
		cols, _ := rs.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		n := 0
		for rs.Next() {
			if err := rs.Scan(ptrs...); err != nil {
				b.Fatal(err)
			}
			n++
		}
		rs.Close()
		raw += time.Since(start)
		if n != rows {
			b.Fatalf("raw scan read %d", n)
		}

		var stop atomic.Bool
		var wg sync.WaitGroup
		var localPeak atomic.Uint64
		runtime.GC()
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ms runtime.MemStats
			for !stop.Load() {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > localPeak.Load() {
					localPeak.Store(ms.HeapInuse)
				}
				time.Sleep(20 * time.Millisecond) // sampling interval, not a wait for a condition
			}
		}()
		start = time.Now()
		got := 0
		err = c.Read(ctx, ReadRequest{Model: "work_orders"}, func(bt Batch) error {
			got += len(bt.Records)
			return nil
		})
		mapped += time.Since(start)
		stop.Store(true)
		wg.Wait()
		if err != nil || got != rows {
			b.Fatalf("read %d: %v", got, err)
		}
		peak = max(peak, localPeak.Load())
	}
	n := float64(b.N * rows)
	b.ReportMetric(n/mapped.Seconds(), "mapped_rows/s")
	b.ReportMetric(n/raw.Seconds(), "raw_rows/s")
	b.ReportMetric(raw.Seconds()/mapped.Seconds()*100, "%_of_raw")
	b.ReportMetric(float64(peak)/(1<<20), "peak_heap_MiB")
}
