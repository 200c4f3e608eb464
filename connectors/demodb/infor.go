package demodb

import (
	"context"
	"fmt"
	"iter"
	"math"
	"strconv"
	"strings"
	"time"
)

// Infor EAM. Facts imitated: tables R5*, columns prefixed by a three-letter
// table code; every table carries <PFX>_LASTSAVED (local time of the last
// save) and <PFX>_UPDATECOUNT; statuses are user codes (EVT_STATUS) that
// R5UCODES maps onto system codes (EVT_RSTATUS: A awaiting release,
// R released, C completed, which cancelled and closed user codes share);
// organisations play the part of sites and shared records (parts,
// suppliers) live in organisation "*"; check boxes hold "+" and "-"; tables
// have primary keys.
//
// Column names and keys follow public table definitions of live EAM
// databases: R5EVENTS is keyed by EVT_CODE alone (EVT_ORG is a column),
// EVT_DURATION counts days, R5PPMS is keyed by (PPM_CODE, PPM_REVISION),
// R5PPMOBJECTS by (PPO_PK, PPO_REVISION) with work orders pointing at it
// through EVT_PPOPK, R5OBJECTS names the manufacturer OBJ_MANUFACT, part
// manufacturers live in R5PARTMFGS, and R5STOCK holds STO_MINLEV,
// STO_ORDLEV, STO_ORDQTY, STO_MAXQTY and STO_DEFAULTBIN.

type inforStatus struct{ code, system, desc string }

var inforWOStatus = map[int]inforStatus{
	stWaitAppr:   {"A", "A", "Awaiting Release"},
	stApproved:   {"R", "R", "Released"},
	stWaitSched:  {"RFS", "R", "Ready for Scheduling"},
	stInProgress: {"IP", "R", "In Progress"},
	stWaitMatl:   {"WP", "R", "Waiting for Parts"},
	stComplete:   {"C", "C", "Completed"},
	stClosed:     {"CLOS", "C", "Closed"},
	stCancelled:  {"CANC", "C", "Cancelled"},
}

var inforJobType = map[int]string{wtCorrective: "CORR", wtPreventive: "PM", wtEmergency: "BRKD", wtInspection: "INSP", wtProject: "PROJ"}

var inforLocClass = map[string]string{"site": "SITE", "area": "AREA", "unit": "UNIT", "storeroom": "STORE"}

func inforEvtCode(i int) string { return strconv.Itoa(10001 + i) }
func inforPPOPK(pm int) int     { return 5001 + pm }
func inforPOCode(i int) string  { return strconv.Itoa(70001 + i) }

func cb(b bool) string {
	if b {
		return "+"
	}
	return "-"
}

func inforSystem() *system {
	return &system{name: "infor_eam", workOrders: "R5EVENTS", tables: inforTables, mutator: inforMutator}
}

