package connectors

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/connectors/model"
)

// fixtureTables is a small Maximo schema using the public column names.
// "dt" is a local date-time (text in SQLite, timestamp in PostgreSQL),
// "num" a numeric(15,2); every table has a ROWSTAMP.
var fixtureTables = []struct {
	name, cols string
	key        []string
}{
	{"SITE", "SITEID varchar(8)!, ORGID varchar(8)!", []string{"SITEID"}},
	{"SYNONYMDOMAIN", "SYNONYMDOMAINID bigint!, DOMAINID varchar(18)!, MAXVALUE varchar(50)!, VALUE varchar(50)!, SITEID varchar(8), ORGID varchar(8)", []string{"SYNONYMDOMAINID"}},
	{"WORKORDER", `WORKORDERID bigint!, WONUM varchar(10)!, SITEID varchar(8)!, ORGID varchar(8)!, DESCRIPTION varchar(100),
		STATUS varchar(16)!, STATUSDATE dt!, WOPRIORITY int, WORKTYPE varchar(5), ASSETNUM varchar(12), LOCATION varchar(20),
		PARENT varchar(10), PMNUM varchar(8), LEAD varchar(30), REPORTEDBY varchar(30), REPORTDATE dt, TARGCOMPDATE dt,
		SCHEDSTART dt, SCHEDFINISH dt, ACTSTART dt, ACTFINISH dt, ESTDUR num, ACTLABHRS num!, FAILURECODE varchar(8),
		WOCLASS varchar(16)!, ISTASK int!, HISTORYFLAG int!, CHANGEDATE dt!, CHANGEBY varchar(30)!`, []string{"SITEID", "WONUM"}},
	{"WOSTATUS", "WOSTATUSID bigint!, WONUM varchar(10)!, SITEID varchar(8)!, ORGID varchar(8)!, STATUS varchar(16)!, CHANGEDATE dt!, CHANGEBY varchar(30)!, MEMO varchar(50), PARENT varchar(10)", []string{"WOSTATUSID"}},
	{"ASSET", `ASSETID bigint!, ASSETNUM varchar(12)!, SITEID varchar(8)!, ORGID varchar(8)!, DESCRIPTION varchar(100), STATUS varchar(20)!,
		LOCATION varchar(20), PARENT varchar(12), ASSETTYPE varchar(16), MANUFACTURER varchar(12), SERIALNUM varchar(64), PRIORITY int,
		INSTALLDATE dt, PURCHASEPRICE num!, CHANGEDATE dt!`, []string{"SITEID", "ASSETNUM"}},
	{"LOCATIONS", "LOCATIONSID bigint!, LOCATION varchar(20)!, SITEID varchar(8)!, ORGID varchar(8)!, DESCRIPTION varchar(100), TYPE varchar(16)!, CHANGEDATE dt!", []string{"SITEID", "LOCATION"}},
	{"LOCHIERARCHY", "LOCHIERARCHYID bigint!, LOCATION varchar(20)!, PARENT varchar(20), SYSTEMID varchar(8)!, SITEID varchar(8)!, ORGID varchar(8)!", []string{"SITEID", "SYSTEMID", "LOCATION"}},
	{"PO", `POID bigint!, PONUM varchar(8)!, REVISIONNUM int!, SITEID varchar(8)!, ORGID varchar(8)!, STATUS varchar(16)!, VENDOR varchar(12)!,
		ORDERDATE dt, REQUIREDDATE dt, CURRENCYCODE varchar(8)!, TOTALCOST num!, PRETAXTOTAL num!, CHANGEDATE dt!`, []string{"SITEID", "PONUM", "REVISIONNUM"}},
	{"POLINE", `POLINEID bigint!, PONUM varchar(8)!, REVISIONNUM int!, POLINENUM int!, SITEID varchar(8)!, ITEMNUM varchar(30), ITEMSETID varchar(8),
		DESCRIPTION varchar(100), ORDERQTY num!, ORDERUNIT varchar(16), UNITCOST num!, LINECOST num!, RECEIVEDQTY num!, REQDELIVERYDATE dt`, []string{"SITEID", "PONUM", "REVISIONNUM", "POLINENUM"}},
	{"ITEM", "ITEMID bigint!, ITEMNUM varchar(30)!, ITEMSETID varchar(8)!, DESCRIPTION varchar(100), ORDERUNIT varchar(16), ISSUEUNIT varchar(16), COMMODITYGROUP varchar(8), STATUS varchar(16)!", []string{"ITEMSETID", "ITEMNUM"}},
	{"INVENTORY", "INVENTORYID bigint!, ITEMNUM varchar(30)!, ITEMSETID varchar(8)!, LOCATION varchar(20)!, SITEID varchar(8)!, MINLEVEL num!, MAXLEVEL num!", []string{"SITEID", "ITEMSETID", "ITEMNUM", "LOCATION"}},
	{"INVBALANCES", "INVBALANCESID bigint!, ITEMNUM varchar(30)!, ITEMSETID varchar(8)!, LOCATION varchar(20)!, BINNUM varchar(8)!, CURBAL num!, SITEID varchar(8)!", []string{"INVBALANCESID"}},
	{"COMPANIES", "COMPANIESID bigint!, COMPANY varchar(12)!, ORGID varchar(8)!, NAME varchar(75), ADDRESS1 varchar(50), ADDRESS2 varchar(50), PHONE varchar(20), CURRENCYCODE varchar(8)!, PAYMENTTERMS varchar(20), DISABLED int!, CHANGEDATE dt!", []string{"COMPANY", "ORGID"}},
	{"PERSON", "PERSONUID bigint!, PERSONID varchar(30)!, DISPLAYNAME varchar(62), FIRSTNAME varchar(30), LASTNAME varchar(30), PRIMARYEMAIL varchar(100), STATUS varchar(20)!", []string{"PERSONID"}},
	{"LABORCRAFTRATE", "LABORCRAFTRATEID bigint!, LABORCODE varchar(30)!, CRAFT varchar(8)!, DEFAULTCRAFT int!, ORGID varchar(8)!", []string{"LABORCODE", "CRAFT", "ORGID"}},
	{"PM", `PMUID bigint!, PMNUM varchar(8)!, SITEID varchar(8)!, ORGID varchar(8)!, DESCRIPTION varchar(100), STATUS varchar(20)!, ASSETNUM varchar(12),
		LOCATION varchar(20), FREQUENCY int!, FREQUNIT varchar(8)!, LASTCOMPDATE dt, NEXTDATE dt, CHANGEDATE dt!`, []string{"SITEID", "PMNUM"}},
}

