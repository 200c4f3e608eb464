package demodb

import (
	"context"
	"fmt"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// IBM Maximo. Facts imitated: tables have no primary keys but unique
// indexes (<TABLE>_NDX1 on the natural key, plus one on the <TABLE>ID
// column); a work order's key is (SITEID, WONUM) and WONUMs repeat across
// sites; ROWSTAMP is stamped from one global sequence (MAXSEQ) on every insert
// and update of every table, as the Oracle/DB2 triggers do; Yes/No columns
// hold 0/1; dates are local times without zone; statuses go through
// SYNONYMDOMAIN, where a site may show its own value for an internal one.

var maximoStatus = map[int]string{
	stWaitAppr: "WAPPR", stApproved: "APPR", stWaitSched: "WSCH", stInProgress: "INPRG",
	stWaitMatl: "WMATL", stComplete: "COMP", stClosed: "CLOSE", stCancelled: "CAN",
}

var maximoWorkType = map[int]string{wtCorrective: "CM", wtPreventive: "PM", wtEmergency: "EM", wtInspection: "INSP", wtProject: "CP"}

// maximoSynonyms are the WOSTATUS values the second site uses instead of the
// internal ones: its planners call WAPPR "WPLAN" and INPRG "WORKING".
var maximoSynonyms = map[string]string{"WAPPR": "WPLAN", "INPRG": "WORKING"}

const maximoAdmin = "MAXADMIN"

func maximoWONUM(seq int) string { return strconv.Itoa(1000 + seq) }

// maximoStatusValue is the value a site stores for an internal status.
func maximoStatusValue(g *gen, site, internal string, i int) string {
	if len(g.sites) > 1 && site == g.sites[1].id {
		if syn, ok := maximoSynonyms[internal]; ok && (internal == "INPRG" || i%2 == 0) {
			return syn
		}
	}
	return internal
}

func tv(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func nv(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// companyCode turns a manufacturer name into a Maximo COMPANY code.
func companyCode(name string) string {
	c := strings.NewReplacer(" ", "", "-", "", ".", "").Replace(name)
	if len(c) > 12 {
		c = c[:12]
	}
	return c
}

func allManufacturers() []string {
	var out []string
	for _, t := range eqTypes {
		for _, m := range t.mfrs {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

func seqRows(n int, fill func(i int, r []any) []any) iter.Seq[[]any] {
	return func(yield func([]any) bool) {
		var r []any
		for i := range n {
			r = fill(i, r[:0])
			if !yield(r) {
				return
			}
		}
	}
}

func maximoSystem() *system {
	return &system{
		name:       "maximo",
		workOrders: "WORKORDER",
		tables:     maximoTables,
		afterLoad:  maximoAfterLoad,
		mutator:    maximoMutator,
	}
}

func idIndex(t, col string) index {
	return index{name: t + "_NDX2", cols: []string{col}, unique: true}
}

func maximoTables(g *gen) []*table {
	org := g.org
	nSites := len(g.sites)
	mfrs := allManufacturers()
	base := g.now.AddDate(-3, 0, -30).Truncate(24 * time.Hour) // when the system went live

	synonyms := [][4]any{ // DOMAINID, MAXVALUE, VALUE, DESCRIPTION
		{"WOSTATUS", "WAPPR", "WAPPR", "Waiting on Approval"}, {"WOSTATUS", "APPR", "APPR", "Approved"},
		{"WOSTATUS", "WSCH", "WSCH", "Waiting to be Scheduled"}, {"WOSTATUS", "INPRG", "INPRG", "In Progress"},
		{"WOSTATUS", "WMATL", "WMATL", "Waiting on Material"}, {"WOSTATUS", "WPCOND", "WPCOND", "Waiting on Plant Condition"},
		{"WOSTATUS", "COMP", "COMP", "Completed"}, {"WOSTATUS", "CLOSE", "CLOSE", "Closed"}, {"WOSTATUS", "CAN", "CAN", "Canceled"},
		{"POSTATUS", "WAPPR", "WAPPR", "Waiting on Approval"}, {"POSTATUS", "APPR", "APPR", "Approved"},
		{"POSTATUS", "INPRG", "INPRG", "In Progress"}, {"POSTATUS", "REVISE", "REVISE", "Revision in Progress"},
		{"POSTATUS", "CLOSE", "CLOSE", "Closed"}, {"POSTATUS", "CAN", "CAN", "Canceled"},
		{"LOCASSETSTATUS", "OPERATING", "OPERATING", "Operating"}, {"LOCASSETSTATUS", "NOT READY", "NOT READY", "Not Ready"},
		{"LOCASSETSTATUS", "DECOMMISSIONED", "DECOMMISSIONED", "Decommissioned"},
	}
	type synRow struct {
		v    [4]any
		def  bool
		site string
	}
	var syns []synRow
	for _, s := range synonyms {
		syns = append(syns, synRow{v: s, def: true})
	}
	if nSites > 1 {
		syns = append(syns,
			synRow{v: [4]any{"WOSTATUS", "WAPPR", "WPLAN", "Waiting for Planning"}, site: g.sites[1].id},
			synRow{v: [4]any{"WOSTATUS", "INPRG", "WORKING", "Work in Progress"}, site: g.sites[1].id})
	}

	assetStatus := []string{"OPERATING", "NOT READY", "DECOMMISSIONED"}
	locType := map[string]string{"site": "OPERATING", "area": "OPERATING", "unit": "OPERATING", "storeroom": "STOREROOM"}

	stampCols := ", ROWSTAMP bigint!"
	t := func(name, spec string, key []string, idCol string, rows func(g *gen) iter.Seq[[]any], more ...index) *table {
		ix := []index{}
		if idCol != "" {
			ix = append(ix, idIndex(name, idCol))
		}
		return &table{name: name, cols: cols(spec + stampCols), key: key, indexes: append(ix, more...), stamp: "ROWSTAMP", rows: rows}
	}

	return []*table{
		t("SYNONYMDOMAIN", `SYNONYMDOMAINID bigint!, DOMAINID varchar(18)!, MAXVALUE varchar(50)!, VALUE varchar(50)!,
			DESCRIPTION varchar(100), DEFAULTS flag!, SITEID varchar(8), ORGID varchar(8)`,
			[]string{"DOMAINID", "VALUE", "SITEID", "ORGID"}, "SYNONYMDOMAINID",
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(syns), func(i int, r []any) []any {
					s := syns[i]
					var org any
					if s.site != "" {
						org = g.org
					}
					return append(r, i+1, s.v[0], s.v[1], s.v[2], s.v[3], flag(s.def), nv(s.site), org, nil)
				})
			}),
		// The address is ADDRESS1 (street), ADDRESS2 (city), ADDRESS3
		// (state or province), ADDRESS4 (ZIP or postal code) and ADDRESS5
		// (country), as Maximo's data dictionary titles them; there are no
		// CITY or COUNTRY columns.
		t("COMPANIES", `COMPANIESID bigint!, COMPANY varchar(12)!, ORGID varchar(8)!, NAME varchar(75), TYPE varchar(1)!,
			ADDRESS1 varchar(50), ADDRESS2 varchar(36), ADDRESS3 varchar(20), ADDRESS4 varchar(12), ADDRESS5 varchar(8),
			PHONE varchar(20), CURRENCYCODE varchar(8)!, PAYMENTTERMS varchar(20), DISABLED flag!,
			CHANGEDATE datetime!, CHANGEBY varchar(30)!`,
			[]string{"COMPANY", "ORGID"}, "COMPANIESID",
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.vendors)+len(mfrs), func(i int, r []any) []any {
					if i < len(g.vendors) {
						v := g.vendors[i]
						r2 := g.rowRand("company", i)
						return append(r, i+1, v.code, org, v.name, "V", fmt.Sprintf("%d %s", 100+r2.IntN(9000), pick(r2, []string{"Industrial Blvd", "Commerce St", "Port Rd", "Main St", "Refinery Rd"})),
							v.city, v.state, v.zip, "US", v.phone, "USD", v.terms, flag(i%37 == 36), base, maximoAdmin, nil)
					}
					m := mfrs[i-len(g.vendors)]
					return append(r, i+1, companyCode(m), org, m, "M", nil, nil, nil, nil, nil, nil, "USD", nil, 0, base, maximoAdmin, nil)
				})
			}),
		t("PERSON", `PERSONUID bigint!, PERSONID varchar(30)!, DISPLAYNAME varchar(62), FIRSTNAME varchar(30), LASTNAME varchar(30),
			PRIMARYEMAIL varchar(100), PRIMARYPHONE varchar(20), STATUS varchar(20)!, STATUSDATE datetime!,
			LOCATIONSITE varchar(8), LOCATIONORG varchar(8), DEPARTMENT varchar(30)`,
			[]string{"PERSONID"}, "PERSONUID",
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.people), func(i int, r []any) []any {
					p := g.people[i]
					st := "ACTIVE"
					if !p.active {
						st = "INACTIVE"
					}
					return append(r, i+1, p.id, p.first+" "+p.last, p.first, p.last, p.email, p.phone, st, base, p.site, org, "MAINT", nil)
				})
			}),
		t("LABORCRAFTRATE", `LABORCRAFTRATEID bigint!, LABORCODE varchar(30)!, CRAFT varchar(8)!, SKILLLEVEL varchar(30),
			DEFAULTCRAFT flag!, RATE numeric(10,2)!, ORGID varchar(8)!`,
			[]string{"LABORCODE", "CRAFT", "ORGID"}, "LABORCRAFTRATEID",
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.people), func(i int, r []any) []any {
					p := g.people[i]
					return append(r, i+1, p.id, p.craft, pick(g.rowRand("craft", i), []string{"FIRSTCLASS", "SECONDCLASS", "APPRENTICE"}), 1, 38.5+float64(i%9)*2.25, org, nil)
				})
			}),
		// SITE holds each site's organization: a new work order takes its ORGID from
		// here, as Maximo does.
		t("SITE", `SITEUID bigint!, SITEID varchar(8)!, ORGID varchar(8)!, DESCRIPTION varchar(100), ACTIVE flag!,
			CHANGEDATE datetime!, CHANGEBY varchar(30)!`,
			[]string{"SITEID"}, "SITEUID",
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.sites), func(i int, r []any) []any {
					s := g.sites[i]
					return append(r, i+1, s.id, org, s.name, 1, base, maximoAdmin, nil)
				})
			}),
		t("LOCATIONS", `LOCATIONSID bigint!, LOCATION varchar(20)!, SITEID varchar(8)!, ORGID varchar(8)!, DESCRIPTION varchar(100),
			TYPE varchar(16)!, STATUS varchar(20)!, DISABLED flag!, CHANGEDATE datetime!, CHANGEBY varchar(30)!`,
			[]string{"SITEID", "LOCATION"}, "LOCATIONSID",
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.locs), func(i int, r []any) []any {
					l := g.locs[i]
					return append(r, i+1, l.code, l.site, org, l.desc, locType[l.typ], "OPERATING", 0, base, maximoAdmin, nil)
				})
			}),
		t("LOCHIERARCHY", `LOCHIERARCHYID bigint!, LOCATION varchar(20)!, PARENT varchar(20), SYSTEMID varchar(8)!,
			SITEID varchar(8)!, ORGID varchar(8)!, CHILDREN flag!`,
			[]string{"SITEID", "SYSTEMID", "LOCATION"}, "LOCHIERARCHYID",
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.locs), func(i int, r []any) []any {
					l := g.locs[i]
					return append(r, i+1, l.code, nv(l.parent), "PRIMARY", l.site, org, flag(l.typ == "site" || l.typ == "area"), nil)
				})
			}),
		t("ASSET", `ASSETID bigint!, ASSETNUM varchar(12)!, SITEID varchar(8)!, ORGID varchar(8)!, DESCRIPTION varchar(100),
			STATUS varchar(20)!, STATUSDATE datetime!, LOCATION varchar(20), PARENT varchar(12), ASSETTYPE varchar(16),
			ASSETTAG varchar(64), MANUFACTURER varchar(12), SERIALNUM varchar(64), PRIORITY int, INSTALLDATE datetime,
			PURCHASEPRICE numeric(10,2)!, ISRUNNING flag!, DISABLED flag!, CHANGEDATE datetime!, CHANGEBY varchar(30)!`,
			[]string{"SITEID", "ASSETNUM"}, "ASSETID",
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.assets), func(i int, r []any) []any {
					a := g.assets[i]
					var parent any
					if a.parent >= 0 {
						parent = g.assets[a.parent].num
					}
					return append(r, i+1, a.num, a.site, org, a.desc, assetStatus[a.status], a.installed, a.loc, parent, a.typ.class,
						a.tag, companyCode(a.mfr), a.serial, a.priority, a.installed, a.cost, flag(a.status == 0), flag(a.status == 2),
						a.installed, maximoAdmin, nil)
				})
			}, index{name: "ASSET_NDX3", cols: []string{"SITEID", "LOCATION"}}),
		t("ITEM", `ITEMID bigint!, ITEMNUM varchar(30)!, ITEMSETID varchar(8)!, DESCRIPTION varchar(100), ORDERUNIT varchar(16),
			ISSUEUNIT varchar(16), COMMODITYGROUP varchar(8), ROTATING flag!, LOTTYPE varchar(16)!, STATUS varchar(16)!`,
			[]string{"ITEMSETID", "ITEMNUM"}, "ITEMID",
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.parts), func(i int, r []any) []any {
					p := g.parts[i]
					st := "ACTIVE"
					if i%41 == 40 {
						st = "OBSOLETE"
					}
					return append(r, i+1, p.num, "SET1", p.desc, p.uom, p.uom, p.category, 0, "NOLOT", st, nil)
				})
			}),
		// MINLEVEL is the reorder point, SSTOCK the safety stock (optional).
		t("INVENTORY", `INVENTORYID bigint!, ITEMNUM varchar(30)!, ITEMSETID varchar(8)!, LOCATION varchar(20)!, SITEID varchar(8)!,
			ORGID varchar(8)!, MINLEVEL numeric(15,2)!, MAXLEVEL numeric(15,2)!, SSTOCK numeric(15,2), ORDERQTY numeric(15,2)!, DELIVERYTIME int,
			LASTCOST numeric(10,2)!, AVGCOST numeric(10,2)!, ISSUEUNIT varchar(16), VENDOR varchar(12), MANUFACTURER varchar(12),
			MODELNUM varchar(30), STATUS varchar(16)!`,
			[]string{"SITEID", "ITEMSETID", "ITEMNUM", "LOCATION"}, "INVENTORYID",
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.parts)*nSites, func(i int, r []any) []any {
					p, s, st := g.parts[i/nSites], g.sites[i%nSites], stock(g, i)
					return append(r, i+1, p.num, "SET1", s.store, s.id, org, st.min, st.max, st.safety, st.max-st.min, 3+i%20,
						p.cost, round2(p.cost*0.97), p.uom, g.vendors[i%len(g.vendors)].code, companyCode(p.mfr), p.mfrPart, "ACTIVE", nil)
				})
			}),
		t("INVBALANCES", `INVBALANCESID bigint!, ITEMNUM varchar(30)!, ITEMSETID varchar(8)!, LOCATION varchar(20)!, BINNUM varchar(8)!,
			LOTNUM varchar(8), CURBAL numeric(15,2)!, PHYSCNT numeric(15,2)!, PHYSCNTDATE datetime, SITEID varchar(8)!,
			ORGID varchar(8)!, STAGEDCURBAL numeric(15,2)!`,
			[]string{"SITEID", "ITEMSETID", "ITEMNUM", "LOCATION", "BINNUM"}, "INVBALANCESID",
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.parts)*nSites, func(i int, r []any) []any {
					p, s, st := g.parts[i/nSites], g.sites[i%nSites], stock(g, i)
					return append(r, i+1, p.num, "SET1", s.store, st.bin, nil, st.onHand, st.onHand, st.counted, s.id, org, 0, nil)
				})
			}),
		t("PM", `PMUID bigint!, PMNUM varchar(8)!, SITEID varchar(8)!, ORGID varchar(8)!, DESCRIPTION varchar(100), STATUS varchar(20)!,
			ASSETNUM varchar(12), LOCATION varchar(20), FREQUENCY int!, FREQUNIT varchar(8)!, LASTCOMPDATE datetime, NEXTDATE datetime,
			WORKTYPE varchar(5), LEAD varchar(30), CHANGEDATE datetime!, CHANGEBY varchar(30)!`,
			[]string{"SITEID", "PMNUM"}, "PMUID",
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.pms), func(i int, r []any) []any {
					p := g.pms[i]
					a := g.assets[p.asset]
					st := "ACTIVE"
					if !p.active {
						st = "INACTIVE"
					}
					return append(r, i+1, p.num, p.site, org, p.desc, st, a.num, a.loc, p.freq, p.unit, p.last, p.next,
						maximoWorkType[p.worktype], g.people[p.lead].id, p.last, maximoAdmin, nil)
				})
			}),
		t("WORKORDER", `WORKORDERID bigint!, WONUM varchar(10)!, SITEID varchar(8)!, ORGID varchar(8)!, DESCRIPTION varchar(100),
			STATUS varchar(16)!, STATUSDATE datetime!, WOPRIORITY int, WORKTYPE varchar(5), ASSETNUM varchar(12), LOCATION varchar(20),
			PARENT varchar(10), PMNUM varchar(8), LEAD varchar(30), REPORTEDBY varchar(30), REPORTDATE datetime,
			TARGSTARTDATE datetime, TARGCOMPDATE datetime, SCHEDSTART datetime, SCHEDFINISH datetime, ACTSTART datetime,
			ACTFINISH datetime, ESTDUR numeric(10,2), ACTLABHRS numeric(10,2)!, ACTLABCOST numeric(10,2)!, ACTMATCOST numeric(10,2)!,
			FAILURECODE varchar(8), WOCLASS varchar(16)!, ISTASK flag!, HISTORYFLAG flag!, DOWNTIME flag!,
			CHANGEDATE datetime!, CHANGEBY varchar(30)!`,
			[]string{"SITEID", "WONUM"}, "WORKORDERID",
			func(g *gen) iter.Seq[[]any] {
				return seqRows(g.rows, func(i int, r []any) []any {
					w := g.wo(i)
					a := g.assets[w.asset]
					var parent, pm any
					if w.parent >= 0 {
						parent = maximoWONUM(w.parent / nSites)
					}
					if w.pm >= 0 {
						pm = g.pms[w.pm].num
					}
					cur := w.history[len(w.history)-1]
					status := maximoStatusValue(g, w.site, maximoStatus[cur.stage], i)
					st := w.status()
					return append(r, i+1, maximoWONUM(w.seq), w.site, org, w.desc, status, cur.at, w.priority, maximoWorkType[w.worktype],
						a.num, a.loc, parent, pm, g.people[w.lead].id, g.people[w.reportedBy].id, w.reported,
						w.targStart, w.targComp, w.schedStart, w.schedEnd, tv(w.actStart), tv(w.actEnd),
						w.estHours, w.actHours, round2(w.actHours*52.5), 0.0, nv(w.failure), "WORKORDER", 0,
						flag(st == stClosed || st == stCancelled), flag(w.worktype == wtEmergency),
						w.changed, g.people[w.changedBy].id, nil)
				})
			}, index{name: "WORKORDER_NDX3", cols: []string{"SITEID", "STATUS"}},
			index{name: "WORKORDER_NDX4", cols: []string{"SITEID", "ASSETNUM"}},
			// Not in a stock install, but commonly added where something
			// polls by ROWSTAMP, as integrations do.
			index{name: "WORKORDER_NDX5", cols: []string{"ROWSTAMP"}}),
		t("WOSTATUS", `WOSTATUSID bigint!, WONUM varchar(10)!, SITEID varchar(8)!, ORGID varchar(8)!, STATUS varchar(16)!,
			CHANGEDATE datetime!, CHANGEBY varchar(30)!, MEMO varchar(50), PARENT varchar(10)`,
			[]string{"WOSTATUSID"}, "",
			func(g *gen) iter.Seq[[]any] {
				return func(yield func([]any) bool) {
					var r []any
					id := 0
					for i := range g.rows {
						w := g.wo(i)
						var parent any
						if w.parent >= 0 {
							parent = maximoWONUM(w.parent / nSites)
						}
						for _, h := range w.history {
							id++
							memo := any(nil)
							if h.stage == stWaitMatl {
								memo = "Parts on order"
							}
							r = append(r[:0], id, maximoWONUM(w.seq), w.site, org, maximoStatusValue(g, w.site, maximoStatus[h.stage], i),
								h.at, g.people[h.by].id, memo, parent, nil)
							if !yield(r) {
								return
							}
						}
					}
				}
			}, index{name: "WOSTATUS_NDX2", cols: []string{"SITEID", "WONUM", "CHANGEDATE"}}),
		t("PO", `POID bigint!, PONUM varchar(8)!, REVISIONNUM int!, SITEID varchar(8)!, ORGID varchar(8)!, DESCRIPTION varchar(100),
			STATUS varchar(16)!, STATUSDATE datetime!, ORDERDATE datetime, REQUIREDDATE datetime, VENDOR varchar(12)!,
			CURRENCYCODE varchar(8)!, TOTALCOST numeric(10,2)!, PRETAXTOTAL numeric(10,2)!, RECEIPTS varchar(8)!,
			PURCHASEAGENT varchar(30), CHANGEDATE datetime!, CHANGEBY varchar(30)!`,
			[]string{"SITEID", "PONUM", "REVISIONNUM"}, "POID",
			func(g *gen) iter.Seq[[]any] {
				return seqRows(g.nPO, func(i int, r []any) []any {
					p := g.po(i)
					st, rc := maximoPOStatus(p.status)
					desc := fmt.Sprintf("Spares for %s", g.sites[i%nSites].name)
					if p.wo >= 0 {
						desc = "Parts for work order " + maximoWONUM(p.wo/nSites)
					}
					return append(r, i+1, maximoPONUM(i), 0, p.site, org, desc, st, p.ordered, p.ordered, p.required,
						g.vendors[p.vendor].code, "USD", p.total(), p.total(), rc, g.people[p.buyer].id, p.ordered, g.people[p.buyer].id, nil)
				})
			}),
		t("POLINE", `POLINEID bigint!, PONUM varchar(8)!, REVISIONNUM int!, POLINENUM int!, SITEID varchar(8)!, ORGID varchar(8)!,
			ITEMNUM varchar(30), ITEMSETID varchar(8), DESCRIPTION varchar(100), ORDERQTY numeric(15,2)!, ORDERUNIT varchar(16),
			UNITCOST numeric(10,2)!, LINECOST numeric(10,2)!, RECEIVEDQTY numeric(15,2)!, RECEIPTSCOMPLETE flag!,
			STORELOC varchar(20), REFWO varchar(10), REQDELIVERYDATE datetime`,
			[]string{"SITEID", "PONUM", "REVISIONNUM", "POLINENUM"}, "POLINEID",
			func(g *gen) iter.Seq[[]any] {
				return func(yield func([]any) bool) {
					var r []any
					id := 0
					for p, li := range g.poLines {
						id++
						l := p.lines[li]
						pt := g.parts[l.part]
						var refwo any
						if p.wo >= 0 {
							refwo = maximoWONUM(p.wo / nSites)
						}
						r = append(r[:0], id, maximoPONUM(p.i), 0, li+1, p.site, org, pt.num, "SET1", pt.desc, l.qty, pt.uom,
							l.price, round2(l.qty*l.price), l.received, flag(l.received >= l.qty), g.siteByID(p.site).store, refwo, p.required, nil)
						if !yield(r) {
							return
						}
					}
				}
			}),
	}
}