func inforTables(g *gen) []*table {
	nSites := len(g.sites)
	base := g.now.AddDate(-3, 0, -30).Truncate(24 * time.Hour)
	t := func(name, spec string, key []string, rows func(g *gen) iter.Seq[[]any], more ...index) *table {
		return &table{name: name, cols: cols(spec), key: key, pk: true, indexes: more, rows: rows}
	}
	var ucodes []inforStatus
	for st := stWaitAppr; st <= stCancelled; st++ {
		ucodes = append(ucodes, inforWOStatus[st])
	}
	poStatus := []inforStatus{{"U", "U", "Unfinished"}, {"A", "A", "Approved"}, {"C", "C", "Complete"}, {"CANC", "C", "Cancelled"}}
	objStatus := []string{"I", "NI", "D"} // installed, not installed, withdrawn
	periodUOM := map[string]string{"DAYS": "D", "WEEKS": "W", "MONTHS": "M", "YEARS": "Y"}

	return []*table{
		t("R5UCODES", `UCO_ENTITY varchar(4)!, UCO_CODE varchar(8)!, UCO_RENTITY varchar(4)!, UCO_RCODE varchar(8)!,
			UCO_DESC varchar(80), UCO_NOTUSED varchar(1)!, UCO_LASTSAVED datetime!`,
			[]string{"UCO_ENTITY", "UCO_CODE"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(ucodes)+len(poStatus), func(i int, r []any) []any {
					ent, s := "EVST", ucodes[min(i, len(ucodes)-1)]
					if i >= len(ucodes) {
						ent, s = "DOST", poStatus[i-len(ucodes)]
					}
					return append(r, ent, s.code, ent, s.system, s.desc, "-", base)
				})
			}),
		t("R5COMPANIES", `COM_CODE varchar(30)!, COM_ORG varchar(15)!, COM_DESC varchar(80), COM_CURR varchar(30)!,
			COM_PHONE varchar(30), COM_EMAIL varchar(80), COM_NOTUSED varchar(1)!, COM_LASTSAVED datetime!, COM_UPDATECOUNT int!`,
			[]string{"COM_CODE", "COM_ORG"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.vendors), func(i int, r []any) []any {
					v := g.vendors[i]
					return append(r, v.code, "*", v.name, "USD", v.phone, v.email, cb(i%37 == 36), base, 0)
				})
			}),
		t("R5USERS", `USR_CODE varchar(30)!, USR_DESC varchar(80), USR_GROUP varchar(30)!, USR_EMAILADDRESS varchar(80),
			USR_LANG varchar(2), USR_NOTUSED varchar(1)!, USR_LASTSAVED datetime!, USR_UPDATECOUNT int!`,
			[]string{"USR_CODE"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.people), func(i int, r []any) []any {
					p := g.people[i]
					grp := "TECH"
					if p.craft == "PLAN" {
						grp = "PLANNER"
					}
					return append(r, p.id, p.first+" "+p.last, grp, p.email, "EN", cb(!p.active), base, 0)
				})
			}),
		t("R5PERSONNEL", `PER_CODE varchar(30)!, PER_DESC varchar(80), PER_TRADE varchar(20), PER_MRC varchar(8),
			PER_USER varchar(30), PER_NOTUSED varchar(1)!, PER_LASTSAVED datetime!, PER_UPDATECOUNT int!`,
			[]string{"PER_CODE"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.people), func(i int, r []any) []any {
					p := g.people[i]
					return append(r, p.id, p.first+" "+p.last, p.craft, p.craft, p.id, cb(!p.active), base, 0)
				})
			}),
		t("R5OBJECTS", `OBJ_CODE varchar(30)!, OBJ_ORG varchar(15)!, OBJ_DESC varchar(80), OBJ_OBTYPE varchar(4)!, OBJ_OBRTYPE varchar(4)!,
			OBJ_STATUS varchar(4)!, OBJ_CLASS varchar(8), OBJ_MRC varchar(8), OBJ_LOCATION varchar(30), OBJ_LOCATION_ORG varchar(15),
			OBJ_PARENT varchar(30), OBJ_PARENT_ORG varchar(15), OBJ_MANUFACT varchar(30), OBJ_MANUFACTMODEL varchar(30), OBJ_SERIALNO varchar(30), OBJ_COMMISS datetime,
			OBJ_VALUE numeric(24,6), OBJ_CRITICALITY varchar(4), OBJ_NOTUSED varchar(1)!, OBJ_CREATED datetime!,
			OBJ_LASTSAVED datetime!, OBJ_UPDATECOUNT int!`,
			[]string{"OBJ_CODE", "OBJ_ORG"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.locs)+len(g.assets), func(i int, r []any) []any {
					if i < len(g.locs) {
						l := g.locs[i]
						var parent, parentOrg any
						if l.parent != "" {
							parent, parentOrg = l.parent, l.site
						}
						return append(r, l.code, l.site, l.desc, "L", "L", "I", inforLocClass[l.typ], nil, nil, nil,
							parent, parentOrg, nil, nil, nil, nil, nil, nil, "-", base, base, 0)
					}
					a := g.assets[i-len(g.locs)]
					var parent, parentOrg any
					if a.parent >= 0 {
						parent, parentOrg = g.assets[a.parent].tag, a.site
					}
					return append(r, a.tag, a.site, a.desc, "A", "A", objStatus[a.status], a.typ.class, "MECH", a.loc, a.site,
						parent, parentOrg, a.mfr, a.model, a.serial, a.installed, a.cost, strconv.Itoa(a.priority), cb(a.status == 2),
						a.installed, a.installed, 0)
				})
			}, index{name: "R5OBJECTS_LASTSAVED", cols: []string{"OBJ_LASTSAVED"}}),
		t("R5STRUCTURES", `STC_PARENT varchar(30)!, STC_PARENT_ORG varchar(15)!, STC_PARENTTYPE varchar(4)!, STC_CHILD varchar(30)!,
			STC_CHILD_ORG varchar(15)!, STC_CHILDTYPE varchar(4)!, STC_ROLLDOWN varchar(1)!, STC_LASTSAVED datetime!`,
			[]string{"STC_PARENT", "STC_PARENT_ORG", "STC_CHILD", "STC_CHILD_ORG"},
			func(g *gen) iter.Seq[[]any] {
				return func(yield func([]any) bool) {
					var r []any
					for _, l := range g.locs {
						if l.parent == "" {
							continue
						}
						if !yield(append(r[:0], l.parent, l.site, "L", l.code, l.site, "L", "+", base)) {
							return
						}
					}
					for _, a := range g.assets {
						pc, pt := a.loc, "L"
						if a.parent >= 0 {
							pc, pt = g.assets[a.parent].tag, "A"
						}
						if !yield(append(r[:0], pc, a.site, pt, a.tag, a.site, "A", "+", a.installed)) {
							return
						}
					}
				}
			}),
		t("R5PARTS", `PAR_CODE varchar(30)!, PAR_ORG varchar(15)!, PAR_DESC varchar(80), PAR_UOM varchar(30)!, PAR_CLASS varchar(8),
			PAR_CATEGORY varchar(30), PAR_BASEPRICE numeric(24,6), PAR_AVGPRICE numeric(24,6), PAR_LASTPRICE numeric(24,6),
			PAR_TOOL varchar(1)!, PAR_NOTUSED varchar(1)!, PAR_LASTSAVED datetime!, PAR_UPDATECOUNT int!`,
			[]string{"PAR_CODE", "PAR_ORG"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.parts), func(i int, r []any) []any {
					p := g.parts[i]
					return append(r, p.num, "*", p.desc, p.uom, p.category, p.category, p.cost, round2(p.cost*0.97),
						p.cost, "-", cb(i%41 == 40), base, 0)
				})
			}),
		t("R5PARTMFGS", `MFP_PART varchar(30)!, MFP_PART_ORG varchar(15)!, MFP_MANUFACTURER varchar(30)!, MFP_MANUFACTPART varchar(80),
			MFP_PRIMARY varchar(1)!, MFP_NOTUSED varchar(1)!, MFP_LASTSAVED datetime!`,
			[]string{"MFP_PART", "MFP_PART_ORG", "MFP_MANUFACTURER"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.parts), func(i int, r []any) []any {
					p := g.parts[i]
					return append(r, p.num, "*", p.mfr, p.mfrPart, "+", "-", base)
				})
			}),
		t("R5STORES", `STR_CODE varchar(30)!, STR_ORG varchar(15)!, STR_DESC varchar(80), STR_NOTUSED varchar(1)!, STR_LASTSAVED datetime!`,
			[]string{"STR_CODE"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(nSites, func(i int, r []any) []any {
					s := g.sites[i]
					return append(r, s.store, s.id, s.city+" central store", "-", base)
				})
			}),
		t("R5STOCK", `STO_PART varchar(30)!, STO_PART_ORG varchar(15)!, STO_STORE varchar(30)!, STO_QTY numeric(24,6)!,
			STO_MINLEV numeric(24,6), STO_ORDLEV numeric(24,6), STO_ORDQTY numeric(24,6), STO_MAXQTY numeric(24,6),
			STO_DEFAULTBIN varchar(30), STO_LASTSAVED datetime!, STO_UPDATECOUNT int!`,
			[]string{"STO_PART", "STO_PART_ORG", "STO_STORE"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.parts)*nSites, func(i int, r []any) []any {
					p, s, st := g.parts[i/nSites], g.sites[i%nSites], stock(g, i)
					return append(r, p.num, "*", s.store, st.onHand, st.min, st.min+1, st.max-st.min, st.max, st.bin, st.counted, 0)
				})
			}),
		t("R5PPMS", `PPM_CODE varchar(20)!, PPM_REVISION int!, PPM_ORG varchar(15)!, PPM_DESC varchar(80), PPM_FREQ int,
			PPM_PERIODUOM varchar(4), PPM_DURATION numeric(12,2), PPM_JOBTYPE varchar(8), PPM_NOTUSED varchar(1)!,
			PPM_LASTSAVED datetime!, PPM_UPDATECOUNT int!`,
			[]string{"PPM_CODE", "PPM_REVISION"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.pms), func(i int, r []any) []any {
					p := g.pms[i]
					return append(r, p.num, 0, p.site, p.desc, p.freq, periodUOM[p.unit], p.hours,
						inforJobType[p.worktype], cb(!p.active), p.last, 0)
				})
			}),
		t("R5PPMOBJECTS", `PPO_PK int!, PPO_REVISION int!, PPO_PPM varchar(20)!, PPO_ORG varchar(15)!, PPO_OBJECT varchar(30)!,
			PPO_OBJECT_ORG varchar(15)!, PPO_LOCATION varchar(30), PPO_LOCATION_ORG varchar(15), PPO_FREQ int, PPO_PERIODUOM varchar(4),
			PPO_DUE datetime, PPO_DEACTIVE datetime, PPO_LASTSAVED datetime!, PPO_UPDATECOUNT int!`,
			[]string{"PPO_PK", "PPO_REVISION"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.pms), func(i int, r []any) []any {
					p := g.pms[i]
					a := g.assets[p.asset]
					var deactive any
					if !p.active {
						deactive = p.last
					}
					return append(r, inforPPOPK(i), 0, p.num, p.site, a.tag, a.site, a.loc, a.site, p.freq, periodUOM[p.unit],
						p.next, deactive, p.last, 0)
				})
			}),
		t("R5EVENTS", `EVT_CODE varchar(30)!, EVT_ORG varchar(15)!, EVT_DESC varchar(80), EVT_STATUS varchar(4)!, EVT_RSTATUS varchar(4)!,
			EVT_TYPE varchar(4)!, EVT_RTYPE varchar(4)!, EVT_JOBTYPE varchar(8), EVT_PRIORITY varchar(4), EVT_OBJECT varchar(30),
			EVT_OBJECT_ORG varchar(15), EVT_OBTYPE varchar(4), EVT_OBRTYPE varchar(4), EVT_LOCATION varchar(30), EVT_LOCATION_ORG varchar(15),
			EVT_MRC varchar(8)!, EVT_DATE datetime!, EVT_TARGET datetime, EVT_SCHEDEND datetime, EVT_START datetime,
			EVT_COMPLETED datetime, EVT_PARENT varchar(30), EVT_PPM varchar(20), EVT_PERSON varchar(30), EVT_REPORTED datetime,
			EVT_CREATED datetime!, EVT_CREATEDBY varchar(30), EVT_ENTEREDBY varchar(30), EVT_FAILURE varchar(8),
			EVT_DURATION numeric(12,2), EVT_CLASS varchar(8), EVT_LASTSAVED datetime!, EVT_UPDATECOUNT int!,
			EVT_DUE datetime, EVT_ORIGIN varchar(30), EVT_PPMREV int, EVT_PPOPK int, EVT_DOWNTIMEHRS numeric(12,2)`,
			[]string{"EVT_CODE"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(g.rows, func(i int, r []any) []any {
					w := g.wo(i)
					a := g.assets[w.asset]
					st := inforWOStatus[w.status()]
					typ := "JOB"
					var ppm, ppmRev, ppoPK, parent any
					if w.pm >= 0 {
						typ, ppm, ppmRev, ppoPK = "PPM", g.pms[w.pm].num, 0, inforPPOPK(w.pm)
					}
					down := 0.0
					if w.worktype == wtEmergency {
						down = w.actHours
					}
					if w.parent >= 0 {
						parent = inforEvtCode(w.parent)
					}
					return append(r, inforEvtCode(i), w.site, w.desc, st.code, st.system, typ, typ, inforJobType[w.worktype],
						strconv.Itoa(w.priority), a.tag, a.site, "A", "A", a.loc, a.site, g.people[w.lead].craft, w.reported,
						w.schedStart, w.schedEnd, tv(w.actStart), tv(w.actEnd), parent, ppm, g.people[w.lead].id, w.reported,
						w.reported, g.people[w.reportedBy].id, g.people[w.reportedBy].id, nv(w.failure), inforDays(w.estHours), nil,
						w.changed, len(w.history)-1, w.targComp, g.people[w.reportedBy].id, ppmRev, ppoPK, down)
				})
			}, index{name: "R5EVENTS_LASTSAVED", cols: []string{"EVT_LASTSAVED"}},
			index{name: "R5EVENTS_OBJECT", cols: []string{"EVT_OBJECT", "EVT_OBJECT_ORG"}}),
		t("R5ORDERS", `ORD_CODE varchar(30)!, ORD_ORG varchar(15)!, ORD_DESC varchar(80), ORD_STATUS varchar(4)!, ORD_RSTATUS varchar(4)!,
			ORD_SUPPLIER varchar(30)!, ORD_SUPPLIER_ORG varchar(15)!, ORD_DATE datetime!, ORD_DUE datetime, ORD_CURR varchar(30)!,
			ORD_STORE varchar(30), ORD_BUYER varchar(30), ORD_PRICE numeric(24,6), ORD_LASTSAVED datetime!, ORD_UPDATECOUNT int!`,
			[]string{"ORD_CODE", "ORD_ORG"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(g.nPO, func(i int, r []any) []any {
					p := g.po(i)
					s := poStatus[inforPOStatus(p.status)]
					return append(r, inforPOCode(i), p.site, fmt.Sprintf("Order %s", g.vendors[p.vendor].name), s.code, s.system,
						g.vendors[p.vendor].code, "*", p.ordered, p.required, "USD", g.siteByID(p.site).store, g.people[p.buyer].id,
						p.total(), p.ordered, 0)
				})
			}),
		t("R5ORDERLINES", `ORL_ORDER varchar(30)!, ORL_ORDER_ORG varchar(15)!, ORL_ORDLINE int!, ORL_TYPE varchar(4)!, ORL_RTYPE varchar(4)!,
			ORL_PART varchar(30), ORL_PART_ORG varchar(15), ORL_EVENT varchar(30), ORL_STORE varchar(30), ORL_ORDQTY numeric(24,6)!,
			ORL_RECVQTY numeric(24,6)!, ORL_PRICE numeric(24,6)!, ORL_PURUOM varchar(30), ORL_DUE datetime, ORL_STATUS varchar(4)!,
			ORL_RSTATUS varchar(4)!, ORL_LASTSAVED datetime!, ORL_UPDATECOUNT int!`,
			[]string{"ORL_ORDER", "ORL_ORDER_ORG", "ORL_ORDLINE"},
			func(g *gen) iter.Seq[[]any] {
				return func(yield func([]any) bool) {
					var r []any
					for p, li := range g.poLines {
						l := p.lines[li]
						pt := g.parts[l.part]
						s := poStatus[inforPOStatus(p.status)]
						var evt any
						if p.wo >= 0 {
							evt = inforEvtCode(p.wo)
						}
						if !yield(append(r[:0], inforPOCode(p.i), p.site, li+1, "PS", "PS", pt.num, "*", evt, g.siteByID(p.site).store,
							l.qty, l.received, l.price, pt.uom, p.required, s.code, s.system, p.ordered, 0)) {
							return
						}
					}
				}
			}),
	}
}

