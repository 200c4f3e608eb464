package demodb

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"
)

// MP2 (Datastream, later Infor MP2). Table and column names follow the
// public MP2 5.0 schema: short table names (WO, WOEQLIST, EQUIP, EQXREF,
// INVY, SITEINFO, STOCK, VENDOR, POHEADER, PURREQ, EMP, TASK, TASKEQ);
// work orders keyed by (WONUM, CLOSEDATE), where an open work order carries
// the placeholder close date 1900-01-01 and closing one sets the real date
// (so closing changes the key) and its single-letter STATUS to C; the
// equipment of a work order is listed in WOEQLIST, not on WO; dates and
// times of day live in separate columns (REQUESTDATE, REQUESTTIME); stock
// limits are per item and site in SITEINFO; and no table has a column that
// records when a row changed, so a reader detects changes by comparing row
// hashes.

var mp2Type = map[int]string{wtCorrective: "CM", wtPreventive: "PM", wtEmergency: "EM", wtInspection: "INSP", wtProject: "PROJECT"}

// mp2Open is the CLOSEDATE of work orders and purchase orders that are not
// closed.
var mp2Open = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

// mp2POStatus names the generic purchase order states. MP2's POHEADER.STATUS
// is free text; these are the demo's values.
var mp2POStatus = []string{"PENDING", "OPEN", "PARTIAL", "RECEIVED", "CANCELLED"}

// mp2DateUnit names TASKEQ.DATEUNIT for the plan units of the plant model.
var mp2DateUnit = map[string]string{"DAYS": "Days", "WEEKS": "Weeks", "MONTHS": "Months", "YEARS": "Years"}

func mp2WONUM(i int) string           { return strconv.Itoa(100001 + i) }
func mp2EQNUM(g *gen, a asset) string { return g.siteByID(a.site).prefix + "-" + a.tag }
func mp2PONUM(i int) string           { return "P" + strconv.Itoa(200001+i) }

// mp2Day is the date part of a time, as MP2's date columns hold it.
func mp2Day(t time.Time) time.Time { return t.Truncate(24 * time.Hour) }

// mp2Clock is the time-of-day part, on the placeholder date, as MP2's time
// columns hold it.
func mp2Clock(t time.Time) time.Time { return mp2Open.Add(t.Sub(mp2Day(t))) }

func mp2DayOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return mp2Day(t)
}

func mp2ClockOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return mp2Clock(t)
}

func mp2System() *system {
	return &system{name: "mp2", workOrders: "WO", tables: mp2Tables, mutator: mp2Mutator}
}