// fixtureDDL renders CREATE TABLE and CREATE UNIQUE INDEX statements.
func fixtureDDL(d *dialect.Dialect) []string {
	var out []string
	for _, t := range fixtureTables {
		var cols []string
		for _, c := range strings.Split(t.cols+", ROWSTAMP bigint!", ",") {
			f := strings.Fields(strings.TrimSpace(c))
			name, typ := f[0], f[1]
			notNull := strings.HasSuffix(typ, "!")
			typ = strings.TrimSuffix(typ, "!")
			switch typ {
			case "dt":
				typ = "timestamp"
				if d == dialect.SQLite {
					typ = "text"
				}
			case "num":
				typ = "numeric(15,2)"
			}
			col := `"` + name + `" ` + typ
			if notNull {
				col += " NOT NULL"
			}
			cols = append(cols, col)
		}
		out = append(out, fmt.Sprintf(`CREATE TABLE "%s" (%s)`, t.name, strings.Join(cols, ", ")))
		out = append(out, fmt.Sprintf(`CREATE UNIQUE INDEX "%s_NDX1" ON "%s" ("%s")`, t.name, t.name, strings.Join(t.key, `", "`)))
	}
	return out
}

// fixture is a loaded test database plus the values it was loaded with.
type fixture struct {
	t     *testing.T
	d     *dialect.Dialect
	db    *sql.DB
	dsn   string
	loc   *time.Location
	stamp int64
	wos   []fixtureWO
}

type fixtureWO struct {
	id                 int64
	site, num, status  string
	prio               any
	worktype           string
	asset, loc, parent any
	reported           time.Time // wall clock in fix.loc
	est                string
	changed            time.Time
}

var (
	fixtureStatuses = []string{"WAPPR", "APPR", "INPRG", "WMATL", "COMP", "CLOSE", "CAN", "WPLAN", "ODD"}
	fixtureBase     = time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC) // a wall-clock time
)

