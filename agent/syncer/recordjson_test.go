package syncer

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors"
	"github.com/plantbridge/plantbridge/connectors/demodb"
	"github.com/plantbridge/plantbridge/connectors/model"
)

// demoRecords reads every record of every model of a small demo database of system.
func demoRecords(t testing.TB, system string, rows int) []model.Record {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), system+".db")
	db, err := demodb.Open(ctx, "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := demodb.CreateAt(ctx, db, system, rows, 3, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	c, err := connectors.Open(ctx, connectors.Config{System: system, Driver: "sqlite", DSN: path, ConnectionID: "conn_test",
		Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []model.Record
	for _, m := range c.Models() {
		if err := c.Read(ctx, connectors.ReadRequest{Model: m, Full: true}, func(b connectors.Batch) error {
			out = append(out, b.Records...)
			return nil
		}); err != nil {
			t.Fatalf("read %s %s: %v", system, m, err)
		}
	}
	return out
}

// TestAppendRecordMatchesMarshalJSON checks the fast encoder against the record's own
// MarshalJSON on every record of every demo system and on values at the edges.
func TestAppendRecordMatchesMarshalJSON(t *testing.T) {
	var recs []model.Record
	for _, sys := range demodb.Systems {
		recs = append(recs, demoRecords(t, sys, 30)...)
	}
	at := time.Date(2026, 3, 1, 12, 30, 0, 123456789, time.FixedZone("CET", 3600))
	recs = append(recs,
		model.Record{ID: "x", RemoteID: `A/"B"<&>`, CreatedAt: at, ModifiedAt: at, RemoteCreatedAt: &at, RemoteWasDeleted: true},
		model.Record{ID: "y", RemoteID: "1", Fields: map[string]any{
			"title": "tab\there, newline\n, \x01 control, \u2028 separator, bad \xff utf-8, emoji 🔧, back\\slash",
			"int":   int64(-42), "plain_int": 7, "uint": uint64(math.MaxUint64), "yes": true, "none": nil,
			"small": 1e-7, "big": 1e21, "normal": 3.25, "neg": -0.5, "zero": 0.0,
			"at": at, "at_ptr": &at, "nil_time": (*time.Time)(nil),
			"ids": []string{"a", "b"}, "no_ids": []string(nil),
			"lines": []map[string]any{{"n": int64(1), "due": at}, nil}, "no_lines": []map[string]any(nil),
			"list": []any{"x", int64(1), at, nil}, "no_list": []any(nil),
			"obj": map[string]any{"z": 1.5, "a": map[string]any{"t": at}}, "no_obj": map[string]any(nil),
			"float32": float32(1.5), "bytes": []byte("raw"), "strmap": map[string]string{"b": "2", "a": "1"},
			"id": "ignored: a common key", "remote_data": "ignored too",
			"<script>": "key needing escapes",
		}, CustomFields: map[string]any{}, RemoteData: map[string]any{"COL": []byte{1, 2}, "N": json.Number("12.50")}},
	)
	// One encoder for all, as a run uses it: the key cache must notice every change of
	// keys between records.
	var enc recordEncoder
	for i := range recs {
		want, err := recs[i].MarshalJSON()
		if err != nil {
			t.Fatalf("record %d: MarshalJSON: %v", i, err)
		}
		got, err := enc.appendRecord(nil, &recs[i])
		if err != nil {
			t.Fatalf("record %d: appendRecord: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("record %d (%s %s) differs:\n got %s\nwant %s", i, recs[i].Model, recs[i].RemoteID, got, want)
		}
	}
	if len(recs) < 300 {
		t.Errorf("only %d records compared", len(recs))
	}
	bad := model.Record{ID: "z", RemoteID: "1", Fields: map[string]any{"nan": math.NaN()}}
	if _, err := appendRecord(nil, &bad); err == nil {
		t.Error("NaN encoded without an error")
	}
}

// BenchmarkAppendRecord compares the fast encoder with MarshalJSON on Maximo work
// orders.
func BenchmarkAppendRecord(b *testing.B) {
	recs := demoRecords(b, "maximo", 500)
	b.Run("append", func(b *testing.B) {
		var buf []byte
		var enc recordEncoder
		for i := 0; b.Loop(); i++ {
			buf, _ = enc.appendRecord(buf[:0], &recs[i%len(recs)])
		}
	})
	b.Run("MarshalJSON", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			recs[i%len(recs)].MarshalJSON()
		}
	})
}
