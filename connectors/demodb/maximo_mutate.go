package demodb

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// maximoState is what the Maximo mutations need to know about the database.
type maximoState struct {
	org          string
	nextWOID     int64
	nextStatusID int64
	nextWONUM    map[string]int64 // per site: WONUMs are numbered per site
	maxAssetID   int64
	maxPOID      int64
	maxLineID    int64
	maxBalID     int64
	maxPersonUID int64
	internal     map[string]string            // WOSTATUS value -> internal value
	siteValue    map[string]map[string]string // site -> internal -> value the site uses
}

func maximoMutator(ctx context.Context, m *Mutator) ([]mutation, error) {
	e := m.db.execer()
	st := &maximoState{nextWONUM: map[string]int64{}, internal: map[string]string{}, siteValue: map[string]map[string]string{}}
	for _, q := range []struct {
		dst *int64
		sql string
	}{
		{&st.nextWOID, `select max(WORKORDERID) from WORKORDER`},
		{&st.nextStatusID, `select max(WOSTATUSID) from WOSTATUS`},
		{&st.maxAssetID, `select max(ASSETID) from ASSET`},
		{&st.maxPOID, `select max(POID) from PO`},
		{&st.maxLineID, `select max(POLINEID) from POLINE`},
		{&st.maxBalID, `select max(INVBALANCESID) from INVBALANCES`},
		{&st.maxPersonUID, `select max(PERSONUID) from PERSON`},
	} {
		n, err := queryInt(ctx, e, sq(q.sql))
		if err != nil {
			return nil, err
		}
		*q.dst = n
	}
	st.nextWOID++
	st.nextStatusID++
	if st.maxAssetID == 0 || st.maxPersonUID == 0 {
		return nil, fmt.Errorf("no assets or people to raise work orders with")
	}
	rows, err := queryStrings(ctx, e, sq(`select SITEID, max(cast(WONUM as bigint)), max(ORGID) from WORKORDER group by SITEID`))
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		st.nextWONUM[r[0]] = int64(atoi(r[1])) + 1
		st.org = r[2]
	}
	if st.org == "" {
		r, err := row(ctx, e, `select ORGID from ASSET where ASSETID = ?`, st.maxAssetID)
		if err != nil || r == nil {
			return nil, fmt.Errorf("read ORGID: %v", err)
		}
		st.org = r[0]
	}
	syn, err := queryStrings(ctx, e, sq(`select MAXVALUE, VALUE, coalesce(SITEID, '') from SYNONYMDOMAIN where DOMAINID = ?`), "WOSTATUS")
	if err != nil {
		return nil, err
	}
	for _, s := range syn {
		st.internal[s[1]] = s[0]
		if s[2] != "" {
			if st.siteValue[s[2]] == nil {
				st.siteValue[s[2]] = map[string]string{}
			}
			st.siteValue[s[2]][s[0]] = s[1]
		}
	}
	m.state = st
	return []mutation{
		{"advance work order status", 40, maximoAdvance},
		{"create work order", 20, maximoCreate},
		{"edit work order", 15, maximoEditWO},
		{"delete work order", 2, maximoDeleteWO},
		{"edit asset", 8, maximoEditAsset},
		{"approve purchase order", 3, maximoApprovePO},
		{"receive purchase order line", 8, maximoReceive},
		{"issue stock", 4, maximoIssue},
	}, nil
}

func (st *maximoState) value(site, internal string) string {
	if v, ok := st.siteValue[site][internal]; ok {
		return v
	}
	return internal
}

// maximoNext is the next status in Maximo's work order lifecycle.
func maximoNext(m *Mutator, internal string) string {
	r := m.r.IntN(100)
	switch internal {
	case "WAPPR":
		if r < 5 {
			return "CAN"
		}
		return "APPR"
	case "APPR":
		if r < 50 {
			return "WSCH"
		}
		return "INPRG"
	case "WSCH", "WMATL", "WPCOND":
		return "INPRG"
	case "INPRG":
		switch {
		case r < 70:
			return "COMP"
		case r < 90:
			return "WMATL"
		default:
			return "WPCOND"
		}
	case "COMP":
		return "CLOSE"
	}
	return "" // CLOSE and CAN are final
}

