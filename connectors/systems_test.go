package connectors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/demodb"
	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/connectors/profiles"
)

// This file holds what the tests of the system profiles share: a demodb
// database of a system opened through its profile, source rows read with
// plain SQL, and the conversions that turn those rows into the values a
// record must carry. The expectations are written from the source rows
// with conversions of their own, never through the mapper under test.

// sysConnID is the connection id of the system tests' records.
const sysConnID = "conn_sys"

// sysDemo is a demodb database of one system, its mutator's handle and a
// connector on a second handle, as an agent reads a live system.
type sysDemo struct {
	system string
	b      backend
	ddb    *demodb.DB
	db     *sql.DB
	loc    *time.Location
	c      *SQLConnector
}

// openSystem creates system's demo database with rows work orders on b and
// opens a connector on it with now as its clock. The profile must compile
// against the demo schema with nothing left out.
func openSystem(t *testing.T, b backend, system string, rows int, now func() time.Time) *sysDemo {
	t.Helper()
	ctx := context.Background()
	target := b.target(t)
	ddb, err := demodb.Open(ctx, b.d.Name(), target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ddb.Close() })
	if err := demodb.CreateAt(ctx, ddb, system, rows, 1, demoNow, testLogger(t)); err != nil {
		t.Fatalf("create %s demo database: %v", system, err)
	}
	if b.d == dialect.SQLite {
		target = "file:" + target + "?_busy_timeout=10000"
	}
	db := b.open(t, target)
	loc, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenDB(ctx, db, b.d, Config{System: system, ConnectionID: sysConnID, Location: loc, Now: now,
		WriteUser: "PLANTBRIDGE", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := profiles.Load(system)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, soft, err := compile(p, nil, s, b.d); err != nil || len(soft) > 0 {
		t.Fatalf("the %s profile does not fit its demo schema: %v %v", system, err, soft)
	}
	return &sysDemo{system: system, b: b, ddb: ddb, db: db, loc: loc, c: c}
}

// srcRow is one source row: upper-case column name → driver value.
type srcRow struct {
	s    *sysDemo
	vals map[string]any
}

// rows runs a query written with upper-case identifiers and ? placeholders
// (quoted and renumbered here) and returns its rows.
func (s *sysDemo) rows(t *testing.T, q string, args ...any) []srcRow {
	t.Helper()
	rows, err := s.db.Query(s.sql(q), args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []srcRow
	for rows.Next() {
		raw := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		r := srcRow{s: s, vals: map[string]any{}}
		for i, c := range cols {
			v := raw[i]
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			r.vals[strings.ToUpper(c)] = v
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sql quotes the upper-case identifiers of q (outside string literals) and
// turns ? into the dialect's placeholders.
func (s *sysDemo) sql(q string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); {
		switch ch := q[i]; {
		case ch == '\'':
			j := strings.IndexByte(q[i+1:], '\'') + i + 2
			b.WriteString(q[i:j])
			i = j
		case ch == '?':
			n++
			b.WriteString(s.b.d.Placeholder(n))
			i++
		case ch >= 'A' && ch <= 'Z':
			j := i
			for j < len(q) && (q[j] >= 'A' && q[j] <= 'Z' || q[j] >= '0' && q[j] <= '9' || q[j] == '_') {
				j++
			}
			b.WriteString(`"` + q[i:j] + `"`)
			i = j
		default:
			b.WriteByte(ch)
			i++
		}
	}
	return b.String()
}

func (r srcRow) raw(col string) any {
	v, ok := r.vals[col]
	if !ok {
		panic("test query lacks column " + col)
	}
	return v
}

// str is a text column as a record carries it: nil or the string.
func (r srcRow) str(col string) any {
	switch v := r.raw(col).(type) {
	case nil:
		return nil
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

// text is str without nil: the code a key part or enum is compared as.
func (r srcRow) text(col string) string {
	if s, ok := r.str(col).(string); ok {
		return s
	}
	return ""
}

// dec is a number column as a decimal string (compared with sameValue).
func (r srcRow) dec(col string) any {
	switch v := r.raw(col).(type) {
	case nil:
		return nil
	case float64:
		return new(big.Float).SetFloat64(v).Text('f', -1)
	case int64:
		return strconv.FormatInt(v, 10)
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// int is a number column as an int64.
func (r srcRow) int(col string) any {
	switch v := r.raw(col).(type) {
	case nil:
		return nil
	case int64:
		return v
	case float64:
		return int64(v)
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			panic(err)
		}
		return n
	}
	panic(fmt.Sprintf("%s: %T is no integer", col, r.raw(col)))
}

// time is a local date and time column as the instant it names in the
// connection's time zone.
func (r srcRow) time(col string) any {
	var wall time.Time
	switch v := r.raw(col).(type) {
	case nil:
		return nil
	case time.Time:
		wall = time.Date(v.Year(), v.Month(), v.Day(), v.Hour(), v.Minute(), v.Second(), v.Nanosecond(), time.UTC)
	case string:
		var err error
		if wall, err = time.Parse("2006-01-02 15:04:05", v); err != nil {
			panic(err)
		}
	default:
		panic(fmt.Sprintf("%s: %T is no time", col, v))
	}
	return dialect.LocalToUTC(wall, r.s.loc)
}

// ref is the unified id of the record of refModel that cols point at, nil
// when a key part is empty.
func (r srcRow) ref(refModel string, cols ...string) any {
	parts := make([]string, len(cols))
	for i, c := range cols {
		if parts[i] = r.text(c); parts[i] == "" {
			return nil
		}
	}
	return model.RecordID(sysConnID, refModel, model.JoinKey(parts))
}

// refs is ref as a one-entry list (an empty list for no reference).
func (r srcRow) refs(refModel string, cols ...string) []string {
	if id, ok := r.ref(refModel, cols...).(string); ok {
		return []string{id}
	}
	return []string{}
}

// key is the remote id the key columns form.
func (r srcRow) key(cols ...string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = r.text(c)
	}
	return model.JoinKey(parts)
}

// sameInstant reports whether v is a time equal to t.
func sameInstant(v any, t time.Time) bool {
	x, ok := v.(time.Time)
	return ok && x.Equal(t)
}

// fieldWant is the expected value of one field, computed from a source row.
type fieldWant struct {
	field string
	want  func(r srcRow) any
}

// checkRecords compares records with the source rows keyed by key: the same
// set of remote ids, and every listed field (and custom field, as
// "custom.NAME") equal to its expectation.
func checkRecords(t *testing.T, name string, recs []model.Record, src []srcRow, key []string, wants []fieldWant) {
	t.Helper()
	got := byRemoteID(recs)
	if len(got) != len(recs) {
		t.Errorf("%s: %d records carry only %d remote ids", name, len(recs), len(got))
	}
	if len(recs) != len(src) {
		t.Errorf("%s: %d records, the source has %d rows", name, len(recs), len(src))
	}
	if len(src) == 0 {
		t.Fatalf("%s: the source has no rows to compare", name)
	}
	bad := 0
	for _, r := range src {
		rid := r.key(key...)
		rec, ok := got[rid]
		if !ok {
			t.Errorf("%s %s: no record", name, rid)
			continue
		}
		if rec.ID != model.RecordID(sysConnID, name, rid) || rec.RemoteData == nil {
			t.Errorf("%s %s: id %s, remote data %v", name, rid, rec.ID, rec.RemoteData != nil)
		}
		for _, w := range wants {
			var g any
			if cf, ok := strings.CutPrefix(w.field, "custom."); ok {
				g = rec.CustomFields[cf]
			} else {
				var present bool
				if g, present = rec.Fields[w.field]; !present {
					t.Errorf("%s %s: field %s missing", name, rid, w.field)
					continue
				}
			}
			if want := w.want(r); !sameValue(g, want) {
				if bad++; bad <= 20 {
					t.Errorf("%s %s: %s = %#v, want %#v", name, rid, w.field, g, want)
				}
			}
		}
	}
}

// readModel reads a model in full (with a snapshot for row-hash models).
func readModel(t *testing.T, c Connector, name string, snap memSnapshot) ([]model.Record, string) {
	t.Helper()
	bs := readAll(t, c, ReadRequest{Model: name, BatchSize: 97, Snapshot: snapOrNil(snap)})
	if snap != nil {
		snap.apply(bs)
	}
	return records(bs), lastWatermark(bs, "")
}

// snapOrNil keeps a nil memSnapshot from becoming a non-nil interface.
func snapOrNil(s memSnapshot) Snapshot {
	if s == nil {
		return nil
	}
	return s
}

// remoteIDs lists the remote ids of records, sorted, split into the ones
// read and the ones reported deleted.
func remoteIDs(recs []model.Record) (read, deleted []string) {
	for _, r := range recs {
		if r.RemoteWasDeleted {
			deleted = append(deleted, r.RemoteID)
		} else {
			read = append(read, r.RemoteID)
		}
	}
	slices.Sort(read)
	slices.Sort(deleted)
	return read, deleted
}

// sortedSet returns the keys of a set, sorted.
func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// stepChanges accumulates a mutator's changes over several steps: per
// table, the keys inserted or updated and still there, and the keys deleted.
type stepChanges map[string]map[string]bool // table → key → deleted

func (c stepChanges) add(ch demodb.Changes) {
	for table, tc := range ch {
		m := c[table]
		if m == nil {
			m = map[string]bool{}
			c[table] = m
		}
		for _, k := range append(append([]string(nil), tc.Inserted...), tc.Updated...) {
			m[k] = false
		}
		for _, k := range tc.Deleted {
			m[k] = true
		}
	}
}

func (c stepChanges) keys(table string, deleted bool) []string {
	var out []string
	for k, d := range c[table] {
		if d == deleted {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func (c stepChanges) changed(table string) []string { return c.keys(table, false) }
func (c stepChanges) deleted(table string) []string { return c.keys(table, true) }

// stepUntil applies mutator steps until done holds for the changes so far,
// so that one incremental read meets every kind of change it checks; it
// gives up after a few steps.
func stepUntil(t *testing.T, m *demodb.Mutator, done func(stepChanges) bool) stepChanges {
	t.Helper()
	ch := stepChanges{}
	for range 10 {
		step, err := m.Step(context.Background(), 40)
		if err != nil {
			t.Fatal(err)
		}
		ch.add(step)
		if done(ch) {
			return ch
		}
	}
	t.Fatalf("ten mutator steps did not make the changes the test needs")
	return nil
}

// wantPointers runs a write that must fail validation and checks the field
// pointers of the error.
func wantPointers(t *testing.T, c Connector, req WriteRequest, want ...string) {
	t.Helper()
	_, err := c.Write(context.Background(), req)
	var ve *ValidationError
	if !errors.As(err, &ve) || Classify(err) != BadRequest {
		t.Fatalf("write %v: error %v, want a validation error", req.Fields, err)
	}
	var got []string
	for _, f := range ve.Fields {
		if !slices.Contains(got, f.Pointer) {
			got = append(got, f.Pointer)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("write %v: pointers %v, want %v (%v)", req.Fields, got, want, ve)
	}
}

// Expectations of a mapped field, computed from the source row: the raw column as text,
// time or decimal, a reference to another model's record, or an enum through a value map.
func wantStr(col string) func(srcRow) any  { return func(r srcRow) any { return r.str(col) } }
func wantTime(col string) func(srcRow) any { return func(r srcRow) any { return r.time(col) } }
func wantDec(col string) func(srcRow) any  { return func(r srcRow) any { return r.dec(col) } }
func wantRef(m string, cols ...string) func(srcRow) any {
	return func(r srcRow) any { return r.ref(m, cols...) }
}
func wantMapped(col string, m map[string]string) func(srcRow) any {
	return func(r srcRow) any {
		if v, ok := m[r.text(col)]; ok {
			return v
		}
		return nil
	}
}

// checkLines compares each purchase order's lines with the source rows of query, grouped
// by keyCols (which make the order's remote id) in the query's order; want gives the
// fields a line built from a row must have.
func checkLines(t *testing.T, s *sysDemo, recs []model.Record, query string, keyCols []string, want func(srcRow) map[string]any) {
	t.Helper()
	byPO := map[string][]srcRow{}
	for _, r := range s.rows(t, query) {
		k := r.key(keyCols...)
		byPO[k] = append(byPO[k], r)
	}
	for _, rec := range recs {
		lines, _ := rec.Fields["lines"].([]map[string]any)
		src := byPO[rec.RemoteID]
		if len(lines) != len(src) || len(src) == 0 {
			t.Errorf("purchase order %s: %d lines, want %d", rec.RemoteID, len(lines), len(src))
			continue
		}
		for i, r := range src {
			for k, v := range want(r) {
				if !sameValue(lines[i][k], v) {
					t.Errorf("purchase order %s line %d: %s = %#v, want %#v", rec.RemoteID, i, k, lines[i][k], v)
				}
			}
		}
	}
}
