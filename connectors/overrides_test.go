package connectors

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/connectors/profiles"
)

func mustOverrides(t *testing.T, doc string) *Overrides {
	t.Helper()
	o, err := profiles.ParseOverrides([]byte(doc))
	if err != nil {
		t.Fatalf("parse overrides: %v", err)
	}
	return o
}

func TestOverrides(t *testing.T) {
	f := newSQLiteFixture(t, 6)
	c := f.open(t, Config{})
	ctx := context.Background()
	good := mustOverrides(t, `
version: 1
models:
  work_orders:
    fields:
      title: {concat: [WONUM, DESCRIPTION], separator: " - "}
      requested_by: {column: LEAD}
    custom_fields:
      wo_class: {column: WOCLASS}
      labor_hours: {column: ACTLABHRS, type: decimal}
custom_models:
  wo_history:
    table: WOSTATUS
    key: [WOSTATUSID]
    watermark: {strategy: rowversion, column: ROWSTAMP}
    fields:
      wonum: {column: WONUM}
      status: {column: STATUS}
`)
	if err := c.SetOverrides(ctx, good); err != nil {
		t.Fatal(err)
	}
	r, err := c.ReadByKey(ctx, "work_orders", "BEDFORD/1000")
	if err != nil {
		t.Fatal(err)
	}
	if r.Fields["title"] != "1000 - Work 1000" || r.Fields["requested_by"] != "WILSON" ||
		r.CustomFields["wo_class"] != "WORKORDER" || r.CustomFields["labor_hours"] != "0" {
		t.Errorf("overridden record: %v %v", r.Fields, r.CustomFields)
	}
	if got := c.Models(); !contains(got, "wo_history") {
		t.Errorf("custom model not served: %v", got)
	}
	bad := []struct {
		doc, path string
	}{
		{`{version: 1, models: {work_orders: {fields: {title: {column: DESCR}}}}}`, `models.work_orders.fields.title: column "DESCR" does not exist in table WORKORDER`},
		{`{version: 1, models: {work_orders: {custom_fields: {x: {column: NOPE}}}}}`, `models.work_orders.custom_fields.x: column "NOPE" does not exist`},
		{`{version: 1, custom_models: {m1: {table: NOTATABLE, key: [A], watermark: {strategy: row_hash}}}}`, `custom_models.m1.table: table "NOTATABLE" does not exist`},
		{`{version: 1, custom_models: {m2: {table: WOSTATUS, key: [WOSTATUSID], watermark: {strategy: timestamp_column, column: STATUS}}}}`, `custom_models.m2.watermark.column: timestamp_column needs a date or time column`},
		{`{version: 1, models: {work_orders: {fields: {status: {column: STATUS, values: {X: broken}}}}}}`, `models.work_orders.fields.status.values.X`},
		{`{version: 1, models: {work_orders: {fields: {nosuch: {column: WONUM}}}}}`, `models.work_orders.fields.nosuch: unknown field`},
	}
	for _, b := range bad {
		o, err := profiles.ParseOverrides([]byte(b.doc))
		if err == nil {
			err = c.SetOverrides(ctx, o)
		}
		if err == nil || !strings.Contains(err.Error(), b.path) {
			t.Errorf("%s: error %v, want it to name %q", b.doc, err, b.path)
		}
		if err != nil && o != nil && Classify(err) != BadRequest {
			t.Errorf("%s: class %v", b.doc, Classify(err))
		}
	}
	// The rejected overrides left the good ones in force.
	r, _ = c.ReadByKey(ctx, "work_orders", "BEDFORD/1000")
	if r.Fields["title"] != "1000 - Work 1000" || c.Overrides() != good {
		t.Errorf("old overrides lost: %v", r.Fields["title"])
	}
	if err := c.SetOverrides(ctx, nil); err != nil {
		t.Fatal(err)
	}
	r, _ = c.ReadByKey(ctx, "work_orders", "BEDFORD/1000")
	if r.Fields["title"] != "Work 1000" || r.CustomFields != nil {
		t.Errorf("overrides not removed: %v", r.Fields["title"])
	}
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

// eventsFixture adds a table with a timestamp and a date column for the
// timestamp_column, date_overlap and row_hash strategies.
func eventsFixture(t *testing.T) (*fixture, *SQLConnector) {
	t.Helper()
	f := newSQLiteFixture(t, 0)
	f.exec(`CREATE TABLE "EVENTS" ("EVID" integer NOT NULL, "SITE" text NOT NULL, "NAME" text, "CHANGED" datetime, "DAY" date, "QTY" numeric(10,2))`)
	f.exec(`CREATE UNIQUE INDEX "EVENTS_NDX1" ON "EVENTS" ("SITE", "EVID")`)
	c := f.open(t, Config{System: "generic", Overrides: mustOverrides(t, `
version: 1
custom_models:
  events_ts:
    table: EVENTS
    key: [SITE, EVID]
    watermark: {strategy: timestamp_column, column: CHANGED}
    remote_updated_at: CHANGED
    fields: {name: {column: NAME}, changed: {column: CHANGED, type: time}, qty: {column: QTY, type: decimal}}
  events_lookback:
    table: EVENTS
    key: [SITE, EVID]
    watermark: {strategy: timestamp_column, column: CHANGED, overlap: 5m}
    fields: {name: {column: NAME}}
  events_day:
    table: EVENTS
    key: [SITE, EVID]
    watermark: {strategy: date_overlap, column: DAY, overlap: 24h}
    fields: {name: {column: NAME}}
  events_hash:
    table: EVENTS
    key: [SITE, EVID]
    watermark: {strategy: row_hash}
    fields: {name: {column: NAME}}
`)})
	return f, c
}

func (f *fixture) event(id int, site, name, changed, day string) {
	f.t.Helper()
	f.exec(`INSERT INTO "EVENTS" ("EVID", "SITE", "NAME", "CHANGED", "DAY") VALUES (?, ?, ?, ?, ?)`, id, site, name, changed, day)
}

// TestTimestampLookback: a row saved at 10:00 but committed after a row saved at 10:02
// was read is missed by a plain timestamp watermark and found with a lookback.
func TestTimestampLookback(t *testing.T) {
	f, c := eventsFixture(t)
	f.event(1, "A", "early", "2024-05-01 09:00:00", "2024-05-01")
	f.event(2, "A", "read first", "2024-05-01 10:02:00", "2024-05-01")
	wmPlain := lastWatermark(readAll(t, c, ReadRequest{Model: "events_ts"}), "")
	wmBack := lastWatermark(readAll(t, c, ReadRequest{Model: "events_lookback"}), "")
	f.event(3, "A", "committed late", "2024-05-01 10:00:00", "2024-05-01")

	if got := records(readAll(t, c, ReadRequest{Model: "events_ts", Watermark: wmPlain})); len(got) != 0 {
		t.Errorf("without a lookback the late row should be missed (this test shows why the lookback exists); got %v", got)
	}
	got := map[string]bool{}
	for _, r := range records(readAll(t, c, ReadRequest{Model: "events_lookback", Watermark: wmBack})) {
		got[r.RemoteID] = true
	}
	// The lookback re-reads what is inside its window (A/2) and nothing older (A/1).
	if !got["A/3"] || !got["A/2"] || got["A/1"] || len(got) != 2 {
		t.Errorf("lookback read %v, want A/2 and A/3", got)
	}
	if _, err := profiles.ParseOverrides([]byte("version: 1\ncustom_models:\n  x:\n    table: EVENTS\n    key: [EVID]\n" +
		"    watermark: {strategy: row_hash, overlap: 5m}\n    fields: {name: {column: NAME}}\n")); err == nil ||
		!strings.Contains(err.Error(), "watermark.overlap") {
		t.Errorf("overlap on row_hash: %v", err)
	}
}

func TestTimestampPageBoundary(t *testing.T) {
	f, c := eventsFixture(t)
	// Seven rows share one timestamp; pages of two split them several times.
	for i := 1; i <= 7; i++ {
		f.event(i, "A", "same", "2024-05-01 10:00:00", "2024-05-01")
	}
	f.event(8, "A", "later", "2024-05-01 10:00:01", "2024-05-01")
	bs := readAll(t, c, ReadRequest{Model: "events_ts", BatchSize: 2})
	seen := map[string]int{}
	for _, r := range records(bs) {
		seen[r.RemoteID]++
	}
	if len(seen) != 8 {
		t.Fatalf("read %d distinct rows, want 8: %v", len(seen), seen)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s read %d times", id, n)
		}
	}
	wm := lastWatermark(bs, "")
	if n := len(records(readAll(t, c, ReadRequest{Model: "events_ts", Watermark: wm}))); n != 0 {
		t.Errorf("re-read %d rows", n)
	}
	// A stored position in the middle of the equal timestamps resumes after
	// exactly the last key read.
	mid := bs[1].Watermark
	rest := records(readAll(t, c, ReadRequest{Model: "events_ts", Watermark: mid}))
	if len(rest) != 4 || rest[0].RemoteID != "A/5" {
		t.Errorf("resume from %s: %d rows, first %v", mid, len(rest), rest)
	}
	// A new row at the same timestamp with a larger key is found; one with a
	// smaller key than the last read cannot exist under an increasing key, so
	// an equal timestamp needs no other rule.
	f.event(9, "A", "same again", "2024-05-01 10:00:01", "2024-05-01")
	if got := records(readAll(t, c, ReadRequest{Model: "events_ts", Watermark: wm})); len(got) != 1 || got[0].RemoteID != "A/9" {
		t.Errorf("new equal-timestamp row: %v", got)
	}
}