func mp2Tables(g *gen) []*table {
	nSites := len(g.sites)
	t := func(name, spec string, key []string, rows func(g *gen) iter.Seq[[]any], more ...index) *table {
		return &table{name: name, cols: cols(spec), key: key, indexes: more, rows: rows}
	}
	yn := map[bool]string{true: "Y", false: "N"}
	return []*table{
		t("EMP", `EMPCODE varchar(15)!, LASTNAME varchar(15), FIRSTNAME varchar(15), PHONE varchar(30), CRAFT varchar(10),
			SHIFT varchar(2), HIREDATE datetime`,
			[]string{"EMPCODE"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.people), func(i int, r []any) []any {
					p := g.people[i]
					return append(r, p.id, p.last, p.first, p.phone, p.craft, []string{"1", "1", "2", "3"}[i%4],
						g.now.AddDate(-1-i%20, -(i%12), 0).Truncate(24*time.Hour))
				})
			}),
		t("VENDOR", `VENDORID varchar(12)!, NAME varchar(40), ADDR1 varchar(35), CITY varchar(20), STATE varchar(12), ZIP varchar(10),
			COUNTRY varchar(15), PHONE varchar(30), TERMS varchar(20), MP2CURRENCY varchar(15)`,
			[]string{"VENDORID"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.vendors), func(i int, r []any) []any {
					v := g.vendors[i]
					return append(r, v.code, v.name, fmt.Sprintf("%d Commerce St", 100+i*7), v.city, v.state, v.zip, "USA", v.phone,
						v.terms, "US DOLLAR")
				})
			}),
		t("EQUIP", `EQNUM varchar(30)!, EQTYPE varchar(8), DESCRIPTION varchar(70), INSERVICE varchar(1), LOCATION varchar(30),
			SUBLOCATION1 varchar(30), DEPT varchar(10), SERIALNUM varchar(30), MODELNUM varchar(30), MANUFACTURER varchar(25),
			PURCHDATE datetime, ORIGINALCOST numeric(12,2), PRIORITY int`,
			[]string{"EQNUM"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.assets), func(i int, r []any) []any {
					a := g.assets[i]
					return append(r, mp2EQNUM(g, a), a.typ.class, a.desc, yn[a.status == 0], a.loc, nil, "MAINT", a.serial, a.model,
						a.mfr, a.installed, a.cost, a.priority)
				})
			}, index{name: "EQUIP_LOCATION", cols: []string{"LOCATION"}}),
		// EQXREF records that a piece of equipment (SUBUNIT) is part of
		// another (UNIT): the motor of a pump.
		t("EQXREF", `SUBUNIT varchar(30)!, UNIT varchar(30), DESCRIPTION varchar(50)`,
			[]string{"SUBUNIT"},
			func(g *gen) iter.Seq[[]any] {
				return func(yield func([]any) bool) {
					var r []any
					for _, a := range g.assets {
						if a.parent < 0 {
							continue
						}
						if !yield(append(r[:0], mp2EQNUM(g, a), mp2EQNUM(g, g.assets[a.parent]), "Driver")) {
							return
						}
					}
				}
			}),
		t("INVY", `ITEMNUM varchar(25)!, DESCRIPTION varchar(60), TYPE varchar(8), UOM varchar(8), OEMMFG varchar(25),
			CLASS varchar(6), DATEADDED datetime, LASTEDITDATE datetime`,
			[]string{"ITEMNUM"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.parts), func(i int, r []any) []any {
					p := g.parts[i]
					added := g.now.AddDate(-5, 0, -i%365).Truncate(24 * time.Hour)
					var edited any
					if i%3 == 0 {
						edited = added.AddDate(1, 0, 0)
					}
					return append(r, p.num, p.desc, p.category, p.uom, p.mfr, "SPARE", added, edited)
				})
			}),
		t("SITEINFO", `ITEMNUM varchar(25)!, SITE varchar(15)!, REORDERPOINT numeric(12,2), REORDERQTY numeric(12,2),
			STOCKITEM varchar(1), MINSTOCKLEVEL numeric(12,2), MAXSTOCKLEVEL numeric(12,2)`,
			[]string{"ITEMNUM", "SITE"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.parts)*nSites, func(i int, r []any) []any {
					p, s, st := g.parts[i/nSites], g.sites[i%nSites], stock(g, i)
					return append(r, p.num, s.id, st.min+1, st.max-st.min, "Y", st.min, st.max)
				})
			}),
		t("STOCK", `ITEMNUM varchar(25)!, SITE varchar(15)!, LOCATION varchar(15)!, QTYONHAND numeric(12,2)`,
			[]string{"ITEMNUM", "SITE", "LOCATION"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.parts)*nSites, func(i int, r []any) []any {
					p, s, st := g.parts[i/nSites], g.sites[i%nSites], stock(g, i)
					return append(r, p.num, s.id, st.bin, st.onHand)
				})
			}),
		t("TASK", `TASKNUM varchar(20)!, DESCRIPTION varchar(72), WOTYPE varchar(9), PRIORITY int, ASSIGNEDTO varchar(15)`,
			[]string{"TASKNUM"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.pms), func(i int, r []any) []any {
					p := g.pms[i]
					return append(r, p.num, p.desc, mp2Type[p.worktype], 3, g.people[p.lead].id)
				})
			}),
		// TASKEQ schedules a task on a piece of equipment: every NUMOFDATE
		// DATEUNITs, next due NEXTDUEDATE.
		t("TASKEQ", `TASKNUM varchar(20)!, EQNUM varchar(30)!, LOCATION varchar(30), DESCRIPTION varchar(72), NEXTDUEDATE datetime,
			LASTPERFDATE datetime, SCHEDTYPE varchar(1), TASKDURATION numeric(8,2), DATEUNIT varchar(15), NUMOFDATE int`,
			[]string{"TASKNUM", "EQNUM"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.pms), func(i int, r []any) []any {
					p := g.pms[i]
					a := g.assets[p.asset]
					return append(r, p.num, mp2EQNUM(g, a), a.loc, p.desc, p.next, p.last, "F", p.hours, mp2DateUnit[p.unit], p.freq)
				})
			}),
		t("WO", `WONUM varchar(10)!, CLOSEDATE datetime!, TASKNUM varchar(20), TASKDESC varchar(72), WOTYPE varchar(9),
			SCHEDSTARTDATE datetime, SCHEDFINISHDATE datetime, ASSIGNEDTO varchar(15), PRIORITY int, STATUS varchar(1),
			REQUESTDATE datetime, REQUESTTIME datetime, ORIGINATOR varchar(25), COMPLETIONDATE datetime, COMPLETIONTIME datetime,
			ESTDURATION numeric(8,2), ACTUALDURATION numeric(8,2)`,
			[]string{"WONUM", "CLOSEDATE"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(g.rows, func(i int, r []any) []any {
					w := g.wo(i)
					var task any
					if w.pm >= 0 {
						task = g.pms[w.pm].num
					}
					status, closed := mp2WOStatus(w)
					desc := w.desc
					if len(desc) > 72 {
						desc = desc[:72]
					}
					return append(r, mp2WONUM(i), closed, task, desc, mp2Type[w.worktype], mp2Day(w.schedStart), mp2Day(w.schedEnd),
						g.people[w.lead].id, w.priority, status, mp2Day(w.reported), mp2Clock(w.reported), g.people[w.reportedBy].id,
						mp2DayOrNil(w.actEnd), mp2ClockOrNil(w.actEnd), w.estHours, w.actHours)
				})
			}, index{name: "WO_STATUS", cols: []string{"STATUS"}}),
		t("WOEQLIST", `WONUM varchar(10)!, CLOSEDATE datetime!, EQNUM varchar(30)!, LOCATION varchar(30)!, SUBLOCATION1 varchar(30),
			DEPARTMENT varchar(10), DOWNTIME numeric(8,2), PRIORITY int, EQDESC varchar(70), RFOCODE varchar(8)`,
			[]string{"WONUM", "CLOSEDATE", "EQNUM", "LOCATION"},
			func(g *gen) iter.Seq[[]any] {
				return func(yield func([]any) bool) {
					var r []any
					for i := range g.rows {
						w := g.wo(i)
						a := g.assets[w.asset]
						_, closed := mp2WOStatus(w)
						down := 0.0
						if w.worktype == wtEmergency {
							down = w.actHours
						}
						if !yield(append(r[:0], mp2WONUM(i), closed, mp2EQNUM(g, a), a.loc, nil, "MAINT", down, w.priority, a.desc,
							nv(w.failure))) {
							return
						}
						// Work on a driven machine usually lists its motor too.
						if a.parent < 0 && w.asset+1 < len(g.assets) && g.assets[w.asset+1].parent == w.asset && i%3 == 0 {
							m := g.assets[w.asset+1]
							if !yield(append(r[:0], mp2WONUM(i), closed, mp2EQNUM(g, m), m.loc, nil, "MAINT", 0.0, w.priority, m.desc, nil)) {
								return
							}
						}
					}
				}
			}),
		t("POHEADER", `PONUM varchar(20)!, RELEASENUM int!, CLOSEDATE datetime!, STATUS varchar(12), POTYPE varchar(8),
			VENDORID varchar(12), BUYER varchar(15), SUBTOTAL numeric(12,2), MP2CURRENCY varchar(15), ORDERDATE datetime,
			TERMS varchar(20), WONUM varchar(10)`,
			[]string{"PONUM", "RELEASENUM", "CLOSEDATE"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(g.nPO, func(i int, r []any) []any {
					p := g.po(i)
					closed := mp2Open
					if p.status >= 3 {
						closed = mp2Day(p.required)
					}
					var wo any
					if p.wo >= 0 {
						wo = mp2WONUM(p.wo)
					}
					return append(r, mp2PONUM(i), 0, closed, mp2POStatus[p.status], "STOCK", g.vendors[p.vendor].code,
						g.people[p.buyer].id, p.total(), "US DOLLAR", mp2Day(p.ordered), g.vendors[p.vendor].terms, wo)
				})
			}),
		t("PURREQ", `SEQNUM int!, CLOSEDATE datetime!, PONUM varchar(20), RELEASENUM int, ITEMNUM varchar(25),
			DESCRIPTIONONPO varchar(60), QTYREQUESTED numeric(12,2), QTYRECEIVED numeric(12,2), UNITCOST numeric(12,4),
			TOTAL numeric(12,2), UOM varchar(8), DUEDATE datetime, ORDERSITE varchar(15)`,
			[]string{"SEQNUM", "CLOSEDATE"},
			func(g *gen) iter.Seq[[]any] {
				return func(yield func([]any) bool) {
					var r []any
					seq := 0
					for p, li := range g.poLines {
						l := p.lines[li]
						pt := g.parts[l.part]
						seq++
						closed := mp2Open
						if p.status >= 3 {
							closed = mp2Day(p.required)
						}
						if !yield(append(r[:0], seq, closed, mp2PONUM(p.i), 0, pt.num, pt.desc, l.qty, l.received, l.price,
							round2(l.qty*l.price), pt.uom, mp2Day(p.required), p.site)) {
							return
						}
					}
				}
			}, index{name: "PURREQ_PONUM", cols: []string{"PONUM", "RELEASENUM"}}),
	}
}

