package connectors

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/connectors/profiles"
)

// mappingProfile exercises map_by, lookups with where and required on
// status writes, and joins that keep the first matching row.
const mappingProfile = `
version: 1
system: test
models:
  work_orders:
    table: EV
    key: [CODE]
    watermark: {strategy: row_hash}
    joins:
      - {table: EQL, alias: e, on: {CODE: WO}, first: SEQ}
    fields:
      number: {column: CODE}
      title: {column: e.EQ}
      status:
        column: ST
        values: {CANC: cancelled}
        map_by: {column: RST, values: {A: open, R: in_progress, C: completed}}
        write_values: {open: A, cancelled: CANC, completed: C}
    write:
      create:
        required: [number]
        defaults: {ST: A, RST: A}
        lookups:
          RST: {table: UC, column: RCODE, match: {CODE: ST}, where: [{column: ENT, in: [EVST]}], required: true}
      status:
        required: [status]
        lookups:
          RST: {table: UC, column: RCODE, match: {CODE: ST}, where: [{column: ENT, in: [EVST]}], required: true}
`

func mappingFixture(t *testing.T) (*sql.DB, *SQLConnector) {
	t.Helper()
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range []string{
		`CREATE TABLE "EV" ("CODE" varchar(10) NOT NULL PRIMARY KEY, "ST" varchar(4), "RST" varchar(4) NOT NULL)`,
		`CREATE TABLE "EQL" ("WO" varchar(10) NOT NULL, "SEQ" integer NOT NULL, "EQ" varchar(10))`,
		`CREATE TABLE "UC" ("ENT" varchar(4) NOT NULL, "CODE" varchar(4) NOT NULL, "RCODE" varchar(4) NOT NULL)`,
		`INSERT INTO "EV" VALUES ('1', 'A', 'A'), ('2', 'IP', 'R'), ('3', 'CANC', 'C'), ('4', 'X', 'Z'), ('5', NULL, 'C')`,
		// Several rows per work order, out of order; 5 has none.
		`INSERT INTO "EQL" VALUES ('1', 2, 'P-2'), ('1', 1, 'P-1'), ('2', 7, 'M-7'), ('3', 3, 'C-3'), ('3', 4, 'C-4'), ('4', 1, 'T-1')`,
		// IP is a site's own code; the same code under another entity must not match.
		`INSERT INTO "UC" VALUES ('EVST', 'A', 'A'), ('EVST', 'IP', 'R'), ('EVST', 'C', 'C'), ('EVST', 'CANC', 'C'), ('DOST', 'Q', 'Q')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	p, err := profiles.Parse([]byte(mappingProfile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenDB(context.Background(), db, dialect.SQLite, Config{ConnectionID: "conn_m", Profile: p, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return db, c
}

func TestMapByAndFirstJoin(t *testing.T) {
	_, c := mappingFixture(t)
	got := byRemoteID(records(readAll(t, c, ReadRequest{Model: "work_orders", BatchSize: 2})))
	want := map[string][3]any{ // status, remote_status, title
		"1": {"open", "A", "P-1"},
		"2": {"in_progress", "IP", "M-7"},
		"3": {"cancelled", "CANC", "C-3"},
		"4": {nil, "X", "T-1"},
		"5": {"completed", nil, nil},
	}
	if len(got) != len(want) {
		t.Fatalf("read %d work orders, want %d (the first join must not repeat rows)", len(got), len(want))
	}
	for id, w := range want {
		f := got[id].Fields
		if g := [3]any{f["status"], f["remote_status"], f["title"]}; g != w {
			t.Errorf("work order %s: status, remote_status, title = %v, want %v", id, g, w)
		}
	}
}

func TestLookupOnStatusWrite(t *testing.T) {
	db, c := mappingFixture(t)
	ctx := context.Background()
	rst := func(code string) string {
		t.Helper()
		var v string
		if err := db.QueryRow(`SELECT "RST" FROM "EV" WHERE "CODE" = ?`, code).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name       string
		fields     map[string]any
		wantStatus any
		wantRST    string
	}{
		{"site code through R5UCODES-style lookup", map[string]any{"remote_status": "IP"}, "in_progress", "R"},
		{"unified value through write_values", map[string]any{"status": "cancelled"}, "cancelled", "C"},
		{"back to open", map[string]any{"status": "open"}, "open", "A"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := c.Write(ctx, WriteRequest{Model: "work_orders", Op: model.OpStatus, RemoteID: "1", Fields: tc.fields})
			if err != nil {
				t.Fatal(err)
			}
			if rec.Fields["status"] != tc.wantStatus || rst("1") != tc.wantRST {
				t.Errorf("status %v with RST %s, want %v with %s", rec.Fields["status"], rst("1"), tc.wantStatus, tc.wantRST)
			}
		})
	}

	invalid := []struct {
		name string
		req  WriteRequest
		want string
	}{
		{"unknown site code", WriteRequest{Model: "work_orders", Op: model.OpStatus, RemoteID: "2", Fields: map[string]any{"remote_status": "ZZ"}}, "/remote_status"},
		{"code of another entity", WriteRequest{Model: "work_orders", Op: model.OpStatus, RemoteID: "2", Fields: map[string]any{"remote_status": "Q"}}, "/remote_status"},
		{"unknown code on create", WriteRequest{Model: "work_orders", Op: model.OpCreate, Fields: map[string]any{"number": "9", "remote_status": "NOPE"}}, "/remote_status"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Write(ctx, tc.req)
			var ve *ValidationError
			if !errors.As(err, &ve) || Classify(err) != BadRequest || len(ve.Fields) != 1 || ve.Fields[0].Pointer != tc.want {
				t.Fatalf("error %v, want a validation error at %s", err, tc.want)
			}
		})
	}
	if rst("2") != "R" {
		t.Errorf("a rejected status write changed RST to %s", rst("2"))
	}
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM "EV" WHERE "CODE" = '9'`).Scan(&n)
	if n != 0 {
		t.Error("a rejected create inserted its row")
	}

	// Without a status, defaults apply and the lookup does not run.
	rec, err := c.Write(ctx, WriteRequest{Model: "work_orders", Op: model.OpCreate, Fields: map[string]any{"number": "10"}})
	if err != nil || rec.Fields["status"] != "open" || rst("10") != "A" {
		t.Fatalf("create with defaults: %v %v", rec, err)
	}
}