func TestDSTRepeatedHour(t *testing.T) {
	f, c := eventsFixture(t)
	// 2024-11-03 01:30 happens twice in New York; the first one (EDT) is
	// 05:30 UTC.
	f.event(1, "A", "ambiguous", "2024-11-03 01:30:00", "2024-11-03")
	f.event(2, "A", "gap", "2024-03-10 02:30:00", "2024-03-10")
	got := byRemoteID(records(readAll(t, c, ReadRequest{Model: "events_ts"})))
	if want := time.Date(2024, 11, 3, 5, 30, 0, 0, time.UTC); !got["A/1"].Fields["changed"].(time.Time).Equal(want) {
		t.Errorf("repeated hour: %v, want %v", got["A/1"].Fields["changed"], want)
	}
	if want := time.Date(2024, 3, 10, 7, 30, 0, 0, time.UTC); !got["A/2"].Fields["changed"].(time.Time).Equal(want) {
		t.Errorf("gap: %v, want %v", got["A/2"].Fields["changed"], want)
	}
	for _, tc := range []struct {
		wall string
		want string
	}{
		{"2024-11-03 00:59:59", "2024-11-03T04:59:59Z"},
		{"2024-11-03 01:00:00", "2024-11-03T05:00:00Z"},
		{"2024-11-03 01:59:59", "2024-11-03T05:59:59Z"},
		{"2024-11-03 02:00:00", "2024-11-03T07:00:00Z"},
		{"2024-07-01 12:00:00", "2024-07-01T16:00:00Z"},
		{"2024-01-01 12:00:00", "2024-01-01T17:00:00Z"},
	} {
		w, _ := time.Parse("2006-01-02 15:04:05", tc.wall)
		if got := dialect.LocalToUTC(w, f.loc).Format(time.RFC3339); got != tc.want {
			t.Errorf("%s → %s, want %s", tc.wall, got, tc.want)
		}
	}
}