// newSQLiteFixture builds the fixture in a temporary SQLite file.
func newSQLiteFixture(t *testing.T, nWO int) *fixture {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "maximo.db")
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return loadFixture(t, dialect.SQLite, db, dsn, nWO)
}

func loadFixture(t *testing.T, d *dialect.Dialect, db *sql.DB, dsn string, nWO int) *fixture {
	t.Helper()
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, d: d, db: db, dsn: dsn, loc: loc}
	for _, s := range fixtureDDL(d) {
		f.exec(s)
	}
	f.insert("SITE", "SITEID", "BEDFORD", "ORGID", "EAGLENA")
	f.insert("SITE", "SITEID", "TEXAS", "ORGID", "EAGLENA")
	f.insert("SYNONYMDOMAIN", "SYNONYMDOMAINID", 1, "DOMAINID", "WOSTATUS", "MAXVALUE", "WAPPR", "VALUE", "WPLAN", "SITEID", "TEXAS", "ORGID", "EAGLENA")
	for i, site := range []string{"BEDFORD", "TEXAS"} {
		f.insert("LOCATIONS", "LOCATIONSID", i*3+1, "LOCATION", site, "SITEID", site, "ORGID", "EAGLENA", "DESCRIPTION", site+" plant", "TYPE", "OPERATING", "CHANGEDATE", fixtureBase)
		f.insert("LOCATIONS", "LOCATIONSID", i*3+2, "LOCATION", "BR200", "SITEID", site, "ORGID", "EAGLENA", "DESCRIPTION", "Boiler room", "TYPE", "OPERATING", "CHANGEDATE", fixtureBase)
		f.insert("LOCATIONS", "LOCATIONSID", i*3+3, "LOCATION", "CENTRAL", "SITEID", site, "ORGID", "EAGLENA", "DESCRIPTION", "Central stores", "TYPE", "STOREROOM", "CHANGEDATE", fixtureBase)
		f.insert("LOCHIERARCHY", "LOCHIERARCHYID", i*2+1, "LOCATION", "BR200", "PARENT", site, "SYSTEMID", "PRIMARY", "SITEID", site, "ORGID", "EAGLENA")
		f.insert("LOCHIERARCHY", "LOCHIERARCHYID", i*2+2, "LOCATION", site, "PARENT", nil, "SYSTEMID", "PRIMARY", "SITEID", site, "ORGID", "EAGLENA")
		f.insert("ASSET", "ASSETID", i*2+1, "ASSETNUM", "11430", "SITEID", site, "ORGID", "EAGLENA", "DESCRIPTION", "Centrifugal pump", "STATUS", "OPERATING",
			"LOCATION", "BR200", "PARENT", nil, "ASSETTYPE", "PUMP", "MANUFACTURER", "GOULDS", "SERIALNUM", "SN-"+site, "PRIORITY", 2,
			"INSTALLDATE", fixtureBase.AddDate(-3, 0, 0), "PURCHASEPRICE", "12500.50", "CHANGEDATE", fixtureBase)
		f.insert("ASSET", "ASSETID", i*2+2, "ASSETNUM", "11431", "SITEID", site, "ORGID", "EAGLENA", "DESCRIPTION", "Motor", "STATUS", "DECOMMISSIONED",
			"LOCATION", "BR200", "PARENT", "11430", "ASSETTYPE", "MOTOR", "MANUFACTURER", nil, "SERIALNUM", nil, "PRIORITY", nil,
			"INSTALLDATE", nil, "PURCHASEPRICE", "0.10", "CHANGEDATE", fixtureBase)
		f.insert("PM", "PMUID", i+1, "PMNUM", "PM100", "SITEID", site, "ORGID", "EAGLENA", "DESCRIPTION", "Monthly pump check", "STATUS", "ACTIVE",
			"ASSETNUM", "11430", "LOCATION", "BR200", "FREQUENCY", 1, "FREQUNIT", "MONTHS", "LASTCOMPDATE", fixtureBase.AddDate(0, -1, 0), "NEXTDATE", fixtureBase, "CHANGEDATE", fixtureBase)
		f.insert("INVENTORY", "INVENTORYID", i+1, "ITEMNUM", "0-1234", "ITEMSETID", "SET1", "LOCATION", "CENTRAL", "SITEID", site, "MINLEVEL", "4", "MAXLEVEL", "20.5")
		f.insert("INVBALANCES", "INVBALANCESID", i+1, "ITEMNUM", "0-1234", "ITEMSETID", "SET1", "LOCATION", "CENTRAL", "BINNUM", "A-01", "CURBAL", "7.25", "SITEID", site)
		f.insert("PO", "POID", i+1, "PONUM", "5000", "REVISIONNUM", 0, "SITEID", site, "ORGID", "EAGLENA", "STATUS", []string{"APPR", "WAPPR"}[i], "VENDOR", "ACME",
			"ORDERDATE", fixtureBase, "REQUIREDDATE", fixtureBase.AddDate(0, 0, 14), "CURRENCYCODE", "USD", "TOTALCOST", "150.00", "PRETAXTOTAL", "140.00", "CHANGEDATE", fixtureBase)
		for l := 1; l <= 2; l++ {
			f.insert("POLINE", "POLINEID", i*2+l, "PONUM", "5000", "REVISIONNUM", 0, "POLINENUM", l, "SITEID", site, "ITEMNUM", "0-1234", "ITEMSETID", "SET1",
				"DESCRIPTION", fmt.Sprintf("Seal kit %d", l), "ORDERQTY", "2", "ORDERUNIT", "EACH", "UNITCOST", "35.00", "LINECOST", "70.00", "RECEIVEDQTY", "1", "REQDELIVERYDATE", fixtureBase)
		}
	}
	f.insert("ITEM", "ITEMID", 1, "ITEMNUM", "0-1234", "ITEMSETID", "SET1", "DESCRIPTION", "Seal kit", "ORDERUNIT", "BOX", "ISSUEUNIT", "EACH", "COMMODITYGROUP", "SEALS", "STATUS", "ACTIVE")
	f.insert("ITEM", "ITEMID", 2, "ITEMNUM", "0-9999", "ITEMSETID", "SET1", "DESCRIPTION", "Old part", "ORDERUNIT", "EACH", "ISSUEUNIT", nil, "COMMODITYGROUP", nil, "STATUS", "OBSOLETE")
	f.insert("COMPANIES", "COMPANIESID", 1, "COMPANY", "ACME", "ORGID", "EAGLENA", "NAME", "Acme Supply", "ADDRESS1", "1 Main St", "ADDRESS2", "Bedford",
		"PHONE", "555-0100", "CURRENCYCODE", "USD", "PAYMENTTERMS", "NET30", "DISABLED", 0, "CHANGEDATE", fixtureBase)
	f.insert("COMPANIES", "COMPANIESID", 2, "COMPANY", "OLDCO", "ORGID", "EAGLENA", "NAME", "Old Co", "ADDRESS1", nil, "ADDRESS2", nil,
		"PHONE", nil, "CURRENCYCODE", "USD", "PAYMENTTERMS", nil, "DISABLED", 1, "CHANGEDATE", fixtureBase)
	f.insert("PERSON", "PERSONUID", 1, "PERSONID", "WILSON", "DISPLAYNAME", "Mike Wilson", "FIRSTNAME", "Mike", "LASTNAME", "Wilson", "PRIMARYEMAIL", "mw@example.com", "STATUS", "ACTIVE")
	f.insert("PERSON", "PERSONUID", 2, "PERSONID", "SMITH", "DISPLAYNAME", "Ann Smith", "FIRSTNAME", "Ann", "LASTNAME", "Smith", "PRIMARYEMAIL", nil, "STATUS", "INACTIVE")
	f.insert("LABORCRAFTRATE", "LABORCRAFTRATEID", 1, "LABORCODE", "WILSON", "CRAFT", "MECH", "DEFAULTCRAFT", 1, "ORGID", "EAGLENA")
	f.insert("LABORCRAFTRATE", "LABORCRAFTRATEID", 2, "LABORCODE", "WILSON", "CRAFT", "ELEC", "DEFAULTCRAFT", 0, "ORGID", "EAGLENA")
	for i := 0; i < nWO; i++ {
		f.addWO(i)
	}
	return f
}