// mp2WOStatus is a work order's STATUS and CLOSEDATE: closing (or
// cancelling) sets C and the close date; everything else is open.
func mp2WOStatus(w workOrder) (string, time.Time) {
	if w.status() == stClosed || w.status() == stCancelled {
		return "C", mp2Day(w.changed)
	}
	return "O", mp2Open
}

type mp2State struct {
	nextWO, maxPO int64
	nEquip        int64
	people        []string
}

func mp2Mutator(ctx context.Context, m *Mutator) ([]mutation, error) {
	e := m.db.execer()
	st := &mp2State{}
	var err error
	if st.nextWO, err = queryInt(ctx, e, sq(`select max(cast(WONUM as bigint)) from WO`)); err != nil {
		return nil, err
	}
	st.nextWO++
	if st.maxPO, err = queryInt(ctx, e, sq(`select count(*) from POHEADER`)); err != nil {
		return nil, err
	}
	if st.nEquip, err = queryInt(ctx, e, sq(`select count(*) from EQUIP`)); err != nil {
		return nil, err
	}
	people, err := queryStrings(ctx, e, sq(`select EMPCODE from EMP order by EMPCODE`))
	if err != nil {
		return nil, err
	}
	for _, p := range people {
		st.people = append(st.people, p[0])
	}
	if st.nEquip == 0 || len(st.people) == 0 {
		return nil, fmt.Errorf("no equipment or employees to raise work orders with")
	}
	m.state = st
	return []mutation{
		{"close work order", 35, mp2Close},
		{"create work order", 20, mp2Create},
		{"edit work order", 20, mp2Edit},
		{"delete work order", 2, mp2Delete},
		{"edit equipment", 8, mp2EditEquip},
		{"receive purchase line", 10, mp2Receive},
	}, nil
}

