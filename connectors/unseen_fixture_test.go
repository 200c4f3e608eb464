package connectors

// Fixture databases built from public schema facts of the four systems, not
// from the demo databases (package demodb) the other tests use: they stand
// for a plant database the profiles have not been tuned against. Each has
// extra columns, NULLs where the source allows them, the column types of the
// real systems, codes the profiles do not list, empty tables and tables that
// are missing altogether.
//
// Public facts they follow, and where they were found:
//
// IBM Maximo
//   - WORKORDER is keyed by (SITEID, WONUM); LEAD and OWNER are PERSON
//     PERSONIDs; WORKORDERID is a unique id; WOGROUP, WOCLASS, LANGCODE,
//     HASLD, INTERRUPTIBLE, WOACCEPTSCHARGES exist (Maximo object metadata,
//     github.com/zbeat/zbeat.github.io seeclickfix/maximo/erd/objects/
//     WORKORDER/WORKORDER.js; the related LABTRANS, MATUSETRANS, POLINE and
//     MRLINE rows point back through (SITEID, REFWO)).
//   - Column types of a live Oracle Maximo: ROWSTAMP stamped by a trigger
//     from the MAXSEQ sequence, WOPRIORITY an integer, ESTDUR and ACTLABHRS
//     floats, cost columns NUMBER(10,2), many user columns (WO1…WO77,
//     WOEQ1…), ORGID and SITEID NOT NULL VARCHAR(8), dates DATE
//     (github.com/dandrade-dandit/Database-Scripts Oracle/others/MyScripts/
//     MIGRACOES/Migracao_Homolog/maximo.sql). Maximo 7 stores ROWSTAMP as a
//     BIGINT and Yes/No columns as SMALLINT 0/1.
//   - Status values go through SYNONYMDOMAIN (DOMAINID, MAXVALUE, VALUE);
//     sites add their own values for an internal one, e.g. WCLOSE for CLOSE,
//     COMPBILL for COMP (moremaximo.com forum "Places in Maximo where WO
//     status is used"; bportaluri.com "display domain description": the
//     WOSTATUS domain lives in SYNONYMDOMAIN).
//   - LABORCRAFTRATE is per organization (LABORCODE, CRAFT, ORGID, …
//     DEFAULTCRAFT): a person who works in two organizations has a default
//     craft in each.
//
// Infor EAM
//   - R5EVENTS: EVT_CODE, EVT_DESC, EVT_TYPE/EVT_RTYPE (JOB, PPM, …),
//     EVT_STATUS (site user codes such as 25TP, 40PR) over EVT_RSTATUS
//     (A awaiting release, R released, C completed), EVT_OBJECT and
//     EVT_OBJECT_ORG, EVT_OBTYPE/EVT_OBRTYPE, EVT_MRC, EVT_CLASS,
//     EVT_JOBTYPE, EVT_PRIORITY, EVT_ORG, EVT_TARGET, EVT_SCHEDEND,
//     EVT_DATE, EVT_REPORTED, EVT_CREATED, EVT_CREATEDBY, EVT_PERSON,
//     EVT_COMPLETED, EVT_LOCATION, EVT_DURATION, EVT_MP (EAM flex SQL in
//     public repositories, e.g. RahulMCT/QBUZZ tags/po/SPC-257.sql, and
//     work-order inserts of EAM integrations on SQL Server with GETDATE()).
//   - Check boxes hold '+' and '-', often NULL for '-' (NVL(evt_reopened,
//     '-') = '-'); R5OBJECTS has OBJ_CODE, OBJ_ORG, OBJ_DESC, OBJ_OBTYPE,
//     OBJ_OBRTYPE (A, P, S, L and others such as '*', C, I), OBJ_MRC,
//     OBJ_SERIALNO, OBJ_ALIAS, OBJ_STATUS (site codes: VAL, EO, RET),
//     OBJ_UDFCHAR01…; R5PERSONNEL has PER_CODE, PER_DESC, PER_ORG,
//     PER_USER, PER_NOTUSED, PER_EMAILADDRESS, PER_MRC; R5BOOKEDHOURS
//     BOO_EVENT, BOO_ACT, BOO_PERSON; R5STORES STR_CODE, STR_ORG,
//     STR_NOTUSED (same sources).
//
// MP2
//   - WO rows are identified by (WONUM, CLOSEDATE); WONUM is at most 10
//     characters; STATUS is one character (O open, R, C completed);
//     PRIORITY is a nullable double, 5 the lowest; REQUESTDATE and
//     REQUESTTIME, COMPLETIONDATE and COMPLETIONTIME are separate date and
//     time columns; TASKDESC, DELAYDESC, NOTES, WOTYPE, ORIGINATOR.
//     WOEQLIST lists a work order's equipment by (WONUM, CLOSEDATE, EQNUM,
//     LOCATION, SUBLOCATION1..3) with DEPARTMENT and EQDESC; WOC holds
//     texts; EQUIP has EQNUM, DESCRIPTION, DEPT, LOCATION,
//     SUBLOCATION1..3; WOTYPE has DESCRIPTION (a public MP2 5.0 work order
//     tool over OleDb, "WorkOrderWizard.Models.WO" and its queries).
//
// SAP PM
//   - AUFK: MANDT CLNT(3) and AUFNR CHAR(12) are the key; AUART CHAR(4),
//     AUTYP NUMC(2), ERNAM, ERDAT DATS, AENAM, AEDAT DATS, KTEXT CHAR(40),
//     BUKRS, WERKS CHAR(4), KOKRS, WAERS, STDAT DATS, PHAS0..3, PDAT1…
//     (saplearners.com and sapbrainsonline.com AUFK field lists).
//   - JEST (MANDT, OBJNR CHAR(22), STAT CHAR(5), INACT CHAR(1) 'X' when
//     inactive, CHGNR NUMC(3)); TJ02T texts (ISTAT, SPRAS, TXT04 CRTD, REL,
//     TECO …) (erpgenie.com, queryviz.io JEST and TJ02T).
//   - EQUI, EQKT, EQUZ (DATBI DATS valid-to, EQLFN, IWERK), ILOA; equipment
//     numbers CHAR(18) (sap4tech.net equipment tables, leanx.eu
//     BAPI_EQUZ1).
//   - MPLA (MANDT, WARPL CHAR(12), ERSDT DATS, AEDAT DATS, WPTXT CHAR(40),
//     STRAT, ABRHO, EQUNR CHAR(18), TPLNR CHAR(30), LVORM CHAR(1), STICH
//     CHAR(1) blank/1/2 time, 3/4 counter, MPTYP …); MPOS (WARPL, WAPOS,
//     EQUNR, TPLNR, …) (se80.co.uk and leanx.eu MPLA, sapdatasheet.org view
//     MPLA).
//   - Dates are DATS 'YYYYMMDD' with '00000000' for none, times TIMS
//     'HHMMSS'; character fields are fixed width, so a copy in a database
//     with CHAR(n) columns returns them padded with blanks, and an empty
//     one is all blanks.

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/internal/pgtest"
)

// fxCol is a column: its name and an abstract type: v<n> varchar, c<n>
// fixed-width char, int, bigint, small, dec<p>_<s>, float, ts (date and
// time without a zone), text. A "!" suffix makes it NOT NULL.
type fxCol struct {
	name, typ string
	notNull   bool
}

type fxTable struct {
	name   string
	cols   []fxCol
	unique [][]string
	rows   []map[string]any
}

// fxDB is a fixture database under construction.
type fxDB struct {
	tables []*fxTable
	byName map[string]*fxTable
	// lower makes identifiers lower case, as a PostgreSQL copy of an
	// Oracle or DB2 schema made without quoting.
	lower bool
	// blank is what a NOT NULL character column holds when a row gives no
	// value: "" (Maximo, MP2), or blanks (SAP: fixed-width CHAR).
	blank func(c fxCol) any
}

func newFxDB() *fxDB { return &fxDB{byName: map[string]*fxTable{}} }

// table declares a table from "NAME type[!], …".
func (f *fxDB) table(name, cols string, unique ...string) *fxTable {
	t := &fxTable{name: name}
	for _, part := range strings.Split(cols, ",") {
		fs := strings.Fields(part)
		if len(fs) == 0 {
			continue
		}
		c := fxCol{name: fs[0], typ: fs[1]}
		if strings.HasSuffix(c.typ, "!") {
			c.typ, c.notNull = strings.TrimSuffix(c.typ, "!"), true
		}
		t.cols = append(t.cols, c)
	}
	for _, u := range unique {
		t.unique = append(t.unique, strings.Split(u, ","))
	}
	f.tables = append(f.tables, t)
	f.byName[name] = t
	return t
}

// add appends a row given as column/value pairs.
func (t *fxTable) add(pairs ...any) map[string]any {
	r := map[string]any{}
	for i := 0; i+1 < len(pairs); i += 2 {
		r[pairs[i].(string)] = pairs[i+1]
	}
	t.rows = append(t.rows, r)
	return r
}

func (f *fxDB) ident(s string) string {
	if f.lower {
		return strings.ToLower(s)
	}
	return s
}