func maximoWO(ctx context.Context, m *Mutator, tx execer) (id int64, r []string, err error) {
	st := m.state.(*maximoState)
	id = 1 + m.r.Int64N(st.nextWOID-1)
	r, err = row(ctx, tx, `select WONUM, SITEID, STATUS, DESCRIPTION, SCHEDSTART, WOPRIORITY, HISTORYFLAG from WORKORDER where WORKORDERID = ?`, id)
	return id, r, err
}

func maximoPerson(ctx context.Context, m *Mutator, tx execer) (string, error) {
	st := m.state.(*maximoState)
	r, err := row(ctx, tx, `select PERSONID from PERSON where PERSONUID >= ? order by PERSONUID limit 1`, 1+m.r.Int64N(st.maxPersonUID))
	if err != nil || r == nil {
		return "", err
	}
	return r[0], nil
}

func maximoStatusRow(ctx context.Context, m *Mutator, tx execer, rec changeSet, wonum, site, status, by string) error {
	st := m.state.(*maximoState)
	id := st.nextStatusID
	st.nextStatusID++
	if _, err := tx.exec(ctx, sq(`insert into WOSTATUS (WOSTATUSID, WONUM, SITEID, ORGID, STATUS, CHANGEDATE, CHANGEBY, MEMO, PARENT, ROWSTAMP)
		values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), id, wonum, site, st.org, status, m.now(), by, nil, nil, 0); err != nil {
		return fmt.Errorf("insert WOSTATUS: %w", err)
	}
	rec.add("WOSTATUS", inserted, key(id))
	return nil
}

func maximoAdvance(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*maximoState)
	id, r, err := maximoWO(ctx, m, tx)
	if err != nil || r == nil {
		return false, err
	}
	wonum, site, cur := r[0], r[1], r[2]
	internal := st.internal[cur]
	if internal == "" {
		internal = cur
	}
	next := maximoNext(m, internal)
	if next == "" {
		return false, nil
	}
	by, err := maximoPerson(ctx, m, tx)
	if err != nil {
		return false, err
	}
	now := m.now()
	var actStart, actFinish any
	if next == "INPRG" {
		actStart = now
	}
	if next == "COMP" {
		actFinish = now
	}
	value := st.value(site, next)
	if err := exec1(ctx, tx, `update WORKORDER set STATUS = ?, STATUSDATE = ?, ACTSTART = coalesce(ACTSTART, ?),
		ACTFINISH = coalesce(ACTFINISH, ?), HISTORYFLAG = ?, CHANGEDATE = ?, CHANGEBY = ? where WORKORDERID = ?`,
		value, now, actStart, actFinish, flag(next == "CLOSE" || next == "CAN"), now, by, id); err != nil {
		return false, fmt.Errorf("update WORKORDER: %w", err)
	}
	rec.add("WORKORDER", updated, key(site, wonum))
	return true, maximoStatusRow(ctx, m, tx, rec, wonum, site, value, by)
}

func eqTypeByClass(class string) *eqType {
	for i := range eqTypes {
		if eqTypes[i].class == class {
			return &eqTypes[i]
		}
	}
	return &eqTypes[0]
}

func maximoCreate(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*maximoState)
	a, err := row(ctx, tx, `select ASSETNUM, SITEID, LOCATION, DESCRIPTION, ASSETTYPE from ASSET
		where ASSETID >= ? and STATUS = ? order by ASSETID limit 1`, 1+m.r.Int64N(st.maxAssetID), "OPERATING")
	if err != nil || a == nil {
		return false, err
	}
	site := a[1]
	if _, ok := st.nextWONUM[site]; !ok {
		st.nextWONUM[site] = 1000
	}
	by, err := maximoPerson(ctx, m, tx)
	if err != nil {
		return false, err
	}
	lead, err := maximoPerson(ctx, m, tx)
	if err != nil {
		return false, err
	}
	t := eqTypeByClass(a[4])
	worktype, desc, prio := "CM", fmt.Sprintf(pick(m.r, t.fixes), a[3]), 2+m.r.IntN(3)
	var failure any = pick(m.r, t.failures)
	if m.r.IntN(10) == 0 {
		worktype, prio = "EM", 1
	}
	desc = strings.ToUpper(desc[:1]) + desc[1:]
	if len(desc) > 100 {
		desc = desc[:100]
	}
	wonum := fmt.Sprint(st.nextWONUM[site])
	st.nextWONUM[site]++
	id := st.nextWOID
	st.nextWOID++
	now := m.now()
	status := st.value(site, "WAPPR")
	due := now.AddDate(0, 0, 1+m.r.IntN(14))
	if _, err := tx.exec(ctx, sq(`insert into WORKORDER (WORKORDERID, WONUM, SITEID, ORGID, DESCRIPTION, STATUS, STATUSDATE, WOPRIORITY,
		WORKTYPE, ASSETNUM, LOCATION, PARENT, PMNUM, LEAD, REPORTEDBY, REPORTDATE, TARGSTARTDATE, TARGCOMPDATE, SCHEDSTART,
		SCHEDFINISH, ACTSTART, ACTFINISH, ESTDUR, ACTLABHRS, ACTLABCOST, ACTMATCOST, FAILURECODE, WOCLASS, ISTASK, HISTORYFLAG,
		DOWNTIME, CHANGEDATE, CHANGEBY, ROWSTAMP)
		values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		id, wonum, site, st.org, desc, status, now, prio, worktype, a[0], nv(a[2]), nil, nil, lead, by, now,
		nil, due, nil, nil, nil, nil, float64(1+m.r.IntN(8)), 0.0, 0.0, 0.0, failure, "WORKORDER", 0, 0,
		flag(worktype == "EM"), now, by, 0); err != nil {
		return false, fmt.Errorf("insert WORKORDER: %w", err)
	}
	rec.add("WORKORDER", inserted, key(site, wonum))
	return true, maximoStatusRow(ctx, m, tx, rec, wonum, site, status, by)
}

func maximoEditWO(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	id, r, err := maximoWO(ctx, m, tx)
	if err != nil || r == nil || r[6] == "1" {
		return false, err // history work orders are read-only in Maximo
	}
	wonum, site := r[0], r[1]
	by, err := maximoPerson(ctx, m, tx)
	if err != nil {
		return false, err
	}
	now := m.now()
	switch m.r.IntN(3) {
	case 0: // reschedule
		start := now.AddDate(0, 0, 1+m.r.IntN(10)).Truncate(24 * time.Hour).Add(7 * time.Hour)
		err = exec1(ctx, tx, `update WORKORDER set SCHEDSTART = ?, SCHEDFINISH = ?, CHANGEDATE = ?, CHANGEBY = ? where WORKORDERID = ?`,
			start, start.Add(4*time.Hour), now, by, id)
	case 1: // reprioritise
		err = exec1(ctx, tx, `update WORKORDER set WOPRIORITY = ?, CHANGEDATE = ?, CHANGEBY = ? where WORKORDERID = ?`,
			1+m.r.IntN(4), now, by, id)
	default: // planner clarifies the description
		desc := r[3] + pick(m.r, []string{" - check spares first", " - LOTO required", " - needs scaffold", " - confined space permit", " - repeat failure"})
		if len(desc) > 100 {
			desc = desc[:100]
		}
		err = exec1(ctx, tx, `update WORKORDER set DESCRIPTION = ?, CHANGEDATE = ?, CHANGEBY = ? where WORKORDERID = ?`, desc, now, by, id)
	}
	if err != nil {
		return false, fmt.Errorf("update WORKORDER: %w", err)
	}
	rec.add("WORKORDER", updated, key(site, wonum))
	return true, nil
}

// maximoDeleteWO deletes a work order still waiting for approval, the only
// state Maximo allows deleting in, with its status history.
func maximoDeleteWO(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*maximoState)
	id, r, err := maximoWO(ctx, m, tx)
	if err != nil || r == nil || st.internal[r[2]] != "WAPPR" || id == st.nextWOID-1 {
		// Keeping the highest id means the next one is never reused.
		return false, err
	}
	wonum, site := r[0], r[1]
	children, err := queryInt(ctx, tx, sq(`select count(*) from WORKORDER where SITEID = ? and PARENT = ?`), site, wonum)
	if err != nil || children > 0 {
		return false, err
	}
	ids, err := queryStrings(ctx, tx, sq(`select cast(WOSTATUSID as text) from WOSTATUS where SITEID = ? and WONUM = ?`), site, wonum)
	if err != nil {
		return false, err
	}
	if _, err := tx.exec(ctx, sq(`delete from WOSTATUS where SITEID = ? and WONUM = ?`), site, wonum); err != nil {
		return false, fmt.Errorf("delete WOSTATUS: %w", err)
	}
	for _, s := range ids {
		rec.add("WOSTATUS", deleted, s[0])
	}
	if err := exec1(ctx, tx, `delete from WORKORDER where WORKORDERID = ?`, id); err != nil {
		return false, fmt.Errorf("delete WORKORDER: %w", err)
	}
	rec.add("WORKORDER", deleted, key(site, wonum))
	return true, nil
}