// mp2WO picks a work order: WONUM, STATUS, ESTDURATION, PRIORITY,
// SCHEDSTARTDATE.
func mp2WO(ctx context.Context, m *Mutator, tx execer) ([]string, error) {
	st := m.state.(*mp2State)
	return row(ctx, tx, `select WONUM, STATUS, ESTDURATION, PRIORITY, SCHEDSTARTDATE from WO where WONUM = ?`,
		strconv.FormatInt(100001+m.r.Int64N(st.nextWO-100001), 10))
}

// mp2OpenKey is the text of the placeholder CLOSEDATE in a reported key.
var mp2OpenKey = mp2Open.Format(sqliteTime)

// mp2Close closes an open work order. CLOSEDATE is part of the key of WO
// and WOEQLIST, so the rows change keys: reported as deleted and inserted.
func mp2Close(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	w, err := mp2WO(ctx, m, tx)
	if err != nil || w == nil || w[1] != "O" {
		return false, err
	}
	now := m.now()
	closed := mp2Day(now)
	eqs, err := queryStrings(ctx, tx, sq(`select EQNUM, LOCATION from WOEQLIST where WONUM = ? and CLOSEDATE = ?`), w[0], mp2Open)
	if err != nil {
		return false, err
	}
	if err := exec1(ctx, tx, `update WO set STATUS = ?, CLOSEDATE = ?, COMPLETIONDATE = coalesce(COMPLETIONDATE, ?),
		COMPLETIONTIME = coalesce(COMPLETIONTIME, ?), ACTUALDURATION = ? where WONUM = ? and CLOSEDATE = ?`,
		"C", closed, closed, mp2Clock(now), atof(w[2]), w[0], mp2Open); err != nil {
		return false, fmt.Errorf("update WO: %w", err)
	}
	closedKey := closed.Format(sqliteTime)
	rec.add("WO", deleted, key(w[0], mp2OpenKey))
	rec.add("WO", inserted, key(w[0], closedKey))
	if _, err := tx.exec(ctx, sq(`update WOEQLIST set CLOSEDATE = ? where WONUM = ? and CLOSEDATE = ?`), closed, w[0], mp2Open); err != nil {
		return false, fmt.Errorf("update WOEQLIST: %w", err)
	}
	for _, e := range eqs {
		rec.add("WOEQLIST", deleted, key(w[0], mp2OpenKey, e[0], e[1]))
		rec.add("WOEQLIST", inserted, key(w[0], closedKey, e[0], e[1]))
	}
	return true, nil
}