func fxSQLType(d *dialect.Dialect, typ string) string {
	n := func(p string) string { return strings.TrimPrefix(typ, p) }
	switch {
	case typ == "d8": // SAP DATS
		return "CHAR(8)"
	case typ == "t6": // SAP TIMS
		return "CHAR(6)"
	case strings.HasPrefix(typ, "v"):
		return "VARCHAR(" + n("v") + ")"
	case strings.HasPrefix(typ, "c"):
		return "CHAR(" + n("c") + ")"
	case typ == "int":
		return "INTEGER"
	case typ == "bigint":
		return "BIGINT"
	case typ == "small":
		return "SMALLINT"
	case strings.HasPrefix(typ, "dec"):
		return "NUMERIC(" + strings.Replace(n("dec"), "_", ",", 1) + ")"
	case typ == "float":
		if d == dialect.SQLite {
			return "DOUBLE"
		}
		return "DOUBLE PRECISION"
	case typ == "ts":
		return "TIMESTAMP"
	case typ == "text":
		return "TEXT"
	}
	panic("fixture type " + typ)
}

// fxValue renders a Go value for a column.
func fxValue(c fxCol, v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.Format("2006-01-02 15:04:05")
	case int:
		if c.typ == "ts" {
			panic("int for a time column")
		}
		return int64(x)
	}
	return v
}

