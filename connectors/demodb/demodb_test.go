package demodb

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const testRows = 300

var dialects = []Dialect{SQLite, Postgres}

// createTest makes a small demo database of system on dialect d.
func createTest(t *testing.T, d Dialect, system string, seed int64) *DB {
	t.Helper()
	db := openTestDB(t, d)
	if err := CreateAt(context.Background(), db, system, testRows, seed, testNow, testLogger(t)); err != nil {
		t.Fatalf("create %s on %s: %v", system, d, err)
	}
	return db
}

func count(t *testing.T, db *DB, q string, args ...any) int64 {
	t.Helper()
	n, err := queryInt(context.Background(), db.execer(), sq(q), args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// uniqueIndexes returns, per table, the column lists of its unique indexes
// and primary key, as schema discovery would read them.
func uniqueIndexes(t *testing.T, db *DB, table string) [][]string {
	t.Helper()
	ctx := context.Background()
	var out [][]string
	if db.dialect == SQLite {
		idx, err := queryStrings(ctx, db.execer(), `select name, "unique" from pragma_index_list(?)`, table)
		if err != nil {
			t.Fatal(err)
		}
		for _, ix := range idx {
			if ix[1] != "1" {
				continue
			}
			cols, err := queryStrings(ctx, db.execer(), `select name from pragma_index_info(?) order by seqno`, ix[0])
			if err != nil {
				t.Fatal(err)
			}
			var c []string
			for _, r := range cols {
				c = append(c, r[0])
			}
			out = append(out, c)
		}
		return out
	}
	rows, err := queryStrings(ctx, db.execer(), `select array_to_string(array(
			select a.attname from unnest(i.indkey) with ordinality k(attnum, n)
			join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum order by k.n), ',')
		from pg_index i join pg_class c on c.oid = i.indrelid where c.relname = $1 and i.indisunique`, table)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		out = append(out, strings.Split(r[0], ","))
	}
	return out
}

func TestCreate(t *testing.T) {
	for _, system := range Systems {
		for _, d := range dialects {
			t.Run(system+"/"+string(d), func(t *testing.T) {
				t.Parallel()
				db := createTest(t, d, system, 1)
				sys, _ := lookup(system)
				for _, tb := range sys.tables(newGen(1, 1, testNow)) {
					if n := count(t, db, "select count(*) from "+tb.name); n == 0 {
						t.Errorf("%s is empty", tb.name)
					}
					if ix := uniqueIndexes(t, db, tb.name); !slices.ContainsFunc(ix, func(c []string) bool { return slices.Equal(c, tb.key) }) {
						t.Errorf("%s: no unique index or primary key on %v (have %v)", tb.name, tb.key, ix)
					}
				}
				if n := count(t, db, "select count(*) from "+sys.workOrders); n != testRows {
					t.Errorf("%s has %d rows, want %d", sys.workOrders, n, testRows)
				}
				for _, c := range referenceChecks[system] {
					if n := count(t, db, c.sql); n != 0 {
						t.Errorf("%s: %d rows", c.what, n)
					}
				}
			})
		}
	}
}

type check struct{ what, sql string }

// referenceChecks count rows that would be implausible in a real system:
// references to rows that do not exist, keys the system would not allow.
var referenceChecks = map[string][]check{
	"maximo": {
		{"work orders whose asset is not in their site", `select count(*) from WORKORDER w where ASSETNUM is not null and not exists
			(select 1 from ASSET a where a.ASSETNUM = w.ASSETNUM and a.SITEID = w.SITEID)`},
		{"work orders whose location is not in their site", `select count(*) from WORKORDER w where not exists
			(select 1 from LOCATIONS l where l.LOCATION = w.LOCATION and l.SITEID = w.SITEID)`},
		{"work orders with an unknown parent", `select count(*) from WORKORDER w where PARENT is not null and not exists
			(select 1 from WORKORDER p where p.WONUM = w.PARENT and p.SITEID = w.SITEID)`},
		{"work orders with an unknown PM", `select count(*) from WORKORDER w where PMNUM is not null and not exists
			(select 1 from PM p where p.PMNUM = w.PMNUM and p.SITEID = w.SITEID)`},
		{"work orders whose status is not a WOSTATUS value", `select count(*) from WORKORDER w where not exists
			(select 1 from SYNONYMDOMAIN s where s.DOMAINID = 'WOSTATUS' and s.VALUE = w.STATUS)`},
		{"work orders whose lead is unknown", `select count(*) from WORKORDER w where not exists (select 1 from PERSON p where p.PERSONID = w.LEAD)`},
		{"work orders without status history", `select count(*) from WORKORDER w where not exists
			(select 1 from WOSTATUS s where s.WONUM = w.WONUM and s.SITEID = w.SITEID)`},
		{"assets with an unknown parent", `select count(*) from ASSET a where PARENT is not null and not exists
			(select 1 from ASSET p where p.ASSETNUM = a.PARENT and p.SITEID = a.SITEID)`},
		{"assets in unknown locations", `select count(*) from ASSET a where not exists
			(select 1 from LOCATIONS l where l.LOCATION = a.LOCATION and l.SITEID = a.SITEID)`},
		{"location hierarchy with unknown parents", `select count(*) from LOCHIERARCHY h where PARENT is not null and not exists
			(select 1 from LOCATIONS l where l.LOCATION = h.PARENT and l.SITEID = h.SITEID)`},
		{"PO lines without a PO", `select count(*) from POLINE l where not exists
			(select 1 from PO p where p.PONUM = l.PONUM and p.SITEID = l.SITEID and p.REVISIONNUM = l.REVISIONNUM)`},
		{"PO lines with an unknown item", `select count(*) from POLINE l where not exists (select 1 from ITEM i where i.ITEMNUM = l.ITEMNUM)`},
		{"PO lines for unknown work orders", `select count(*) from POLINE l where REFWO is not null and not exists
			(select 1 from WORKORDER w where w.WONUM = l.REFWO and w.SITEID = l.SITEID)`},
		{"POs with unknown vendors", `select count(*) from PO p where not exists (select 1 from COMPANIES c where c.COMPANY = p.VENDOR)`},
		{"balances without inventory", `select count(*) from INVBALANCES b where not exists (select 1 from INVENTORY i
			where i.ITEMNUM = b.ITEMNUM and i.LOCATION = b.LOCATION and i.SITEID = b.SITEID)`},
		{"duplicate ROWSTAMPs across tables", `select count(*) - count(distinct r) from (
			select ROWSTAMP r from WORKORDER union all select ROWSTAMP from WOSTATUS union all select ROWSTAMP from ASSET
			union all select ROWSTAMP from PO union all select ROWSTAMP from POLINE union all select ROWSTAMP from LOCATIONS) t`},
	},
	"infor_eam": {
		{"events on unknown objects", `select count(*) from R5EVENTS e where not exists
			(select 1 from R5OBJECTS o where o.OBJ_CODE = e.EVT_OBJECT and o.OBJ_ORG = e.EVT_OBJECT_ORG)`},
		{"events whose status is not in R5UCODES", `select count(*) from R5EVENTS e where not exists (select 1 from R5UCODES u
			where u.UCO_ENTITY = 'EVST' and u.UCO_CODE = e.EVT_STATUS and u.UCO_RCODE = e.EVT_RSTATUS)`},
		{"events with an unknown parent", `select count(*) from R5EVENTS e where EVT_PARENT is not null and not exists
			(select 1 from R5EVENTS p where p.EVT_CODE = e.EVT_PARENT)`},
		{"events with an unknown PM", `select count(*) from R5EVENTS e where EVT_PPM is not null and not exists
			(select 1 from R5PPMS p where p.PPM_CODE = e.EVT_PPM and p.PPM_ORG = e.EVT_ORG)`},
		{"events assigned to unknown people", `select count(*) from R5EVENTS e where not exists (select 1 from R5PERSONNEL p where p.PER_CODE = e.EVT_PERSON)`},
		{"structures with unknown children", `select count(*) from R5STRUCTURES s where not exists
			(select 1 from R5OBJECTS o where o.OBJ_CODE = s.STC_CHILD and o.OBJ_ORG = s.STC_CHILD_ORG)`},
		{"order lines without an order", `select count(*) from R5ORDERLINES l where not exists
			(select 1 from R5ORDERS o where o.ORD_CODE = l.ORL_ORDER and o.ORD_ORG = l.ORL_ORDER_ORG)`},
		{"order lines with unknown parts", `select count(*) from R5ORDERLINES l where not exists
			(select 1 from R5PARTS p where p.PAR_CODE = l.ORL_PART and p.PAR_ORG = l.ORL_PART_ORG)`},
		{"orders with unknown suppliers", `select count(*) from R5ORDERS o where not exists
			(select 1 from R5COMPANIES c where c.COM_CODE = o.ORD_SUPPLIER and c.COM_ORG = o.ORD_SUPPLIER_ORG)`},
	},
	"mp2": {
		{"equipment lists of unknown work orders", `select count(*) from WOEQLIST l where not exists
			(select 1 from WO w where w.WONUM = l.WONUM and w.CLOSEDATE = l.CLOSEDATE)`},
		{"work orders without equipment", `select count(*) from WO w where not exists
			(select 1 from WOEQLIST l where l.WONUM = w.WONUM and l.CLOSEDATE = w.CLOSEDATE)`},
		{"equipment lists of unknown equipment", `select count(*) from WOEQLIST l where not exists (select 1 from EQUIP e where e.EQNUM = l.EQNUM)`},
		{"work orders with unknown tasks", `select count(*) from WO w where TASKNUM is not null and not exists (select 1 from TASK t where t.TASKNUM = w.TASKNUM)`},
		{"open work orders with a close date, closed ones without", `select count(*) from WO where (STATUS = 'O') <> (CLOSEDATE = '1900-01-01 00:00:00')`},
		{"sub-units of unknown equipment", `select count(*) from EQXREF x where not exists (select 1 from EQUIP e where e.EQNUM = x.UNIT)`},
		{"task schedules on unknown equipment", `select count(*) from TASKEQ q where not exists (select 1 from EQUIP e where e.EQNUM = q.EQNUM)`},
		{"purchase lines without a header", `select count(*) from PURREQ r where not exists
			(select 1 from POHEADER h where h.PONUM = r.PONUM and h.RELEASENUM = r.RELEASENUM)`},
		{"purchase lines with unknown items", `select count(*) from PURREQ r where not exists (select 1 from INVY i where i.ITEMNUM = r.ITEMNUM)`},
		{"POs with unknown vendors", `select count(*) from POHEADER h where not exists (select 1 from VENDOR v where v.VENDORID = h.VENDORID)`},
		{"stock of unknown items", `select count(*) from STOCK s where not exists (select 1 from INVY i where i.ITEMNUM = s.ITEMNUM)`},
		{"stock without site limits", `select count(*) from STOCK s where not exists
			(select 1 from SITEINFO i where i.ITEMNUM = s.ITEMNUM and i.SITE = s.SITE)`},
		{"work orders with statuses other than O and C", `select count(*) from WO where STATUS not in ('O', 'C')`},
	},
	"sap_pm": {
		{"orders without PM header", `select count(*) from AUFK a where not exists (select 1 from AFIH i where i.MANDT = a.MANDT and i.AUFNR = a.AUFNR)`},
		{"orders without an active system status", `select count(*) from AUFK a where not exists
			(select 1 from JEST j where j.MANDT = a.MANDT and j.OBJNR = a.OBJNR and j.INACT = '')`},
		{"order headers on unknown equipment", `select count(*) from AFIH i where not exists (select 1 from EQUI e where e.MANDT = i.MANDT and e.EQUNR = i.EQUNR)`},
		{"order headers with unknown location", `select count(*) from AFIH i where not exists (select 1 from ILOA l join IFLOT f
			on f.MANDT = l.MANDT and f.TPLNR = l.TPLNR where l.MANDT = i.MANDT and l.ILOAN = i.ILOAN)`},
		{"JEST statuses without text", `select count(*) from JEST j where not exists (select 1 from TJ02T t where t.ISTAT = j.STAT)`},
		{"equipment without text", `select count(*) from EQUI e where not exists (select 1 from EQKT k where k.MANDT = e.MANDT and k.EQUNR = e.EQUNR)`},
		{"PO items without header", `select count(*) from EKPO p where not exists (select 1 from EKKO k where k.MANDT = p.MANDT and k.EBELN = p.EBELN)`},
		{"PO items with unknown material", `select count(*) from EKPO p where not exists (select 1 from MARA m where m.MANDT = p.MANDT and m.MATNR = p.MATNR)`},
		{"POs with unknown vendor", `select count(*) from EKKO k where not exists (select 1 from LFA1 l where l.MANDT = k.MANDT and l.LIFNR = k.LIFNR)`},
		{"dates that are not DATS", `select count(*) from AUFK where length(ERDAT) <> 8 or length(AEDAT) <> 8 or IDAT2 = ''`},
		{"flagged orders without DLFL", `select count(*) from AUFK a where LOEKZ = 'X' and not exists
			(select 1 from JEST j where j.MANDT = a.MANDT and j.OBJNR = a.OBJNR and j.STAT = 'I0076')`},
	},
}

func TestMaximoFacts(t *testing.T) {
	db := createTest(t, SQLite, "maximo", 1)
	if n := count(t, db, `select count(*) from (select WONUM from WORKORDER group by WONUM having count(distinct SITEID) > 1) t`); n == 0 {
		t.Error("no WONUM repeats across sites; Maximo keys work orders by (SITEID, WONUM)")
	}
	if n := count(t, db, `select count(*) from WORKORDER where substr(REPORTDATE, 6, 2) = '11' and substr(REPORTDATE, 12, 2) = '01'
		and substr(REPORTDATE, 9, 2) <= '07'`); n == 0 {
		t.Error("no work order reported in the repeated hour of the autumn clock change")
	}
	if n := count(t, db, `select count(*) from SYNONYMDOMAIN where DOMAINID = ? and SITEID is not null and VALUE <> MAXVALUE`, "WOSTATUS"); n == 0 {
		t.Error("no site-specific WOSTATUS synonym")
	}
	if n := count(t, db, `select count(*) from WORKORDER where STATUS = ?`, "WORKING"); n == 0 {
		t.Error("no work order carries the site synonym WORKING")
	}
	if n := count(t, db, `select count(*) from WORKORDER where HISTORYFLAG not in (0, 1) or ISTASK not in (0, 1)`); n != 0 {
		t.Errorf("%d Yes/No values other than 0/1", n)
	}
	// No column defaults anywhere: inserts must supply every column.
	if n := count(t, db, `select count(*) from sqlite_master m join pragma_table_info(m.name) c where m.type = 'table' and c.dflt_value is not null`); n != 0 {
		t.Errorf("%d columns have defaults", n)
	}
}

func TestDeterministic(t *testing.T) {
	for _, system := range Systems {
		t.Run(system, func(t *testing.T) {
			t.Parallel()
			a := checksum(snapshot(t, createTest(t, SQLite, system, 1), system))
			b := checksum(snapshot(t, createTest(t, SQLite, system, 1), system))
			c := checksum(snapshot(t, createTest(t, SQLite, system, 2), system))
			if a != b {
				t.Errorf("seed 1 twice: checksums %s and %s differ", a, b)
			}
			if a == c {
				t.Error("seeds 1 and 2 gave identical data")
			}
		})
	}
}

// diff computes what changed between two snapshots in the form of Changes.
func diff(before, after map[string]map[string]string) Changes {
	cs := changeSet{}
	for table, b := range before {
		a := after[table]
		for k, row := range b {
			if ar, ok := a[k]; !ok {
				cs.add(table, deleted, k)
			} else if ar != row {
				cs.add(table, updated, k)
			}
		}
		for k := range a {
			if _, ok := b[k]; !ok {
				cs.add(table, inserted, k)
			}
		}
	}
	return cs.result()
}

func describe(c Changes) string {
	var b strings.Builder
	for _, table := range sortedKeys(c) {
		tc := c[table]
		fmt.Fprintf(&b, "%s: +%v ~%v -%v\n", table, tc.Inserted, tc.Updated, tc.Deleted)
	}
	return b.String()
}

func TestMutatorReportsExactly(t *testing.T) {
	for _, system := range Systems {
		for _, d := range dialects {
			t.Run(system+"/"+string(d), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				db := createTest(t, d, system, 1)
				m, err := NewMutator(ctx, db, system, 7)
				if err != nil {
					t.Fatal(err)
				}
				clock := testNow.Add(24 * time.Hour)
				m.Now = func() time.Time { clock = clock.Add(time.Second); return clock }
				for step := range 3 {
					before := snapshot(t, db, system)
					var stampBefore int64
					if system == "maximo" {
						stampBefore = maxRowstamp(t, db)
					}
					got, err := m.Step(ctx, 25)
					if err != nil {
						t.Fatal(err)
					}
					if got.Count() == 0 {
						t.Fatal("step changed nothing")
					}
					after := snapshot(t, db, system)
					if want := diff(before, after); describe(got) != describe(want) {
						t.Fatalf("step %d reported\n%s\nbut the database changed\n%s", step, describe(got), describe(want))
					}
					if system == "maximo" {
						checkRowstamps(t, db, got, stampBefore)
					}
				}
			})
		}
	}
}

