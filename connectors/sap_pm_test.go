package connectors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/demodb"
	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/connectors/profiles"
)

// The sap_pm profile against demodb's SAP PM database, on SQLite and
// PostgreSQL. Every expectation comes from SQL on the source tables and the
// SAP rules written out below, never from the mapper.

const sapConn = "conn_sap"

// sapLoc is the plant's time zone: +05:30 all year, so every DATS date and
// TIMS time moves by an offset that is not whole hours.
var sapLoc = func() *time.Location {
	l, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		panic(err)
	}
	return l
}()

// warnLog keeps the warnings a connector logs, and passes them to t.Log.
type warnLog struct {
	t    *testing.T
	mu   sync.Mutex // guards msgs
	msgs []string
}

func (l *warnLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *warnLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *warnLog) WithGroup(string) slog.Handler            { return l }
func (l *warnLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return nil
	}
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.t.Log(b.String())
	l.mu.Lock()
	l.msgs = append(l.msgs, b.String())
	l.mu.Unlock()
	return nil
}

// find returns the logged lines containing every part.
func (l *warnLog) find(parts ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, m := range l.msgs {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(m, p)
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

func openSAP(t *testing.T, b backend, db *sql.DB, log *warnLog) *SQLConnector {
	t.Helper()
	if log == nil {
		log = &warnLog{t: t}
	}
	c, err := OpenDB(context.Background(), db, b.d, Config{System: "sap_pm", ConnectionID: sapConn, Location: sapLoc, Logger: slog.New(log)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sapRows runs a query on the source and returns its rows by column name;
// text comes back as string, whatever the driver scanned it into.
func sapRows(t *testing.T, db *sql.DB, d *dialect.Dialect, q string, args ...any) []map[string]any {
	t.Helper()
	rows, err := db.Query(sapPlaceholders(d, q), args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		r := map[string]any{}
		for i, c := range cols {
			if b, ok := vals[i].([]byte); ok {
				vals[i] = string(b)
			}
			r[strings.ToUpper(c)] = vals[i]
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sapExec(t *testing.T, db *sql.DB, d *dialect.Dialect, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(sapPlaceholders(d, q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// sapPlaceholders turns the "?" placeholders of a test query into the
// dialect's.
func sapPlaceholders(d *dialect.Dialect, q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString(d.Placeholder(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// The SAP rules the expectations apply, written out independently of the
// profile.
var (
	sapOrderPrecedence = []string{"I0046", "I0045", "I0076", "I0009", "I0043", "I0010", "I0002", "I0001"}
	sapOrderStatus     = map[string]any{"I0046": "closed", "I0045": "completed", "I0076": "cancelled", "I0009": "completed",
		"I0043": "on_hold", "I0010": "in_progress", "I0002": "open", "I0001": "open"}
	sapEquiPrecedence = []string{"I0076", "I0320", "I0100", "I0099"}
	sapEquiStatus     = map[string]any{"I0076": "disposed", "I0320": "inactive", "I0100": "active", "I0099": "inactive"}
	sapPriority       = map[string]any{"1": "urgent", "2": "high", "3": "normal", "4": "low"}
	sapOrderType      = map[string]any{"PM01": "corrective", "PM03": "preventive", "PM04": "other"}
	sapTrigger        = map[string]any{"": "calendar", "1": "calendar", "2": "calendar", "3": "meter", "4": "meter"}
	sapUnit           = map[string]any{"TAG": "day", "DAY": "day", "WCH": "week", "WK": "week", "MON": "month", "JHR": "year", "YR": "year", "H": "hour"}
)

func sapText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprint(v)
}

// wantDate is the instant of a DATS date at local midnight, nil for none or
// for a value that is no date.
func wantDate(v any) any {
	s := strings.TrimSpace(sapText(v))
	if s == "" || s == "00000000" || len(s) != 8 {
		return nil
	}
	y, err1 := strconv.Atoi(s[:4])
	m, err2 := strconv.Atoi(s[4:6])
	d, err3 := strconv.Atoi(s[6:])
	if err1 != nil || err2 != nil || err3 != nil || m < 1 || m > 12 || d < 1 || d > time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return nil
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, sapLoc).UTC()
}

// wantDateTime adds a TIMS time of day to wantDate; blank keeps midnight,
// a time out of range gives nil.
func wantDateTime(date, tims any) any {
	d := wantDate(date)
	if d == nil {
		return nil
	}
	s := strings.TrimSpace(sapText(tims))
	if s == "" {
		return d
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[2:4])
	sec, err3 := strconv.Atoi(s[4:])
	if len(s) != 6 || err1 != nil || err2 != nil || err3 != nil || h > 24 || m > 59 || sec > 59 {
		return nil
	}
	return d.(time.Time).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second)
}

// wantCode applies a status precedence to the active codes of an object.
func wantCode(active map[string]bool, precedence []string) any {
	for _, c := range precedence {
		if active[c] {
			return c
		}
	}
	return nil
}

// wantEnum returns the expected pair for an enum field.
func wantEnum(fields map[string]any, name string, native any, values map[string]any) {
	fields[name] = nil
	fields[model.RemoteSibling(name)] = native
	if native != nil {
		fields[name] = values[sapText(native)]
	}
}

func sapRef(modelName string, v any) any {
	s := sapText(v)
	if s == "" {
		return nil
	}
	return model.RecordID(sapConn, modelName, s)
}

// activeStatuses reads JEST: object number → active status codes.
func activeStatuses(t *testing.T, db *sql.DB, d *dialect.Dialect) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, r := range sapRows(t, db, d, `SELECT "OBJNR", "STAT", "INACT" FROM "JEST" WHERE "MANDT" = '100'`) {
		if sapText(r["INACT"]) == "X" {
			continue
		}
		o := sapText(r["OBJNR"])
		if out[o] == nil {
			out[o] = map[string]bool{}
		}
		out[o][sapText(r["STAT"])] = true
	}
	return out
}

// sapExpected computes, for every model, remote id → expected fields (and
// custom fields under "custom.<name>", remote times under "@created" and
// "@updated") from the source tables.
func sapExpected(t *testing.T, db *sql.DB, d *dialect.Dialect) map[string]map[string]map[string]any {
	jest := activeStatuses(t, db, d)
	out := map[string]map[string]map[string]any{}
	put := func(m, rid string, f map[string]any) {
		if out[m] == nil {
			out[m] = map[string]map[string]any{}
		}
		out[m][rid] = f
	}
	for _, r := range sapRows(t, db, d, `SELECT a."AUFNR", a."KTEXT", a."AUART", a."WERKS", a."ERNAM", a."ERDAT", a."AEDAT", a."IDAT1", a."IDAT2",
		a."IDAT3", a."OBJNR", k."GLTRP", k."GSTRS", k."GSUZS", k."GLTRS", k."GLUZS", k."GSTRI", k."GSUZI", k."GETRI", k."GEUZI",
		h."PRIOK", h."EQUNR", h."WARPL", h."ILART", l."TPLNR"
		FROM "AUFK" a LEFT JOIN "AFKO" k ON k."MANDT" = a."MANDT" AND k."AUFNR" = a."AUFNR"
		LEFT JOIN "AFIH" h ON h."MANDT" = a."MANDT" AND h."AUFNR" = a."AUFNR"
		LEFT JOIN "ILOA" l ON l."MANDT" = h."MANDT" AND l."ILOAN" = h."ILOAN"
		WHERE a."MANDT" = '100' AND a."AUTYP" = '30'`) {
		f := map[string]any{
			"number": r["AUFNR"], "title": r["KTEXT"], "asset_id": sapRef("assets", r["EQUNR"]),
			"location_id": sapRef("locations", r["TPLNR"]), "site_id": r["WERKS"],
			"maintenance_plan_id": sapRef("maintenance_plans", r["WARPL"]), "requested_by": r["ERNAM"],
			"reported_at": wantDate(r["ERDAT"]), "due_at": wantDate(r["GLTRP"]),
			"scheduled_start_at": wantDateTime(r["GSTRS"], r["GSUZS"]), "scheduled_end_at": wantDateTime(r["GLTRS"], r["GLUZS"]),
			"actual_start_at": wantDateTime(r["GSTRI"], r["GSUZI"]), "completed_at": wantDateTime(r["GETRI"], r["GEUZI"]),
			"closed_at": wantDate(r["IDAT3"]), "custom.activity_type": r["ILART"], "custom.released_at": wantDate(r["IDAT1"]),
			"custom.technically_completed_at": wantDate(r["IDAT2"]), "@created": wantDate(r["ERDAT"]), "@updated": wantDate(r["AEDAT"]),
		}
		wantEnum(f, "status", wantCode(jest[sapText(r["OBJNR"])], sapOrderPrecedence), sapOrderStatus)
		wantEnum(f, "priority", r["PRIOK"], sapPriority)
		wantEnum(f, "type", r["AUART"], sapOrderType)
		put("work_orders", sapText(r["AUFNR"]), f)
	}
	for _, r := range sapRows(t, db, d, `SELECT e."EQUNR", e."EQART", e."HERST", e."TYPBZ", e."SERGE", e."INBDT", e."ANSWT", e."WAERS",
		e."ERDAT", e."AEDAT", e."OBJNR", x."EQKTX", z."HEQUI", z."IWERK", l."TPLNR"
		FROM "EQUI" e LEFT JOIN "EQKT" x ON x."MANDT" = e."MANDT" AND x."EQUNR" = e."EQUNR" AND x."SPRAS" = 'E'
		LEFT JOIN "EQUZ" z ON z."MANDT" = e."MANDT" AND z."EQUNR" = e."EQUNR" AND z."DATBI" = '99991231'
		LEFT JOIN "ILOA" l ON l."MANDT" = z."MANDT" AND l."ILOAN" = z."ILOAN"
		WHERE e."MANDT" = '100'`) {
		f := map[string]any{
			"name": r["EQKTX"], "code": r["EQUNR"], "category": r["EQART"], "manufacturer": r["HERST"], "model": r["TYPBZ"],
			"serial_number": r["SERGE"], "parent_id": sapRef("assets", r["HEQUI"]), "location_id": sapRef("locations", r["TPLNR"]),
			"site_id": r["IWERK"], "commissioned_at": wantDate(r["INBDT"]), "purchase_cost": sapText(r["ANSWT"]), "currency": r["WAERS"],
			"@created": wantDate(r["ERDAT"]), "@updated": wantDate(r["AEDAT"]),
		}
		wantEnum(f, "status", wantCode(jest[sapText(r["OBJNR"])], sapEquiPrecedence), sapEquiStatus)
		put("assets", sapText(r["EQUNR"]), f)
	}
	for _, r := range sapRows(t, db, d, `SELECT f."TPLNR", f."TPLMA", f."IWERK", f."ERDAT", f."AEDAT", x."PLTXT"
		FROM "IFLOT" f LEFT JOIN "IFLOTX" x ON x."MANDT" = f."MANDT" AND x."TPLNR" = f."TPLNR" AND x."SPRAS" = 'E'
		WHERE f."MANDT" = '100'`) {
		put("locations", sapText(r["TPLNR"]), map[string]any{"name": r["PLTXT"], "code": r["TPLNR"], "type": "functional_location",
			"remote_type": nil, "parent_id": sapRef("locations", r["TPLMA"]), "site_id": r["IWERK"],
			"@created": wantDate(r["ERDAT"]), "@updated": wantDate(r["AEDAT"])})
	}
	lines := map[string][]map[string]any{}
	itemCodes := map[string]map[string]bool{}
	for _, r := range sapRows(t, db, d, `SELECT "EBELN", "EBELP", "LOEKZ", "MATNR", "TXZ01", "MENGE", "MEINS", "NETPR", "NETWR"
		FROM "EKPO" WHERE "MANDT" = '100' ORDER BY "EBELN", "EBELP"`) {
		po := sapText(r["EBELN"])
		n, _ := strconv.ParseInt(sapText(r["EBELP"]), 10, 64)
		lines[po] = append(lines[po], map[string]any{"line_number": n, "part_id": sapRef("parts", r["MATNR"]), "description": r["TXZ01"],
			"quantity": sapText(r["MENGE"]), "unit_of_measure": r["MEINS"], "unit_price": sapText(r["NETPR"]), "line_total": sapText(r["NETWR"])})
		if itemCodes[po] == nil {
			itemCodes[po] = map[string]bool{}
		}
		itemCodes[po][sapText(r["LOEKZ"])] = true
	}
	for _, r := range sapRows(t, db, d, `SELECT "EBELN", "LIFNR", "BEDAT", "WAERS", "AEDAT" FROM "EKKO" WHERE "MANDT" = '100' AND "BSTYP" = 'F'`) {
		po := sapText(r["EBELN"])
		l := lines[po]
		if l == nil {
			l = []map[string]any{}
		}
		f := map[string]any{"number": r["EBELN"], "vendor_id": sapRef("vendors", r["LIFNR"]), "order_date": wantDate(r["BEDAT"]),
			"currency": r["WAERS"], "lines": l, "@created": wantDate(r["AEDAT"]), "@updated": nil}
		// Live items win over blocked ones, blocked over deleted ones.
		wantEnum(f, "status", wantCode(itemCodes[po], []string{"", "S", "L"}), map[string]any{"": "approved", "L": "cancelled"})
		put("purchase_orders", po, f)
	}
	for _, r := range sapRows(t, db, d, `SELECT m."MATNR", m."MEINS", m."MATKL", m."MFRNR", m."MFRPN", m."LVORM", m."ERSDA", m."LAEDA", x."MAKTX"
		FROM "MARA" m LEFT JOIN "MAKT" x ON x."MANDT" = m."MANDT" AND x."MATNR" = m."MATNR" AND x."SPRAS" = 'E'
		WHERE m."MANDT" = '100'`) {
		put("parts", sapText(r["MATNR"]), map[string]any{"part_number": r["MATNR"], "name": r["MAKTX"], "unit_of_measure": r["MEINS"],
			"category": r["MATKL"], "manufacturer": r["MFRNR"], "manufacturer_part_number": r["MFRPN"], "is_active": sapText(r["LVORM"]) != "X",
			"@created": wantDate(r["ERSDA"]), "@updated": wantDate(r["LAEDA"])})
	}
	for _, r := range sapRows(t, db, d, `SELECT d."MATNR", d."WERKS", d."LGORT", d."LABST", d."LGPBE", c."MINBE", c."EISBE", c."MABST"
		FROM "MARD" d LEFT JOIN "MARC" c ON c."MANDT" = d."MANDT" AND c."MATNR" = d."MATNR" AND c."WERKS" = d."WERKS"
		WHERE d."MANDT" = '100'`) {
		rid := model.JoinKey([]string{sapText(r["MATNR"]), sapText(r["WERKS"]), sapText(r["LGORT"])})
		put("inventory_levels", rid, map[string]any{"part_id": sapRef("parts", r["MATNR"]), "bin": r["LGPBE"],
			"quantity_on_hand": sapText(r["LABST"]), "min_quantity": sapText(r["EISBE"]), "max_quantity": sapText(r["MABST"]),
			"reorder_point": sapText(r["MINBE"]), "custom.plant": r["WERKS"], "custom.storage_location": r["LGORT"], "@created": nil, "@updated": nil})
	}
	for _, r := range sapRows(t, db, d, `SELECT "LIFNR", "NAME1", "LOEVM", "TELF1", "STRAS", "ORT01", "REGIO", "PSTLZ", "LAND1", "ERDAT"
		FROM "LFA1" WHERE "MANDT" = '100'`) {
		var parts []string
		for _, c := range []string{"STRAS", "ORT01", "REGIO", "PSTLZ", "LAND1"} {
			if s := strings.TrimSpace(sapText(r[c])); s != "" {
				parts = append(parts, s)
			}
		}
		var addr any
		if len(parts) > 0 {
			addr = strings.Join(parts, ", ")
		}
		put("vendors", sapText(r["LIFNR"]), map[string]any{"name": r["NAME1"], "code": r["LIFNR"], "is_active": sapText(r["LOEVM"]) != "X",
			"phone": r["TELF1"], "address": addr, "@created": wantDate(r["ERDAT"]), "@updated": nil})
	}
	items := map[string][]string{}
	for _, r := range sapRows(t, db, d, `SELECT "WARPL", "EQUNR" FROM "MPOS" WHERE "MANDT" = '100' ORDER BY "WARPL", "EQUNR"`) {
		if e := sapText(r["EQUNR"]); e != "" && !slices.Contains(items[sapText(r["WARPL"])], sapRef("assets", e).(string)) {
			items[sapText(r["WARPL"])] = append(items[sapText(r["WARPL"])], sapRef("assets", e).(string))
		}
	}
	for _, r := range sapRows(t, db, d, `SELECT p."WARPL", p."WPTXT", p."STICH", p."LVORM", p."ERSDT", p."AEDAT", y."ZYKL1", y."ZEIEH"
		FROM "MPLA" p LEFT JOIN "MMPT" y ON y."MANDT" = p."MANDT" AND y."WARPL" = p."WARPL" AND y."NUMMER" = '01'
		WHERE p."MANDT" = '100'`) {
		ids := items[sapText(r["WARPL"])]
		if ids == nil {
			ids = []string{}
		}
		var interval any
		if r["ZYKL1"] != nil {
			f, err := strconv.ParseFloat(sapText(r["ZYKL1"]), 64)
			if err != nil {
				t.Fatal(err)
			}
			interval = int64(f)
		}
		f := map[string]any{"name": r["WARPL"], "description": r["WPTXT"], "asset_ids": ids, "interval": interval,
			"custom.locked": sapText(r["LVORM"]) == "X", "@created": wantDate(r["ERSDT"]), "@updated": wantDate(r["AEDAT"])}
		wantEnum(f, "trigger_type", r["STICH"], sapTrigger)
		wantEnum(f, "interval_unit", r["ZEIEH"], sapUnit)
		put("maintenance_plans", sapText(r["WARPL"]), f)
	}
	return out
}

// checkSAPRecord compares a record with its expectation: the same mapped
// fields and custom fields, each with the expected value.
func checkSAPRecord(t *testing.T, m string, r model.Record, want map[string]any) {
	t.Helper()
	got := map[string]any{}
	for k, v := range r.Fields {
		got[k] = v
	}
	for k, v := range r.CustomFields {
		got["custom."+k] = v
	}
	got["@created"], got["@updated"] = timeOrNil(r.RemoteCreatedAt), timeOrNil(r.RemoteUpdatedAt)
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s %s: %s not mapped", m, r.RemoteID, k)
			continue
		}
		if !sameSAPValue(g, w) {
			t.Errorf("%s %s: %s = %#v, want %#v", m, r.RemoteID, k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s %s: %s = %#v is not expected", m, r.RemoteID, k, got[k])
		}
	}
}

func timeOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

func sameSAPValue(got, want any) bool {
	switch w := want.(type) {
	case time.Time:
		g, ok := got.(time.Time)
		return ok && g.Equal(w)
	case []map[string]any:
		g, ok := got.([]map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if len(g[i]) != len(w[i]) {
				return false
			}
			for k := range w[i] {
				if !sameSAPValue(g[i][k], w[i][k]) {
					return false
				}
			}
		}
		return true
	}
	return sameValue(got, want)
}

var sapModels = []string{"assets", "inventory_levels", "locations", "maintenance_plans", "parts", "purchase_orders", "vendors", "work_orders"}

// TestSAPModels reads every model of the sap_pm profile and checks record
// counts and every mapped field against the source tables.
func TestSAPModels(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		_, db := b.demo(t, "sap_pm", 60)
		c := openSAP(t, b, db, nil)
		if got := c.Models(); !slices.Equal(got, sapModels) {
			t.Fatalf("models = %v, want %v (users has no source in SAP PM's tables)", got, sapModels)
		}
		want := sapExpected(t, db, b.d)
		for _, m := range sapModels {
			recs := records(readAll(t, c, ReadRequest{Model: m, BatchSize: 17}))
			if len(recs) != len(want[m]) || len(recs) == 0 {
				t.Errorf("%s: %d records, source has %d", m, len(recs), len(want[m]))
			}
			seen := map[string]bool{}
			for _, r := range recs {
				if seen[r.RemoteID] {
					t.Errorf("%s %s read twice", m, r.RemoteID)
				}
				seen[r.RemoteID] = true
				w, ok := want[m][r.RemoteID]
				if !ok {
					t.Errorf("%s %s is not in the source", m, r.RemoteID)
					continue
				}
				checkSAPRecord(t, m, r, w)
			}
		}
		// The demo data covers the status mapping; open orders are young
		// and rare in three years of history, so TestSAPStatusPrecedence
		// and the mutator's new orders cover those.
		statuses := map[any]bool{}
		for _, w := range want["work_orders"] {
			statuses[w["status"]] = true
		}
		for _, s := range []string{"in_progress", "completed", "closed", "cancelled"} {
			if !statuses[s] {
				t.Errorf("no demo work order is %s; the check above did not cover it", s)
			}
		}
		r, err := c.ReadByKey(context.Background(), "work_orders", "000004000003")
		if err != nil {
			t.Fatal(err)
		}
		checkSAPRecord(t, "work_orders", *r, want["work_orders"]["000004000003"])
	})
}

// setJEST replaces the system statuses of an object: code → INACT.
func setJEST(t *testing.T, b backend, db *sql.DB, objnr string, rows map[string]string) {
	t.Helper()
	sapExec(t, db, b.d, `DELETE FROM "JEST" WHERE "MANDT" = '100' AND "OBJNR" = ?`, objnr)
	n := 0
	for _, stat := range profiles.SortedKeys(rows) {
		n++
		sapExec(t, db, b.d, `INSERT INTO "JEST" ("MANDT", "OBJNR", "STAT", "INACT", "CHGNR") VALUES ('100', ?, ?, ?, ?)`,
			objnr, stat, rows[stat], fmt.Sprintf("%03d", n))
	}
}

// TestSAPStatusPrecedence builds JEST status sets and checks the status the
// profile derives: the highest-precedence active system status wins,
// inactive rows and unlisted statuses do not count.
func TestSAPStatusPrecedence(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		_, db := b.demo(t, "sap_pm", 20)
		c := openSAP(t, b, db, nil)
		for i, tc := range []struct {
			name   string
			jest   map[string]string
			status any
			remote any
		}{
			{"TECO and REL active", map[string]string{"I0001": "X", "I0002": "", "I0045": ""}, "completed", "I0045"},
			{"closed", map[string]string{"I0001": "X", "I0002": "X", "I0045": "X", "I0046": ""}, "closed", "I0046"},
			{"deletion flag", map[string]string{"I0001": "", "I0076": ""}, "cancelled", "I0076"},
			{"deletion flag on a completed order", map[string]string{"I0045": "", "I0076": ""}, "completed", "I0045"},
			{"inactive rows ignored", map[string]string{"I0002": "", "I0045": "X", "I0046": "X", "I0076": "X"}, "open", "I0002"},
			{"partially confirmed", map[string]string{"I0002": "", "I0010": ""}, "in_progress", "I0010"},
			{"locked", map[string]string{"I0002": "", "I0010": "", "I0043": ""}, "on_hold", "I0043"},
			{"created", map[string]string{"I0001": ""}, "open", "I0001"},
			{"only unlisted statuses", map[string]string{"I0016": "", "E0001": ""}, nil, nil},
			{"no status rows", map[string]string{}, nil, nil},
		} {
			aufnr := fmt.Sprintf("%012d", 4000001+i)
			setJEST(t, b, db, "OR"+aufnr, tc.jest)
			r, err := c.ReadByKey(context.Background(), "work_orders", aufnr)
			if err != nil {
				t.Fatal(err)
			}
			if r.Fields["status"] != tc.status || r.Fields["remote_status"] != tc.remote {
				t.Errorf("%s: status %v (%v), want %v (%v)", tc.name, r.Fields["status"], r.Fields["remote_status"], tc.status, tc.remote)
			}
		}
		// A full read agrees with reads by key, across page boundaries.
		got := byRemoteID(records(readAll(t, c, ReadRequest{Model: "work_orders", BatchSize: 3})))
		if s := got["000004000001"].Fields["status"]; s != "completed" {
			t.Errorf("full read: status %v", s)
		}
		if s := got["000004000009"].Fields["status"]; s != nil {
			t.Errorf("full read: status %v for unlisted statuses", s)
		}
	})
}

// TestSAPDates checks DATS and TIMS edge cases: empty dates are null,
// blank times keep the date, and values that are no date or time are null
// with a warning, without failing the read or spoiling the watermark.
func TestSAPDates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		_, db := b.demo(t, "sap_pm", 20)
		log := &warnLog{t: t}
		c := openSAP(t, b, db, log)
		ctx := context.Background()
		wm := lastWatermark(readAll(t, c, ReadRequest{Model: "work_orders"}), "")
		const a1, a2 = "000004000002", "000004000003"
		sapExec(t, db, b.d, `UPDATE "AFKO" SET "GLTRP" = '00000000', "GSTRS" = '20241341', "GSUZS" = '081500',
			"GLTRS" = '20240229', "GLUZS" = '      ', "GSTRI" = '2024ABCD', "GETRI" = '20240301', "GEUZI" = '256100'
			WHERE "MANDT" = '100' AND "AUFNR" = ?`, a1)
		sapExec(t, db, b.d, `UPDATE "AUFK" SET "IDAT3" = '', "IDAT1" = '99999999', "AEDAT" = '2025ZZZZ' WHERE "MANDT" = '100' AND "AUFNR" = ?`, a1)
		sapExec(t, db, b.d, `UPDATE "AFKO" SET "GSTRS" = '20241027', "GSUZS" = '235959', "GLTRS" = '20241231', "GLUZS" = '240000'
			WHERE "MANDT" = '100' AND "AUFNR" = ?`, a2)
		r, err := c.ReadByKey(ctx, "work_orders", a1)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]any{
			"due_at": nil, "scheduled_start_at": nil, "actual_start_at": nil, "completed_at": nil, "closed_at": nil,
			"scheduled_end_at": time.Date(2024, 2, 29, 0, 0, 0, 0, sapLoc).UTC(),
		} {
			if g := r.Fields[k]; !sameSAPValue(g, v) {
				t.Errorf("%s = %v, want %v", k, g, v)
			}
		}
		if r.CustomFields["released_at"] != nil || r.RemoteUpdatedAt != nil {
			t.Errorf("released_at %v, remote_updated_at %v: want nil", r.CustomFields["released_at"], r.RemoteUpdatedAt)
		}
		for _, col := range []string{"GSTRS", "GSTRI", "GEUZI", "IDAT1", "AEDAT"} {
			if len(log.find("invalid date", "remote_id="+a1, "column="+col)) == 0 {
				t.Errorf("no warning about %s of %s", col, a1)
			}
		}
		if len(log.find("invalid date", "column=GLUZS")) != 0 || len(log.find("invalid date", "column=GLTRP")) != 0 {
			t.Errorf("blank time or empty date logged as invalid")
		}
		r, err = c.ReadByKey(ctx, "work_orders", a2)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := r.Fields["scheduled_start_at"], time.Date(2024, 10, 27, 23, 59, 59, 0, sapLoc).UTC(); !sameSAPValue(g, w) {
			t.Errorf("scheduled_start_at = %v, want %v", g, w)
		}
		if g, w := r.Fields["scheduled_end_at"], time.Date(2025, 1, 1, 0, 0, 0, 0, sapLoc).UTC(); !sameSAPValue(g, w) {
			t.Errorf("240000 is the end of the day: scheduled_end_at = %v, want %v", g, w)
		}
		// The order whose AEDAT is no date is read, and its AEDAT does not
		// become the watermark: it sorts after every date.
		bs := readAll(t, c, ReadRequest{Model: "work_orders", Watermark: wm})
		if !slices.ContainsFunc(records(bs), func(r model.Record) bool { return r.RemoteID == a1 }) {
			t.Errorf("order with an invalid AEDAT missing from the incremental read")
		}
		next := lastWatermark(bs, wm)
		if strings.Contains(next, "ZZZZ") || next == "" {
			t.Errorf("watermark %q", next)
		}
		// A full re-sync ends at the largest change date that is a date.
		largest := ""
		for _, r := range sapRows(t, db, b.d, `SELECT "AEDAT", "ERDAT" FROM "AUFK" WHERE "MANDT" = '100'`) {
			for _, v := range []any{r["AEDAT"], r["ERDAT"]} {
				if wantDate(v) != nil && sapText(v) > largest {
					largest = sapText(v)
				}
			}
		}
		full := readAll(t, c, ReadRequest{Model: "work_orders", Full: true})
		if w := full[len(full)-1].Watermark; !strings.Contains(w, `"v":"`+largest+`"`) {
			t.Errorf("full re-sync watermark %q, want the largest valid change date %s", w, largest)
		}
	})
}

// TestSAPIncremental checks date_overlap reads against the changes a demodb
// Mutator reports: every order and equipment it inserted or updated comes
// back; other rows changed on the same or the previous day may come back
// too (upserts downstream make that harmless). The clock crosses midnight.
func TestSAPIncremental(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		ddb, db := b.demo(t, "sap_pm", 120)
		c := openSAP(t, b, db, nil)
		wms := map[string]string{}
		for _, m := range []string{"work_orders", "assets"} {
			bs := readAll(t, c, ReadRequest{Model: m, BatchSize: 25})
			wms[m] = lastWatermark(bs, "")
			if len(records(bs)) == 0 || wms[m] == "" {
				t.Fatalf("%s: initial read returned %d records, watermark %q", m, len(records(bs)), wms[m])
			}
		}
		mu, err := demodb.NewMutator(ctx, ddb, "sap_pm", 3)
		if err != nil {
			t.Fatal(err)
		}
		clock := demoNow
		mu.Now = func() time.Time { clock = clock.Add(40 * time.Minute); return clock }
		tables := map[string]string{"work_orders": "AUFK", "assets": "EQUI"}
		changed := 0
		for step := range 6 {
			ch, err := mu.Step(ctx, 15)
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			for m, table := range tables {
				var want []string
				if tc := ch[table]; tc != nil {
					for _, k := range append(append([]string(nil), tc.Inserted...), tc.Updated...) {
						want = append(want, strings.TrimPrefix(k, "100/"))
					}
				}
				changed += len(want)
				bs := readAll(t, c, ReadRequest{Model: m, Watermark: wms[m], BatchSize: 4})
				got := map[string]bool{}
				for _, r := range records(bs) {
					got[r.RemoteID] = true
				}
				for _, k := range want {
					if !got[k] {
						t.Errorf("step %d (%s): changed %s %s missing from the incremental read (%d read)", step, clock.Format(time.DateTime), m, k, len(got))
					}
				}
				wms[m] = lastWatermark(bs, wms[m])
			}
		}
		if changed == 0 {
			t.Fatalf("the mutator changed no order or equipment")
		}
		if clock.Day() == demoNow.Day() {
			t.Fatalf("the clock did not cross midnight")
		}
		// Without changes, a read re-reads at most the overlap window: rows
		// changed today or yesterday.
		since := clock.AddDate(0, 0, -1).Format("20060102")
		n := sapRows(t, db, b.d, `SELECT COUNT(*) AS "N" FROM "AUFK" WHERE "MANDT" = '100' AND ("AEDAT" >= ? OR "ERDAT" >= ?)`, since, since)
		again := records(readAll(t, c, ReadRequest{Model: "work_orders", Watermark: wms["work_orders"]}))
		if sapText(n[0]["N"]) != strconv.Itoa(len(again)) {
			t.Errorf("read without changes returned %d orders, want the %s changed since %s", len(again), sapText(n[0]["N"]), since)
		}
	})
}