// create writes the tables and rows into db.
func (f *fxDB) create(t testing.TB, d *dialect.Dialect, db *sql.DB) {
	t.Helper()
	q := func(s string) string {
		s = f.ident(s)
		if f.lower {
			return s
		}
		qs, err := d.Quote(s)
		if err != nil {
			t.Fatal(err)
		}
		return qs
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, tb := range f.tables {
		var cols []string
		for _, c := range tb.cols {
			def := q(c.name) + " " + fxSQLType(d, c.typ)
			if c.notNull {
				def += " NOT NULL"
			}
			cols = append(cols, def)
		}
		if _, err := tx.Exec("CREATE TABLE " + q(tb.name) + " (" + strings.Join(cols, ", ") + ")"); err != nil {
			t.Fatalf("create %s: %v", tb.name, err)
		}
		for i, u := range tb.unique {
			var qc []string
			for _, c := range u {
				qc = append(qc, q(c))
			}
			ix := q(fmt.Sprintf("%s_NDX%d", tb.name, i+1))
			if _, err := tx.Exec("CREATE UNIQUE INDEX " + ix + " ON " + q(tb.name) + " (" + strings.Join(qc, ", ") + ")"); err != nil {
				t.Fatalf("index %s: %v", tb.name, err)
			}
		}
		if len(tb.rows) == 0 {
			continue
		}
		var names, ph []string
		for i, c := range tb.cols {
			names = append(names, q(c.name))
			ph = append(ph, d.Placeholder(i+1))
		}
		st, err := tx.Prepare("INSERT INTO " + q(tb.name) + " (" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(ph, ", ") + ")")
		if err != nil {
			t.Fatalf("prepare %s: %v", tb.name, err)
		}
		for _, r := range tb.rows {
			args := make([]any, len(tb.cols))
			for i, c := range tb.cols {
				v, ok := r[c.name]
				if !ok && c.notNull {
					v = f.zero(c)
				}
				args[i] = fxValue(c, v)
			}
			for k := range r {
				if !tb.has(k) {
					t.Fatalf("%s has no column %s", tb.name, k)
				}
			}
			if _, err := st.Exec(args...); err != nil {
				t.Fatalf("insert %s %v: %v", tb.name, r, err)
			}
		}
		st.Close()
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func (t *fxTable) has(col string) bool {
	for _, c := range t.cols {
		if c.name == col {
			return true
		}
	}
	return false
}

// zero is the value a NOT NULL column holds when nothing was set.
func (f *fxDB) zero(c fxCol) any {
	switch {
	case c.typ == "d8":
		return "00000000"
	case c.typ == "t6":
		return "000000"
	case strings.HasPrefix(c.typ, "v"), strings.HasPrefix(c.typ, "c"), c.typ == "text":
		if f.blank != nil {
			return f.blank(c)
		}
		return ""
	case c.typ == "ts":
		return "1900-01-01 00:00:00"
	}
	return int64(0)
}

// fxTarget is an empty database of one backend.
type fxTarget struct {
	name string
	d    *dialect.Dialect
	dsn  string
	db   *sql.DB
}

// fxBackends runs fn once per backend with an empty database; PostgreSQL
// is a real server (package pgtest), required when CI=true.
func fxBackends(t *testing.T, fn func(t *testing.T, tg fxTarget)) {
	t.Helper()
	for _, b := range []struct {
		name string
		d    *dialect.Dialect
	}{{"sqlite", dialect.SQLite}, {"postgres", dialect.Postgres}} {
		t.Run(b.name, func(t *testing.T) {
			var dsn string
			if b.d == dialect.SQLite {
				dsn = filepath.Join(t.TempDir(), "plant.db")
			} else {
				dsn = pgtest.Shared(t).CreateDB(t, "")
			}
			db, err := b.d.Open(dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			fn(t, fxTarget{name: b.name, d: b.d, dsn: dsn, db: db})
		})
	}
}

// open opens the connector on tg as the agent does.
func (tg fxTarget) open(t *testing.T, system string, o *Overrides) *SQLConnector {
	t.Helper()
	c, err := Open(context.Background(), Config{ConnectionID: "conn_fx", System: system, Driver: tg.d.Name(), DSN: tg.dsn,
		Overrides: o, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("open %s: %v", system, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var fxBase = time.Date(2024, 3, 4, 6, 0, 0, 0, time.UTC)

func fxDay(i int) time.Time { return fxBase.AddDate(0, 0, i) }

// maximoFixture: two sites of one organization, a third site in another
// organization; work orders with the same WONUM in two sites; classes the
// profile filters out; a site's own status synonyms and a status no domain
// knows; people with a default craft in two organizations; LOCHIERARCHY
// missing; PM empty.
type maximoFx struct {
	db *fxDB
	// workOrders are the remote ids of WORKORDER/ACTIVITY rows.
	workOrders map[string]maximoWO
	people     []string
}

type maximoWO struct {
	status, wantStatus string
	priority           any
}

func maximoFixture(lower bool) *maximoFx {
	rnd := rand.New(rand.NewPCG(1, 2))
	f := newFxDB()
	f.lower = lower
	fx := &maximoFx{db: f, workOrders: map[string]maximoWO{}}
	stamp := int64(1000)
	next := func() int64 { stamp += 1 + int64(rnd.IntN(5)); return stamp }

	wo := f.table("WORKORDER", `WORKORDERID bigint!, WONUM v25!, PARENT v25, STATUS v16!, STATUSDATE ts!, WORKTYPE v5,
		DESCRIPTION v100, ASSETNUM v25, LOCATION v50, JPNUM v10, FAILDATE ts, CHANGEBY v30!, CHANGEDATE ts!,
		ESTDUR float!, ESTLABHRS float!, ESTMATCOST dec10_2!, ESTLABCOST dec10_2!, ESTTOOLCOST dec10_2!, PMNUM v10,
		ACTLABHRS float!, ACTMATCOST dec10_2!, ACTLABCOST dec10_2!, ACTTOOLCOST dec10_2!, HASCHILDREN small!,
		OUTLABCOST dec10_2!, OUTMATCOST dec10_2!, OUTTOOLCOST dec10_2!, HISTORYFLAG small!, WOPRIORITY int,
		TARGCOMPDATE ts, TARGSTARTDATE ts, WO1 v10, WO2 v10, WO3 v10, WO4 dec10_2, WO5 ts, REPORTEDBY v30,
		REPORTDATE ts, PHONE v20, PROBLEMCODE v8, CALENDAR v8, INTERRUPTIBLE small!, DOWNTIME small!,
		ACTSTART ts, ACTFINISH ts, SCHEDSTART ts, SCHEDFINISH ts, REMDUR float, CREWID v8, SUPERVISOR v30,
		FAILURECODE v8, GLACCOUNT v20, ESTSERVCOST dec10_2!, ACTSERVCOST dec10_2!, DISABLED small!,
		WOSEQUENCE int, HASFOLLOWUPWORK small!, WORTS1 v10, ORGID v8!, SITEID v8!, TASKID int, INSPECTOR v30,
		ISTASK small!, WOCLASS v16!, LEAD v30, OWNER v30, OWNERGROUP v8, WOGROUP v25, LANGCODE v4!,
		WOACCEPTSCHARGES small!, HASLD small!, CHARGESTORE small!, ROWSTAMP bigint!`,
		"SITEID,WONUM", "WORKORDERID")
	statuses := []struct{ code, want string }{
		{"WAPPR", "open"}, {"APPR", "open"}, {"WSCH", "open"}, {"INPRG", "in_progress"}, {"WMATL", "on_hold"},
		{"COMP", "completed"}, {"CLOSE", "closed"}, {"CAN", "cancelled"},
		// The site's own synonyms (SYNONYMDOMAIN below) and a code no
		// domain lists.
		{"WAITPART", "on_hold"}, {"COMPBILL", "completed"}, {"WCLOSE", "closed"}, {"WQUOTE", ""},
	}
	sites := []struct{ site, org string }{{"BEDFORD", "EAGLENA"}, {"NASHUA", "EAGLENA"}, {"LAREDO", "EAGLESA"}}
	classes := []string{"WORKORDER", "WORKORDER", "WORKORDER", "ACTIVITY", "CHANGE", "RELEASE"}
	for i := 0; i < 240; i++ {
		s := sites[i%len(sites)]
		// Numbers repeat across sites: 1001 in BEDFORD, NASHUA and LAREDO.
		num := strconv.Itoa(1000 + i/len(sites))
		st := statuses[rnd.IntN(len(statuses))]
		class := classes[rnd.IntN(len(classes))]
		r := wo.add("WORKORDERID", int64(5000+i), "WONUM", num, "STATUS", st.code, "STATUSDATE", fxDay(i%90),
			"CHANGEBY", "MAXADMIN", "CHANGEDATE", fxDay(i%90).Add(time.Hour), "ORGID", s.org, "SITEID", s.site,
			"WOCLASS", class, "LANGCODE", "EN", "WOACCEPTSCHARGES", int64(1), "ROWSTAMP", next(),
			"DESCRIPTION", fmt.Sprintf("Inspect pump %d", i), "REPORTDATE", fxDay(i%90), "ESTDUR", 1.5+float64(i%4),
			"ACTLABHRS", float64(i%7)/2, "ESTMATCOST", "125.50")
		var prio any
		switch i % 7 {
		case 0: // no priority
		case 6:
			prio = int64(9) // a site's own priority scale
			r["WOPRIORITY"] = prio
		default:
			prio = int64(i % 7)
			r["WOPRIORITY"] = prio
		}
		if i%5 != 0 {
			r["ASSETNUM"] = fmt.Sprintf("PMP-%03d", i%40)
			r["LOCATION"] = fmt.Sprintf("BR%03d", i%20)
			r["WORKTYPE"] = []string{"CM", "PM", "EM", "CAL", "CP"}[i%5]
			r["LEAD"] = []string{"WILSON", "SMITHJ", "LIBERI"}[i%3]
			r["TARGCOMPDATE"] = fxDay(i%90 + 14)
		}
		if i%9 == 0 {
			r["ACTSTART"] = fxDay(i % 90).Add(26 * time.Hour)
			r["ACTFINISH"] = fxDay(i % 90).Add(30 * time.Hour)
		}
		if class == "WORKORDER" || class == "ACTIVITY" {
			fx.workOrders[s.site+"/"+num] = maximoWO{status: st.code, wantStatus: st.want, priority: prio}
		}
	}
	syn := f.table("SYNONYMDOMAIN", `DOMAINID v18!, MAXVALUE v50!, VALUE v50!, DESCRIPTION v100, DEFAULTS small!,
		ORGID v8, SITEID v8, VALUEID v256, SYNONYMDOMAINID bigint!, ROWSTAMP bigint!`)
	id := int64(1)
	for _, v := range []string{"WAPPR", "APPR", "WSCH", "INPRG", "WMATL", "WPCOND", "COMP", "CLOSE", "CAN"} {
		syn.add("DOMAINID", "WOSTATUS", "MAXVALUE", v, "VALUE", v, "DEFAULTS", int64(1), "SYNONYMDOMAINID", id, "ROWSTAMP", next())
		id++
	}
	for _, p := range [][3]string{{"WOSTATUS", "WMATL", "WAITPART"}, {"WOSTATUS", "COMP", "COMPBILL"}, {"WOSTATUS", "CLOSE", "WCLOSE"},
		{"LOCASSETSTATUS", "OPERATING", "OPERATING"}, {"LOCASSETSTATUS", "NOT READY", "NOT READY"},
		{"LOCASSETSTATUS", "DECOMMISSIONED", "DECOMMISSIONED"}, {"LOCASSETSTATUS", "OPERATING", "RUNNING"}} {
		syn.add("DOMAINID", p[0], "MAXVALUE", p[1], "VALUE", p[2], "DEFAULTS", int64(0), "ORGID", "EAGLENA",
			"SYNONYMDOMAINID", id, "ROWSTAMP", next())
		id++
	}
	asset := f.table("ASSET", `ASSETID bigint!, ASSETNUM v25!, PARENT v25, SERIALNUM v64, ASSETTAG v64, LOCATION v50,
		DESCRIPTION v100, VENDOR v12, FAILURECODE v8, MANUFACTURER v12, PURCHASEPRICE dec10_2!, REPLACECOST dec10_2!,
		INSTALLDATE ts, WARRANTYEXPDATE ts, TOTALCOST dec10_2!, YTDCOST dec10_2!, BUDGETCOST dec10_2!,
		CALNUM v8, ISRUNNING small!, ITEMNUM v30, ITEMSETID v8, CONDITIONCODE v30, GROUPNAME v10, CHANGEDATE ts!,
		CHANGEBY v30!, INVCOST dec10_2!, DISABLED small!, ORGID v8!, SITEID v8!, PRIORITY int, ASSETTYPE v15,
		STATUS v20!, STATUSDATE ts!, ROLLUP small!, MOVED small!, LANGCODE v4!, HASLD small!, ROWSTAMP bigint!`,
		"SITEID,ASSETNUM", "ASSETID")
	for i := 0; i < 80; i++ {
		s := sites[i%2]
		r := asset.add("ASSETID", int64(i+1), "ASSETNUM", fmt.Sprintf("PMP-%03d", i/2), "SITEID", s.site, "ORGID", s.org,
			"DESCRIPTION", fmt.Sprintf("Centrifugal pump %d", i), "STATUS", []string{"OPERATING", "NOT READY", "RUNNING", "DECOMMISSIONED", "LIMITEDUSE"}[i%5],
			"STATUSDATE", fxDay(i), "CHANGEDATE", fxDay(i), "CHANGEBY", "MAXADMIN", "LANGCODE", "EN", "ROWSTAMP", next(),
			"PURCHASEPRICE", fmt.Sprintf("%d.%02d", 1000+i*37, i%100), "ISRUNNING", int64(i%2))
		if i%3 == 0 {
			r["INSTALLDATE"] = fxDay(-400 + i)
			r["PRIORITY"] = int64(i%5 + 1)
			r["MANUFACTURER"] = "GOULDS"
		}
		if i >= 4 && i%4 == 0 {
			r["PARENT"] = fmt.Sprintf("PMP-%03d", i/2-1)
		}
	}
	loc := f.table("LOCATIONS", `LOCATIONSID bigint!, LOCATION v50!, DESCRIPTION v100, TYPE v16!, CHANGEBY v30!,
		CHANGEDATE ts!, DISABLED small!, GLACCOUNT v20, SITEID v8!, ORGID v8!, STATUS v20!, STATUSDATE ts!,
		LANGCODE v4!, HASLD small!, ISREPAIRFACILITY small!, ROWSTAMP bigint!`, "SITEID,LOCATION", "LOCATIONSID")
	for i := 0; i < 40; i++ {
		s := sites[i%2]
		loc.add("LOCATIONSID", int64(i+1), "LOCATION", fmt.Sprintf("BR%03d", i/2), "SITEID", s.site, "ORGID", s.org,
			"DESCRIPTION", fmt.Sprintf("Bay %d", i), "TYPE", []string{"OPERATING", "STOREROOM", "COURIER", "LABOR", "HOLDING"}[i%5],
			"CHANGEBY", "MAXADMIN", "CHANGEDATE", fxDay(i), "STATUS", "OPERATING", "STATUSDATE", fxDay(i), "LANGCODE", "EN", "ROWSTAMP", next())
	}
	person := f.table("PERSON", `PERSONUID bigint!, PERSONID v30!, DISPLAYNAME v62, FIRSTNAME v30, LASTNAME v30,
		PRIMARYEMAIL v100, STATUS v20!, STATUSDATE ts!, TITLE v62, DEPARTMENT v30, SUPERVISOR v30, LANGCODE v4!,
		LOCATIONSITE v8, LOCATIONORG v8, ACCEPTINGWFMAIL small!, LOCTOSERVREQ small!, TRANSEMAILELECTION v20!,
		WFMAILELECTION v20!, HASLD small!, ROWSTAMP bigint!`, "PERSONID", "PERSONUID")
	lcr := f.table("LABORCRAFTRATE", `LABORCRAFTRATEID bigint!, LABORCODE v30!, CRAFT v8!, SKILLLEVEL v30, VENDOR v12,
		CONTRACTNUM v8, RATE dec10_2!, DEFAULTCRAFT small!, INHERIT small!, ORGID v8!, ROWSTAMP bigint!`,
		"LABORCODE,CRAFT,ORGID", "LABORCRAFTRATEID")
	for i, p := range []string{"WILSON", "SMITHJ", "LIBERI", "MOREAU", "NGUYEN", "OKAFOR"} {
		r := person.add("PERSONUID", int64(i+1), "PERSONID", p, "DISPLAYNAME", strings.ToLower(p), "STATUS", []string{"ACTIVE", "INACTIVE"}[i%2],
			"STATUSDATE", fxDay(i), "LANGCODE", "EN", "TRANSEMAILELECTION", "NEVER", "WFMAILELECTION", "PROCESS", "ROWSTAMP", next())
		if i%2 == 0 {
			r["PRIMARYEMAIL"] = strings.ToLower(p) + "@example.com"
			r["FIRSTNAME"] = p[:1]
			r["LASTNAME"] = p[1:]
		}
		fx.people = append(fx.people, p)
		if i == 5 {
			continue // no labor record
		}
		lcr.add("LABORCRAFTRATEID", int64(10*i+1), "LABORCODE", p, "CRAFT", "MECH", "RATE", "45.00", "DEFAULTCRAFT", int64(1), "ORGID", "EAGLENA", "ROWSTAMP", next())
		if i < 3 {
			// Works in the second organization too, with a default craft there.
			lcr.add("LABORCRAFTRATEID", int64(10*i+2), "LABORCODE", p, "CRAFT", "ELECT", "RATE", "51.00", "DEFAULTCRAFT", int64(1), "ORGID", "EAGLESA", "ROWSTAMP", next())
			lcr.add("LABORCRAFTRATEID", int64(10*i+3), "LABORCODE", p, "CRAFT", "HELPER", "RATE", "30.00", "DEFAULTCRAFT", int64(0), "ORGID", "EAGLENA", "ROWSTAMP", next())
		}
	}
	f.table("SITE", `SITEUID bigint!, SITEID v8!, DESCRIPTION v100, ORGID v8!, ACTIVE small!, ROWSTAMP bigint!`, "SITEID")
	for i, s := range sites {
		f.byName["SITE"].add("SITEUID", int64(i+1), "SITEID", s.site, "ORGID", s.org, "ACTIVE", int64(1), "ROWSTAMP", next())
	}
	f.table("WOSTATUS", `WOSTATUSID bigint!, WONUM v25!, STATUS v16!, CHANGEDATE ts!, CHANGEBY v30!, MEMO v50,
		GLACCOUNT v20, ORGID v8!, SITEID v8!, PARENT v25, ROWSTAMP bigint!`, "WOSTATUSID")
	// Actuals point back at work orders through (SITEID, REFWO).
	lt := f.table("LABTRANS", `LABTRANSID bigint!, LABORCODE v30, CRAFT v8, REFWO v25, REGULARHRS float, STARTDATE ts,
		PAYRATE dec10_2!, LINECOST dec10_2!, ORGID v8!, SITEID v8!, TRANSDATE ts!, ENTERDATE ts!, ENTERBY v30!, GENAPPRSERVRECEIPT small!, ROWSTAMP bigint!`, "LABTRANSID")
	for i := 0; i < 30; i++ {
		lt.add("LABTRANSID", int64(i+1), "LABORCODE", "WILSON", "REFWO", strconv.Itoa(1000+i), "REGULARHRS", 1.25, "ORGID", "EAGLENA",
			"SITEID", "BEDFORD", "TRANSDATE", fxDay(i), "ENTERDATE", fxDay(i), "ENTERBY", "WILSON", "ROWSTAMP", next())
	}
	f.table("MATUSETRANS", `MATUSETRANSID bigint!, ITEMNUM v30, STORELOC v50, REFWO v25, QUANTITY float!, UNITCOST dec10_2!,
		LINECOST dec10_2!, ORGID v8!, SITEID v8!, TRANSDATE ts!, ACTUALDATE ts!, ROWSTAMP bigint!`, "MATUSETRANSID")
	po := f.table("PO", `POID bigint!, PONUM v8!, REVISIONNUM int!, DESCRIPTION v100, STATUS v12!, STATUSDATE ts!,
		ORDERDATE ts!, REQUIREDDATE ts, VENDOR v12, CURRENCYCODE v8!, PRETAXTOTAL dec10_2, TOTALCOST dec10_2,
		CHANGEDATE ts!, CHANGEBY v30!, POTYPE v10, HISTORYFLAG small!, ORGID v8!, SITEID v8!, LANGCODE v4!, ROWSTAMP bigint!`,
		"SITEID,PONUM,REVISIONNUM", "POID")
	pol := f.table("POLINE", `POLINEID bigint!, PONUM v8!, POLINENUM int!, ITEMNUM v30, ITEMSETID v8, DESCRIPTION v100,
		ORDERQTY float, ORDERUNIT v16, UNITCOST dec10_2, RECEIVEDQTY float!, LINECOST dec10_2!, REQDELIVERYDATE ts,
		REFWO v25, REVISIONNUM int!, ORGID v8!, SITEID v8!, ROWSTAMP bigint!`, "SITEID,PONUM,REVISIONNUM,POLINENUM", "POLINEID")
	for i := 0; i < 12; i++ {
		for rev := 0; rev <= i%2; rev++ {
			po.add("POID", int64(100*i+rev), "PONUM", strconv.Itoa(4000+i), "REVISIONNUM", int64(rev), "STATUS", []string{"APPR", "WAPPR", "REVISE", "CLOSE"}[(i+rev)%4],
				"STATUSDATE", fxDay(i), "ORDERDATE", fxDay(i), "VENDOR", "ACME", "CURRENCYCODE", "USD", "CHANGEDATE", fxDay(i), "CHANGEBY", "MAXADMIN",
				"ORGID", "EAGLENA", "SITEID", "BEDFORD", "LANGCODE", "EN", "TOTALCOST", "310.00", "ROWSTAMP", next())
			for l := 1; l <= 1+i%3; l++ {
				pol.add("POLINEID", int64(1000*i+10*rev+l), "PONUM", strconv.Itoa(4000+i), "POLINENUM", int64(l), "ITEMNUM", fmt.Sprintf("IT-%02d", l),
					"ITEMSETID", "SET1", "ORDERQTY", 2.0, "ORDERUNIT", "EACH", "UNITCOST", "77.50", "LINECOST", "155.00", "REVISIONNUM", int64(rev),
					"ORGID", "EAGLENA", "SITEID", "BEDFORD", "ROWSTAMP", next())
			}
		}
	}
	item := f.table("ITEM", `ITEMID bigint!, ITEMNUM v30!, DESCRIPTION v100, ROTATING small!, LOTTYPE v16!, CAPITALIZED small!,
		OUTSIDE small!, SPAREPARTAUTOADD small!, INSPECTIONREQUIRED small!, SOURCESYSID v10, ITEMSETID v8!, ORDERUNIT v16,
		ISSUEUNIT v16, CONDITIONENABLED small!, COMMODITYGROUP v8, COMMODITY v8, STATUS v20!, ITEMTYPE v10!, LANGCODE v4!, HASLD small!, ROWSTAMP bigint!`,
		"ITEMSETID,ITEMNUM", "ITEMID")
	for i := 1; i <= 6; i++ {
		r := item.add("ITEMID", int64(i), "ITEMNUM", fmt.Sprintf("IT-%02d", i), "ITEMSETID", "SET1", "DESCRIPTION", fmt.Sprintf("Bearing %d", i),
			"LOTTYPE", "NOLOT", "STATUS", []string{"ACTIVE", "PENDOBS", "OBSOLETE"}[i%3], "ITEMTYPE", "ITEM", "LANGCODE", "EN", "ROWSTAMP", next())
		if i%2 == 0 {
			r["ISSUEUNIT"] = "EACH"
		} else {
			r["ORDERUNIT"] = "BOX"
		}
	}
	f.table("INVENTORY", `INVENTORYID bigint!, ITEMNUM v30!, LOCATION v50!, BINNUM v8, MINLEVEL float!, MAXLEVEL float!,
		SSTOCK float, ORDERQTY float!, ITEMSETID v8!, ORGID v8!, SITEID v8!, STATUS v20!, ROWSTAMP bigint!`,
		"ITEMNUM,LOCATION,ITEMSETID,SITEID", "INVENTORYID")
	ib := f.table("INVBALANCES", `INVBALANCESID bigint!, ITEMNUM v30!, LOCATION v50!, BINNUM v8, LOTNUM v8, CURBAL float!,
		PHYSCNT float!, PHYSCNTDATE ts, RECONCILED small!, ITEMSETID v8!, ORGID v8!, SITEID v8!, STAGINGBIN small!, ROWSTAMP bigint!`,
		"INVBALANCESID")
	for i := 1; i <= 10; i++ {
		ib.add("INVBALANCESID", int64(i), "ITEMNUM", fmt.Sprintf("IT-%02d", 1+i%6), "LOCATION", "BR001", "BINNUM", []any{nil, "A-1", "B-2"}[i%3],
			"CURBAL", float64(i)*1.5, "ITEMSETID", "SET1", "ORGID", "EAGLENA", "SITEID", "BEDFORD", "ROWSTAMP", next())
		f.byName["INVENTORY"].add("INVENTORYID", int64(i), "ITEMNUM", fmt.Sprintf("IT-%02d", 1+i%6), "LOCATION", "BR001", "MINLEVEL", 2.0,
			"MAXLEVEL", 10.0, "ITEMSETID", "SET1", "ORGID", "EAGLENA", "SITEID", fmt.Sprintf("S%d", i), "STATUS", "ACTIVE", "ROWSTAMP", next())
	}
	comp := f.table("COMPANIES", `COMPANIESID bigint!, COMPANY v12!, TYPE v1, NAME v100, ADDRESS1 v100, ADDRESS2 v100,
		ADDRESS3 v100, ADDRESS4 v100, PHONE v20, CURRENCYCODE v8, PAYMENTTERMS v20, DISABLED small!, ORGID v8!,
		CHANGEDATE ts!, CHANGEBY v30!, LANGCODE v4!, HASLD small!, ROWSTAMP bigint!`, "ORGID,COMPANY", "COMPANIESID")
	for i, c := range []string{"ACME", "GOULDS", "FASTSHIP"} {
		comp.add("COMPANIESID", int64(i+1), "COMPANY", c, "TYPE", []string{"V", "M", "C"}[i], "NAME", c+" Inc.", "ADDRESS1", "1 Main St",
			"ADDRESS3", "Springfield", "DISABLED", int64(i/2), "ORGID", "EAGLENA", "CHANGEDATE", fxDay(i), "CHANGEBY", "MAXADMIN", "LANGCODE", "EN", "ROWSTAMP", next())
	}
	// A fresh site: no preventive maintenance defined yet.
	f.table("PM", `PMUID bigint!, PMNUM v8!, DESCRIPTION v100, LOCATION v50, ASSETNUM v25, STATUS v20!, FREQUENCY int!,
		FREQUNIT v8, LASTCOMPDATE ts, NEXTDATE ts, CHANGEDATE ts!, CHANGEBY v30!, ORGID v8!, SITEID v8!, ROWSTAMP bigint!`,
		"SITEID,PMNUM", "PMUID")
	return fx
}

// sapFx is an SAP PM fixture: clients 100 and 200 in one database (the same
// order numbers in both), fixed-width CHAR columns, DATS and TIMS text with
// '00000000' for no date, statuses in JEST with inactive rows and user
// statuses, blank references (an order without equipment, a top-level
// functional location, a plan item on a functional location), and no stock
// tables (MARD, MARC).
type sapFx struct {
	db *fxDB
	// orders maps the AUFNR of client 100 maintenance orders to the
	// expected status.
	orders map[string]sapOrder
	// only200 is an order number that exists in client 200 alone.
	only200 string
	// plans maps WARPL to the expected trigger type and asset count.
	plans map[string]sapPlan
	// topLocations have no superior functional location.
	topLocations []string
}

type sapOrder struct {
	status   any // expected unified status
	remote   any // expected remote_status (a JEST code)
	hasAsset bool
	title    string
}

type sapPlan struct {
	trigger string
	assets  int
}

func sapFixture() *sapFx {
	f := newFxDB()
	f.blank = func(fxCol) any { return " " } // SAP on Oracle keeps an empty CHAR as one blank
	fx := &sapFx{db: f, orders: map[string]sapOrder{}, plans: map[string]sapPlan{}}
	dats := func(t time.Time) string { return t.Format("20060102") }
	aufk := f.table("AUFK", `MANDT c3!, AUFNR c12!, AUART c4!, AUTYP c2!, REFNR c12!, ERNAM c12!, ERDAT d8!, AENAM c12!,
		AEDAT d8!, KTEXT c40!, LTEXT c1!, BUKRS c4!, WERKS c4!, GSBER c4!, KOKRS c4!, CCKEY c23!, KOSTV c10!, STORT c10!,
		SOWRK c4!, ASTKZ c1!, WAERS c5!, ASTNR c2!, STDAT d8!, ESTNR c2!, PHAS0 c1!, PHAS1 c1!, PHAS2 c1!, PHAS3 c1!,
		PDAT1 d8!, PDAT2 d8!, PDAT3 d8!, IDAT1 d8!, IDAT2 d8!, IDAT3 d8!, OBJNR c22!, LOEKZ c1!, USER0 c20!, USER4 dec11_2!`,
		"MANDT,AUFNR")
	afih := f.table("AFIH", `MANDT c3!, AUFNR c12!, ARTPR c2!, PRIOK c1!, EQUNR c18!, BAUTL c18!, ILOAN c12!, ILOAI c12!,
		ANLZU c1!, IPHAS c1!, INGPR c3!, APGRP c3!, ANING c12!, GEWRK c8!, WARPL c12!, ABNUM int!, WAPOS c16!, QMNUM c12!,
		ILART c3!, ADDAT d8!, ADUHR t6!`, "MANDT,AUFNR")
	afko := f.table("AFKO", `MANDT c3!, AUFNR c12!, GLTRP d8!, GSTRP d8!, FTRMS d8!, GLTRS d8!, GSTRS d8!, GSTRI d8!,
		GETRI d8!, GLTRI d8!, FTRMI d8!, GSUZS t6!, GLUZS t6!, GSUZI t6!, GEUZI t6!, PLNBEZ c18!, AUFPL c10!, RSNUM c10!,
		DISPO c3!, FEVOR c3!`, "MANDT,AUFNR")
	iloa := f.table("ILOA", `MANDT c3!, ILOAN c12!, TPLNR c30!, ABCKZ c1!, EQFNR c30!, SWERK c4!, STORT c10!, MSGRP c8!,
		BEBER c3!, PPSID c8!, GSBER c4!, KOSTL c10!, PROID c8!, BUKRS c4!, ANLNR c12!, DAUFN c12!, AUFNR c12!`, "MANDT,ILOAN")
	jest := f.table("JEST", `MANDT c3!, OBJNR c22!, STAT c5!, INACT c1!, CHGNR c3!, _DATAAGING d8!`, "MANDT,OBJNR,STAT")
	tj02t := f.table("TJ02T", `ISTAT c5!, SPRAS c1!, TXT04 c4!, TXT30 c30!`, "ISTAT,SPRAS")
	for _, s := range [][2]string{{"I0001", "CRTD"}, {"I0002", "REL"}, {"I0009", "CNF"}, {"I0010", "PCNF"}, {"I0043", "LKD"},
		{"I0045", "TECO"}, {"I0046", "CLSD"}, {"I0076", "DLFL"}, {"I0099", "AVLB"}, {"I0100", "INST"}, {"I0320", "INAC"}, {"I0028", "MACM"}} {
		tj02t.add("ISTAT", s[0], "SPRAS", "E", "TXT04", s[1], "TXT30", s[1])
		tj02t.add("ISTAT", s[0], "SPRAS", "D", "TXT04", s[1], "TXT30", s[1]+" (de)")
	}
	equi := f.table("EQUI", `MANDT c3!, EQUNR c18!, ERDAT d8!, ERNAM c12!, EQASP c1!, AEDAT d8!, AENAM c12!, BEGRU c4!,
		EQTYP c1!, EQART c10!, LVORM c1!, INVNR c25!, GROES c18!, BRGEW dec13_3!, GEWEI c3!, ANSDT d8!, ANSWT dec13_2!,
		WAERS c5!, ELIEF c10!, GWLEN d8!, GWLDT d8!, HERST c30!, HERLD c3!, BAUJJ c4!, BAUMM c2!, TYPBZ c20!, SERGE c30!,
		MAPAR c30!, INBDT d8!, OBJNR c22!, MATNR c18!`, "MANDT,EQUNR")
	eqkt := f.table("EQKT", `MANDT c3!, EQUNR c18!, SPRAS c1!, EQKTX c40!, KZLTX c1!, TXASP c1!`, "MANDT,EQUNR,SPRAS")
	equz := f.table("EQUZ", `MANDT c3!, EQUNR c18!, DATBI d8!, EQLFN c3!, DATAB d8!, IWERK c4!, ILOAN c12!, HEQUI c18!,
		HEQNR c4!, TIDNR c25!, INGRP c3!, GEWRK c8!, ERDAT d8!, AEDAT d8!`, "MANDT,EQUNR,DATBI,EQLFN")
	iflot := f.table("IFLOT", `MANDT c3!, TPLNR c30!, TPLKZ c5!, FLTYP c1!, ERDAT d8!, ERNAM c12!, AEDAT d8!, AENAM c12!,
		IWERK c4!, TPLMA c30!, OBJNR c22!, ILOAN c12!, INGRP c3!, LVORM c1!, SUBMT c18!`, "MANDT,TPLNR")
	iflotx := f.table("IFLOTX", `MANDT c3!, TPLNR c30!, SPRAS c1!, PLTXT c40!, KZLTX c1!`, "MANDT,TPLNR,SPRAS")
	mpla := f.table("MPLA", `MANDT c3!, WARPL c12!, ERKNZ c1!, AEKNZ c1!, ERSDT d8!, ERNAM c12!, AEDAT d8!, AENAM c12!,
		WPTXT c40!, STRAT c6!, ABRHO c3!, EQUNR c18!, TPLNR c30!, KUNUM c10!, LTKNZ c1!, LVORM c1!, ANZPS c4!, ABNUM int!,
		SFAKT dec3_2!, STICH c1!, HORIZ c3!, OBJNR c22!, MPTYP c2!, HUNIT c3!, STADT d8!`, "MANDT,WARPL")
	mpos := f.table("MPOS", `MANDT c3!, WAPOS c16!, WARPL c12!, WPPOS c4!, PSTXT c40!, EQUNR c18!, TPLNR c30!, BAUTL c18!,
		IWERK c4!, WSTRA c6!, AUART c4!, ILART c3!, GEWRK c8!, INACT c1!, ERSDT d8!`, "MANDT,WAPOS")
	mmpt := f.table("MMPT", `MANDT c3!, WARPL c12!, NUMMER c2!, ZYKL1 float!, ZEIEH c3!, PAK_TEXT c30!, OFFS1 float!`, "MANDT,WARPL,NUMMER")
	ekko := f.table("EKKO", `MANDT c3!, EBELN c10!, BUKRS c4!, BSTYP c1!, BSART c4!, LOEKZ c1!, STATU c1!, AEDAT d8!,
		ERNAM c12!, LIFNR c10!, ZTERM c4!, EKORG c4!, EKGRP c3!, WAERS c5!, WKURS dec9_5!, BEDAT d8!, KDATB d8!, KDATE d8!`, "MANDT,EBELN")
	ekpo := f.table("EKPO", `MANDT c3!, EBELN c10!, EBELP c5!, LOEKZ c1!, STATU c1!, AEDAT d8!, TXZ01 c40!, MATNR c18!,
		BUKRS c4!, WERKS c4!, LGORT c4!, MATKL c9!, MENGE dec13_3!, MEINS c3!, BPRME c3!, NETPR dec11_2!, PEINH dec5_0!,
		NETWR dec13_2!, BRTWR dec13_2!, ELIKZ c1!`, "MANDT,EBELN,EBELP")
	mara := f.table("MARA", `MANDT c3!, MATNR c18!, ERSDA d8!, ERNAM c12!, LAEDA d8!, AENAM c12!, VPSTA c15!, LVORM c1!,
		MTART c4!, MBRSH c1!, MATKL c9!, BISMT c18!, MEINS c3!, BSTME c3!, BRGEW dec13_3!, NTGEW dec13_3!, GEWEI c3!,
		MFRPN c40!, MFRNR c10!`, "MANDT,MATNR")
	makt := f.table("MAKT", `MANDT c3!, MATNR c18!, SPRAS c1!, MAKTX c40!, MAKTG c40!`, "MANDT,MATNR,SPRAS")
	lfa1 := f.table("LFA1", `MANDT c3!, LIFNR c10!, LAND1 c3!, NAME1 c35!, NAME2 c35!, ORT01 c35!, PSTLZ c10!, REGIO c3!,
		SORTL c10!, STRAS c35!, ADRNR c10!, ERDAT d8!, ERNAM c12!, KTOKK c4!, LOEVM c1!, SPERR c1!, TELF1 c16!, STCD1 c16!`, "MANDT,LIFNR")

	// Functional locations: two plants, a top level each, areas below.
	for _, client := range []string{"100", "200"} {
		for p, plant := range []string{"1000", "2000"} {
			top := fmt.Sprintf("PL%02d", p+1)
			iflot.add("MANDT", client, "TPLNR", top, "FLTYP", "M", "ERDAT", dats(fxDay(-300)), "IWERK", plant, "OBJNR", "IF"+top)
			iflotx.add("MANDT", client, "TPLNR", top, "SPRAS", "E", "PLTXT", "Plant "+plant)
			if client == "100" {
				fx.topLocations = append(fx.topLocations, top)
			}
			for a := 1; a <= 3; a++ {
				fl := fmt.Sprintf("%s-AREA-%02d", top, a)
				r := iflot.add("MANDT", client, "TPLNR", fl, "FLTYP", "M", "ERDAT", dats(fxDay(-200+a)), "IWERK", plant, "TPLMA", top, "OBJNR", "IF"+fl)
				if a == 2 {
					r["AEDAT"] = dats(fxDay(-20))
				}
				iflotx.add("MANDT", client, "TPLNR", fl, "SPRAS", "E", "PLTXT", fmt.Sprintf("Area %d", a))
				iflotx.add("MANDT", client, "TPLNR", fl, "SPRAS", "D", "PLTXT", fmt.Sprintf("Bereich %d", a))
			}
		}
	}
	// Equipment, in client 100 only.
	eqno := func(i int) string { return fmt.Sprintf("%018d", 10000000+i) }
	for i := 0; i < 30; i++ {
		e := eqno(i)
		r := equi.add("MANDT", "100", "EQUNR", e, "ERDAT", dats(fxDay(-250+i)), "EQTYP", "M", "EQART", []string{"PUMP", "MOTOR", "VALVE"}[i%3],
			"HERST", []string{"KSB", "SIEMENS", " "}[i%3], "TYPBZ", "MEGA-50", "SERGE", fmt.Sprintf("SN%05d", i), "ANSWT", fmt.Sprintf("%d.50", 1200+i),
			"WAERS", "EUR", "OBJNR", "IE"+e)
		if i%2 == 0 {
			r["INBDT"] = dats(fxDay(-700 + i))
		}
		if i%4 == 0 {
			r["AEDAT"] = dats(fxDay(-10 + i%7))
		}
		eqkt.add("MANDT", "100", "EQUNR", e, "SPRAS", "E", "EQKTX", fmt.Sprintf("Feed pump %d", i))
		eqkt.add("MANDT", "100", "EQUNR", e, "SPRAS", "D", "EQKTX", fmt.Sprintf("Speisepumpe %d", i))
		iloan := fmt.Sprintf("%012d", 500000+i)
		iloa.add("MANDT", "100", "ILOAN", iloan, "TPLNR", fmt.Sprintf("PL%02d-AREA-%02d", 1+i%2, 1+i%3), "SWERK", "1000")
		// An earlier time segment, then the current one.
		equz.add("MANDT", "100", "EQUNR", e, "DATBI", dats(fxDay(-100)), "EQLFN", "001", "DATAB", dats(fxDay(-250+i)), "IWERK", "1000", "ILOAN", iloan)
		z := equz.add("MANDT", "100", "EQUNR", e, "DATBI", "99991231", "EQLFN", "001", "DATAB", dats(fxDay(-99)), "IWERK", "1000", "ILOAN", iloan)
		if i%5 == 1 {
			z["HEQUI"] = eqno(i - 1)
		}
		st := []string{"I0100", "I0099", "I0320", "I0076"}[i%4]
		jest.add("MANDT", "100", "OBJNR", "IE"+e, "STAT", st, "CHGNR", "001")
		if st != "I0099" {
			jest.add("MANDT", "100", "OBJNR", "IE"+e, "STAT", "I0099", "INACT", "X", "CHGNR", "002")
		}
	}
	// Orders: client 100 has 1..140, client 200 has 101..160 (the numbers
	// overlap). Every seventh is an internal order (AUTYP 01).
	order := func(client string, n int) {
		aufnr := fmt.Sprintf("%012d", 4000000+n)
		autyp := "30"
		if n%7 == 0 {
			autyp = "01"
		}
		created := fxDay(-120 + n%100)
		title := fmt.Sprintf("Replace seal %d", n)
		r := aufk.add("MANDT", client, "AUFNR", aufnr, "AUART", []string{"PM01", "PM02", "PM03", "PM04", "ZM01"}[n%5], "AUTYP", autyp,
			"ERNAM", "PLANNER1", "ERDAT", dats(created), "KTEXT", title, "BUKRS", "1000", "WERKS", "1000", "WAERS", "EUR", "OBJNR", "OR"+aufnr)
		if n%3 == 0 {
			r["AEDAT"] = dats(created.AddDate(0, 0, 3))
		}
		h := afih.add("MANDT", client, "AUFNR", aufnr, "ILART", "002", "ILOAN", fmt.Sprintf("%012d", 500000+n%30))
		if n%4 != 0 {
			h["EQUNR"] = eqno(n % 30)
		}
		if n%5 != 0 {
			h["PRIOK"] = strconv.Itoa(1 + n%4)
		}
		if n%10 == 3 {
			h["WARPL"] = fmt.Sprintf("%012d", 30+n%4)
		}
		k := afko.add("MANDT", client, "AUFNR", aufnr, "GLTRP", dats(created.AddDate(0, 0, 10)), "GSTRP", dats(created.AddDate(0, 0, 1)),
			"GSTRS", dats(created.AddDate(0, 0, 2)), "GSUZS", "073000", "GLTRS", dats(created.AddDate(0, 0, 4)), "GLUZS", "160000")
		// Statuses: a history of inactive rows, a user status, and the
		// active system statuses that decide.
		objnr := "OR" + aufnr
		var active []string
		switch n % 8 {
		case 0:
			active = []string{"I0001"}
		case 1:
			active = []string{"I0002"}
		case 2:
			active = []string{"I0002", "I0010"}
		case 3:
			active = []string{"I0002", "I0009"}
		case 4:
			active = []string{"I0045"}
		case 5:
			active = []string{"I0045", "I0046"}
		case 6:
			active = []string{"I0001", "I0076"}
		case 7:
			active = []string{"I0028"} // a status the profile does not list
		}
		for _, s := range active {
			jest.add("MANDT", client, "OBJNR", objnr, "STAT", s, "CHGNR", "002")
		}
		if !slices.Contains(active, "I0001") {
			jest.add("MANDT", client, "OBJNR", objnr, "STAT", "I0001", "INACT", "X", "CHGNR", "001")
		}
		jest.add("MANDT", client, "OBJNR", objnr, "STAT", "E0001", "CHGNR", "001")
		if n%8 == 2 || n%8 == 3 || n%8 >= 4 && n%8 <= 5 {
			k["GSTRI"] = dats(created.AddDate(0, 0, 2))
			k["GSUZI"] = "081500"
		}
		if n%8 == 4 || n%8 == 5 {
			k["GETRI"] = dats(created.AddDate(0, 0, 3))
			k["GEUZI"] = "240000"
			r["IDAT2"] = dats(created.AddDate(0, 0, 3))
		}
		if n%8 == 5 {
			r["IDAT3"] = dats(created.AddDate(0, 0, 5))
		}
		if client != "100" || autyp != "30" {
			return
		}
		wants := map[int][2]any{0: {"open", "I0001"}, 1: {"open", "I0002"}, 2: {"in_progress", "I0010"}, 3: {"completed", "I0009"},
			4: {"completed", "I0045"}, 5: {"closed", "I0046"}, 6: {"cancelled", "I0076"}, 7: {nil, nil}}
		w := wants[n%8]
		fx.orders[aufnr] = sapOrder{status: w[0], remote: w[1], hasAsset: n%4 != 0, title: title}
	}
	for n := 1; n <= 140; n++ {
		order("100", n)
	}
	for n := 101; n <= 160; n++ {
		order("200", n)
	}
	fx.only200 = fmt.Sprintf("%012d", 4000000+150)
	// Maintenance plans: STICH blank (time-based), 1, 3 (counter); items
	// on equipment and on a functional location only.
	for i := 0; i < 6; i++ {
		warpl := fmt.Sprintf("%012d", 30+i)
		stich := []string{" ", "1", "3", " ", "2", "4"}[i]
		r := mpla.add("MANDT", "100", "WARPL", warpl, "ERSDT", dats(fxDay(-90+i)), "WPTXT", fmt.Sprintf("Quarterly check %d", i),
			"STICH", stich, "ABNUM", int64(i), "OBJNR", "WO"+warpl, "MPTYP", "PM")
		if i == 3 {
			r["LVORM"] = "X"
			r["AEDAT"] = dats(fxDay(-5))
		}
		trig := map[string]string{" ": "calendar", "1": "calendar", "2": "calendar", "3": "meter", "4": "meter"}[stich]
		n := 0
		for w := 0; w < i%3+1; w++ {
			it := mpos.add("MANDT", "100", "WAPOS", fmt.Sprintf("%016d", 700+10*i+w), "WARPL", warpl, "PSTXT", "Item", "IWERK", "1000")
			if w == 1 {
				it["TPLNR"] = "PL01-AREA-01" // on a functional location: no equipment
			} else {
				it["EQUNR"] = eqno(i + w)
				n++
			}
		}
		fx.plans[warpl] = sapPlan{trigger: trig, assets: n}
		if i != 5 {
			mmpt.add("MANDT", "100", "WARPL", warpl, "NUMMER", "01", "ZYKL1", float64(3*(i+1)), "ZEIEH", []string{"MON", "WCH", "TAG"}[i%3])
		}
	}
	// Purchasing and materials.
	for i := 0; i < 8; i++ {
		matnr := fmt.Sprintf("%018d", 100020+i)
		r := mara.add("MANDT", "100", "MATNR", matnr, "ERSDA", dats(fxDay(-60+i)), "MTART", "ERSA", "MATKL", "PUMPS", "MEINS", "ST")
		if i%3 == 0 {
			r["LAEDA"] = dats(fxDay(-2))
			r["LVORM"] = "X"
		}
		makt.add("MANDT", "100", "MATNR", matnr, "SPRAS", "E", "MAKTX", fmt.Sprintf("Mechanical seal %d", i))
	}
	for i := 0; i < 4; i++ {
		lifnr := fmt.Sprintf("%010d", 300000+i)
		lfa1.add("MANDT", "100", "LIFNR", lifnr, "LAND1", "DE", "NAME1", fmt.Sprintf("Lieferant %d GmbH", i), "ORT01", "Walldorf",
			"PSTLZ", "69190", "STRAS", "Dietmar-Hopp-Allee 16", "ERDAT", dats(fxDay(-400)), "LOEVM", []string{" ", "X"}[i%2])
	}
	for i := 0; i < 6; i++ {
		ebeln := fmt.Sprintf("45%08d", i)
		ekko.add("MANDT", "100", "EBELN", ebeln, "BUKRS", "1000", "BSTYP", []string{"F", "F", "F", "K", "F", "F"}[i], "BSART", "NB",
			"AEDAT", dats(fxDay(-30+i)), "LIFNR", fmt.Sprintf("%010d", 300000+i%4), "WAERS", "EUR", "BEDAT", dats(fxDay(-30+i)))
		for l := 1; l <= 2; l++ {
			ekpo.add("MANDT", "100", "EBELN", ebeln, "EBELP", fmt.Sprintf("%05d", 10*l), "LOEKZ", []string{" ", "L", "S"}[(i+l)%3],
				"TXZ01", "Seal kit", "MATNR", fmt.Sprintf("%018d", 100020+l), "MENGE", "4.000", "MEINS", "ST", "NETPR", "12.50", "PEINH", "1", "NETWR", "50.00")
		}
	}
	return fx
}

// dropColumn removes a column (and its values) from a fixture table, as an
// older or customized version of a system lacks it.
func (t *fxTable) dropColumn(name string) {
	t.cols = slices.DeleteFunc(t.cols, func(c fxCol) bool { return c.name == name })
	t.unique = slices.DeleteFunc(t.unique, func(u []string) bool { return slices.Contains(u, name) })
	for _, r := range t.rows {
		delete(r, name)
	}
}

// dropTable removes a table from the fixture.
func (f *fxDB) dropTable(name string) {
	f.tables = slices.DeleteFunc(f.tables, func(t *fxTable) bool { return t.name == name })
	delete(f.byName, name)
}

// inforFx is an Infor EAM fixture: site user statuses over system
// statuses, a user code in mixed case, event types that are no work
// orders, check boxes as '+', '-' and NULL, many rows saved in the same
// second, an empty parts table, and no PM, purchasing or supplier tables.
type inforFx struct {
	db     *fxDB
	events map[string]any // EVT_CODE of JOB and PPM events → expected status
	people int
}

func inforFixture() *inforFx {
	f := newFxDB()
	fx := &inforFx{db: f, events: map[string]any{}}
	ev := f.table("R5EVENTS", `EVT_CODE v30!, EVT_ORG v15!, EVT_DESC v80, EVT_TYPE v4!, EVT_RTYPE v4!, EVT_STATUS v4!,
		EVT_RSTATUS v4!, EVT_OBJECT v30, EVT_OBJECT_ORG v15, EVT_OBTYPE v4, EVT_OBRTYPE v4, EVT_MRC v15!, EVT_CLASS v8,
		EVT_CLASS_ORG v15, EVT_JOBTYPE v4, EVT_PRIORITY v4, EVT_DATE ts!, EVT_REPORTED ts, EVT_CREATED ts!,
		EVT_CREATEDBY v30!, EVT_ENTEREDBY v30, EVT_TARGET ts, EVT_SCHEDEND ts, EVT_START ts, EVT_COMPLETED ts,
		EVT_PERSON v30, EVT_ORIGIN v30, EVT_PARENT v30, EVT_PPM v20, EVT_MP v20, EVT_MP_ORG v15, EVT_MP_REV int,
		EVT_LOCATION v30, EVT_LOCATION_ORG v15, EVT_DURATION dec24_6, EVT_DOWNTIMEHRS dec24_6, EVT_FAILURE v8,
		EVT_REOPENED v1, EVT_PRINTED v1, EVT_WORKADDRESS v80, EVT_PHONE v80, EVT_EMAIL v80, EVT_UDFCHAR01 v80,
		EVT_UDFCHAR02 v80, EVT_UDFDATE01 ts, EVT_UPDATECOUNT dec24_6!, EVT_LASTSAVED ts!, EVT_UPDATED ts,
		EVT_UPDATEDBY v30`, "EVT_CODE")
	codes := []struct {
		st, rst string
		want    any
	}{{"25TP", "R", "open"}, {"40PR", "R", "open"}, {"A", "A", "open"}, {"R", "R", "open"}, {"HOLD", "Q", "open"},
		{"C", "C", "completed"}, {"CANC", "C", "cancelled"}, {"CLOS", "C", "closed"}, {"Canc", "C", "completed"}, {"XX", "Z", nil}}
	rtypes := []string{"JOB", "JOB", "PPM", "MEC", "JOB", "BRKD"}
	for i := 0; i < 180; i++ {
		code := strconv.Itoa(10000 + i)
		c := codes[i%len(codes)]
		rt := rtypes[i%len(rtypes)]
		// Batches of events saved in the same second.
		saved := fxDay(i / 12).Add(time.Duration(i/6) * time.Second)
		r := ev.add("EVT_CODE", code, "EVT_ORG", []string{"NORTH", "SOUTH"}[i%2], "EVT_DESC", fmt.Sprintf("Repair conveyor %d", i),
			"EVT_TYPE", rt, "EVT_RTYPE", rt, "EVT_STATUS", c.st, "EVT_RSTATUS", c.rst, "EVT_MRC", "MAINT", "EVT_DATE", fxDay(i/12),
			"EVT_CREATED", fxDay(i/12), "EVT_CREATEDBY", "R5", "EVT_UPDATECOUNT", int64(i%4), "EVT_LASTSAVED", saved,
			"EVT_PRIORITY", []any{"1", "2", "3", "4", "H", nil}[i%6], "EVT_JOBTYPE", []any{"CORR", "PM", "BRKD", "INSP", "MEC", nil}[i%6],
			"EVT_REOPENED", []any{"-", nil, "+"}[i%3])
		if i%4 != 0 {
			r["EVT_OBJECT"], r["EVT_OBJECT_ORG"], r["EVT_OBTYPE"], r["EVT_OBRTYPE"] = fmt.Sprintf("CONV-%02d", i%20), "NORTH", "A", "A"
			r["EVT_PERSON"] = fmt.Sprintf("P%03d", i%8)
		}
		if rt == "JOB" || rt == "PPM" {
			fx.events[code] = c.want
		}
	}
	obj := f.table("R5OBJECTS", `OBJ_CODE v30!, OBJ_ORG v15!, OBJ_DESC v80, OBJ_OBTYPE v4!, OBJ_OBRTYPE v4!, OBJ_MRC v15,
		OBJ_STATUS v4, OBJ_CLASS v8, OBJ_CLASS_ORG v15, OBJ_CATEGORY v30, OBJ_SERIALNO v30, OBJ_ALIAS v30, OBJ_MANUFACT v30,
		OBJ_LOCATION v30, OBJ_LOCATION_ORG v15, OBJ_NOTUSED v1, OBJ_UDFCHAR01 v80, OBJ_UDFCHAR22 v80, OBJ_UDFCHKBOX01 v1,
		OBJ_CREATED ts, OBJ_LASTSAVED ts!, OBJ_UPDATECOUNT dec24_6!`, "OBJ_CODE,OBJ_ORG")
	for i := 0; i < 30; i++ {
		t := []string{"A", "A", "P", "S", "L", "*"}[i%6]
		obj.add("OBJ_CODE", fmt.Sprintf("CONV-%02d", i), "OBJ_ORG", "NORTH", "OBJ_DESC", fmt.Sprintf("Conveyor %d", i), "OBJ_OBTYPE", t,
			"OBJ_OBRTYPE", t, "OBJ_STATUS", []any{"I", "VAL", "EO", "D", nil}[i%5], "OBJ_CLASS", []any{"SITE", "BLDG", "AREA", nil}[i%4],
			"OBJ_LASTSAVED", fxDay(i), "OBJ_UDFCHKBOX01", []any{"+", "-", nil}[i%3])
	}
	per := f.table("R5PERSONNEL", `PER_CODE v30!, PER_ORG v15, PER_DESC v80, PER_USER v30, PER_NOTUSED v1, PER_EMAILADDRESS v80,
		PER_MRC v15, PER_TRADE v30, PER_UDFCHAR03 v80, PER_UDFCHAR04 v80, PER_UDFCHKBOX01 v1, PER_LASTSAVED ts!`, "PER_CODE")
	usr := f.table("R5USERS", `USR_CODE v30!, USR_DESC v80, USR_EMAILADDRESS v80, USR_GROUP v30, USR_LASTSAVED ts!`, "USR_CODE")
	for i := 0; i < 8; i++ {
		r := per.add("PER_CODE", fmt.Sprintf("P%03d", i), "PER_ORG", "NORTH", "PER_DESC", fmt.Sprintf("Technician %d", i),
			"PER_NOTUSED", []any{"-", "+", nil}[i%3], "PER_LASTSAVED", fxDay(i))
		if i%2 == 0 {
			r["PER_USER"] = fmt.Sprintf("U%d", i)
			usr.add("USR_CODE", fmt.Sprintf("U%d", i), "USR_EMAILADDRESS", fmt.Sprintf("u%d@example.com", i), "USR_LASTSAVED", fxDay(i))
		}
		fx.people++
	}
	uc := f.table("R5UCODES", `UCO_ENTITY v4!, UCO_CODE v4!, UCO_RCODE v4, UCO_DESC v80, UCO_NOTUSED v1`, "UCO_ENTITY,UCO_CODE")
	for _, c := range codes {
		uc.add("UCO_ENTITY", "EVST", "UCO_CODE", c.st, "UCO_RCODE", c.rst, "UCO_DESC", c.st)
	}
	bh := f.table("R5BOOKEDHOURS", `BOO_CODE v30!, BOO_EVENT v30!, BOO_ACT int!, BOO_PERSON v30, BOO_HOURS dec24_6, BOO_DATE ts, BOO_UDFCHAR05 v80`, "BOO_CODE")
	for i := 0; i < 20; i++ {
		bh.add("BOO_CODE", strconv.Itoa(i), "BOO_EVENT", strconv.Itoa(10000+i), "BOO_ACT", int64(10), "BOO_PERSON", "P001", "BOO_HOURS", "1.5")
	}
	f.table("R5PARTS", `PAR_CODE v30!, PAR_ORG v15!, PAR_DESC v80, PAR_UOM v30, PAR_CATEGORY v30, PAR_AVGPRICE dec24_6,
		PAR_BASEPRICE dec24_6, PAR_NOTUSED v1, PAR_LASTSAVED ts!`, "PAR_CODE,PAR_ORG")
	f.table("R5STORES", `STR_CODE v30!, STR_ORG v15!, STR_DESC v80, STR_NOTUSED v1`, "STR_CODE")
	return fx
}

// mp2Fx is an MP2 fixture with the tables whose columns are public (WO,
// WOEQLIST, WOC, EQUIP, WOTYPE): work orders keyed by (WONUM, CLOSEDATE)
// with several pieces of equipment, float priorities, and a status the
// profile does not list.
type mp2Fx struct {
	db  *fxDB
	wos map[string]mp2WO
}

type mp2WO struct {
	status, asset, priority any
}

func mp2Fixture() *mp2Fx {
	f := newFxDB()
	fx := &mp2Fx{db: f, wos: map[string]mp2WO{}}
	open := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	wo := f.table("WO", `WONUM v10!, CLOSEDATE ts!, TASKDESC v60, DELAYDESC v60, NOTES text, WOTYPE v10, STATUS c1, ORIGINATOR v25,
		PRIORITY float, REQUESTDATE ts, REQUESTTIME ts, COMPLETIONDATE ts, COMPLETIONTIME ts`, "WONUM,CLOSEDATE")
	eq := f.table("WOEQLIST", `WONUM v10!, CLOSEDATE ts, EQNUM v25!, LOCATION v25, SUBLOCATION1 v25, SUBLOCATION2 v25,
		SUBLOCATION3 v25, DEPARTMENT v25, EQDESC v60`)
	f.table("WOC", `WONUM v10!, CLOSEDATE ts, EQNUM v25, LOCATION v25, SUBLOCATION1 v25, SUBLOCATION2 v25, SUBLOCATION3 v25, TEXTS text`)
	equip := f.table("EQUIP", `EQNUM v25!, DESCRIPTION v60, DEPT v25, LOCATION v25, SUBLOCATION1 v25, SUBLOCATION2 v25, SUBLOCATION3 v25`, "EQNUM")
	wt := f.table("WOTYPE", `WOTYPE v10!, DESCRIPTION v60`, "WOTYPE")
	for _, t := range [][2]string{{"CM", "Corrective"}, {"PM", "Preventive"}, {"EM", "Emergency"}, {"SAF", "Safety - do not use!"}} {
		wt.add("WOTYPE", t[0], "DESCRIPTION", t[1])
	}
	for i := 0; i < 25; i++ {
		equip.add("EQNUM", fmt.Sprintf("EQ-%03d", i), "DESCRIPTION", fmt.Sprintf("Compressor %d", i), "DEPT", "UTIL", "LOCATION", "BLDG1",
			"SUBLOCATION1", []any{"", "ROOM2", nil}[i%3])
	}
	for i := 0; i < 90; i++ {
		num := fmt.Sprintf("WO%08d", i)
		st := []string{"O", "O", "C", "R", "O"}[i%5]
		closed := open
		if st == "C" {
			closed = fxDay(i % 30)
		}
		var prio any
		if i%6 != 0 {
			prio = float64(1 + i%5)
		}
		wo.add("WONUM", num, "CLOSEDATE", closed, "TASKDESC", fmt.Sprintf("Check compressor %d", i), "WOTYPE", []any{"CM", "PM", "EM", "SAF", nil}[i%5],
			"STATUS", st, "ORIGINATOR", fmt.Sprintf("A%07d", i%9), "PRIORITY", prio, "REQUESTDATE", fxDay(i%30).Truncate(24*time.Hour),
			"REQUESTTIME", time.Date(1899, 12, 30, 8+i%8, 15, 0, 0, time.UTC))
		var asset any
		for e := 0; e < i%3; e++ {
			// Listed out of order: the smallest EQNUM is the asset.
			n := (i + 7*(2-e)) % 25
			eq.add("WONUM", num, "CLOSEDATE", closed, "EQNUM", fmt.Sprintf("EQ-%03d", n), "LOCATION", "BLDG1", "EQDESC", "Compressor")
			if s := fmt.Sprintf("EQ-%03d", n); asset == nil || s < asset.(string) {
				asset = s
			}
		}
		want := map[string]any{"O": "open", "C": "completed", "R": nil}[st]
		fx.wos[num] = mp2WO{status: want, asset: asset, priority: prio}
	}
	return fx
}