var maximoStamped = []string{"WORKORDER", "WOSTATUS", "ASSET", "PO", "POLINE", "INVBALANCES"}

func maxRowstamp(t *testing.T, db *DB) int64 {
	t.Helper()
	var parts []string
	for _, tb := range maximoStamped {
		parts = append(parts, "select max(ROWSTAMP) r from "+tb)
	}
	return count(t, db, "select max(r) from ("+strings.Join(parts, " union all ")+") t")
}

// checkRowstamps verifies that the rows stamped after stampBefore are exactly
// the inserted and updated rows, with distinct stamps: what an incremental
// reader polling ROWSTAMP > watermark would see.
func checkRowstamps(t *testing.T, db *DB, got Changes, stampBefore int64) {
	t.Helper()
	ctx := context.Background()
	sys, _ := lookup("maximo")
	seen := map[string]bool{}
	for _, tb := range sys.tables(newGen(1, 1, testNow)) {
		if !slices.Contains(maximoStamped, tb.name) {
			continue
		}
		var sel []string
		for _, k := range tb.key {
			sel = append(sel, "cast("+qi(k)+" as text)")
		}
		rows, err := queryStrings(ctx, db.execer(), "select cast("+qi("ROWSTAMP")+" as text), "+strings.Join(sel, ", ")+
			" from "+qi(tb.name)+" where "+qi("ROWSTAMP")+" > ?", stampBefore)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, r := range rows {
			if seen[r[0]] {
				t.Errorf("ROWSTAMP %s used twice", r[0])
			}
			seen[r[0]] = true
			keys = append(keys, strings.Join(r[1:], "/"))
		}
		var want []string
		if c := got[tb.name]; c != nil {
			want = append(append(want, c.Inserted...), c.Updated...)
		}
		slices.Sort(keys)
		slices.Sort(want)
		if !slices.Equal(keys, want) {
			t.Errorf("%s: rows with ROWSTAMP > %d are %v, want the changed rows %v", tb.name, stampBefore, keys, want)
		}
	}
}