func mp2Create(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*mp2State)
	a, err := row(ctx, tx, `select EQNUM, DESCRIPTION, LOCATION, EQTYPE from EQUIP order by EQNUM limit 1 offset ?`, m.r.Int64N(st.nEquip))
	if err != nil || a == nil {
		return false, err
	}
	t := eqTypeByClass(a[3])
	desc := fmt.Sprintf(pick(m.r, t.fixes), a[1])
	desc = strings.ToUpper(desc[:1]) + desc[1:]
	if len(desc) > 72 {
		desc = desc[:72]
	}
	wonum := strconv.FormatInt(st.nextWO, 10)
	st.nextWO++
	now := m.now()
	prio := 1 + m.r.IntN(4)
	if _, err := tx.exec(ctx, sq(`insert into WO (WONUM, CLOSEDATE, TASKNUM, TASKDESC, WOTYPE, SCHEDSTARTDATE, SCHEDFINISHDATE,
		ASSIGNEDTO, PRIORITY, STATUS, REQUESTDATE, REQUESTTIME, ORIGINATOR, COMPLETIONDATE, COMPLETIONTIME, ESTDURATION,
		ACTUALDURATION) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		wonum, mp2Open, nil, desc, "CM", mp2Day(now.AddDate(0, 0, 1)), mp2Day(now.AddDate(0, 0, 7)), pick(m.r, st.people), prio,
		"O", mp2Day(now), mp2Clock(now), pick(m.r, st.people), nil, nil, float64(1+m.r.IntN(8)), 0.0); err != nil {
		return false, fmt.Errorf("insert WO: %w", err)
	}
	rec.add("WO", inserted, key(wonum, mp2OpenKey))
	if _, err := tx.exec(ctx, sq(`insert into WOEQLIST (WONUM, CLOSEDATE, EQNUM, LOCATION, SUBLOCATION1, DEPARTMENT, DOWNTIME,
		PRIORITY, EQDESC, RFOCODE) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		wonum, mp2Open, a[0], a[2], nil, "MAINT", 0.0, prio, a[1], pick(m.r, t.failures)); err != nil {
		return false, fmt.Errorf("insert WOEQLIST: %w", err)
	}
	rec.add("WOEQLIST", inserted, key(wonum, mp2OpenKey, a[0], a[2]))
	return true, nil
}

func mp2Edit(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	w, err := mp2WO(ctx, m, tx)
	if err != nil || w == nil || w[1] != "O" {
		return false, err
	}
	// Without a change column, an update that leaves the row as it was is
	// no change at all; skip those so that Changes stays exact.
	if m.r.IntN(2) == 0 {
		d := mp2Day(m.now().AddDate(0, 0, 1+m.r.IntN(10)))
		if d.Format(sqliteTime) == w[4] {
			return false, nil
		}
		err = exec1(ctx, tx, `update WO set SCHEDSTARTDATE = ? where WONUM = ? and CLOSEDATE = ?`, d, w[0], mp2Open)
	} else {
		p := 1 + m.r.IntN(4)
		if strconv.Itoa(p) == w[3] {
			return false, nil
		}
		err = exec1(ctx, tx, `update WO set PRIORITY = ? where WONUM = ? and CLOSEDATE = ?`, p, w[0], mp2Open)
	}
	if err != nil {
		return false, fmt.Errorf("update WO: %w", err)
	}
	rec.add("WO", updated, key(w[0], mp2OpenKey))
	return true, nil
}