func TestDateOverlap(t *testing.T) {
	f, c := eventsFixture(t)
	f.event(1, "A", "old", "", "2024-05-01")
	f.event(2, "A", "day before", "", "2024-05-09")
	f.event(3, "A", "last day", "", "2024-05-10")
	bs := readAll(t, c, ReadRequest{Model: "events_day", BatchSize: 2})
	if n := len(records(bs)); n != 3 {
		t.Fatalf("initial: %d", n)
	}
	wm := lastWatermark(bs, "")
	f.event(4, "A", "new", "", "2024-05-10")
	got := records(readAll(t, c, ReadRequest{Model: "events_day", Watermark: wm}))
	var ids []string
	for _, r := range got {
		ids = append(ids, r.RemoteID)
	}
	// From 2024-05-09 (one day before the stored date) on, inclusive.
	if strings.Join(ids, ",") != "A/2,A/3,A/4" {
		t.Errorf("overlap read %v", ids)
	}
}

// memSnapshot is the caller's store of row hashes.
type memSnapshot map[string]string

func (m memSnapshot) Hash(_, rid string) (string, bool, error) { h, ok := m[rid]; return h, ok, nil }
func (m memSnapshot) Keys(_ string, fn func(string) error) error {
	for k := range m {
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}
func (m memSnapshot) apply(bs []Batch) {
	for _, b := range bs {
		for k, h := range b.Hashes {
			if h == "" {
				delete(m, k)
			} else {
				m[k] = h
			}
		}
	}
}

func TestRowHash(t *testing.T) {
	f, c := eventsFixture(t)
	for i := 1; i <= 5; i++ {
		f.event(i, "A", "n", "", "2024-05-01")
	}
	snap := memSnapshot{}
	bs := readAll(t, c, ReadRequest{Model: "events_hash", Snapshot: snap, BatchSize: 2})
	if n := len(records(bs)); n != 5 {
		t.Fatalf("initial: %d", n)
	}
	snap.apply(bs)
	if len(snap) != 5 {
		t.Fatalf("snapshot: %v", snap)
	}
	if n := len(records(readAll(t, c, ReadRequest{Model: "events_hash", Snapshot: snap}))); n != 0 {
		t.Errorf("unchanged table emitted %d", n)
	}
	f.exec(`UPDATE "EVENTS" SET "NAME" = 'changed' WHERE "EVID" = 2`)
	f.exec(`DELETE FROM "EVENTS" WHERE "EVID" = 4`)
	f.event(6, "A", "new", "", "2024-05-02")
	bs = readAll(t, c, ReadRequest{Model: "events_hash", Snapshot: snap, BatchSize: 2})
	got := byRemoteID(records(bs))
	if len(got) != 3 || got["A/2"].Fields["name"] != "changed" || !got["A/4"].RemoteWasDeleted || got["A/4"].Fields != nil || got["A/6"].RemoteWasDeleted {
		t.Errorf("changes: %v", got)
	}
	snap.apply(bs)
	if _, ok := snap["A/4"]; ok || len(snap) != 5 {
		t.Errorf("snapshot after: %v", snap)
	}
	full := readAll(t, c, ReadRequest{Model: "events_hash", Snapshot: snap, Full: true})
	if n := len(records(full)); n != 5 || !full[len(full)-1].Final {
		t.Errorf("full row-hash read: %d records", n)
	}
}

func TestGenericServesOnlyOverrides(t *testing.T) {
	f := newSQLiteFixture(t, 2)
	c := f.open(t, Config{System: "generic"})
	if len(c.Models()) != 0 {
		t.Fatalf("generic serves %v", c.Models())
	}
	err := c.SetOverrides(context.Background(), mustOverrides(t, `
version: 1
models:
  assets:
    source:
      table: ASSET
      key: [SITEID, ASSETNUM]
      watermark: {strategy: rowversion, column: ROWSTAMP}
      fields: {name: {column: DESCRIPTION}, code: {column: ASSETNUM}}
`))
	if err != nil {
		t.Fatal(err)
	}
	recs := records(readAll(t, c, ReadRequest{Model: "assets"}))
	if len(recs) != 4 || recs[0].ID != model.RecordID("conn_test", "assets", recs[0].RemoteID) {
		t.Errorf("assets via overrides: %v", recs)
	}
}
