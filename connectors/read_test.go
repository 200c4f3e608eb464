package connectors

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/connectors/model"
)

func TestMaximoModels(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		testMaximoModels(t, b.fixture(t, 30))
	})
}

// testMaximoModels reads every model of the maximo profile and checks
// counts, mapped values, enum mapping with remote_* siblings, references
// and lines against what the fixture loaded.
func testMaximoModels(t *testing.T, f *fixture) {
	c := f.open(t, Config{})
	want := map[string]int{"work_orders": len(f.wos), "assets": 4, "locations": 6, "purchase_orders": 2, "parts": 2,
		"inventory_levels": 2, "vendors": 2, "users": 2, "maintenance_plans": 2}
	if got := c.Models(); !reflect.DeepEqual(got, sortedKeys(want)) {
		t.Fatalf("models = %v", got)
	}
	recs := map[string]map[string]model.Record{}
	for name, n := range want {
		bs := readAll(t, c, ReadRequest{Model: name, BatchSize: 7})
		got := records(bs)
		if len(got) != n {
			t.Errorf("%s: %d records, want %d", name, len(got), n)
		}
		recs[name] = byRemoteID(got)
		for _, r := range got {
			if r.RemoteData == nil || r.ID != model.RecordID("conn_test", name, r.RemoteID) {
				t.Errorf("%s %s: bad id or no remote data", name, r.RemoteID)
			}
		}
	}
	id := func(m, rid string) string { return model.RecordID("conn_test", m, rid) }
	utc := func(wall time.Time) time.Time { return dialect.LocalToUTC(wall, f.loc) }
	for i, w := range f.wos {
		r, ok := recs["work_orders"][w.site+"/"+w.num]
		if !ok {
			t.Fatalf("work order %s/%s missing", w.site, w.num)
		}
		wantStatus := map[string]any{"WAPPR": "open", "APPR": "open", "INPRG": "in_progress", "WMATL": "on_hold", "COMP": "completed",
			"CLOSE": "closed", "CAN": "cancelled", "WPLAN": "open", "ODD": nil}[w.status]
		wantPrio := map[any]any{1: "urgent", 2: "high", 3: "normal", 4: "low", 5: "low", nil: nil, 9: nil}[w.prio]
		var remotePrio any
		if w.prio != nil {
			remotePrio = fmt.Sprint(w.prio)
		}
		wantType := map[string]any{"CM": "corrective", "PM": "preventive", "EM": "emergency", "CAL": "inspection", "CP": "project", "ZZ": nil}[w.worktype]
		var asset any
		if w.asset != nil {
			asset = id("assets", w.site+"/11430")
		}
		var parent any
		if w.parent != nil {
			parent = id("work_orders", w.site+"/1000")
		}
		checks := map[string]any{
			"number": w.num, "title": "Work " + w.num, "status": wantStatus, "remote_status": w.status,
			"priority": wantPrio, "remote_priority": remotePrio, "type": wantType, "remote_type": w.worktype,
			"asset_id": asset, "location_id": id("locations", w.site+"/BR200"), "site_id": w.site, "parent_id": parent,
			"maintenance_plan_id": id("maintenance_plans", w.site+"/PM100"), "assignee_ids": []string{id("users", "WILSON")},
			"requested_by": "SMITH", "reported_at": utc(w.reported), "due_at": utc(w.reported.AddDate(0, 0, 7)),
			"estimated_hours": w.est, "actual_hours": "0", "scheduled_start_at": nil, "scheduled_end_at": nil,
			"actual_start_at": nil, "completed_at": nil, "failure_code": nil,
		}
		for k, v := range checks {
			if got := r.Fields[k]; !sameValue(got, v) {
				t.Errorf("wo %d %s: %s = %#v, want %#v", i, r.RemoteID, k, got, v)
			}
		}
		if r.RemoteUpdatedAt == nil || !r.RemoteUpdatedAt.Equal(utc(w.changed)) {
			t.Errorf("wo %s: remote_updated_at = %v", r.RemoteID, r.RemoteUpdatedAt)
		}
		if r.RemoteData["WONUM"] != w.num || r.RemoteData["WORKORDERID"] != w.id {
			t.Errorf("wo %s: remote data %v", r.RemoteID, r.RemoteData)
		}
	}
	a := recs["assets"]["BEDFORD/11430"]
	for k, v := range map[string]any{"name": "Centrifugal pump", "code": "11430", "status": "active", "remote_status": "OPERATING",
		"criticality": "2", "category": "PUMP", "manufacturer": "GOULDS", "serial_number": "SN-BEDFORD",
		"location_id": id("locations", "BEDFORD/BR200"), "purchase_cost": "12500.5", "commissioned_at": utc(fixtureBase.AddDate(-3, 0, 0)), "parent_id": nil} {
		if got := a.Fields[k]; !sameValue(got, v) {
			t.Errorf("asset %s = %#v, want %#v", k, got, v)
		}
	}
	if got := recs["assets"]["TEXAS/11431"].Fields; got["status"] != "disposed" || got["parent_id"] != id("assets", "TEXAS/11430") {
		t.Errorf("asset 11431: %v", got)
	}
	l := recs["locations"]
	if l["BEDFORD/BR200"].Fields["parent_id"] != id("locations", "BEDFORD/BEDFORD") || l["BEDFORD/BEDFORD"].Fields["parent_id"] != nil ||
		l["TEXAS/CENTRAL"].Fields["type"] != "storeroom" || l["TEXAS/CENTRAL"].Fields["remote_type"] != "STOREROOM" {
		t.Errorf("locations: %v", l)
	}
	po := recs["purchase_orders"]["TEXAS/5000/0"]
	if po.Fields["status"] != "pending_approval" || po.Fields["vendor_id"] != id("vendors", "EAGLENA/ACME") || !sameValue(po.Fields["total_amount"], "150") {
		t.Errorf("po: %v", po.Fields)
	}
	lines, _ := po.Fields["lines"].([]map[string]any)
	if len(lines) != 2 || lines[0]["line_number"] != int64(1) || lines[1]["description"] != "Seal kit 2" ||
		lines[0]["part_id"] != id("parts", "SET1/0-1234") || !sameValue(lines[0]["unit_price"], "35") {
		t.Errorf("po lines: %v", lines)
	}
	p := recs["parts"]
	if p["SET1/0-1234"].Fields["unit_of_measure"] != "EACH" || p["SET1/0-9999"].Fields["unit_of_measure"] != "EACH" ||
		p["SET1/0-1234"].Fields["is_active"] != true || p["SET1/0-9999"].Fields["is_active"] != false {
		t.Errorf("parts: %v", p)
	}
	inv := recs["inventory_levels"]["1"]
	if !sameValue(inv.Fields["quantity_on_hand"], "7.25") || !sameValue(inv.Fields["reorder_point"], "4") ||
		!sameValue(inv.Fields["max_quantity"], "20.5") || inv.Fields["bin"] != "A-01" {
		t.Errorf("inventory: %v", inv.Fields)
	}
	if _, ok := inv.Fields["min_quantity"]; ok {
		t.Errorf("min_quantity mapped although INVENTORY.SSTOCK does not exist here")
	}
	v := recs["vendors"]
	if v["EAGLENA/ACME"].Fields["is_active"] != true || v["EAGLENA/OLDCO"].Fields["is_active"] != false ||
		v["EAGLENA/ACME"].Fields["address"] != "1 Main St, Bedford" || v["EAGLENA/OLDCO"].Fields["address"] != nil {
		t.Errorf("vendors: %v", v)
	}
	u := recs["users"]
	if u["WILSON"].Fields["craft"] != "MECH" || u["WILSON"].Fields["email"] != "mw@example.com" || u["SMITH"].Fields["is_active"] != false {
		t.Errorf("users: %v", u)
	}
	mp := recs["maintenance_plans"]["TEXAS/PM100"]
	if mp.Fields["interval"] != int64(1) || mp.Fields["interval_unit"] != "month" || mp.Fields["trigger_type"] != "calendar" ||
		!reflect.DeepEqual(mp.Fields["asset_ids"], []string{id("assets", "TEXAS/11430")}) {
		t.Errorf("maintenance plan: %v", mp.Fields)
	}
	r, err := c.ReadByKey(context.Background(), "work_orders", "TEXAS/1000")
	if err != nil || r.Fields["number"] != "1000" || r.Fields["site_id"] != "TEXAS" {
		t.Errorf("read by key: %v %v", r, err)
	}
	if _, err := c.ReadByKey(context.Background(), "work_orders", "TEXAS/nope"); Classify(err) != BadRequest {
		t.Errorf("missing record: %v", err)
	}
}