// TestSAPReadOnly checks that writes to sap_pm models are refused with a
// bad-request error that names the reason, before any SQL runs.
func TestSAPReadOnly(t *testing.T) {
	_, db := backends[0].demo(t, "sap_pm", 5)
	c := openSAP(t, backends[0], db, nil)
	for _, m := range sapModels {
		for _, op := range []model.Op{model.OpCreate, model.OpUpdate, model.OpStatus} {
			_, err := c.Write(context.Background(), WriteRequest{Model: m, Op: op, RemoteID: "000004000001",
				Fields: map[string]any{"title": "x", "status": "closed"}})
			if !errors.Is(err, ErrReadOnly) || Classify(err) != BadRequest || !strings.Contains(err.Error(), "BAPI") {
				t.Errorf("%s %s: %v", m, op, err)
			}
		}
	}
	_, err := c.Write(context.Background(), WriteRequest{Model: "work_orders", Op: model.OpCreate, Fields: map[string]any{"title": "x"}})
	if msg := fmt.Sprint(err); !strings.Contains(msg, "work_orders of sap_pm are read-only") || !strings.Contains(msg, "BAPI_ALM_ORDER_MAINTAIN") {
		t.Errorf("message %q", msg)
	}
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM "AUFK" WHERE "KTEXT" = 'x'`).Scan(&n)
	if n != 0 {
		t.Errorf("a refused write changed the database")
	}
}

// TestSAPClientParam checks that the client is a per-connection setting:
// overrides switch it, reads by key stay inside it, and an unknown param
// is rejected.
func TestSAPClientParam(t *testing.T) {
	b := backends[0]
	_, db := b.demo(t, "sap_pm", 10)
	c := openSAP(t, b, db, nil)
	ctx := context.Background()
	// A second client in the same database holds the same order number.
	sapExec(t, db, b.d, `INSERT INTO "AUFK" SELECT '200', "AUFNR", "AUART", "AUTYP", 'client 200 order', "ERNAM", "ERDAT", "AENAM",
		"AEDAT", "BUKRS", "WERKS", "OBJNR", "PHAS0", "PHAS1", "PHAS2", "PHAS3", "IDAT1", "IDAT2", "IDAT3", "LOEKZ", "WAERS"
		FROM "AUFK" WHERE "AUFNR" = '000004000001'`)
	r, err := c.ReadByKey(ctx, "work_orders", "000004000001")
	if err != nil || r.Fields["title"] == "client 200 order" {
		t.Fatalf("client 100 read: %v %v", r, err)
	}
	if n := len(records(readAll(t, c, ReadRequest{Model: "work_orders"}))); n != 10 {
		t.Errorf("client 100 has %d orders, want 10", n)
	}
	if err := c.SetOverrides(ctx, &Overrides{Version: 1, Params: map[string]string{"client": "200"}}); err != nil {
		t.Fatal(err)
	}
	got := records(readAll(t, c, ReadRequest{Model: "work_orders"}))
	if len(got) != 1 || got[0].Fields["title"] != "client 200 order" {
		t.Errorf("client 200: %d orders %v", len(got), got)
	}
	if _, err := c.ReadByKey(ctx, "work_orders", "000004000002"); !errors.Is(err, ErrNotFound) {
		t.Errorf("order of client 100 read through client 200: %v", err)
	}
	err = c.SetOverrides(ctx, &Overrides{Version: 1, Params: map[string]string{"clinet": "200"}})
	if err == nil || !strings.Contains(err.Error(), `"clinet": not a param of the sap_pm profile (it has client, language)`) {
		t.Errorf("misspelt param: %v", err)
	}
	if n := len(records(readAll(t, c, ReadRequest{Model: "work_orders"}))); n != 1 {
		t.Errorf("rejected overrides changed the mapping: %d orders", n)
	}
}

// TestTimeOfDay combines DATS dates with TIMS times in zones with daylight
// saving time: the repeated hour is read as its first occurrence, a time in
// the spring-forward gap with the offset before it, and a date whose local
// midnight does not exist (Chile changes at midnight) keeps its date.
func TestTimeOfDay(t *testing.T) {
	load := func(name string) *time.Location {
		l, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	berlin, santiago := load("Europe/Berlin"), load("America/Santiago")
	for _, tc := range []struct {
		loc        *time.Location
		date, tims string
		want       any
	}{
		{berlin, "20241027", "023000", time.Date(2024, 10, 27, 0, 30, 0, 0, time.UTC)},
		{berlin, "20241027", "033000", time.Date(2024, 10, 27, 2, 30, 0, 0, time.UTC)},
		{berlin, "20240331", "023000", time.Date(2024, 3, 31, 1, 30, 0, 0, time.UTC)},
		{berlin, "20240331", "000000", time.Date(2024, 3, 30, 23, 0, 0, 0, time.UTC)},
		{santiago, "20240908", "120000", time.Date(2024, 9, 8, 15, 0, 0, 0, time.UTC)},
		{santiago, "20240908", "", time.Date(2024, 9, 8, 4, 0, 0, 0, time.UTC)},
		{berlin, "00000000", "120000", nil},
		{berlin, "20240331", "250000", nil},
	} {
		log := &warnLog{t: t}
		c := &SQLConnector{loc: tc.loc, log: slog.New(log)}
		m := &mapper{c: c, pl: &plan{name: "work_orders"}, rid: "4711"}
		d, err := dialect.Value(dialect.KindDats, tc.date, tc.loc)
		if err != nil {
			t.Fatal(err)
		}
		got := m.withTimeOfDay(&fieldPlan{timeOfDay: &timeOfDay{column: "GSUZS"}}, d, tc.tims)
		if !sameSAPValue(got, tc.want) || got == nil && tc.want != nil {
			t.Errorf("%s %s %s = %v, want %v", tc.loc, tc.date, tc.tims, got, tc.want)
		}
		if bad := tc.tims == "250000"; bad != (len(log.find("invalid date", "remote_id=4711", "column=GSUZS")) == 1) {
			t.Errorf("%s %s: warnings %v", tc.date, tc.tims, log.msgs)
		}
	}
}

// TestOverlapFrom checks the window of date_overlap on DATS positions:
// whole days back, never less than the overlap; no bound from a position
// that is no date.
func TestOverlapFrom(t *testing.T) {
	c := &SQLConnector{d: dialect.SQLite, loc: sapLoc}
	pl := &plan{wm: 0, meta: []*dialect.Column{{Name: "AEDAT", Kind: dialect.KindDats}}}
	for _, tc := range []struct {
		overlap time.Duration
		pos     any
		want    any
	}{
		{24 * time.Hour, "20250301", "20250228"},
		{36 * time.Hour, "20250301", "20250227"},
		{0, "20250301", "20250301"},
		{24 * time.Hour, "00000000", nil},
		{24 * time.Hour, "2025ZZZZ", nil},
	} {
		pl.overlap = tc.overlap
		got, ok := c.overlapFrom(pl, tc.pos)
		if got != tc.want || ok != (tc.want != nil) {
			t.Errorf("%v before %v = %v %v, want %v", tc.overlap, tc.pos, got, ok, tc.want)
		}
	}
}

// TestWriteWithoutWrites checks the message of a write to a model whose
// mapping declares no writes at all (Maximo's assets), and that a model
// with writes still names the kind of write it lacks.
func TestWriteWithoutWrites(t *testing.T) {
	f := newSQLiteFixture(t, 1)
	c := f.open(t, Config{})
	_, err := c.Write(context.Background(), WriteRequest{Model: "assets", Op: model.OpUpdate, RemoteID: "TEXAS/11430", Fields: map[string]any{"name": "x"}})
	if !errors.Is(err, ErrReadOnly) || Classify(err) != BadRequest || !strings.Contains(err.Error(), "assets of maximo are read-only: the mapping declares no writes") {
		t.Errorf("write to assets: %v", err)
	}
	p, err := profiles.Load("maximo")
	if err != nil {
		t.Fatal(err)
	}
	p.Models["work_orders"].Write.Status = nil
	c2 := f.open(t, Config{Profile: p})
	_, err = c2.Write(context.Background(), WriteRequest{Model: "work_orders", Op: model.OpStatus, RemoteID: "BEDFORD/1000", Fields: map[string]any{"status": "closed"}})
	if errors.Is(err, ErrReadOnly) || Classify(err) != BadRequest || !strings.Contains(err.Error(), `work_orders does not accept "status" writes`) {
		t.Errorf("status write without a status section: %v", err)
	}
}