func maximoEditAsset(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*maximoState)
	id := 1 + m.r.Int64N(st.maxAssetID)
	r, err := row(ctx, tx, `select ASSETNUM, SITEID, STATUS from ASSET where ASSETID = ?`, id)
	if err != nil || r == nil || r[2] == "DECOMMISSIONED" {
		return false, err
	}
	by, err := maximoPerson(ctx, m, tx)
	if err != nil {
		return false, err
	}
	now := m.now()
	if m.r.IntN(3) == 0 {
		next := map[string]string{"OPERATING": "NOT READY", "NOT READY": "OPERATING"}[r[2]]
		err = exec1(ctx, tx, `update ASSET set STATUS = ?, STATUSDATE = ?, ISRUNNING = ?, CHANGEDATE = ?, CHANGEBY = ? where ASSETID = ?`,
			next, now, flag(next == "OPERATING"), now, by, id)
	} else {
		err = exec1(ctx, tx, `update ASSET set PRIORITY = ?, CHANGEDATE = ?, CHANGEBY = ? where ASSETID = ?`, 1+m.r.IntN(5), now, by, id)
	}
	if err != nil {
		return false, fmt.Errorf("update ASSET: %w", err)
	}
	rec.add("ASSET", updated, key(r[1], r[0]))
	return true, nil
}