func maximoPONUM(i int) string { return strconv.Itoa(5000 + i) }

func maximoPOStatus(s int) (status, receipts string) {
	switch s {
	case 0:
		return "WAPPR", "NONE"
	case 1:
		return "APPR", "NONE"
	case 2:
		return "APPR", "PARTIAL"
	case 3:
		return "CLOSE", "COMPLETE"
	default:
		return "CAN", "NONE"
	}
}

// stockLevel is the stock of one part in one site's storeroom.
type stockLevel struct {
	min, max, onHand float64
	safety           any // nil where no safety stock is kept
	bin              string
	counted          time.Time
}

func stock(g *gen, i int) stockLevel {
	r := g.rowRand("stock", i)
	mn := float64(r.IntN(6))
	mx := mn + float64(2+r.IntN(20))
	var safety any
	if mn >= 2 {
		safety = math.Floor(mn / 2)
	}
	return stockLevel{
		min: mn, max: mx, onHand: float64(r.IntN(int(mx) + 3)), safety: safety,
		bin:     fmt.Sprintf("%c-%02d-%d", 'A'+rune(r.IntN(8)), 1+r.IntN(30), 1+r.IntN(5)),
		counted: g.now.AddDate(0, 0, -r.IntN(365)).Truncate(24 * time.Hour).Add(9 * time.Hour),
	}
}

