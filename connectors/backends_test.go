package connectors

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/demodb"
	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// backend is a database engine that the Maximo read and write tests run
// against. PostgreSQL runs on a throwaway cluster (package pgtest) with a
// fresh database per test; without PostgreSQL installed its subtests skip,
// except under CI=true, where they fail.
type backend struct {
	name string
	d    *dialect.Dialect
	// target returns an empty database: a file name or a DSN.
	target func(t *testing.T) string
}

var backends = []backend{
	{name: "sqlite", d: dialect.SQLite, target: func(t *testing.T) string {
		return filepath.Join(t.TempDir(), "maximo.db")
	}},
	{name: "postgres", d: dialect.Postgres, target: func(t *testing.T) string {
		return pgtest.Shared(t).CreateDB(t, "")
	}},
}

// forEachBackend runs fn as one subtest per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// open opens a database/sql handle on target, closed when t ends.
func (b backend) open(t *testing.T, target string) *sql.DB {
	t.Helper()
	db, err := b.d.Open(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// fixture loads the small Maximo fixture with nWO work orders.
func (b backend) fixture(t *testing.T, nWO int) *fixture {
	t.Helper()
	target := b.target(t)
	return loadFixture(t, b.d, b.open(t, target), target, nWO)
}

// demoNow ends the generated demo history, so that data and change dates do
// not depend on the day the tests run.
var demoNow = time.Date(2025, 6, 18, 14, 30, 0, 0, time.UTC)

// demo creates a demodb database of system with rows work orders and returns
// it (for a Mutator) together with a separate handle for the connector, as
// an agent reads a database that the plant's system keeps writing.
func (b backend) demo(t *testing.T, system string, rows int) (*demodb.DB, *sql.DB) {
	t.Helper()
	ctx := context.Background()
	target := b.target(t)
	ddb, err := demodb.Open(ctx, b.d.Name(), target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ddb.Close() })
	if err := demodb.CreateAt(ctx, ddb, system, rows, 1, demoNow, testLogger(t)); err != nil {
		t.Fatalf("create demo database: %v", err)
	}
	if b.d == dialect.SQLite {
		// The demo database is in WAL mode; a second handle reads while
		// the mutator writes.
		target = "file:" + target + "?_busy_timeout=10000"
	}
	return ddb, b.open(t, target)
}

// sameValue compares a mapped value with the expected one. Decimals are
// compared by value: PostgreSQL returns numeric(15,2) with its scale
// ("150.00"), SQLite stores it as a REAL ("150"); both are exact.
func sameValue(got, want any) bool {
	gs, gok := got.(string)
	ws, wok := want.(string)
	if gok && wok && isDecimal(gs) && isDecimal(ws) {
		return trimDecimal(gs) == trimDecimal(ws)
	}
	return reflect.DeepEqual(got, want)
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	s = strings.TrimPrefix(s, "-")
	dot := false
	digits := 0
	for _, r := range s {
		switch {
		case r == '.' && !dot:
			dot = true
		case r >= '0' && r <= '9':
			digits++
		default:
			return false
		}
	}
	return digits > 0
}

func trimDecimal(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "" || s == "-" || s == "-0" {
		return "0"
	}
	return s
}

// testLogger writes warnings and errors through t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