func TestMappingFeaturesRejected(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"map_by on a string field", `version: 1
system: x
models:
  work_orders:
    table: T
    key: [K]
    watermark: {strategy: row_hash}
    fields: {title: {column: A, map_by: {column: B, values: {x: open}}}}`, "models.work_orders.fields.title.map_by"},
		{"map_by to an unknown value", `version: 1
system: x
models:
  work_orders:
    table: T
    key: [K]
    watermark: {strategy: row_hash}
    fields: {status: {column: A, map_by: {column: B, values: {x: done}}}}`, "models.work_orders.fields.status.map_by.values.x"},
		{"lookup without match", `version: 1
system: x
models:
  work_orders:
    table: T
    key: [K]
    watermark: {strategy: row_hash}
    write: {status: {lookups: {B: {table: U, column: C}}}}`, "models.work_orders.write.status.lookups.B"},
		{"lookup filter without values", `version: 1
system: x
models:
  work_orders:
    table: T
    key: [K]
    watermark: {strategy: row_hash}
    write: {status: {lookups: {B: {table: U, column: C, match: {D: A}, where: [{column: E}]}}}}`, "models.work_orders.write.status.lookups.B.where[0]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := profiles.Parse([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want+":") {
				t.Fatalf("error %v, want one at %s", err, tc.want)
			}
		})
	}
	// A first column the joined table lacks is reported at its path.
	p, err := profiles.Parse([]byte(strings.Replace(mappingProfile, "first: SEQ", "first: NOPE", 1)))
	if err != nil {
		t.Fatal(err)
	}
	db, _ := mappingFixture(t)
	_, err = OpenDB(context.Background(), db, dialect.SQLite, Config{Profile: p, Overrides: &Overrides{Version: 1,
		Models: map[string]*profiles.ModelOverride{"work_orders": {Source: p.Models["work_orders"]}}}})
	if err == nil || !strings.Contains(err.Error(), "joins[0].first") {
		t.Fatalf("error %v, want one at joins[0].first", err)
	}
}

// TestRowHashCoversLines changes only a line of a row_hash model with lines
// (an MP2 receipt updates PURREQ, not POHEADER) and expects the order back.
func TestRowHashCoversLines(t *testing.T) {
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "l.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range []string{
		`CREATE TABLE "PH" ("N" varchar(10) NOT NULL PRIMARY KEY, "ST" varchar(10))`,
		`CREATE TABLE "PL" ("N" varchar(10) NOT NULL, "L" integer NOT NULL, "Q" numeric(8,2))`,
		`INSERT INTO "PH" VALUES ('P1', 'OPEN'), ('P2', 'OPEN')`,
		`INSERT INTO "PL" VALUES ('P1', 1, 0), ('P1', 2, 0), ('P2', 1, 0)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	p, err := profiles.Parse([]byte(`version: 1
system: test
models:
  purchase_orders:
    table: PH
    key: [N]
    watermark: {strategy: row_hash}
    fields: {number: {column: N}}
    children:
      lines: {table: PL, on: {N: N}, order_by: [L], fields: {line_number: {column: L}, received_quantity: {column: Q}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenDB(context.Background(), db, dialect.SQLite, Config{ConnectionID: "conn_l", Profile: p, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	snap := memSnapshot{}
	read := func() []string {
		bs := readAll(t, c, ReadRequest{Model: "purchase_orders", Snapshot: snap})
		snap.apply(bs)
		var ids []string
		for _, r := range records(bs) {
			ids = append(ids, r.RemoteID)
		}
		return ids
	}
	if got := read(); len(got) != 2 {
		t.Fatalf("initial read: %v", got)
	}
	if _, err := db.Exec(`UPDATE "PL" SET "Q" = 5 WHERE "N" = 'P1' AND "L" = 2`); err != nil {
		t.Fatal(err)
	}
	if got := read(); len(got) != 1 || got[0] != "P1" {
		t.Errorf("after a line changed: %v, want [P1]", got)
	}
	if got := read(); len(got) != 0 {
		t.Errorf("without changes: %v", got)
	}
}
