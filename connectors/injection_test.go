package connectors

import (
	"context"
	"strings"
	"testing"

	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/connectors/profiles"
)

// TestInjection tries to smuggle SQL through every place a mapping or a
// request carries text, then checks that the schema and the data are as
// before (apart from the one row a write legitimately changed).
func TestInjection(t *testing.T) {
	f := newSQLiteFixture(t, 4)
	// Identifiers with quote characters are legal and must work, quoted.
	f.exec(`CREATE TABLE "we""ird]tab" ("k""ey" integer NOT NULL, "va]l" text, "ROWSTAMP" integer NOT NULL)`)
	f.exec(`INSERT INTO "we""ird]tab" VALUES (1, 'one', 1)`)
	c := f.open(t, Config{})
	ctx := context.Background()
	snapshot := func() string {
		t.Helper()
		rows, err := f.db.Query(`SELECT name || ':' || sql FROM sqlite_master ORDER BY name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var s string
			rows.Scan(&s)
			b.WriteString(s + "\n")
		}
		var n int
		f.db.QueryRow(`SELECT COUNT(*) FROM "WORKORDER"`).Scan(&n)
		b.WriteString(strings.Repeat("x", n))
		return b.String()
	}
	before := snapshot()
	evil := `WONUM'; DROP TABLE WORKORDER;--`
	evilIdent := `WORKORDER"; DROP TABLE "WORKORDER";--`
	docs := []string{
		`{version: 1, custom_models: {m: {table: '` + evilIdent + `', key: [WONUM], watermark: {strategy: row_hash}}}}`,
		`{version: 1, custom_models: {m: {table: WORKORDER, key: ['` + evilIdent + `'], watermark: {strategy: row_hash}}}}`,
		`{version: 1, models: {work_orders: {fields: {title: {column: '` + evilIdent + `'}}}}}`,
		`{version: 1, models: {work_orders: {custom_fields: {"x; DROP TABLE WORKORDER": {column: WONUM}}}}}`,
		`{version: 1, custom_models: {"m; DROP TABLE WORKORDER": {table: WORKORDER, key: [WONUM], watermark: {strategy: row_hash}}}}`,
		`{version: 1, custom_models: {m: {table: WORKORDER, key: [SITEID, WONUM], watermark: {strategy: row_hash}, joins: [{table: SITE, alias: "s; DROP", on: {SITEID: SITEID}}]}}}`,
	}
	for _, d := range docs {
		o, err := profiles.ParseOverrides([]byte(d))
		if err == nil {
			err = c.SetOverrides(ctx, o)
		}
		if err == nil {
			t.Errorf("accepted %s", d)
		}
	}
	// Values are bound: a where value and a quoted-identifier custom model
	// both work and change nothing.
	o := mustOverrides(t, `
version: 1
custom_models:
  filtered:
    table: WORKORDER
    key: [SITEID, WONUM]
    where: [{column: STATUS, in: ["x'); DROP TABLE WORKORDER;--", WAPPR]}]
    watermark: {strategy: rowversion, column: ROWSTAMP}
    fields: {n: {column: WONUM}}
  weird:
    table: 'we"ird]tab'
    key: ['k"ey']
    watermark: {strategy: rowversion, column: ROWSTAMP}
    fields: {v: {column: 'va]l'}}
`)
	if err := c.SetOverrides(ctx, o); err != nil {
		t.Fatal(err)
	}
	if got := records(readAll(t, c, ReadRequest{Model: "filtered"})); len(got) != 1 || got[0].Fields["n"] != "1000" {
		t.Errorf("filtered: %v", got)
	}
	if got := records(readAll(t, c, ReadRequest{Model: "weird"})); len(got) != 1 || got[0].Fields["v"] != "one" {
		t.Errorf("weird identifiers: %v", got)
	}
	if _, err := c.ReadByKey(ctx, "work_orders", "BEDFORD/"+evil); Classify(err) != BadRequest {
		t.Errorf("evil remote id: %v", err)
	}
	if _, err := c.Write(ctx, WriteRequest{Model: "work_orders", Op: model.OpUpdate, RemoteID: "BEDFORD/" + evil, Fields: map[string]any{"title": "x"}}); err == nil {
		t.Errorf("update of evil remote id succeeded")
	}
	_, err := c.Write(ctx, WriteRequest{Model: "work_orders", Op: model.OpUpdate, RemoteID: "BEDFORD/1000",
		Fields: map[string]any{"title": evil, "custom_fields": map[string]any{"a'; DROP TABLE WORKORDER;--": 1}}})
	if err == nil {
		t.Errorf("unknown custom field accepted")
	}
	rec, err := c.Write(ctx, WriteRequest{Model: "work_orders", Op: model.OpUpdate, RemoteID: "BEDFORD/1000", Fields: map[string]any{"title": evil, "failure_code": `"; DELETE FROM "WORKORDER`}})
	if err != nil || rec.Fields["title"] != evil {
		t.Fatalf("write of evil text: %v %v", rec, err)
	}
	if after := snapshot(); after != before {
		t.Errorf("schema or row count changed:\n%s\nvs\n%s", before, after)
	}
}
