package demodb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testNow fixes the end of the generated history so that tests do not
// depend on the day they run.
var testNow = time.Date(2025, 6, 18, 14, 30, 0, 0, time.UTC)

// testLogger writes through t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// openTestDB returns an empty database of dialect d for t.
func openTestDB(t testing.TB, d Dialect) *DB {
	t.Helper()
	ctx := context.Background()
	var target string
	switch d {
	case SQLite:
		target = filepath.Join(t.TempDir(), "demo.db")
	case Postgres:
		target = pgtest.Shared(t).CreateDB(t, "")
	}
	db, err := Open(ctx, string(d), target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// snapshot reads every table of system as key -> row text, with all values
// cast to text so that the comparison does not depend on driver types.
func snapshot(t testing.TB, db *DB, system string) map[string]map[string]string {
	t.Helper()
	ctx := context.Background()
	sys, err := lookup(system)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, tb := range sys.tables(newGen(1, 1, testNow)) {
		var sel []string
		for _, c := range tb.cols {
			sel = append(sel, "cast("+qi(c.name)+" as text)")
		}
		rows, err := queryStrings(ctx, db.execer(), "select "+strings.Join(sel, ", ")+" from "+qi(tb.name))
		if err != nil {
			t.Fatalf("read %s: %v", tb.name, err)
		}
		m := map[string]string{}
		for _, r := range rows {
			var k []string
			for _, kc := range tb.key {
				v := r[tb.colIndex(kc)]
				if v == "\x00" {
					v = ""
				}
				k = append(k, v)
			}
			ks := strings.Join(k, "/")
			if _, dup := m[ks]; dup {
				t.Fatalf("%s: duplicate key %s", tb.name, ks)
			}
			m[ks] = strings.Join(r, "\x1f")
		}
		out[tb.name] = m
	}
	return out
}

func checksum(snap map[string]map[string]string) string {
	h := sha256.New()
	for _, tb := range sortedKeys(snap) {
		h.Write([]byte(tb))
		for _, k := range sortedKeys(snap[tb]) {
			h.Write([]byte(k + "\x1e" + snap[tb][k] + "\n"))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