// inforDays is EVT_DURATION for an estimate in hours: EAM counts a work
// order's duration in days, at least one.
func inforDays(hours float64) float64 { return float64(max(1, int(math.Ceil(hours/8)))) }

// inforPOStatus maps the generic PO state onto the index in poStatus.
func inforPOStatus(s int) int {
	switch s {
	case 0:
		return 0
	case 1, 2:
		return 1
	case 3:
		return 2
	default:
		return 3
	}
}

type inforState struct {
	nextEvt, maxObj, maxPO int64
	people                 []string
	crafts                 []string
	status                 map[string]string // user status -> system status
}

func inforMutator(ctx context.Context, m *Mutator) ([]mutation, error) {
	e := m.db.execer()
	st := &inforState{status: map[string]string{}}
	var err error
	if st.nextEvt, err = queryInt(ctx, e, sq(`select max(cast(EVT_CODE as bigint)) from R5EVENTS`)); err != nil {
		return nil, err
	}
	st.nextEvt++
	if st.maxObj, err = queryInt(ctx, e, sq(`select count(*) from R5OBJECTS where OBJ_OBTYPE = ?`), "A"); err != nil {
		return nil, err
	}
	if st.maxPO, err = queryInt(ctx, e, sq(`select max(cast(ORD_CODE as bigint)) from R5ORDERS`)); err != nil {
		return nil, err
	}
	people, err := queryStrings(ctx, e, sq(`select PER_CODE, PER_TRADE from R5PERSONNEL order by PER_CODE`))
	if err != nil {
		return nil, err
	}
	for _, p := range people {
		st.people = append(st.people, p[0])
		st.crafts = append(st.crafts, p[1])
	}
	codes, err := queryStrings(ctx, e, sq(`select UCO_CODE, UCO_RCODE from R5UCODES where UCO_ENTITY = ?`), "EVST")
	if err != nil {
		return nil, err
	}
	for _, c := range codes {
		st.status[c[0]] = c[1]
	}
	if st.maxObj == 0 || len(st.people) == 0 {
		return nil, fmt.Errorf("no assets or people to raise work orders with")
	}
	m.state = st
	return []mutation{
		{"advance work order status", 40, inforAdvance},
		{"create work order", 20, inforCreate},
		{"edit work order", 15, inforEdit},
		{"delete work order", 2, inforDelete},
		{"edit asset", 8, inforEditAsset},
		{"receive order line", 10, inforReceive},
	}, nil
}