func (f *fixture) addWO(i int) fixtureWO {
	f.t.Helper()
	w := fixtureWO{
		id:       int64(i + 1),
		site:     []string{"BEDFORD", "TEXAS"}[i%2],
		num:      fmt.Sprintf("%d", 1000+i/2),
		status:   fixtureStatuses[i%len(fixtureStatuses)],
		prio:     []any{1, 2, 3, 4, 5, nil, 9}[i%7],
		worktype: []string{"CM", "PM", "EM", "CAL", "CP", "ZZ"}[i%6],
		asset:    []any{"11430", nil}[i%2],
		loc:      "BR200",
		reported: fixtureBase.Add(time.Duration(i) * time.Hour),
		est:      fmt.Sprintf("%d.25", i%5),
		changed:  fixtureBase.Add(time.Duration(i) * time.Minute),
	}
	if i >= 2 {
		w.parent = fmt.Sprintf("%d", 1000)
	}
	f.insert("WORKORDER", "WORKORDERID", w.id, "WONUM", w.num, "SITEID", w.site, "ORGID", "EAGLENA", "DESCRIPTION", "Work "+w.num,
		"STATUS", w.status, "STATUSDATE", w.changed, "WOPRIORITY", w.prio, "WORKTYPE", w.worktype, "ASSETNUM", w.asset, "LOCATION", w.loc,
		"PARENT", w.parent, "PMNUM", "PM100", "LEAD", "WILSON", "REPORTEDBY", "SMITH", "REPORTDATE", w.reported, "TARGCOMPDATE", w.reported.AddDate(0, 0, 7),
		"SCHEDSTART", nil, "SCHEDFINISH", nil, "ACTSTART", nil, "ACTFINISH", nil, "ESTDUR", w.est, "ACTLABHRS", "0", "FAILURECODE", nil,
		"WOCLASS", "WORKORDER", "ISTASK", 0, "HISTORYFLAG", 0, "CHANGEDATE", w.changed, "CHANGEBY", "MAXADMIN")
	f.wos = append(f.wos, w)
	return w
}

