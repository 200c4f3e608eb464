package connectors

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/demodb"
	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/connectors/model"
)

// TestMP2 reads every model of the mp2 profile from a demodb MP2 database
// and compares it with the source rows, follows a mutator's changes through
// row hashes (deletions included), and writes work orders, on SQLite and
// PostgreSQL.
func TestMP2(t *testing.T) {
	forEachBackend(t, testMP2)
}

// mp2OpenDate is MP2's CLOSEDATE of work orders that are not closed, as a wall
// clock.
var mp2OpenDate = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

func testMP2(t *testing.T, b backend) {
	ctx := context.Background()
	clock := demoNow.Add(48 * time.Hour)
	s := openSystem(t, b, "mp2", 200, func() time.Time { return clock })
	c := s.c
	str, tm, dec, ref, enum := wantStr, wantTime, wantDec, wantRef, wantMapped
	joined := func(sep string, cols ...string) func(srcRow) any {
		return func(r srcRow) any {
			var parts []string
			for _, c := range cols {
				if v := strings.TrimSpace(r.text(c)); v != "" {
					parts = append(parts, v)
				}
			}
			if len(parts) == 0 {
				return nil
			}
			return strings.Join(parts, sep)
		}
	}

	models := []struct {
		name  string
		rows  func() []srcRow
		key   []string
		wants []fieldWant
	}{
		{"work_orders", func() []srcRow { return mp2WorkOrders(t, s) }, []string{"WONUM"}, []fieldWant{
			{"number", str("WONUM")}, {"title", str("TASKDESC")},
			{"status", enum("STATUS", map[string]string{"O": "open", "C": "completed"})}, {"remote_status", str("STATUS")},
			{"priority", enum("PRIORITY", map[string]string{"1": "urgent", "2": "high", "3": "normal", "4": "low", "5": "low"})},
			{"remote_priority", str("PRIORITY")},
			{"type", enum("WOTYPE", map[string]string{"CM": "corrective", "PM": "preventive", "EM": "emergency", "INSP": "inspection", "PROJECT": "project"})},
			{"remote_type", str("WOTYPE")}, {"asset_id", ref("assets", "E_EQNUM")},
			{"maintenance_plan_id", ref("maintenance_plans", "TASKNUM", "E_EQNUM")},
			{"assignee_ids", func(r srcRow) any { return r.refs("users", "ASSIGNEDTO") }},
			{"requested_by", str("ORIGINATOR")}, {"reported_at", tm("REQUESTDATE")},
			{"scheduled_start_at", tm("SCHEDSTARTDATE")}, {"scheduled_end_at", tm("SCHEDFINISHDATE")},
			{"completed_at", tm("COMPLETIONDATE")}, {"estimated_hours", dec("ESTDURATION")}, {"actual_hours", dec("ACTUALDURATION")},
			{"downtime_hours", dec("E_DOWNTIME")}, {"failure_code", str("E_RFOCODE")},
			{"custom.location", str("E_LOCATION")}, {"custom.task", str("TASKNUM")},
		}},
		{"assets", func() []srcRow {
			return s.rows(t, `select e.*, x.UNIT from EQUIP e left join EQXREF x on x.SUBUNIT = e.EQNUM`)
		}, []string{"EQNUM"}, []fieldWant{
			{"name", str("DESCRIPTION")}, {"code", str("EQNUM")},
			{"status", enum("INSERVICE", map[string]string{"Y": "active", "N": "inactive"})}, {"remote_status", str("INSERVICE")},
			{"criticality", str("PRIORITY")}, {"category", str("EQTYPE")}, {"manufacturer", str("MANUFACTURER")},
			{"model", str("MODELNUM")}, {"serial_number", str("SERIALNUM")}, {"parent_id", ref("assets", "UNIT")},
			{"commissioned_at", tm("PURCHDATE")}, {"purchase_cost", dec("ORIGINALCOST")},
			{"custom.location", str("LOCATION")}, {"custom.sublocation1", str("SUBLOCATION1")}, {"custom.department", str("DEPT")},
		}},
		{"purchase_orders", func() []srcRow { return s.rows(t, `select * from POHEADER`) }, []string{"PONUM", "RELEASENUM"}, []fieldWant{
			{"number", str("PONUM")},
			{"status", enum("STATUS", map[string]string{"PENDING": "pending_approval", "OPEN": "approved", "PARTIAL": "partially_received",
				"RECEIVED": "received", "CLOSED": "closed", "CANCELLED": "cancelled"})},
			{"remote_status", str("STATUS")}, {"vendor_id", ref("vendors", "VENDORID")}, {"order_date", tm("ORDERDATE")},
			{"subtotal", dec("SUBTOTAL")}, {"work_order_id", ref("work_orders", "WONUM")},
		}},
		{"parts", func() []srcRow { return s.rows(t, `select * from INVY`) }, []string{"ITEMNUM"}, []fieldWant{
			{"part_number", str("ITEMNUM")}, {"name", str("DESCRIPTION")}, {"unit_of_measure", str("UOM")},
			{"category", str("TYPE")}, {"manufacturer", str("OEMMFG")},
		}},
		{"inventory_levels", func() []srcRow {
			return s.rows(t, `select s.*, i.MINSTOCKLEVEL, i.MAXSTOCKLEVEL, i.REORDERPOINT from STOCK s
				left join SITEINFO i on i.ITEMNUM = s.ITEMNUM and i.SITE = s.SITE`)
		}, []string{"ITEMNUM", "SITE", "LOCATION"}, []fieldWant{
			{"part_id", ref("parts", "ITEMNUM")}, {"bin", str("LOCATION")}, {"quantity_on_hand", dec("QTYONHAND")},
			{"min_quantity", dec("MINSTOCKLEVEL")}, {"max_quantity", dec("MAXSTOCKLEVEL")}, {"reorder_point", dec("REORDERPOINT")},
			{"custom.site", str("SITE")},
		}},
		{"vendors", func() []srcRow { return s.rows(t, `select * from VENDOR`) }, []string{"VENDORID"}, []fieldWant{
			{"name", str("NAME")}, {"code", str("VENDORID")}, {"phone", str("PHONE")},
			{"address", joined(", ", "ADDR1", "CITY", "STATE", "ZIP", "COUNTRY")}, {"payment_terms", str("TERMS")},
		}},
		{"users", func() []srcRow { return s.rows(t, `select * from EMP`) }, []string{"EMPCODE"}, []fieldWant{
			{"name", joined(" ", "FIRSTNAME", "LASTNAME")}, {"first_name", str("FIRSTNAME")}, {"last_name", str("LASTNAME")},
			{"employee_code", str("EMPCODE")}, {"craft", str("CRAFT")},
		}},
		{"maintenance_plans", func() []srcRow {
			return s.rows(t, `select q.*, k.DESCRIPTION as TASKDESCRIPTION from TASKEQ q left join TASK k on k.TASKNUM = q.TASKNUM`)
		}, []string{"TASKNUM", "EQNUM"}, []fieldWant{
			{"name", str("TASKNUM")},
			{"description", func(r srcRow) any {
				if d := r.str("DESCRIPTION"); d != nil && d != "" {
					return d
				}
				return r.str("TASKDESCRIPTION")
			}},
			{"asset_ids", func(r srcRow) any { return r.refs("assets", "EQNUM") }},
			{"trigger_type", func(srcRow) any { return "calendar" }}, {"interval", func(r srcRow) any { return r.int("NUMOFDATE") }},
			{"interval_unit", enum("DATEUNIT", map[string]string{"Days": "day", "Weeks": "week", "Months": "month", "Years": "year"})},
			{"remote_interval_unit", str("DATEUNIT")}, {"last_performed_at", tm("LASTPERFDATE")}, {"next_due_at", tm("NEXTDUEDATE")},
			{"estimated_hours", dec("TASKDURATION")},
		}},
	}
	if got := c.Models(); !slices.Equal(got, []string{"assets", "inventory_levels", "maintenance_plans", "parts",
		"purchase_orders", "users", "vendors", "work_orders"}) {
		t.Fatalf("models = %v", got)
	}
	snaps := map[string]memSnapshot{}
	initial := map[string]map[string]bool{}
	for _, m := range models {
		t.Run(m.name, func(t *testing.T) {
			snaps[m.name] = memSnapshot{}
			recs, _ := readModel(t, c, m.name, snaps[m.name])
			initial[m.name] = map[string]bool{}
			for _, r := range recs {
				initial[m.name][r.RemoteID] = true
			}
			checkRecords(t, m.name, recs, m.rows(), m.key, m.wants)
			if m.name == "purchase_orders" {
				checkMP2Lines(t, s, recs)
			}
			if len(snaps[m.name]) != len(recs) {
				t.Errorf("%s: %d hashes for %d records", m.name, len(snaps[m.name]), len(recs))
			}
		})
	}

	t.Run("incremental", func(t *testing.T) {
		m, err := demodb.NewMutator(ctx, s.ddb, "mp2", 7)
		if err != nil {
			t.Fatal(err)
		}
		mclock := demoNow.Add(time.Hour)
		m.Now = func() time.Time { mclock = mclock.Add(time.Minute); return mclock }
		// Read after every step, so that work orders the mutator creates
		// are in the snapshot before it deletes some of them.
		known := initial["work_orders"]
		var deletions, equipment, stock int
		for step := 0; step < 12 && (deletions == 0 || equipment == 0 || stock == 0); step++ {
			sc, err := m.Step(ctx, 30)
			if err != nil {
				t.Fatal(err)
			}
			ch := stepChanges{}
			ch.add(sc)
			// A close deletes the open key and inserts the closed one: only a
			// WONUM with no key left was deleted.
			woChanged, woDeleted := map[string]bool{}, map[string]bool{}
			for _, k := range ch.changed("WO") {
				woChanged[model.SplitKey(k)[0]] = true
			}
			for _, k := range ch.deleted("WO") {
				if wonum := model.SplitKey(k)[0]; !woChanged[wonum] && known[wonum] {
					woDeleted[wonum] = true
				}
			}
			for k := range woChanged {
				known[k] = true
			}
			for k := range woDeleted {
				delete(known, k)
			}
			poChanged := map[string]bool{}
			for _, k := range ch.changed("POHEADER") {
				poChanged[model.JoinKey(model.SplitKey(k)[:2])] = true
			}
			for _, k := range ch.changed("PURREQ") {
				r := s.rows(t, `select PONUM, RELEASENUM from PURREQ where SEQNUM = ?`, model.SplitKey(k)[0])[0]
				poChanged[r.key("PONUM", "RELEASENUM")] = true
			}
			want := map[string][2][]string{ // read, deleted
				"work_orders":      {sortedSet(woChanged), sortedSet(woDeleted)},
				"assets":           {ch.changed("EQUIP"), nil},
				"purchase_orders":  {sortedSet(poChanged), nil},
				"inventory_levels": {ch.changed("STOCK"), nil},
			}
			deletions += len(woDeleted)
			equipment += len(want["assets"][0])
			stock += len(want["inventory_levels"][0])
			for _, m := range models {
				bs := readAll(t, c, ReadRequest{Model: m.name, Snapshot: snaps[m.name], BatchSize: 11})
				snaps[m.name].apply(bs)
				read, deleted := remoteIDs(records(bs))
				if w := want[m.name]; !slices.Equal(read, w[0]) || !slices.Equal(deleted, w[1]) {
					t.Fatalf("step %d, %s: incremental read returned %v and deletions %v, want %v and %v",
						step, m.name, read, deleted, w[0], w[1])
				}
			}
		}
		if deletions == 0 || equipment == 0 || stock == 0 {
			t.Fatalf("the mutator made %d deletions, %d equipment and %d stock changes; all are needed", deletions, equipment, stock)
		}
		for _, m := range models {
			if again := records(readAll(t, c, ReadRequest{Model: m.name, Snapshot: snaps[m.name]})); len(again) != 0 {
				t.Errorf("%s: read without changes returned %d records", m.name, len(again))
			}
		}
		// Closed work orders keep their id and now read as completed.
		checkRecords(t, "work_orders", records(readAll(t, c, ReadRequest{Model: "work_orders", Full: true})),
			models[0].rows(), models[0].key, models[0].wants)
	})

	t.Run("writes", func(t *testing.T) {
		snap := snaps["work_orders"]
		rec, err := c.Write(ctx, WriteRequest{Model: "work_orders", Op: model.OpCreate,
			Fields: map[string]any{"number": "900001", "title": "Check pump alignment", "priority": "high", "type": "corrective",
				"estimated_hours": "2.5"}})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]any{"number": "900001", "title": "Check pump alignment", "status": "open", "remote_status": "O",
			"priority": "high", "remote_priority": "2", "type": "corrective", "estimated_hours": "2.5", "asset_id": nil,
			"reported_at": clock.UTC()} {
			if got := rec.Fields[k]; !sameValue(got, v) {
				t.Errorf("created %s = %#v, want %#v", k, got, v)
			}
		}
		row := func() srcRow {
			t.Helper()
			return s.rows(t, `select STATUS, CLOSEDATE, PRIORITY, SCHEDSTARTDATE from WO where WONUM = '900001'`)[0]
		}
		if r := row(); !sameInstant(r.time("CLOSEDATE"), dialect.LocalToUTC(mp2OpenDate, s.loc)) || r.text("STATUS") != "O" {
			t.Errorf("created row %v", r.vals)
		}
		start := time.Date(2025, 6, 23, 12, 0, 0, 0, time.UTC)
		rec, err = c.Write(ctx, WriteRequest{Model: "work_orders", Op: model.OpUpdate, RemoteID: "900001",
			Fields: map[string]any{"priority": nil, "scheduled_start_at": start.Format(time.RFC3339)}})
		if err != nil || rec.Fields["priority"] != nil || !sameInstant(rec.Fields["scheduled_start_at"], start) {
			t.Fatalf("update: %v %v", rec, err)
		}
		rec, err = c.Write(ctx, WriteRequest{Model: "work_orders", Op: model.OpStatus, RemoteID: "900001",
			Fields: map[string]any{"status": "completed"}})
		if err != nil || rec.Fields["status"] != "completed" || row().text("STATUS") != "C" {
			t.Fatalf("status: %v %v", rec, err)
		}
		bs := readAll(t, c, ReadRequest{Model: "work_orders", Snapshot: snap})
		snap.apply(bs)
		if read, _ := remoteIDs(records(bs)); !slices.Equal(read, []string{"900001"}) {
			t.Errorf("row-hash read after writes: %v", read)
		}
	})

	t.Run("invalid writes", func(t *testing.T) {
		wo := func(op model.Op, rid string, f map[string]any) WriteRequest {
			return WriteRequest{Model: "work_orders", Op: op, RemoteID: rid, Fields: f}
		}
		wantPointers(t, c, wo(model.OpCreate, "", map[string]any{"number": "900002", "priority": "urgent"}), "/title")
		wantPointers(t, c, wo(model.OpCreate, "", map[string]any{"number": "900002", "title": "x",
			"asset_id": model.RecordID(sysConnID, "assets", "HOU-P-10001")}), "/asset_id")
		wantPointers(t, c, wo(model.OpStatus, "100001", map[string]any{"status": "cancelled"}), "/status")
		wantPointers(t, c, wo(model.OpUpdate, "100001", map[string]any{"number": "1", "estimated_hours": "lots"}), "/estimated_hours", "/number")
		if n := len(s.rows(t, `select WONUM from WO where WONUM = '900002'`)); n != 0 {
			t.Errorf("rejected creates left %d rows", n)
		}
	})
}

