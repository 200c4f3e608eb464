package store

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/internal/pgtest"
)

func TestMain(m *testing.M) {
	pgtest.Main(m)
}

// backend opens stores of one database kind for the suite.
type backend struct {
	// fresh returns the location (path or DSN) of a new, empty database.
	fresh func(t testing.TB) string
	// open opens a store at a location, closed when t ends. Opening one
	// location twice gives two independent handles with their own pools,
	// as two relay replicas have.
	open func(t testing.TB, loc string, opts Options) Store
}

var sqliteBackend = backend{
	fresh: func(t testing.TB) string { return filepath.Join(t.TempDir(), "relay.db") },
	open: func(t testing.TB, loc string, opts Options) Store {
		t.Helper()
		s, err := OpenSQLite(context.Background(), loc, withTestLogger(t, opts))
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
}

var postgresBackend = backend{
	fresh: func(t testing.TB) string { return pgtest.Shared(t).CreateDB(t, "") },
	open: func(t testing.TB, loc string, opts Options) Store {
		t.Helper()
		if opts.MaxOpenConns == 0 {
			// Tests run in parallel against one server with 100
			// connections.
			opts.MaxOpenConns = 8
		}
		s, err := OpenPostgres(context.Background(), loc, withTestLogger(t, opts))
		if err != nil {
			t.Fatalf("open postgres: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	},
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	runSuite(t, sqliteBackend)
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	pgtest.Shared(t) // skips (or fails in CI) before any subtest without PostgreSQL
	runSuite(t, postgresBackend)
}

// withTestLogger sends the store's log to t.Log.
func withTestLogger(t testing.TB, opts Options) Options {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return opts
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

func TestMigrationsMatchAcrossDialects(t *testing.T) {
	sq, err := loadMigrations("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := loadMigrations("postgres")
	if err != nil {
		t.Fatal(err)
	}
	if len(sq) != len(pg) {
		t.Fatalf("sqlite has %d migrations, postgres %d", len(sq), len(pg))
	}
	for i := range sq {
		if sq[i].version != pg[i].version || sq[i].name != pg[i].name {
			t.Errorf("migration %d: sqlite %04d_%s, postgres %04d_%s", i, sq[i].version, sq[i].name, pg[i].version, pg[i].name)
		}
	}
}

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b = ?", "a = $1 AND b = $2"},
		{"(?, ?), (?, ?), (?, ?), (?, ?), (?, ?), (?)", "($1, $2), ($3, $4), ($5, $6), ($7, $8), ($9, $10), ($11)"},
	} {
		if got := postgresDialect.q(tc.in); got != tc.want {
			t.Errorf("q(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := sqliteDialect.q(tc.in); got != tc.in {
			t.Errorf("sqlite q(%q) = %q", tc.in, got)
		}
	}
}

func TestIDsSortByCreation(t *testing.T) {
	var g idGen
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := ""
	for i := range 2000 {
		// Same millisecond for runs of 100, then a step: both the
		// increment and the redraw must keep the order.
		id := g.next("x", now.Add(time.Duration(i/100)*time.Millisecond))
		if id <= prev {
			t.Fatalf("id %d %q not after %q", i, id, prev)
		}
		prev = id
	}
}