var inforNext = map[string][]string{
	"A": {"R", "R", "R", "CANC"}, "R": {"RFS", "IP"}, "RFS": {"IP"}, "IP": {"C", "C", "C", "WP"}, "WP": {"IP"}, "C": {"CLOS"},
}

func inforWO(ctx context.Context, m *Mutator, tx execer) ([]string, error) {
	st := m.state.(*inforState)
	return row(ctx, tx, `select EVT_CODE, EVT_STATUS, EVT_DESC, EVT_START from R5EVENTS where EVT_CODE = ?`,
		strconv.FormatInt(10001+m.r.Int64N(st.nextEvt-10001), 10))
}

func inforAdvance(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*inforState)
	w, err := inforWO(ctx, m, tx)
	if err != nil || w == nil || len(inforNext[w[1]]) == 0 {
		return false, err
	}
	next := pick(m.r, inforNext[w[1]])
	now := m.now()
	var start, done any
	if next == "IP" {
		start = now
	}
	if next == "C" {
		done = now
	}
	if err := exec1(ctx, tx, `update R5EVENTS set EVT_STATUS = ?, EVT_RSTATUS = ?, EVT_START = coalesce(EVT_START, ?),
		EVT_COMPLETED = coalesce(EVT_COMPLETED, ?), EVT_LASTSAVED = ?, EVT_UPDATECOUNT = EVT_UPDATECOUNT + 1 where EVT_CODE = ?`,
		next, st.status[next], start, done, now, w[0]); err != nil {
		return false, fmt.Errorf("update R5EVENTS: %w", err)
	}
	rec.add("R5EVENTS", updated, w[0])
	return true, nil
}

