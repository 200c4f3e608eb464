package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSQLiteListRecordsPlan checks that every shape of the list query is an
// index range on records_modified in (modified_at, id) order: no scan of
// the model's records and no sort, which is what keeps a page fast at any
// depth of a million-record table.
func TestSQLiteListRecordsPlan(t *testing.T) {
	ctx := context.Background()
	s, err := openSQLite(ctx, filepath.Join(t.TempDir(), "relay.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := newFixture(t, s, "acme")
	for i := range 5 {
		if _, err := s.ApplyBatch(ctx, f.conn.ID, fmt.Sprint(i), "work_orders", workOrders(f.conn.ID, i*200, 200, "x"), ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Plans with and without statistics: the relay never runs ANALYZE
	// itself, but an operator might.
	for _, analyze := range []bool{false, true} {
		if analyze {
			if _, err := s.w.ExecContext(ctx, "ANALYZE"); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Now()
		for _, tc := range []struct {
			name string
			q    RecordQuery
			// want is the index constraint: the start of the range.
			want string
		}{
			{"first page", RecordQuery{}, "(connection_id=? AND model=?)"},
			{"cursor", RecordQuery{After: &RecordCursor{ModifiedAt: now, ID: "wo_x"}}, "(modified_at,id)>(?,?)"},
			{"modified after", RecordQuery{ModifiedAfter: now}, "modified_at>?"},
			{"window", RecordQuery{ModifiedAfter: now, ModifiedBefore: now.Add(time.Hour)}, "modified_at>? AND modified_at<?"},
			{"cursor in window with deleted", RecordQuery{After: &RecordCursor{ModifiedAt: now, ID: "wo_x"},
				ModifiedAfter: now, ModifiedBefore: now, IncludeDeleted: true}, "(modified_at,id)>(?,?)"},
		} {
			tc.q.ConnectionID, tc.q.Model = f.conn.ID, "work_orders"
			query, args := s.recordsQuery(tc.q, 100)
			rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			rows.Close()
			p := strings.Join(plan, "; ")
			if len(plan) != 1 || !strings.Contains(p, "SEARCH records USING INDEX records_modified (connection_id=? AND model=?") ||
				!strings.Contains(p, tc.want) || strings.Contains(p, "TEMP B-TREE") {
				t.Errorf("analyze=%v %s: plan %q", analyze, tc.name, p)
			} else {
				t.Logf("analyze=%v %s: %s", analyze, tc.name, p)
			}
		}
	}
}

// TestSQLiteWriterPragmas checks that the writing connection runs with the cache
// and checkpoint interval that ingest is tuned for, and the readers with defaults.
func TestSQLiteWriterPragmas(t *testing.T) {
	ctx := context.Background()
	s, err := openSQLite(ctx, filepath.Join(t.TempDir(), "relay.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var cache, checkpoint int
	if err := s.w.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&cache); err != nil {
		t.Fatal(err)
	}
	if err := s.w.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&checkpoint); err != nil {
		t.Fatal(err)
	}
	if cache != -32768 || checkpoint != 10000 {
		t.Errorf("writer: cache_size %d, wal_autocheckpoint %d; want -32768, 10000", cache, checkpoint)
	}
	if err := s.r.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&cache); err != nil {
		t.Fatal(err)
	}
	if cache == -32768 {
		t.Error("readers got the writer's cache")
	}
}