func mp2Delete(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*mp2State)
	w, err := mp2WO(ctx, m, tx)
	if err != nil || w == nil || w[1] != "O" || w[0] == strconv.FormatInt(st.nextWO-1, 10) {
		return false, err
	}
	eqs, err := queryStrings(ctx, tx, sq(`select EQNUM, LOCATION from WOEQLIST where WONUM = ? and CLOSEDATE = ?`), w[0], mp2Open)
	if err != nil {
		return false, err
	}
	if _, err := tx.exec(ctx, sq(`delete from WOEQLIST where WONUM = ? and CLOSEDATE = ?`), w[0], mp2Open); err != nil {
		return false, fmt.Errorf("delete WOEQLIST: %w", err)
	}
	for _, e := range eqs {
		rec.add("WOEQLIST", deleted, key(w[0], mp2OpenKey, e[0], e[1]))
	}
	if err := exec1(ctx, tx, `delete from WO where WONUM = ? and CLOSEDATE = ?`, w[0], mp2Open); err != nil {
		return false, fmt.Errorf("delete WO: %w", err)
	}
	rec.add("WO", deleted, key(w[0], mp2OpenKey))
	return true, nil
}

func mp2EditEquip(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*mp2State)
	a, err := row(ctx, tx, `select EQNUM, PRIORITY from EQUIP order by EQNUM limit 1 offset ?`, m.r.Int64N(st.nEquip))
	if err != nil || a == nil {
		return false, err
	}
	p := 1 + m.r.IntN(5)
	if strconv.Itoa(p) == a[1] {
		return false, nil // an update that changes nothing is not a change
	}
	if err := exec1(ctx, tx, `update EQUIP set PRIORITY = ? where EQNUM = ?`, p, a[0]); err != nil {
		return false, fmt.Errorf("update EQUIP: %w", err)
	}
	rec.add("EQUIP", updated, a[0])
	return true, nil
}

// mp2Receive receives one open purchase line in full. MP2 closes a
// received order in a separate step, so CLOSEDATE (part of the keys) stays.
func mp2Receive(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*mp2State)
	ponum := mp2PONUM(int(m.r.Int64N(max(st.maxPO, 1))))
	h, err := row(ctx, tx, `select STATUS from POHEADER where PONUM = ? and RELEASENUM = ? and CLOSEDATE = ?`, ponum, 0, mp2Open)
	if err != nil || h == nil || (h[0] != "OPEN" && h[0] != "PARTIAL") {
		return false, err
	}
	l, err := row(ctx, tx, `select SEQNUM, QTYREQUESTED, QTYRECEIVED, ITEMNUM, ORDERSITE from PURREQ
		where PONUM = ? and RELEASENUM = ? and CLOSEDATE = ? and QTYRECEIVED < QTYREQUESTED order by SEQNUM limit 1`, ponum, 0, mp2Open)
	if err != nil || l == nil {
		return false, err
	}
	if err := exec1(ctx, tx, `update PURREQ set QTYRECEIVED = QTYREQUESTED where SEQNUM = ? and CLOSEDATE = ?`, atoi(l[0]), mp2Open); err != nil {
		return false, fmt.Errorf("update PURREQ: %w", err)
	}
	rec.add("PURREQ", updated, key(l[0], mp2OpenKey))
	open, err := queryInt(ctx, tx, sq(`select count(*) from PURREQ where PONUM = ? and RELEASENUM = ? and CLOSEDATE = ?
		and QTYRECEIVED < QTYREQUESTED`), ponum, 0, mp2Open)
	if err != nil {
		return false, err
	}
	status := "PARTIAL"
	if open == 0 {
		status = "RECEIVED"
	}
	if status != h[0] {
		if err := exec1(ctx, tx, `update POHEADER set STATUS = ? where PONUM = ? and RELEASENUM = ? and CLOSEDATE = ?`,
			status, ponum, 0, mp2Open); err != nil {
			return false, fmt.Errorf("update POHEADER: %w", err)
		}
		rec.add("POHEADER", updated, key(ponum, "0", mp2OpenKey))
	}
	// The stock location of a receipt is the item's first bin at the site.
	bin, err := row(ctx, tx, `select LOCATION from STOCK where ITEMNUM = ? and SITE = ? order by LOCATION limit 1`, l[3], l[4])
	if err != nil || bin == nil {
		return true, err
	}
	if err := exec1(ctx, tx, `update STOCK set QTYONHAND = QTYONHAND + ? where ITEMNUM = ? and SITE = ? and LOCATION = ?`,
		atof(l[1])-atof(l[2]), l[3], l[4], bin[0]); err != nil {
		return false, fmt.Errorf("update STOCK: %w", err)
	}
	rec.add("STOCK", updated, key(l[3], l[4], bin[0]))
	return true, nil
}