func sortedKeys(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestIncrementalRowversion(t *testing.T) {
	forEachBackend(t, testIncrementalRowversion)
}

func testIncrementalRowversion(t *testing.T, b backend) {
	f := b.fixture(t, 25)
	c := f.open(t, Config{})
	bs := readAll(t, c, ReadRequest{Model: "work_orders", BatchSize: 4})
	if n := len(records(bs)); n != 25 {
		t.Fatalf("initial read: %d", n)
	}
	for i, b := range bs {
		if len(b.Records) > 4 || b.Final {
			t.Errorf("batch %d: %d records final=%v", i, len(b.Records), b.Final)
		}
	}
	wm := lastWatermark(bs, "")
	if again := records(readAll(t, c, ReadRequest{Model: "work_orders", Watermark: wm})); len(again) != 0 {
		t.Fatalf("nothing changed but read %d", len(again))
	}
	f.touch("TEXAS", "1003", "changed one")
	f.touch("BEDFORD", "1000", "changed two")
	w := f.addWO(25)
	got := records(readAll(t, c, ReadRequest{Model: "work_orders", Watermark: wm, BatchSize: 2}))
	var ids []string
	for _, r := range got {
		ids = append(ids, r.RemoteID)
	}
	want := []string{"TEXAS/1003", "BEDFORD/1000", w.site + "/" + w.num}
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("changed rows = %v, want %v", ids, want)
	}
	if got[0].Fields["title"] != "changed one" {
		t.Errorf("title = %v", got[0].Fields["title"])
	}
}

