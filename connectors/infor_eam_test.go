package connectors

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/demodb"
	"github.com/plantbridge/plantbridge/connectors/model"
)

// TestInforEAM reads every model of the infor_eam profile from a demodb
// Infor EAM database and compares it with the source rows, follows a
// mutator's changes through LASTSAVED watermarks, and writes work orders,
// on SQLite and PostgreSQL.
func TestInforEAM(t *testing.T) {
	forEachBackend(t, testInforEAM)
}

// inforWOStatus is the unified status of an EAM work order: CANC and CLOS
// as pinned user codes, else its system status.
func inforWOStatus(r srcRow) any {
	switch r.text("EVT_STATUS") {
	case "CANC":
		return "cancelled"
	case "CLOS":
		return "closed"
	}
	switch r.text("EVT_RSTATUS") {
	case "Q", "A", "R":
		return "open"
	case "C":
		return "completed"
	}
	return nil
}

func inforNotUsed(col string) func(r srcRow) any {
	return func(r srcRow) any { return r.text(col) != "+" }
}

func testInforEAM(t *testing.T, b backend) {
	ctx := context.Background()
	clock := demoNow.Add(48 * time.Hour)
	s := openSystem(t, b, "infor_eam", 200, func() time.Time { return clock })
	c := s.c
	str, tm, dec, ref, enum := wantStr, wantTime, wantDec, wantRef, wantMapped
	woType := func(r srcRow) any {
		if v, ok := map[string]string{"CORR": "corrective", "PM": "preventive", "BRKD": "emergency", "INSP": "inspection", "PROJ": "project"}[r.text("EVT_JOBTYPE")]; ok {
			return v
		}
		if r.text("EVT_RTYPE") == "PPM" {
			return "preventive"
		}
		return nil
	}

	models := []struct {
		name  string
		query string
		key   []string
		wants []fieldWant
	}{
		{"work_orders", `select * from R5EVENTS where EVT_RTYPE in ('JOB', 'PPM')`, []string{"EVT_CODE"}, []fieldWant{
			{"number", str("EVT_CODE")}, {"title", str("EVT_DESC")},
			{"status", inforWOStatus}, {"remote_status", str("EVT_STATUS")},
			{"priority", enum("EVT_PRIORITY", map[string]string{"1": "urgent", "2": "high", "3": "normal", "4": "low"})},
			{"remote_priority", str("EVT_PRIORITY")}, {"type", woType}, {"remote_type", str("EVT_JOBTYPE")},
			{"asset_id", ref("assets", "EVT_OBJECT", "EVT_OBJECT_ORG")},
			{"location_id", ref("locations", "EVT_LOCATION", "EVT_LOCATION_ORG")},
			{"site_id", str("EVT_ORG")}, {"parent_id", ref("work_orders", "EVT_PARENT")},
			{"maintenance_plan_id", ref("maintenance_plans", "EVT_PPOPK", "EVT_PPMREV")},
			{"assignee_ids", func(r srcRow) any { return r.refs("users", "EVT_PERSON") }},
			{"requested_by", str("EVT_ORIGIN")}, {"reported_at", tm("EVT_REPORTED")}, {"due_at", tm("EVT_DUE")},
			{"scheduled_start_at", tm("EVT_TARGET")}, {"scheduled_end_at", tm("EVT_SCHEDEND")},
			{"actual_start_at", tm("EVT_START")}, {"completed_at", tm("EVT_COMPLETED")},
			{"downtime_hours", dec("EVT_DOWNTIMEHRS")}, {"failure_code", str("EVT_FAILURE")},
			{"custom.department", str("EVT_MRC")}, {"custom.duration_days", dec("EVT_DURATION")},
		}},
		{"assets", `select * from R5OBJECTS where OBJ_OBRTYPE in ('A', 'P', 'S')`, []string{"OBJ_CODE", "OBJ_ORG"}, []fieldWant{
			{"name", str("OBJ_DESC")}, {"code", str("OBJ_CODE")},
			{"status", enum("OBJ_STATUS", map[string]string{"I": "active", "NI": "inactive", "D": "disposed"})},
			{"remote_status", str("OBJ_STATUS")}, {"criticality", str("OBJ_CRITICALITY")}, {"category", str("OBJ_CLASS")},
			{"manufacturer", str("OBJ_MANUFACT")}, {"model", str("OBJ_MANUFACTMODEL")}, {"serial_number", str("OBJ_SERIALNO")},
			{"parent_id", ref("assets", "OBJ_PARENT", "OBJ_PARENT_ORG")},
			{"location_id", ref("locations", "OBJ_LOCATION", "OBJ_LOCATION_ORG")}, {"site_id", str("OBJ_ORG")},
			{"commissioned_at", tm("OBJ_COMMISS")}, {"purchase_cost", dec("OBJ_VALUE")}, {"custom.department", str("OBJ_MRC")},
		}},
		{"locations", `select * from R5OBJECTS where OBJ_OBRTYPE = 'L'`, []string{"OBJ_CODE", "OBJ_ORG"}, []fieldWant{
			{"name", str("OBJ_DESC")}, {"code", str("OBJ_CODE")},
			{"type", enum("OBJ_CLASS", map[string]string{"SITE": "site", "BLDG": "building", "AREA": "area", "UNIT": "functional_location", "STORE": "storeroom"})},
			{"remote_type", str("OBJ_CLASS")}, {"parent_id", ref("locations", "OBJ_PARENT", "OBJ_PARENT_ORG")}, {"site_id", str("OBJ_ORG")},
		}},
		{"purchase_orders", `select * from R5ORDERS`, []string{"ORD_CODE", "ORD_ORG"}, []fieldWant{
			{"number", str("ORD_CODE")},
			{"status", func(r srcRow) any {
				if r.text("ORD_STATUS") == "CANC" {
					return "cancelled"
				}
				return map[string]any{"U": "draft", "R": "pending_approval", "A": "approved", "C": "closed"}[r.text("ORD_RSTATUS")]
			}},
			{"remote_status", str("ORD_STATUS")}, {"vendor_id", ref("vendors", "ORD_SUPPLIER", "ORD_SUPPLIER_ORG")},
			{"order_date", tm("ORD_DATE")}, {"due_at", tm("ORD_DUE")}, {"currency", str("ORD_CURR")}, {"total_amount", dec("ORD_PRICE")},
		}},
		{"parts", `select p.*, m.MFP_MANUFACTURER, m.MFP_MANUFACTPART from R5PARTS p left join R5PARTMFGS m
			on m.MFP_PART = p.PAR_CODE and m.MFP_PART_ORG = p.PAR_ORG and m.MFP_PRIMARY = '+'`, []string{"PAR_CODE", "PAR_ORG"}, []fieldWant{
			{"part_number", str("PAR_CODE")}, {"name", str("PAR_DESC")}, {"unit_of_measure", str("PAR_UOM")},
			{"category", str("PAR_CATEGORY")}, {"manufacturer", str("MFP_MANUFACTURER")},
			{"manufacturer_part_number", str("MFP_MANUFACTPART")}, {"unit_cost", dec("PAR_BASEPRICE")},
			{"is_active", inforNotUsed("PAR_NOTUSED")},
		}},
		{"inventory_levels", `select s.*, r.STR_ORG from R5STOCK s left join R5STORES r on r.STR_CODE = s.STO_STORE`,
			[]string{"STO_PART", "STO_PART_ORG", "STO_STORE"}, []fieldWant{
				{"part_id", ref("parts", "STO_PART", "STO_PART_ORG")}, {"location_id", ref("locations", "STO_STORE", "STR_ORG")},
				{"bin", str("STO_DEFAULTBIN")}, {"quantity_on_hand", dec("STO_QTY")}, {"min_quantity", dec("STO_MINLEV")},
				{"max_quantity", dec("STO_MAXQTY")}, {"reorder_point", dec("STO_ORDLEV")},
			}},
		{"vendors", `select * from R5COMPANIES`, []string{"COM_CODE", "COM_ORG"}, []fieldWant{
			{"name", str("COM_DESC")}, {"code", str("COM_CODE")}, {"is_active", inforNotUsed("COM_NOTUSED")},
			{"email", str("COM_EMAIL")}, {"phone", str("COM_PHONE")}, {"currency", str("COM_CURR")},
		}},
		{"users", `select p.*, u.USR_EMAILADDRESS from R5PERSONNEL p left join R5USERS u on u.USR_CODE = p.PER_USER`, []string{"PER_CODE"}, []fieldWant{
			{"name", str("PER_DESC")}, {"email", str("USR_EMAILADDRESS")}, {"employee_code", str("PER_CODE")},
			{"craft", str("PER_TRADE")}, {"is_active", inforNotUsed("PER_NOTUSED")},
		}},
		{"maintenance_plans", `select o.*, p.PPM_DESC from R5PPMOBJECTS o join R5PPMS p on p.PPM_CODE = o.PPO_PPM and p.PPM_REVISION = o.PPO_REVISION`,
			[]string{"PPO_PK", "PPO_REVISION"}, []fieldWant{
				{"name", str("PPO_PPM")}, {"description", str("PPM_DESC")},
				{"asset_ids", func(r srcRow) any { return r.refs("assets", "PPO_OBJECT", "PPO_OBJECT_ORG") }},
				{"location_id", ref("locations", "PPO_LOCATION", "PPO_LOCATION_ORG")}, {"trigger_type", func(srcRow) any { return "calendar" }},
				{"interval", func(r srcRow) any { return r.int("PPO_FREQ") }},
				{"interval_unit", enum("PPO_PERIODUOM", map[string]string{"D": "day", "W": "week", "M": "month", "Y": "year"})},
				{"remote_interval_unit", str("PPO_PERIODUOM")}, {"next_due_at", tm("PPO_DUE")},
			}},
	}
	if got := c.Models(); !slices.Equal(got, []string{"assets", "inventory_levels", "locations", "maintenance_plans", "parts",
		"purchase_orders", "users", "vendors", "work_orders"}) {
		t.Fatalf("models = %v", got)
	}
	watermarks := map[string]string{}
	newest := map[string]time.Time{} // the latest *_LASTSAVED read per model
	noteNewest := func(name string, recs []model.Record) {
		for _, r := range recs {
			if r.RemoteUpdatedAt != nil && r.RemoteUpdatedAt.After(newest[name]) {
				newest[name] = *r.RemoteUpdatedAt
			}
		}
	}
	for _, m := range models {
		t.Run(m.name, func(t *testing.T) {
			recs, wm := readModel(t, c, m.name, nil)
			watermarks[m.name] = wm
			noteNewest(m.name, recs)
			checkRecords(t, m.name, recs, s.rows(t, m.query), m.key, m.wants)
			if m.name == "purchase_orders" {
				checkInforLines(t, s, recs)
			}
			if m.name == "work_orders" {
				for _, r := range recs {
					if r.RemoteUpdatedAt == nil || r.RemoteCreatedAt == nil {
						t.Fatalf("work order %s: remote times %v %v", r.RemoteID, r.RemoteCreatedAt, r.RemoteUpdatedAt)
					}
				}
			}
		})
	}

	t.Run("incremental", func(t *testing.T) {
		m, err := demodb.NewMutator(ctx, s.ddb, "infor_eam", 7)
		if err != nil {
			t.Fatal(err)
		}
		mclock := demoNow.Add(time.Hour)
		m.Now = func() time.Time { mclock = mclock.Add(time.Minute); return mclock }
		ch := stepUntil(t, m, func(ch stepChanges) bool {
			return len(ch.deleted("R5EVENTS")) > 0 && len(ch.changed("R5STOCK")) > 0
		})
		want := map[string][]string{
			"work_orders": ch.changed("R5EVENTS"), "assets": ch.changed("R5OBJECTS"),
			"purchase_orders": ch.changed("R5ORDERS"), "inventory_levels": ch.changed("R5STOCK"),
		}
		if len(want["work_orders"]) == 0 || len(want["assets"]) == 0 {
			t.Fatalf("the mutator changed no work order or asset: %v", want)
		}
		// The profile reads *_LASTSAVED with a 5-minute lookback: an incremental read
		// returns every changed row, plus only rows saved within the lookback of the
		// newest time read before.
		const lookback = 5 * time.Minute
		for _, m := range models {
			check := func(what string, recs []model.Record, want []string) {
				t.Helper()
				got, _ := remoteIDs(recs)
				for _, k := range want {
					if !slices.Contains(got, k) {
						t.Errorf("%s: %s missed changed row %s (got %v)", m.name, what, k, got)
					}
				}
				for _, r := range recs {
					if slices.Contains(want, r.RemoteID) {
						continue
					}
					if r.RemoteUpdatedAt == nil || r.RemoteUpdatedAt.Before(newest[m.name].Add(-lookback)) {
						t.Errorf("%s: %s returned unchanged %s saved %v, before the lookback of %v", m.name, what,
							r.RemoteID, r.RemoteUpdatedAt, newest[m.name])
					}
				}
			}
			bs := readAll(t, c, ReadRequest{Model: m.name, Watermark: watermarks[m.name], BatchSize: 5})
			check("incremental read", records(bs), want[m.name])
			noteNewest(m.name, records(bs))
			watermarks[m.name] = lastWatermark(bs, watermarks[m.name])
			check("read without changes", records(readAll(t, c, ReadRequest{Model: m.name, Watermark: watermarks[m.name]})), nil)
		}
		// Deletes show on a full re-sync: the deleted work orders are absent.
		full := byRemoteID(records(readAll(t, c, ReadRequest{Model: "work_orders", Full: true})))
		for _, k := range ch.deleted("R5EVENTS") {
			if _, ok := full[k]; ok {
				t.Errorf("deleted work order %s carried by the full re-sync", k)
			}
		}
		checkRecords(t, "work_orders", mapValues(full), s.rows(t, models[0].query), models[0].key, models[0].wants)
	})

	t.Run("writes", func(t *testing.T) {
		a := s.rows(t, `select OBJ_CODE, OBJ_ORG, OBJ_MRC, OBJ_LOCATION, OBJ_LOCATION_ORG, OBJ_OBTYPE from R5OBJECTS
			where OBJ_OBRTYPE = 'A' order by OBJ_CODE, OBJ_ORG`)[3]
		assetRID := a.key("OBJ_CODE", "OBJ_ORG")
		assetID := model.RecordID(sysConnID, "assets", assetRID)
		due := time.Date(2025, 7, 1, 15, 0, 0, 0, time.UTC)
		rec, err := c.Write(ctx, WriteRequest{Model: "work_orders", Op: model.OpCreate,
			Fields: map[string]any{"number": "90001", "title": "Replace coupling", "site_id": a.text("OBJ_ORG"), "asset_id": assetID,
				"priority": "high", "type": "corrective", "due_at": due.Format(time.RFC3339)},
			Refs: map[string]string{"asset_id": assetRID}})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]any{"number": "90001", "title": "Replace coupling", "status": "open", "remote_status": "A",
			"priority": "high", "remote_priority": "2", "type": "corrective", "remote_type": "CORR", "asset_id": assetID,
			"site_id": a.text("OBJ_ORG"), "location_id": a.ref("locations", "OBJ_LOCATION", "OBJ_LOCATION_ORG"), "due_at": due,
			"reported_at": clock.UTC()} {
			if got := rec.Fields[k]; !sameValue(got, v) {
				t.Errorf("created %s = %#v, want %#v", k, got, v)
			}
		}
		row := func() srcRow {
			t.Helper()
			return s.rows(t, `select EVT_STATUS, EVT_RSTATUS, EVT_OBTYPE, EVT_OBRTYPE, EVT_MRC, EVT_TYPE, EVT_RTYPE, EVT_LASTSAVED,
				EVT_CREATEDBY, EVT_DESC from R5EVENTS where EVT_CODE = '90001'`)[0]
		}
		r := row()
		if r.text("EVT_RSTATUS") != "A" || r.text("EVT_OBTYPE") != a.text("OBJ_OBTYPE") || r.text("EVT_OBRTYPE") != "A" ||
			r.text("EVT_MRC") != a.text("OBJ_MRC") || r.text("EVT_TYPE") != "JOB" || r.text("EVT_RTYPE") != "JOB" ||
			r.text("EVT_CREATEDBY") != "PLANTBRIDGE" || !sameInstant(r.time("EVT_LASTSAVED"), clock) {
			t.Errorf("created row %v", r.vals)
		}

		clock = clock.Add(time.Hour)
		rec, err = c.Write(ctx, WriteRequest{Model: "work_orders", Op: model.OpUpdate, RemoteID: "90001",
			Fields: map[string]any{"title": "Replace coupling and align", "priority": nil}})
		if err != nil || rec.Fields["title"] != "Replace coupling and align" || rec.Fields["priority"] != nil || !sameInstant(row().time("EVT_LASTSAVED"), clock) {
			t.Fatalf("update: %v %v", rec, err)
		}

		for _, tc := range []struct {
			fields             map[string]any
			status, user, syst string
		}{
			{map[string]any{"remote_status": "IP"}, "open", "IP", "R"},
			{map[string]any{"status": "completed"}, "completed", "C", "C"},
			{map[string]any{"status": "cancelled"}, "cancelled", "CANC", "C"},
		} {
			clock = clock.Add(time.Minute)
			rec, err := c.Write(ctx, WriteRequest{Model: "work_orders", Op: model.OpStatus, RemoteID: "90001", Fields: tc.fields})
			if err != nil {
				t.Fatal(err)
			}
			r := row()
			if rec.Fields["status"] != tc.status || rec.Fields["remote_status"] != tc.user || r.text("EVT_STATUS") != tc.user ||
				r.text("EVT_RSTATUS") != tc.syst || !sameInstant(r.time("EVT_LASTSAVED"), clock) {
				t.Errorf("status %v: record %v/%v, row %s/%s", tc.fields, rec.Fields["status"], rec.Fields["remote_status"],
					r.text("EVT_STATUS"), r.text("EVT_RSTATUS"))
			}
		}
		// The writes show to incremental readers.
		got, _ := remoteIDs(records(readAll(t, c, ReadRequest{Model: "work_orders", Watermark: watermarks["work_orders"]})))
		if !slices.Contains(got, "90001") {
			t.Errorf("incremental read after writes: %v", got)
		}
	})

	t.Run("invalid writes", func(t *testing.T) {
		wo := func(op model.Op, rid string, f map[string]any, refs map[string]string) WriteRequest {
			return WriteRequest{Model: "work_orders", Op: op, RemoteID: rid, Fields: f, Refs: refs}
		}
		wantPointers(t, c, wo(model.OpCreate, "", map[string]any{"priority": "low"}, nil), "/asset_id", "/number", "/site_id", "/title")
		bogus := model.RecordID(sysConnID, "assets", "NOPE/HOUSTON")
		wantPointers(t, c, wo(model.OpCreate, "", map[string]any{"number": "90002", "title": "x", "site_id": "HOUSTON", "asset_id": bogus},
			map[string]string{"asset_id": "NOPE/HOUSTON"}), "/asset_id")
		wantPointers(t, c, wo(model.OpStatus, "10001", map[string]any{"status": "in_progress"}, nil), "/status")
		wantPointers(t, c, wo(model.OpStatus, "10001", map[string]any{"remote_status": "ZZZ"}, nil), "/remote_status")
		wantPointers(t, c, wo(model.OpStatus, "10001", map[string]any{}, nil), "/status")
		wantPointers(t, c, wo(model.OpUpdate, "10001", map[string]any{"number": "1", "colour": "red", "due_at": "soon"}, nil),
			"/colour", "/due_at", "/number")
		wantPointers(t, c, wo(model.OpCreate, "", map[string]any{"number": "90003", "title": "x", "site_id": "HOUSTON",
			"asset_id": bogus, "remote_status": "NOPE"}, map[string]string{"asset_id": "NOPE/HOUSTON"}), "/asset_id", "/remote_status")
		if n := len(s.rows(t, `select EVT_CODE from R5EVENTS where EVT_CODE in ('90002', '90003')`)); n != 0 {
			t.Errorf("rejected creates left %d rows", n)
		}
		if _, err := c.Write(ctx, WriteRequest{Model: "assets", Op: model.OpCreate, Fields: map[string]any{"name": "x"}}); Classify(err) != BadRequest {
			t.Errorf("asset create: %v", err)
		}
	})
}

// checkInforLines compares purchase order lines with R5ORDERLINES.
func checkInforLines(t *testing.T, s *sysDemo, recs []model.Record) {
	t.Helper()
	checkLines(t, s, recs, `select * from R5ORDERLINES order by ORL_ORDER, ORL_ORDER_ORG, ORL_ORDLINE`,
		[]string{"ORL_ORDER", "ORL_ORDER_ORG"}, func(r srcRow) map[string]any {
			return map[string]any{"line_number": r.int("ORL_ORDLINE"), "part_id": r.ref("parts", "ORL_PART", "ORL_PART_ORG"),
				"quantity": r.dec("ORL_ORDQTY"), "unit_of_measure": r.str("ORL_PURUOM"), "unit_price": r.dec("ORL_PRICE"),
				"received_quantity": r.dec("ORL_RECVQTY"), "due_at": r.time("ORL_DUE")}
		})
}

func mapValues(m map[string]model.Record) []model.Record {
	out := make([]model.Record, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	return out
}
