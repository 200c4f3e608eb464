package demodb

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"
)

// MP2 (Datastream, later Infor MP2). Facts imitated: short table names (WO,
// WOEQLIST, EQUIP, INVY, STOCK, VENDOR, POHEADER, PURREQ, EMP, TASK); work
// order status is a single letter, O open and C closed; and no table has a
// modified-date column, so a reader detects changes by comparing row hashes.

var mp2Type = map[int]string{wtCorrective: "CM", wtPreventive: "PM", wtEmergency: "EM", wtInspection: "INSP", wtProject: "PROJECT"}

func mp2Status(stage int) string {
	if stage >= stComplete {
		return "C"
	}
	return "O"
}

func mp2WONUM(i int) string           { return strconv.Itoa(100001 + i) }
func mp2EQNUM(g *gen, a asset) string { return g.siteByID(a.site).prefix + "-" + a.tag }
func mp2PONUM(i int) string           { return "P" + strconv.Itoa(200001+i) }

func mp2System() *system {
	return &system{name: "mp2", workOrders: "WO", tables: mp2Tables, mutator: mp2Mutator}
}

func mp2Tables(g *gen) []*table {
	nSites := len(g.sites)
	t := func(name, spec string, key []string, rows func(g *gen) iter.Seq[[]any], more ...index) *table {
		return &table{name: name, cols: cols(spec), key: key, indexes: more, rows: rows}
	}
	freq := map[string]string{"DAYS": "D", "WEEKS": "W", "MONTHS": "M", "YEARS": "Y"}
	return []*table{
		t("EMP", `EMPCODE varchar(15)!, FIRSTNAME varchar(20), LASTNAME varchar(30), CRAFT varchar(15), SITEID varchar(15),
			PHONE varchar(20), EMAIL varchar(60), ACTIVE varchar(1)`,
			[]string{"EMPCODE"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.people), func(i int, r []any) []any {
					p := g.people[i]
					act := "Y"
					if !p.active {
						act = "N"
					}
					return append(r, p.id, p.first, p.last, p.craft, p.site, p.phone, p.email, act)
				})
			}),
		t("VENDOR", `VENDORID varchar(15)!, NAME varchar(40), ADDR1 varchar(40), CITY varchar(25), STATE varchar(2), ZIP varchar(10),
			PHONE varchar(20), EMAIL varchar(60), TERMS varchar(15)`,
			[]string{"VENDORID"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.vendors), func(i int, r []any) []any {
					v := g.vendors[i]
					return append(r, v.code, v.name, fmt.Sprintf("%d Commerce St", 100+i*7), v.city, v.state, v.zip, v.phone, v.email, v.terms)
				})
			}),
		t("EQUIP", `EQNUM varchar(25)!, DESCRIPTION varchar(70), LOCATION varchar(25), SITEID varchar(15)!, DEPARTMENT varchar(15),
			EQTYPE varchar(15), MFG varchar(25), MODELNUM varchar(25), SERIALNUM varchar(25), INSTALLDATE datetime,
			PURCHASECOST numeric(12,2), PRIORITY int, INSERVICE varchar(1)`,
			[]string{"EQNUM"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.assets), func(i int, r []any) []any {
					a := g.assets[i]
					return append(r, mp2EQNUM(g, a), a.desc, a.loc, a.site, "MAINT", a.typ.class, a.mfr, a.model, a.serial,
						a.installed, a.cost, a.priority, map[bool]string{true: "Y", false: "N"}[a.status == 0])
				})
			}, index{name: "EQUIP_SITE", cols: []string{"SITEID", "LOCATION"}}),
		t("INVY", `ITEMNUM varchar(20)!, DESCRIPTION varchar(60), UOM varchar(6), ITEMTYPE varchar(15), MFG varchar(25),
			MFGPARTNUM varchar(25), AVGCOST numeric(12,4), LASTCOST numeric(12,4), ACTIVE varchar(1)`,
			[]string{"ITEMNUM"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.parts), func(i int, r []any) []any {
					p := g.parts[i]
					return append(r, p.num, p.desc, p.uom, p.category, p.mfr, p.mfrPart, round2(p.cost*0.97), p.cost,
						map[bool]string{true: "N", false: "Y"}[i%41 == 40])
				})
			}),
		t("STOCK", `ITEMNUM varchar(20)!, WAREHOUSEID varchar(15)!, SITEID varchar(15)!, LOCATION varchar(15), QTYONHAND numeric(12,2)!,
			MINSTOCKLEVEL numeric(12,2), MAXSTOCKLEVEL numeric(12,2), REORDERPOINT numeric(12,2)`,
			[]string{"ITEMNUM", "WAREHOUSEID", "SITEID"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.parts)*nSites, func(i int, r []any) []any {
					p, s, st := g.parts[i/nSites], g.sites[i%nSites], stock(g, i)
					return append(r, p.num, s.store, s.id, st.bin, st.onHand, st.min, st.max, st.min+1)
				})
			}),
		t("TASK", `TASKNUM varchar(15)!, DESCRIPTION varchar(70), WOTYPE varchar(15), PRIORITY int, ESTHOURS numeric(8,2), CRAFT varchar(15)`,
			[]string{"TASKNUM"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.pms), func(i int, r []any) []any {
					p := g.pms[i]
					return append(r, p.num, p.desc, mp2Type[p.worktype], 3, p.hours, g.people[p.lead].craft)
				})
			}),
		t("TASKEQ", `TASKNUM varchar(15)!, EQNUM varchar(25)!, SITEID varchar(15)!, FREQUENCY int, FREQUNIT varchar(1),
			LASTPERFORMED datetime, NEXTDUE datetime, ACTIVE varchar(1)`,
			[]string{"TASKNUM", "EQNUM"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.pms), func(i int, r []any) []any {
					p := g.pms[i]
					return append(r, p.num, mp2EQNUM(g, g.assets[p.asset]), p.site, p.freq, freq[p.unit], p.last, p.next,
						map[bool]string{true: "Y", false: "N"}[p.active])
				})
			}),
		t("WO", `WONUM varchar(15)!, DESCRIPTION varchar(70), STATUS varchar(1)!, PRIORITY int, TYPE varchar(15), EQNUM varchar(25),
			LOCATION varchar(25), SITEID varchar(15)!, TASKNUM varchar(15), ORIGINATOR varchar(15), ASSIGNEDTO varchar(15),
			REQUESTDATE datetime, SCHEDDATE datetime, DUEDATE datetime, STARTDATE datetime, COMPLETIONDATE datetime,
			CLOSEDATE datetime, ESTHOURS numeric(8,2), ACTHOURS numeric(8,2), FAILURECODE varchar(15), DOWNTIME numeric(8,2)`,
			[]string{"WONUM"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(g.rows, func(i int, r []any) []any {
					w := g.wo(i)
					a := g.assets[w.asset]
					var task any
					if w.pm >= 0 {
						task = g.pms[w.pm].num
					}
					var closed any
					if w.status() == stClosed || w.status() == stCancelled {
						closed = w.changed
					}
					desc := w.desc
					if len(desc) > 70 {
						desc = desc[:70]
					}
					down := 0.0
					if w.worktype == wtEmergency {
						down = w.actHours
					}
					return append(r, mp2WONUM(i), desc, mp2Status(w.status()), w.priority, mp2Type[w.worktype], mp2EQNUM(g, a),
						a.loc, w.site, task, g.people[w.reportedBy].id, g.people[w.lead].id, w.reported, w.schedStart, w.targComp,
						tv(w.actStart), tv(w.actEnd), closed, w.estHours, w.actHours, nv(w.failure), down)
				})
			}, index{name: "WO_SITE_STATUS", cols: []string{"SITEID", "STATUS"}}),
		t("WOEQLIST", `WONUM varchar(15)!, EQNUM varchar(25)!, SITEID varchar(15)!, SEQNUM int!`,
			[]string{"WONUM", "EQNUM"},
			func(g *gen) iter.Seq[[]any] {
				return func(yield func([]any) bool) {
					var r []any
					for i := range g.rows {
						w := g.wo(i)
						a := g.assets[w.asset]
						if !yield(append(r[:0], mp2WONUM(i), mp2EQNUM(g, a), w.site, 1)) {
							return
						}
						// Work on a driven machine usually lists its motor too.
						if a.parent < 0 && w.asset+1 < len(g.assets) && g.assets[w.asset+1].parent == w.asset && i%3 == 0 {
							if !yield(append(r[:0], mp2WONUM(i), mp2EQNUM(g, g.assets[w.asset+1]), w.site, 2)) {
								return
							}
						}
					}
				}
			}),
		t("POHEADER", `PONUM varchar(15)!, VENDORID varchar(15)!, SITEID varchar(15), ORDERDATE datetime, DUEDATE datetime,
			STATUS varchar(1)!, BUYER varchar(15), TOTALCOST numeric(12,2), CURRENCY varchar(3)`,
			[]string{"PONUM"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(g.nPO, func(i int, r []any) []any {
					p := g.po(i)
					return append(r, mp2PONUM(i), g.vendors[p.vendor].code, p.site, p.ordered, p.required,
						[]string{"O", "O", "P", "C", "X"}[p.status], g.people[p.buyer].id, p.total(), "USD")
				})
			}),
		t("PURREQ", `PONUM varchar(15)!, SEQNUM int!, ITEMNUM varchar(20), DESCRIPTION varchar(60), QTYREQUESTED numeric(12,2)!,
			QTYRECEIVED numeric(12,2)!, UNITCOST numeric(12,4)!, UOM varchar(6), WONUM varchar(15), WAREHOUSEID varchar(15),
			DUEDATE datetime`,
			[]string{"PONUM", "SEQNUM"},
			func(g *gen) iter.Seq[[]any] {
				return func(yield func([]any) bool) {
					var r []any
					for p, li := range g.poLines {
						l := p.lines[li]
						pt := g.parts[l.part]
						var wo any
						if p.wo >= 0 {
							wo = mp2WONUM(p.wo)
						}
						if !yield(append(r[:0], mp2PONUM(p.i), li+1, pt.num, pt.desc, l.qty, l.received, l.price, pt.uom, wo,
							g.siteByID(p.site).store, p.required)) {
							return
						}
					}
				}
			}),
	}
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

