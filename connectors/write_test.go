package connectors

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/model"
)

func TestWriteWorkOrders(t *testing.T) {
	forEachBackend(t, testWriteWorkOrders)
}

func testWriteWorkOrders(t *testing.T, b backend) {
	f := b.fixture(t, 4)
	now := time.Date(2024, 6, 1, 14, 0, 0, 0, time.UTC)
	c := f.open(t, Config{Now: func() time.Time { return now }, WriteUser: "API"})
	ctx := context.Background()
	assetID := model.RecordID("conn_test", "assets", "TEXAS/11430")
	due := time.Date(2024, 6, 10, 12, 0, 0, 0, time.UTC)
	rec, err := c.Write(ctx, WriteRequest{Model: "work_orders", Op: model.OpCreate,
		Fields: map[string]any{"number": "2001", "title": "Replace seal", "site_id": "TEXAS", "priority": "high",
			"type": "corrective", "asset_id": assetID, "due_at": due.Format(time.RFC3339), "estimated_hours": 2.5},
		Refs: map[string]string{"asset_id": "TEXAS/11430"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"number": "2001", "title": "Replace seal", "status": "open", "remote_status": "WAPPR", "priority": "high",
		"remote_priority": "2", "type": "corrective", "asset_id": assetID, "site_id": "TEXAS", "due_at": due, "estimated_hours": "2.5",
		"requested_by": "API", "reported_at": now}
	for k, v := range want {
		if got := rec.Fields[k]; !sameValue(got, v) {
			t.Errorf("created %s = %#v, want %#v", k, got, v)
		}
	}
	if rec.RemoteID != "TEXAS/2001" || rec.RemoteData["ORGID"] != "EAGLENA" || rec.RemoteData["WORKORDERID"] != int64(5) {
		t.Errorf("created record: %s %v", rec.RemoteID, rec.RemoteData)
	}
	// The local wall clock was stored, not UTC.
	var reported any
	if err := f.db.QueryRow(`SELECT "REPORTDATE" FROM "WORKORDER" WHERE "WONUM" = '2001'`).Scan(&reported); err != nil {
		t.Fatal(err)
	}
	if tm, ok := reported.(time.Time); ok {
		reported = tm.Format("2006-01-02 15:04:05")
	}
	if reported != "2024-06-01 10:00:00" {
		t.Errorf("REPORTDATE stored as %v", reported)
	}

	rec, err = c.Write(ctx, WriteRequest{Model: "work_orders", Op: model.OpUpdate, RemoteID: "TEXAS/2001",
		Fields: map[string]any{"title": "Replace both seals", "priority": nil}})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Fields["title"] != "Replace both seals" || rec.Fields["priority"] != nil || rec.Fields["number"] != "2001" {
		t.Errorf("updated: %v", rec.Fields)
	}

	var before int
	f.db.QueryRow(`SELECT COUNT(*) FROM "WOSTATUS"`).Scan(&before)
	rec, err = c.Write(ctx, WriteRequest{Model: "work_orders", Op: model.OpStatus, RemoteID: "TEXAS/2001",
		Fields: map[string]any{"status": "in_progress"}, Memo: "started"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Fields["status"] != "in_progress" || rec.Fields["remote_status"] != "INPRG" {
		t.Errorf("status: %v", rec.Fields)
	}
	var n int
	var st, memo, by string
	f.db.QueryRow(`SELECT COUNT(*) FROM "WOSTATUS"`).Scan(&n)
	f.db.QueryRow(`SELECT "STATUS", "MEMO", "CHANGEBY" FROM "WOSTATUS" WHERE "WONUM" = '2001' AND "SITEID" = 'TEXAS' ORDER BY "WOSTATUSID" DESC`).Scan(&st, &memo, &by)
	if n != before+1 || st != "INPRG" || memo != "started" || by != "API" {
		t.Errorf("WOSTATUS: %d rows (before %d), last %s %s %s", n, before, st, memo, by)
	}
	// A native code directly.
	if rec, err = c.Write(ctx, WriteRequest{Model: "work_orders", Op: model.OpStatus, RemoteID: "TEXAS/2001",
		Fields: map[string]any{"remote_status": "WMATL"}}); err != nil || rec.Fields["status"] != "on_hold" {
		t.Errorf("remote_status write: %v %v", rec, err)
	}
	// Incremental readers see the writes.
	bs := readAll(t, c, ReadRequest{Model: "work_orders"})
	if n := len(records(bs)); n != 5 {
		t.Errorf("read after writes: %d", n)
	}
}

func TestWriteValidation(t *testing.T) {
	forEachBackend(t, testWriteValidation)
}

func testWriteValidation(t *testing.T, b backend) {
	f := b.fixture(t, 2)
	c := f.open(t, Config{})
	ctx := context.Background()
	cases := []struct {
		name string
		req  WriteRequest
		want []string // pointers
	}{
		{"missing required", WriteRequest{Model: "work_orders", Op: model.OpCreate, Fields: map[string]any{"title": "x"}}, []string{"/number", "/site_id"}},
		{"bad enum and type", WriteRequest{Model: "work_orders", Op: model.OpCreate, Fields: map[string]any{"number": "1", "title": "x", "site_id": "TEXAS", "status": "done", "estimated_hours": "lots"}}, []string{"/estimated_hours", "/status"}},
		{"unknown field", WriteRequest{Model: "work_orders", Op: model.OpUpdate, RemoteID: "TEXAS/1000", Fields: map[string]any{"colour": "red"}}, []string{"/colour"}},
		{"read-only", WriteRequest{Model: "work_orders", Op: model.OpUpdate, RemoteID: "TEXAS/1000", Fields: map[string]any{"id": "x", "number": "9"}}, []string{"/id", "/number"}},
		{"unresolved ref", WriteRequest{Model: "work_orders", Op: model.OpUpdate, RemoteID: "TEXAS/1000", Fields: map[string]any{"asset_id": "ast_x"}}, []string{"/asset_id"}},
		{"mismatched ref", WriteRequest{Model: "work_orders", Op: model.OpUpdate, RemoteID: "TEXAS/1000", Fields: map[string]any{"asset_id": "ast_x"}, Refs: map[string]string{"asset_id": "TEXAS/11430"}}, []string{"/asset_id"}},
		{"status op sets only status", WriteRequest{Model: "work_orders", Op: model.OpStatus, RemoteID: "TEXAS/1000", Fields: map[string]any{"status": "closed", "title": "x"}}, []string{"/title"}},
		{"bad time", WriteRequest{Model: "work_orders", Op: model.OpUpdate, RemoteID: "TEXAS/1000", Fields: map[string]any{"due_at": "tomorrow"}}, []string{"/due_at"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Write(ctx, tc.req)
			var ve *ValidationError
			if !errors.As(err, &ve) || Classify(err) != BadRequest {
				t.Fatalf("error %v is not a validation error", err)
			}
			var got []string
			for _, fe := range ve.Fields {
				got = append(got, fe.Pointer)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("pointers %v, want %v (%v)", got, tc.want, ve)
			}
		})
	}
	if _, err := c.Write(ctx, WriteRequest{Model: "assets", Op: model.OpCreate, Fields: map[string]any{"name": "x"}}); Classify(err) != BadRequest {
		t.Errorf("write to read-only model: %v", err)
	}
	if _, err := c.Write(ctx, WriteRequest{Model: "work_orders", Op: model.OpUpdate, RemoteID: "TEXAS/404", Fields: map[string]any{"title": "x"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of missing record: %v", err)
	}
}