// maximoAfterLoad installs the global ROWSTAMP sequence and the triggers
// that stamp every insert and update from it, continuing after the values
// the loader handed out.
func maximoAfterLoad(ctx context.Context, db *DB, l *loader) error {
	tables := maximoTables(newGen(1, 1, time.Time{}))
	e := db.execer()
	var stmts []string
	if db.dialect == Postgres {
		stmts = append(stmts,
			fmt.Sprintf(`create sequence "MAXSEQ" start with %d`, l.stamp+1),
			`create function "MAXSEQ_ROWSTAMP"() returns trigger language plpgsql as $$
begin
  new."ROWSTAMP" := nextval('"MAXSEQ"');
  return new;
end $$`)
		for _, t := range tables {
			stmts = append(stmts, fmt.Sprintf(`create trigger %s before insert or update on %s for each row execute function "MAXSEQ_ROWSTAMP"()`,
				qi(t.name+"_ROWSTAMP"), qi(t.name)))
		}
	} else {
		// SQLite has no sequences and its triggers cannot assign NEW, so a
		// one-row MAXSEQ table holds the counter and AFTER triggers stamp
		// the row just written. Triggers do not fire recursively (SQLite's
		// default), so the stamping update does not stamp again.
		stmts = append(stmts,
			`create table "MAXSEQ" ("VALUE" integer not null)`,
			fmt.Sprintf(`insert into "MAXSEQ" ("VALUE") values (%d)`, l.stamp))
		for _, t := range tables {
			for _, ev := range []string{"insert", "update"} {
				stmts = append(stmts, fmt.Sprintf(`create trigger %s after %s on %s begin
  update "MAXSEQ" set "VALUE" = "VALUE" + 1;
  update %s set "ROWSTAMP" = (select "VALUE" from "MAXSEQ") where rowid = new.rowid;
end`, qi(t.name+"_ROWSTAMP_"+strings.ToUpper(ev[:1])), ev, qi(t.name), qi(t.name)))
			}
		}
	}
	for _, s := range stmts {
		if _, err := e.exec(ctx, s); err != nil {
			return fmt.Errorf("install ROWSTAMP sequence: %w", err)
		}
	}
	return nil
}