func TestRunCreatesThenMutates(t *testing.T) {
	out := filepath.Join(t.TempDir(), "maximo.db")
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	opts := Options{System: "maximo", Driver: "sqlite", Rows: 200, Out: out, Mutate: 50, Seed: 3}
	if err := Run(ctx, opts, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	db, err := Open(context.Background(), "sqlite", out)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := count(t, db, `select count(*) from WOSTATUS where CHANGEDATE > ?`, testNow.Add(24*time.Hour)); n == 0 {
		t.Error("no status changes recorded while mutating")
	}
	// A second run finds the data and does not create again.
	opts.Mutate = 0
	if err := Run(context.Background(), opts, testLogger(t)); err != nil {
		t.Fatalf("second run: %v", err)
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	for _, opts := range []Options{
		{System: "maximo", Driver: "sqlite"},
		{System: "nope", Driver: "sqlite", Out: filepath.Join(t.TempDir(), "x.db")},
		{System: "maximo", Driver: "oracle", Out: "x"},
		{System: "maximo", Driver: "postgres"},
	} {
		if err := Run(context.Background(), opts, testLogger(t)); err == nil {
			t.Errorf("Run(%+v) succeeded, want an error", opts)
		}
	}
}

func BenchmarkMaximoSQLite1M(b *testing.B) {
	for range b.N {
		db := openTestDB(b, SQLite)
		start := time.Now()
		if err := CreateAt(context.Background(), db, "maximo", 1_000_000, 1, testNow, testLogger(b)); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(1_000_000/time.Since(start).Seconds(), "workorders/s")
	}
}