func mp2WO(ctx context.Context, m *Mutator, tx execer) ([]string, error) {
	st := m.state.(*mp2State)
	return row(ctx, tx, `select WONUM, STATUS, ESTHOURS, PRIORITY, SCHEDDATE from WO where WONUM = ?`, strconv.FormatInt(100001+m.r.Int64N(st.nextWO-100001), 10))
}

func mp2Close(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	w, err := mp2WO(ctx, m, tx)
	if err != nil || w == nil || w[1] != "O" {
		return false, err
	}
	now := m.now()
	if err := exec1(ctx, tx, `update WO set STATUS = ?, STARTDATE = coalesce(STARTDATE, ?), COMPLETIONDATE = ?, CLOSEDATE = ?,
		ACTHOURS = ? where WONUM = ?`, "C", now.Add(-3*time.Hour), now, now, atof(w[2]), w[0]); err != nil {
		return false, fmt.Errorf("update WO: %w", err)
	}
	rec.add("WO", updated, w[0])
	return true, nil
}

func mp2Create(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*mp2State)
	a, err := row(ctx, tx, `select EQNUM, DESCRIPTION, LOCATION, SITEID, EQTYPE from EQUIP order by EQNUM limit 1 offset ?`, m.r.Int64N(st.nEquip))
	if err != nil || a == nil {
		return false, err
	}
	t := eqTypeByClass(a[4])
	desc := fmt.Sprintf(pick(m.r, t.fixes), a[1])
	desc = strings.ToUpper(desc[:1]) + desc[1:]
	if len(desc) > 70 {
		desc = desc[:70]
	}
	wonum := strconv.FormatInt(st.nextWO, 10)
	st.nextWO++
	now := m.now()
	if _, err := tx.exec(ctx, sq(`insert into WO (WONUM, DESCRIPTION, STATUS, PRIORITY, TYPE, EQNUM, LOCATION, SITEID, TASKNUM,
		ORIGINATOR, ASSIGNEDTO, REQUESTDATE, SCHEDDATE, DUEDATE, STARTDATE, COMPLETIONDATE, CLOSEDATE, ESTHOURS, ACTHOURS,
		FAILURECODE, DOWNTIME) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		wonum, desc, "O", 1+m.r.IntN(4), "CM", a[0], nv(a[2]), a[3], nil, pick(m.r, st.people), pick(m.r, st.people),
		now, now.AddDate(0, 0, 1), now.AddDate(0, 0, 7), nil, nil, nil, float64(1+m.r.IntN(8)), 0.0, pick(m.r, t.failures), 0.0); err != nil {
		return false, fmt.Errorf("insert WO: %w", err)
	}
	rec.add("WO", inserted, wonum)
	if _, err := tx.exec(ctx, sq(`insert into WOEQLIST (WONUM, EQNUM, SITEID, SEQNUM) values (?, ?, ?, ?)`), wonum, a[0], a[3], 1); err != nil {
		return false, fmt.Errorf("insert WOEQLIST: %w", err)
	}
	rec.add("WOEQLIST", inserted, key(wonum, a[0]))
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
		d := m.now().AddDate(0, 0, 1+m.r.IntN(10)).Truncate(24 * time.Hour)
		if d.Format(sqliteTime) == w[4] {
			return false, nil
		}
		err = exec1(ctx, tx, `update WO set SCHEDDATE = ? where WONUM = ?`, d, w[0])
	} else {
		p := 1 + m.r.IntN(4)
		if strconv.Itoa(p) == w[3] {
			return false, nil
		}
		err = exec1(ctx, tx, `update WO set PRIORITY = ? where WONUM = ?`, p, w[0])
	}
	if err != nil {
		return false, fmt.Errorf("update WO: %w", err)
	}
	rec.add("WO", updated, w[0])
	return true, nil
}

func mp2Delete(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*mp2State)
	w, err := mp2WO(ctx, m, tx)
	if err != nil || w == nil || w[1] != "O" || w[0] == strconv.FormatInt(st.nextWO-1, 10) {
		return false, err
	}
	eqs, err := queryStrings(ctx, tx, sq(`select EQNUM from WOEQLIST where WONUM = ?`), w[0])
	if err != nil {
		return false, err
	}
	if _, err := tx.exec(ctx, sq(`delete from WOEQLIST where WONUM = ?`), w[0]); err != nil {
		return false, fmt.Errorf("delete WOEQLIST: %w", err)
	}
	for _, e := range eqs {
		rec.add("WOEQLIST", deleted, key(w[0], e[0]))
	}
	if err := exec1(ctx, tx, `delete from WO where WONUM = ?`, w[0]); err != nil {
		return false, fmt.Errorf("delete WO: %w", err)
	}
	rec.add("WO", deleted, w[0])
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

func mp2Receive(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*mp2State)
	ponum := mp2PONUM(int(m.r.Int64N(max(st.maxPO, 1))))
	h, err := row(ctx, tx, `select STATUS, SITEID from POHEADER where PONUM = ?`, ponum)
	if err != nil || h == nil || (h[0] != "O" && h[0] != "P") {
		return false, err
	}
	l, err := row(ctx, tx, `select SEQNUM, QTYREQUESTED, QTYRECEIVED, ITEMNUM, WAREHOUSEID from PURREQ
		where PONUM = ? and QTYRECEIVED < QTYREQUESTED order by SEQNUM limit 1`, ponum)
	if err != nil || l == nil {
		return false, err
	}
	if err := exec1(ctx, tx, `update PURREQ set QTYRECEIVED = QTYREQUESTED where PONUM = ? and SEQNUM = ?`, ponum, atoi(l[0])); err != nil {
		return false, fmt.Errorf("update PURREQ: %w", err)
	}
	rec.add("PURREQ", updated, key(ponum, l[0]))
	open, err := queryInt(ctx, tx, sq(`select count(*) from PURREQ where PONUM = ? and QTYRECEIVED < QTYREQUESTED`), ponum)
	if err != nil {
		return false, err
	}
	status := "P"
	if open == 0 {
		status = "C"
	}
	if status != h[0] {
		if err := exec1(ctx, tx, `update POHEADER set STATUS = ? where PONUM = ?`, status, ponum); err != nil {
			return false, fmt.Errorf("update POHEADER: %w", err)
		}
		rec.add("POHEADER", updated, ponum)
	}
	n, err := tx.exec(ctx, sq(`update STOCK set QTYONHAND = QTYONHAND + ? where ITEMNUM = ? and WAREHOUSEID = ? and SITEID = ?`),
		atof(l[1])-atof(l[2]), l[3], l[4], h[1])
	if err != nil {
		return false, fmt.Errorf("update STOCK: %w", err)
	}
	if n == 1 {
		rec.add("STOCK", updated, key(l[3], l[4], h[1]))
	}
	return true, nil
}