func maximoApprovePO(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*maximoState)
	id := 1 + m.r.Int64N(st.maxPOID)
	r, err := row(ctx, tx, `select PONUM, REVISIONNUM, SITEID, STATUS from PO where POID = ?`, id)
	if err != nil || r == nil || r[3] != "WAPPR" {
		return false, err
	}
	by, err := maximoPerson(ctx, m, tx)
	if err != nil {
		return false, err
	}
	now := m.now()
	if err := exec1(ctx, tx, `update PO set STATUS = ?, STATUSDATE = ?, CHANGEDATE = ?, CHANGEBY = ? where POID = ?`, "APPR", now, now, by, id); err != nil {
		return false, fmt.Errorf("update PO: %w", err)
	}
	rec.add("PO", updated, key(r[2], r[0], r[1]))
	return true, nil
}

// maximoReceive receives the rest of a line of an approved PO into its
// storeroom, closing the PO when it was the last open line.
func maximoReceive(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*maximoState)
	l, err := row(ctx, tx, `select POLINEID, PONUM, REVISIONNUM, POLINENUM, SITEID, ORDERQTY, RECEIVEDQTY, ITEMNUM, ITEMSETID, STORELOC
		from POLINE where POLINEID = ?`, 1+m.r.Int64N(st.maxLineID))
	if err != nil || l == nil || atof(l[6]) >= atof(l[5]) {
		return false, err
	}
	ponum, rev, site := l[1], l[2], l[4]
	p, err := row(ctx, tx, `select STATUS from PO where SITEID = ? and PONUM = ? and REVISIONNUM = ?`, site, ponum, atoi(rev))
	if err != nil || p == nil || p[0] != "APPR" {
		return false, err
	}
	by, err := maximoPerson(ctx, m, tx)
	if err != nil {
		return false, err
	}
	now := m.now()
	qty := atof(l[5]) - atof(l[6])
	if err := exec1(ctx, tx, `update POLINE set RECEIVEDQTY = ORDERQTY, RECEIPTSCOMPLETE = ? where POLINEID = ?`, 1, atoi(l[0])); err != nil {
		return false, fmt.Errorf("update POLINE: %w", err)
	}
	rec.add("POLINE", updated, key(site, ponum, rev, l[3]))
	open, err := queryInt(ctx, tx, sq(`select count(*) from POLINE where SITEID = ? and PONUM = ? and REVISIONNUM = ? and RECEIPTSCOMPLETE = ?`), site, ponum, atoi(rev), 0)
	if err != nil {
		return false, err
	}
	status, receipts := "APPR", "PARTIAL"
	if open == 0 {
		status, receipts = "CLOSE", "COMPLETE"
	}
	if err := exec1(ctx, tx, `update PO set STATUS = ?, RECEIPTS = ?, STATUSDATE = ?, CHANGEDATE = ?, CHANGEBY = ?
		where SITEID = ? and PONUM = ? and REVISIONNUM = ?`, status, receipts, now, now, by, site, ponum, atoi(rev)); err != nil {
		return false, fmt.Errorf("update PO: %w", err)
	}
	rec.add("PO", updated, key(site, ponum, rev))
	b, err := row(ctx, tx, `select INVBALANCESID, BINNUM from INVBALANCES where SITEID = ? and ITEMSETID = ? and ITEMNUM = ? and LOCATION = ?
		order by BINNUM limit 1`, site, l[8], l[7], l[9])
	if err != nil {
		return false, err
	}
	if b != nil {
		if err := exec1(ctx, tx, `update INVBALANCES set CURBAL = CURBAL + ? where INVBALANCESID = ?`, qty, atoi(b[0])); err != nil {
			return false, fmt.Errorf("update INVBALANCES: %w", err)
		}
		rec.add("INVBALANCES", updated, key(site, l[8], l[7], l[9], b[1]))
	}
	return true, nil
}

func maximoIssue(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*maximoState)
	id := 1 + m.r.Int64N(st.maxBalID)
	b, err := row(ctx, tx, `select SITEID, ITEMSETID, ITEMNUM, LOCATION, BINNUM, CURBAL from INVBALANCES where INVBALANCESID = ?`, id)
	if err != nil || b == nil || atof(b[5]) < 1 {
		return false, err
	}
	qty := float64(1 + m.r.IntN(int(min(atof(b[5]), 3))))
	if err := exec1(ctx, tx, `update INVBALANCES set CURBAL = CURBAL - ? where INVBALANCESID = ?`, qty, id); err != nil {
		return false, fmt.Errorf("update INVBALANCES: %w", err)
	}
	rec.add("INVBALANCES", updated, key(b[0], b[1], b[2], b[3], b[4]))
	return true, nil
}
