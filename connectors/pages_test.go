package connectors

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/plantbridge/plantbridge/connectors/demodb"
	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/internal/leaktest"
)

// queryLog records the text of every query run through a database handle
// opened by openLogged.
type queryLog struct {
	mu      sync.Mutex // guards queries
	queries []string
}

func (l *queryLog) add(q string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queries = append(l.queries, q)
}

func (l *queryLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queries
	l.queries = nil
	return q
}

// openLogged opens a SQLite file through a connector that logs queries.
func openLogged(t *testing.T, path string) (*sql.DB, *queryLog) {
	t.Helper()
	l := &queryLog{}
	db := sql.OpenDB(loggingConnector{dsn: path, log: l})
	t.Cleanup(func() { db.Close() })
	return db, l
}

type loggingConnector struct {
	dsn string
	log *queryLog
}

func (c loggingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := (&sqlite3.SQLiteDriver{}).Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return loggingConn{Conn: conn, q: conn.(driver.QueryerContext), log: c.log}, nil
}

func (c loggingConnector) Driver() driver.Driver { return &sqlite3.SQLiteDriver{} }

type loggingConn struct {
	driver.Conn
	q   driver.QueryerContext
	log *queryLog
}

func (c loggingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.log.add(query)
	return c.q.QueryContext(ctx, query, args)
}