func (f *fixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.db.Exec(q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

// insert adds a row; pairs are column, value. Times are wall-clock times.
func (f *fixture) insert(table string, pairs ...any) {
	f.t.Helper()
	var cols []string
	var vals []any
	for i := 0; i < len(pairs); i += 2 {
		cols = append(cols, pairs[i].(string))
		v := pairs[i+1]
		if t, ok := v.(time.Time); ok {
			v = f.d.Bind(dialect.KindTime, t)
		}
		vals = append(vals, v)
	}
	f.stamp++
	cols = append(cols, "ROWSTAMP")
	vals = append(vals, f.stamp)
	q, err := f.d.BuildInsert(table, cols)
	if err != nil {
		f.t.Fatal(err)
	}
	f.exec(q, vals...)
}

// touch changes a work order the way Maximo does: new values and a new ROWSTAMP.
func (f *fixture) touch(site, wonum, desc string) {
	f.t.Helper()
	f.stamp++
	q, err := f.d.BuildUpdate("WORKORDER", []string{"DESCRIPTION", "ROWSTAMP"}, []string{"SITEID", "WONUM"})
	if err != nil {
		f.t.Fatal(err)
	}
	f.exec(q, desc, f.stamp, site, wonum)
}

// open opens a maximo connector on the fixture.
func (f *fixture) open(t *testing.T, cfg Config) *SQLConnector {
	t.Helper()
	if cfg.System == "" {
		cfg.System = "maximo"
	}
	if cfg.ConnectionID == "" {
		cfg.ConnectionID = "conn_test"
	}
	cfg.Location = f.loc
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := OpenDB(context.Background(), f.db, f.d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// readAll runs one read and returns its batches.
func readAll(t *testing.T, c Connector, req ReadRequest) []Batch {
	t.Helper()
	var out []Batch
	err := c.Read(context.Background(), req, func(b Batch) error {
		out = append(out, b)
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", req.Model, err)
	}
	return out
}

func records(bs []Batch) []model.Record {
	var out []model.Record
	for _, b := range bs {
		out = append(out, b.Records...)
	}
	return out
}

func lastWatermark(bs []Batch, old string) string {
	if len(bs) == 0 {
		return old
	}
	return bs[len(bs)-1].Watermark
}

func byRemoteID(recs []model.Record) map[string]model.Record {
	m := map[string]model.Record{}
	for _, r := range recs {
		m[r.RemoteID] = r
	}
	return m
}

func getenv(k string) string { return os.Getenv(k) }