// mp2WorkOrders reads WO with the first listed piece of equipment of each
// work order (smallest EQNUM) as E_ columns.
func mp2WorkOrders(t *testing.T, s *sysDemo) []srcRow {
	t.Helper()
	first := map[string]srcRow{}
	for _, e := range s.rows(t, `select * from WOEQLIST`) {
		k := e.key("WONUM", "CLOSEDATE")
		if f, ok := first[k]; !ok || e.text("EQNUM") < f.text("EQNUM") {
			first[k] = e
		}
	}
	wos := s.rows(t, `select * from WO`)
	for _, w := range wos {
		e := first[w.key("WONUM", "CLOSEDATE")]
		for _, c := range []string{"EQNUM", "LOCATION", "DOWNTIME", "RFOCODE"} {
			var v any
			if e.vals != nil {
				v = e.vals[c]
			}
			w.vals["E_"+c] = v
		}
	}
	return wos
}

// checkMP2Lines compares purchase order lines with PURREQ.
func checkMP2Lines(t *testing.T, s *sysDemo, recs []model.Record) {
	t.Helper()
	checkLines(t, s, recs, `select * from PURREQ order by PONUM, RELEASENUM, SEQNUM`, []string{"PONUM", "RELEASENUM"},
		func(r srcRow) map[string]any {
			return map[string]any{"line_number": r.int("SEQNUM"), "part_id": r.ref("parts", "ITEMNUM"),
				"description": r.str("DESCRIPTIONONPO"), "quantity": r.dec("QTYREQUESTED"), "unit_of_measure": r.str("UOM"),
				"unit_price": r.dec("UNITCOST"), "received_quantity": r.dec("QTYRECEIVED"), "line_total": r.dec("TOTAL"),
				"due_at": r.time("DUEDATE")}
		})
}