// demoSQLite creates a demodb Maximo database with rows work orders.
func demoSQLite(t *testing.T, rows int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "maximo.db")
	ddb, err := demodb.Open(context.Background(), "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ddb.Close()
	if err := demodb.CreateAt(context.Background(), ddb, "maximo", rows, 1, demoNow, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPageQueryPlans checks with EXPLAIN QUERY PLAN that every page query
// of an incremental read, the first included, seeks the ROWSTAMP index
// instead of scanning and sorting the table, and that a full re-sync walks
// the key's unique index.
func TestPageQueryPlans(t *testing.T) {
	path := demoSQLite(t, 300)
	db, log := openLogged(t, path)
	c, err := OpenDB(context.Background(), db, dialect.SQLite, Config{System: "maximo", ConnectionID: "plans", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Close() })
	for _, tc := range []struct {
		name  string
		req   ReadRequest
		index string
	}{
		{"incremental", ReadRequest{Model: "work_orders", BatchSize: 40}, "WORKORDER_NDX5"},
		{"full", ReadRequest{Model: "work_orders", BatchSize: 40, Full: true}, "WORKORDER_NDX1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log.take()
			if n := len(records(readAll(t, c, tc.req))); n != 300 {
				t.Fatalf("read %d work orders", n)
			}
			pages := 0
			for _, q := range log.take() {
				// Page queries, not the lookups of the watermark's
				// minimum (LIMIT 1) and maximum.
				if !strings.Contains(q, `FROM "WORKORDER" t`) || !strings.Contains(q, "LIMIT") || strings.HasSuffix(q, "LIMIT 1") {
					continue
				}
				pages++
				plan := explain(t, plain, q)
				if !strings.Contains(plan, "INDEX "+tc.index) || strings.Contains(plan, "USE TEMP B-TREE FOR ORDER BY") {
					t.Errorf("page query\n%s\nhas plan\n%s", q, plan)
				}
			}
			if pages < 8 {
				t.Errorf("saw %d page queries, want at least 8", pages)
			}
		})
	}
}

// explain returns the EXPLAIN QUERY PLAN details of q, binding a dummy
// value to each placeholder.
func explain(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	args := make([]any, strings.Count(q, "?"))
	for i := range args {
		args[i] = "0"
	}
	rows, err := db.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	return strings.Join(lines, "\n")
}

// TestRowversionTies reads work orders whose ROWSTAMPs repeat, which a
// rowversion never does but an integer column mapped as one may: pages
// then fall back to ordering by the key too, and every row is read once, in
// (ROWSTAMP, key) order, from the start and from every batch's watermark.
func TestRowversionTies(t *testing.T) {
	f := newSQLiteFixture(t, 30)
	// Pairs of work orders share a ROWSTAMP from the tenth on.
	f.exec(`UPDATE "WORKORDER" SET "ROWSTAMP" = 1000 + "WORKORDERID" / 2 WHERE "WORKORDERID" >= 10`)
	c := f.open(t, Config{})
	type row struct {
		stamp int64
		rid   string
	}
	var want []row
	rows, err := f.db.Query(`SELECT "ROWSTAMP", "SITEID" || '/' || "WONUM" FROM "WORKORDER" ORDER BY "ROWSTAMP", "SITEID", "WONUM"`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.stamp, &r.rid); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	rows.Close()
	for _, size := range []int{1, 2, 3, 7, 1000} {
		bs := readAll(t, c, ReadRequest{Model: "work_orders", BatchSize: size})
		var got []string
		for _, r := range records(bs) {
			got = append(got, r.RemoteID)
		}
		var wantIDs []string
		for _, r := range want {
			wantIDs = append(wantIDs, r.rid)
		}
		if !slices.Equal(got, wantIDs) {
			t.Fatalf("batch size %d: read\n%v\nwant\n%v", size, got, wantIDs)
		}
		// Resuming from any batch's watermark reads exactly the rest.
		done := 0
		for _, b := range bs {
			done += len(b.Records)
			rest := records(readAll(t, c, ReadRequest{Model: "work_orders", Watermark: b.Watermark, BatchSize: size}))
			if len(rest) != len(want)-done || (len(rest) > 0 && rest[0].RemoteID != want[done].rid) {
				t.Fatalf("batch size %d: after %d records the watermark resumes with %d records", size, done, len(rest))
			}
		}
	}
}

// TestReadStops ends reads early in every way a read can end early and
// checks that the cause is returned and no goroutine is left behind.
func TestReadStops(t *testing.T) {
	leaktest.Check(t)
	errStop := errors.New("outbox full")
	cases := []struct {
		name  string
		setup func(f *fixture)
		emit  func(cancel context.CancelFunc, n int) error
		want  func(error) bool
	}{
		{"emit fails", nil, func(_ context.CancelFunc, n int) error {
			if n == 3 {
				return errStop
			}
			return nil
		}, func(err error) bool { return errors.Is(err, errStop) }},
		{"context cancelled", nil, func(cancel context.CancelFunc, n int) error {
			if n == 2 {
				cancel()
			}
			return nil
		}, func(err error) bool { return errors.Is(err, context.Canceled) }},
		{"bad value in a later page", func(f *fixture) {
			f.exec(`UPDATE "WORKORDER" SET "WOPRIORITY" = 'high' WHERE "WORKORDERID" = 40`)
		}, func(context.CancelFunc, int) error { return nil }, func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "WOPRIORITY")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newSQLiteFixture(t, 60)
			if tc.setup != nil {
				tc.setup(f)
			}
			c := f.open(t, Config{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			n := 0
			err := c.Read(ctx, ReadRequest{Model: "work_orders", BatchSize: 5}, func(Batch) error {
				n++
				return tc.emit(cancel, n)
			})
			if !tc.want(err) {
				t.Errorf("read ended with %v after %d batches", err, n)
			}
		})
	}
}

// TestReadOneConnection reads through a handle limited to one connection,
// which the page scanning, the mapping workers and the line queries share.
func TestReadOneConnection(t *testing.T) {
	leaktest.Check(t)
	f := newSQLiteFixture(t, 50)
	for i := 0; i < 40; i++ {
		f.insert("PO", "POID", 100+i, "PONUM", fmt.Sprint(6000+i), "REVISIONNUM", 0, "SITEID", "TEXAS", "ORGID", "EAGLENA", "STATUS", "APPR",
			"VENDOR", "ACME", "ORDERDATE", fixtureBase, "REQUIREDDATE", fixtureBase, "CURRENCYCODE", "USD", "TOTALCOST", "1", "PRETAXTOTAL", "1", "CHANGEDATE", fixtureBase)
		f.insert("POLINE", "POLINEID", 100+i, "PONUM", fmt.Sprint(6000+i), "REVISIONNUM", 0, "POLINENUM", 1, "SITEID", "TEXAS", "ITEMNUM", "0-1234",
			"ITEMSETID", "SET1", "DESCRIPTION", "Seal", "ORDERQTY", "1", "ORDERUNIT", "EACH", "UNITCOST", "1", "LINECOST", "1", "RECEIVEDQTY", "0", "REQDELIVERYDATE", fixtureBase)
	}
	f.db.SetMaxOpenConns(1)
	c := f.open(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for model, want := range map[string]int{"work_orders": 50, "purchase_orders": 42} {
		n := 0
		err := c.Read(ctx, ReadRequest{Model: model, BatchSize: 3}, func(b Batch) error {
			for _, r := range b.Records {
				if model == "purchase_orders" && len(r.Fields["lines"].([]map[string]any)) == 0 {
					return fmt.Errorf("%s has no lines", r.RemoteID)
				}
			}
			n += len(b.Records)
			return nil
		})
		if err != nil || n != want {
			t.Errorf("%s: read %d records: %v", model, n, err)
		}
	}
}