func inforCreate(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*inforState)
	a, err := row(ctx, tx, `select OBJ_CODE, OBJ_ORG, OBJ_DESC, OBJ_CLASS, OBJ_LOCATION from R5OBJECTS where OBJ_OBTYPE = ?
		order by OBJ_ORG, OBJ_CODE limit 1 offset ?`, "A", m.r.Int64N(st.maxObj))
	if err != nil || a == nil {
		return false, err
	}
	t := eqTypeByClass(a[3])
	desc := fmt.Sprintf(pick(m.r, t.fixes), a[2])
	desc = strings.ToUpper(desc[:1]) + desc[1:]
	if len(desc) > 80 {
		desc = desc[:80]
	}
	p := m.r.IntN(len(st.people))
	by := st.people[m.r.IntN(len(st.people))]
	code := strconv.FormatInt(st.nextEvt, 10)
	st.nextEvt++
	now := m.now()
	if _, err := tx.exec(ctx, sq(`insert into R5EVENTS (EVT_CODE, EVT_ORG, EVT_DESC, EVT_STATUS, EVT_RSTATUS, EVT_TYPE, EVT_RTYPE,
		EVT_JOBTYPE, EVT_PRIORITY, EVT_OBJECT, EVT_OBJECT_ORG, EVT_OBTYPE, EVT_OBRTYPE, EVT_LOCATION, EVT_LOCATION_ORG, EVT_MRC,
		EVT_DATE, EVT_TARGET, EVT_SCHEDEND, EVT_START, EVT_COMPLETED, EVT_PARENT, EVT_PPM, EVT_PERSON, EVT_REPORTED, EVT_CREATED,
		EVT_CREATEDBY, EVT_ENTEREDBY, EVT_FAILURE, EVT_DURATION, EVT_CLASS, EVT_LASTSAVED, EVT_UPDATECOUNT, EVT_DUE, EVT_ORIGIN,
		EVT_DOWNTIMEHRS)
		values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		code, a[1], desc, "A", "A", "JOB", "JOB", "CORR", strconv.Itoa(1+m.r.IntN(4)), a[0], a[1], "A", "A", nv(a[4]), a[1],
		st.crafts[p], now, nil, nil, nil, nil, nil, nil, st.people[p], now, now, by, by, pick(m.r, t.failures),
		inforDays(float64(1+m.r.IntN(8))), nil, now, 0, now.AddDate(0, 0, 7), by, 0.0); err != nil {
		return false, fmt.Errorf("insert R5EVENTS: %w", err)
	}
	rec.add("R5EVENTS", inserted, code)
	return true, nil
}

func inforEdit(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*inforState)
	w, err := inforWO(ctx, m, tx)
	if err != nil || w == nil || st.status[w[1]] == "C" {
		return false, err
	}
	now := m.now()
	if m.r.IntN(2) == 0 {
		start := now.AddDate(0, 0, 1+m.r.IntN(10)).Truncate(24 * time.Hour).Add(7 * time.Hour)
		err = exec1(ctx, tx, `update R5EVENTS set EVT_TARGET = ?, EVT_SCHEDEND = ?, EVT_LASTSAVED = ?, EVT_UPDATECOUNT = EVT_UPDATECOUNT + 1
			where EVT_CODE = ?`, start, start.Add(4*time.Hour), now, w[0])
	} else {
		err = exec1(ctx, tx, `update R5EVENTS set EVT_PRIORITY = ?, EVT_LASTSAVED = ?, EVT_UPDATECOUNT = EVT_UPDATECOUNT + 1
			where EVT_CODE = ?`, strconv.Itoa(1+m.r.IntN(4)), now, w[0])
	}
	if err != nil {
		return false, fmt.Errorf("update R5EVENTS: %w", err)
	}
	rec.add("R5EVENTS", updated, w[0])
	return true, nil
}

func inforDelete(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*inforState)
	w, err := inforWO(ctx, m, tx)
	if err != nil || w == nil || w[1] != "A" || w[0] == strconv.FormatInt(st.nextEvt-1, 10) {
		return false, err
	}
	if err := exec1(ctx, tx, `delete from R5EVENTS where EVT_CODE = ?`, w[0]); err != nil {
		return false, fmt.Errorf("delete R5EVENTS: %w", err)
	}
	rec.add("R5EVENTS", deleted, w[0])
	return true, nil
}

func inforEditAsset(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*inforState)
	a, err := row(ctx, tx, `select OBJ_CODE, OBJ_ORG from R5OBJECTS where OBJ_OBTYPE = ? order by OBJ_ORG, OBJ_CODE limit 1 offset ?`,
		"A", m.r.Int64N(st.maxObj))
	if err != nil || a == nil {
		return false, err
	}
	if err := exec1(ctx, tx, `update R5OBJECTS set OBJ_CRITICALITY = ?, OBJ_LASTSAVED = ?, OBJ_UPDATECOUNT = OBJ_UPDATECOUNT + 1
		where OBJ_CODE = ? and OBJ_ORG = ?`, strconv.Itoa(1+m.r.IntN(5)), m.now(), a[0], a[1]); err != nil {
		return false, fmt.Errorf("update R5OBJECTS: %w", err)
	}
	rec.add("R5OBJECTS", updated, key(a[0], a[1]))
	return true, nil
}

func inforReceive(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*inforState)
	code := strconv.FormatInt(70001+m.r.Int64N(max(st.maxPO-70000, 1)), 10)
	l, err := row(ctx, tx, `select ORL_ORDER, ORL_ORDER_ORG, ORL_ORDLINE, ORL_ORDQTY, ORL_RECVQTY, ORL_PART, ORL_PART_ORG, ORL_STORE
		from R5ORDERLINES where ORL_ORDER = ? and ORL_RSTATUS = ? and ORL_RECVQTY < ORL_ORDQTY order by ORL_ORDLINE limit 1`, code, "A")
	if err != nil || l == nil {
		return false, err
	}
	now := m.now()
	qty := atof(l[3]) - atof(l[4])
	if err := exec1(ctx, tx, `update R5ORDERLINES set ORL_RECVQTY = ORL_ORDQTY, ORL_LASTSAVED = ?, ORL_UPDATECOUNT = ORL_UPDATECOUNT + 1
		where ORL_ORDER = ? and ORL_ORDER_ORG = ? and ORL_ORDLINE = ?`, now, l[0], l[1], atoi(l[2])); err != nil {
		return false, fmt.Errorf("update R5ORDERLINES: %w", err)
	}
	rec.add("R5ORDERLINES", updated, key(l[0], l[1], l[2]))
	open, err := queryInt(ctx, tx, sq(`select count(*) from R5ORDERLINES where ORL_ORDER = ? and ORL_ORDER_ORG = ? and ORL_RECVQTY < ORL_ORDQTY`), l[0], l[1])
	if err != nil {
		return false, err
	}
	if open == 0 {
		if _, err := tx.exec(ctx, sq(`update R5ORDERLINES set ORL_STATUS = ?, ORL_RSTATUS = ?, ORL_LASTSAVED = ?, ORL_UPDATECOUNT = ORL_UPDATECOUNT + 1
			where ORL_ORDER = ? and ORL_ORDER_ORG = ?`), "C", "C", now, l[0], l[1]); err != nil {
			return false, fmt.Errorf("update R5ORDERLINES: %w", err)
		}
		lines, err := queryStrings(ctx, tx, sq(`select cast(ORL_ORDLINE as text) from R5ORDERLINES where ORL_ORDER = ? and ORL_ORDER_ORG = ?`), l[0], l[1])
		if err != nil {
			return false, err
		}
		for _, ln := range lines {
			rec.add("R5ORDERLINES", updated, key(l[0], l[1], ln[0]))
		}
		if err := exec1(ctx, tx, `update R5ORDERS set ORD_STATUS = ?, ORD_RSTATUS = ?, ORD_LASTSAVED = ?, ORD_UPDATECOUNT = ORD_UPDATECOUNT + 1
			where ORD_CODE = ? and ORD_ORG = ?`, "C", "C", now, l[0], l[1]); err != nil {
			return false, fmt.Errorf("update R5ORDERS: %w", err)
		}
		rec.add("R5ORDERS", updated, key(l[0], l[1]))
	}
	n, err := tx.exec(ctx, sq(`update R5STOCK set STO_QTY = STO_QTY + ?, STO_LASTSAVED = ?, STO_UPDATECOUNT = STO_UPDATECOUNT + 1
		where STO_PART = ? and STO_PART_ORG = ? and STO_STORE = ?`), qty, now, l[5], l[6], l[7])
	if err != nil {
		return false, fmt.Errorf("update R5STOCK: %w", err)
	}
	if n == 1 {
		rec.add("R5STOCK", updated, key(l[5], l[6], l[7]))
	}
	return true, nil
}