func TestFullResync(t *testing.T) {
	forEachBackend(t, testFullResync)
}

func testFullResync(t *testing.T, b backend) {
	f := b.fixture(t, 10)
	c := f.open(t, Config{})
	for _, bsz := range []int{3, 5, 10, 1000} {
		bs := readAll(t, c, ReadRequest{Model: "work_orders", Full: true, BatchSize: bsz, Watermark: "stale"})
		if n := len(records(bs)); n != 10 {
			t.Fatalf("batch %d: %d records", bsz, n)
		}
		for i, b := range bs {
			last := i == len(bs)-1
			if b.Final != last {
				t.Errorf("batch size %d: batch %d final=%v", bsz, i, b.Final)
			}
			if !last && b.Watermark != "stale" {
				t.Errorf("intermediate batch advanced the watermark to %q", b.Watermark)
			}
		}
		wm := bs[len(bs)-1].Watermark
		// The position after a full re-sync has no key: rows at exactly
		// that ROWSTAMP are read again, harmlessly.
		if again := records(readAll(t, c, ReadRequest{Model: "work_orders", Watermark: wm})); len(again) > 1 {
			t.Errorf("after full re-sync read %d", len(again))
		}
	}
	// History window: only rows whose CHANGEDATE is within the window.
	now := dialect.LocalToUTC(fixtureBase.Add(9*time.Minute+30*time.Second), f.loc)
	c2 := f.open(t, Config{Now: func() time.Time { return now }})
	got := records(readAll(t, c2, ReadRequest{Model: "work_orders", Full: true, HistoryWindow: 3 * time.Minute}))
	if len(got) != 3 {
		t.Errorf("history window: %d records, want 3", len(got))
	}
}

func TestBatchByteLimit(t *testing.T) {
	forEachBackend(t, testBatchByteLimit)
}

func testBatchByteLimit(t *testing.T, b backend) {
	f := b.fixture(t, 0)
	if f.d == dialect.Postgres {
		// SQLite ignores the declared length; PostgreSQL needs room for
		// descriptions that fill a third of a batch each.
		f.exec(`ALTER TABLE "WORKORDER" ALTER COLUMN "DESCRIPTION" TYPE text`)
	}
	big := strings.Repeat("x", 300<<10)
	upd, err := f.d.BuildUpdate("WORKORDER", []string{"DESCRIPTION"}, []string{"WORKORDERID"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		w := f.addWO(i)
		f.exec(upd, big, w.id)
	}
	c := f.open(t, Config{})
	bs := readAll(t, c, ReadRequest{Model: "work_orders"})
	if len(records(bs)) != 8 {
		t.Fatalf("records = %d", len(records(bs)))
	}
	for i, bt := range bs {
		size := 0
		for _, r := range bt.Records {
			j, _ := r.MarshalJSON()
			size += len(j)
		}
		if size > MaxBatchBytes {
			t.Errorf("batch %d encodes to %d bytes", i, size)
		}
	}
	if len(bs) < 4 {
		t.Errorf("expected the size limit to split batches, got %d", len(bs))
	}
}
