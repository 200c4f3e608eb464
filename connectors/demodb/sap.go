package demodb

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"time"
)

// SAP PM. Facts imitated: every client-dependent table starts with MANDT;
// keys are zero-padded character numbers (AUFNR 12, EQUNR and MATNR 18, LIFNR
// and EBELN 10); dates are DATS strings 'YYYYMMDD' ('00000000' when empty) and
// times TIMS 'HHMMSS'; character columns are never NULL but blank; order
// status lives in JEST as system statuses (I0001 CRTD, I0002 REL, I0010 PCNF,
// I0009 CNF, I0045 TECO, I0046 CLSD, I0076 DLFL) with INACT = 'X' on
// superseded ones, and so does the equipment's (I0099 AVLB, I0100 INST,
// I0320 INAC, I0076 DLFL); change dates are date-only (AUFK-AEDAT,
// EQUI-AEDAT, MARA-LAEDA, EKPO-AEDAT, MPLA-AEDAT) and stay '00000000' until
// the first change, while ERDAT (MPLA: ERSDT) holds the creation date;
// EKKO-AEDAT is the creation date, not a change date. Orders are not deleted
// but flagged (DLFL, AUFK-LOEKZ); purchase order items are deleted with
// EKPO-LOEKZ = 'L' (EKKO-LOEKZ is set only while archiving); the equipment's
// functional location is reached through EQUZ-ILOAN -> ILOA-TPLNR, and AFIH
// points at ILOA too. Order types follow the commonly delivered PM01
// (maintenance order, corrective work) and PM03 (preventive maintenance
// order); sites configure their own, and PM02's meaning differs between
// them. Maintenance plan cycles (MMPT, key WARPL + NUMMER NUMC 2) are FLTP
// values with a T006 unit (internal codes TAG, WCH, MON, JHR).

const sapClient = "100"

var sapStatus = []struct{ stat, txt04, txt30 string }{
	{"I0001", "CRTD", "Created"}, {"I0002", "REL", "Released"}, {"I0010", "PCNF", "Partially confirmed"},
	{"I0009", "CNF", "Confirmed"}, {"I0045", "TECO", "Technically completed"}, {"I0046", "CLSD", "Closed"},
	{"I0076", "DLFL", "Deletion flag"}, {"I0099", "AVLB", "Available"}, {"I0100", "INST", "Installed"},
	{"I0320", "INAC", "Object deactivated"},
}

// sapOrderType gives the order type of a work type: breakdowns are
// corrective orders (a malfunction report marks them, not the order type),
// and inspection rounds come from maintenance plans as preventive orders.
var sapOrderType = map[int]string{wtCorrective: "PM01", wtPreventive: "PM03", wtEmergency: "PM01", wtInspection: "PM03", wtProject: "PM01"}
var sapActivity = map[int]string{wtCorrective: "COR", wtPreventive: "PRV", wtEmergency: "EMR", wtInspection: "INS", wtProject: "MOD"}

func dats(t time.Time) string {
	if t.IsZero() {
		return "00000000"
	}
	return t.Format("20060102")
}

func tims(t time.Time) string {
	if t.IsZero() {
		return "000000"
	}
	return t.Format("150405")
}

func sapAUFNR(i int) string            { return fmt.Sprintf("%012d", 4000001+i) }
func sapEQUNR(i int) string            { return fmt.Sprintf("%018d", 10000001+i) }
func sapMATNR(num string) string       { return strings.Repeat("0", 18-len(num)) + num }
func sapLIFNR(i int) string            { return fmt.Sprintf("%010d", 100001+i) }
func sapEBELN(i int) string            { return fmt.Sprintf("%010d", 4500000001+i) }
func sapILOAN(i int) string            { return fmt.Sprintf("%012d", 100001+i) }
func sapWARPL(i int) string            { return fmt.Sprintf("%012d", 1001+i) }
func sapWerks(g *gen, s string) string { return fmt.Sprintf("%d", 1000+siteIndex(g, s)*100) }

func siteIndex(g *gen, id string) int {
	for i, s := range g.sites {
		if s.id == id {
			return i
		}
	}
	return 0
}

func sapUser(p person) string {
	u := strings.ToUpper(p.id)
	if len(u) > 12 {
		u = u[:12]
	}
	return u
}

func xflag(b bool) string {
	if b {
		return "X"
	}
	return ""
}

// sapJEST returns the JEST rows (stat, inact) of an order's history.
func sapJEST(w *workOrder) [][2]string {
	st := w.status()
	if st == stCancelled {
		return [][2]string{{"I0001", ""}, {"I0076", ""}}
	}
	out := [][2]string{{"I0001", xflag(st > stWaitAppr)}}
	if st > stWaitAppr {
		out = append(out, [2]string{"I0002", xflag(st >= stComplete)})
	}
	if st == stInProgress || st == stWaitMatl {
		out = append(out, [2]string{"I0010", ""})
	}
	if st >= stComplete {
		out = append(out, [2]string{"I0009", ""}, [2]string{"I0045", xflag(st == stClosed)})
	}
	if st == stClosed {
		out = append(out, [2]string{"I0046", ""})
	}
	return out
}

// sapEquipmentJEST returns the JEST rows (stat, inact) of an equipment:
// operating ones are installed, those not ready available (not installed),
// decommissioned ones deactivated and flagged for deletion.
func sapEquipmentJEST(a *asset) [][2]string {
	switch a.status {
	case 1:
		return [][2]string{{"I0099", ""}}
	case 2:
		return [][2]string{{"I0100", "X"}, {"I0320", ""}, {"I0076", ""}}
	}
	return [][2]string{{"I0100", ""}}
}

func sapSystem() *system {
	return &system{name: "sap_pm", workOrders: "AUFK", tables: sapTables, mutator: sapMutator}
}

func sapTables(g *gen) []*table {
	nSites := len(g.sites)
	base := g.now.AddDate(-3, 0, -30)
	t := func(name, spec string, key []string, rows func(g *gen) iter.Seq[[]any], more ...index) *table {
		return &table{name: name, cols: cols(spec), key: key, pk: true, indexes: more, rows: rows}
	}
	funcLoc := map[string]int{} // TPLNR -> index in g.locs
	for i, l := range g.locs {
		funcLoc[l.code] = i
	}
	admin := "SAPADMIN"
	return []*table{
		t("TJ02T", `ISTAT varchar(5)!, SPRAS varchar(1)!, TXT04 varchar(4)!, TXT30 varchar(30)!`, []string{"ISTAT", "SPRAS"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(sapStatus), func(i int, r []any) []any {
					s := sapStatus[i]
					return append(r, s.stat, "E", s.txt04, s.txt30)
				})
			}),
		t("LFA1", `MANDT varchar(3)!, LIFNR varchar(10)!, LAND1 varchar(3)!, NAME1 varchar(35)!, ORT01 varchar(35)!, PSTLZ varchar(10)!,
			REGIO varchar(3)!, STRAS varchar(35)!, TELF1 varchar(16)!, ERDAT varchar(8)!, ERNAM varchar(12)!, LOEVM varchar(1)!, SPERR varchar(1)!`,
			[]string{"MANDT", "LIFNR"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.vendors), func(i int, r []any) []any {
					v := g.vendors[i]
					name := v.name
					if len(name) > 35 {
						name = name[:35]
					}
					return append(r, sapClient, sapLIFNR(i), "US", name, v.city, v.zip, v.state, fmt.Sprintf("%d Commerce St", 100+i*7),
						v.phone, dats(base), admin, xflag(i%37 == 36), "")
				})
			}),
		t("MARA", `MANDT varchar(3)!, MATNR varchar(18)!, ERSDA varchar(8)!, ERNAM varchar(12)!, LAEDA varchar(8)!, AENAM varchar(12)!,
			MTART varchar(4)!, MATKL varchar(9)!, MEINS varchar(3)!, MFRNR varchar(10)!, MFRPN varchar(40)!, LVORM varchar(1)!`,
			[]string{"MANDT", "MATNR"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.parts), func(i int, r []any) []any {
					p := g.parts[i]
					uom := map[string]string{"EA": "EA", "SET": "SET", "KIT": "KIT", "M": "M", "L": "L"}[p.uom]
					return append(r, sapClient, sapMATNR(p.num), dats(base), admin, dats(base), admin, "ERSA", p.category, uom,
						"", p.mfrPart, xflag(i%41 == 40))
				})
			}),
		t("MAKT", `MANDT varchar(3)!, MATNR varchar(18)!, SPRAS varchar(1)!, MAKTX varchar(40)!`, []string{"MANDT", "MATNR", "SPRAS"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.parts), func(i int, r []any) []any {
					d := g.parts[i].desc
					if len(d) > 40 {
						d = d[:40]
					}
					return append(r, sapClient, sapMATNR(g.parts[i].num), "E", d)
				})
			}),
		t("MARC", `MANDT varchar(3)!, MATNR varchar(18)!, WERKS varchar(4)!, MINBE numeric(13,3)!, EISBE numeric(13,3)!, MABST numeric(13,3)!`,
			[]string{"MANDT", "MATNR", "WERKS"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.parts)*nSites, func(i int, r []any) []any {
					st := stock(g, i)
					return append(r, sapClient, sapMATNR(g.parts[i/nSites].num), sapWerks(g, g.sites[i%nSites].id), st.min+1, st.min, st.max)
				})
			}),
		t("MARD", `MANDT varchar(3)!, MATNR varchar(18)!, WERKS varchar(4)!, LGORT varchar(4)!, LABST numeric(13,3)!, LGPBE varchar(10)!`,
			[]string{"MANDT", "MATNR", "WERKS", "LGORT"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.parts)*nSites, func(i int, r []any) []any {
					st := stock(g, i)
					return append(r, sapClient, sapMATNR(g.parts[i/nSites].num), sapWerks(g, g.sites[i%nSites].id), "0001", st.onHand, st.bin)
				})
			}),
		t("IFLOT", `MANDT varchar(3)!, TPLNR varchar(30)!, FLTYP varchar(1)!, IWERK varchar(4)!, TPLMA varchar(30)!, ERDAT varchar(8)!,
			ERNAM varchar(12)!, AEDAT varchar(8)!, AENAM varchar(12)!, OBJNR varchar(22)!`,
			[]string{"MANDT", "TPLNR"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.locs), func(i int, r []any) []any {
					l := g.locs[i]
					return append(r, sapClient, l.code, "M", sapWerks(g, l.site), l.parent, dats(base), admin, "00000000", "",
						fmt.Sprintf("IF%020d", i+1))
				})
			}),
		t("IFLOTX", `MANDT varchar(3)!, TPLNR varchar(30)!, SPRAS varchar(1)!, PLTXT varchar(40)!`, []string{"MANDT", "TPLNR", "SPRAS"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.locs), func(i int, r []any) []any {
					return append(r, sapClient, g.locs[i].code, "E", g.locs[i].desc)
				})
			}),
		t("EQUI", `MANDT varchar(3)!, EQUNR varchar(18)!, ERDAT varchar(8)!, ERNAM varchar(12)!, AEDAT varchar(8)!, AENAM varchar(12)!,
			EQTYP varchar(1)!, EQART varchar(10)!, HERST varchar(30)!, TYPBZ varchar(20)!, SERGE varchar(30)!, ANSDT varchar(8)!,
			ANSWT numeric(13,2)!, WAERS varchar(5)!, INBDT varchar(8)!, OBJNR varchar(22)!`,
			[]string{"MANDT", "EQUNR"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.assets), func(i int, r []any) []any {
					a := g.assets[i]
					return append(r, sapClient, sapEQUNR(i), dats(a.installed), admin, "00000000", "", "M", a.typ.class, a.mfr, a.model,
						a.serial, dats(a.installed), a.cost, "USD", dats(a.installed), "IE"+sapEQUNR(i))
				})
			}, index{name: "EQUI_AEDAT", cols: []string{"MANDT", "AEDAT"}}),
		t("EQKT", `MANDT varchar(3)!, EQUNR varchar(18)!, SPRAS varchar(1)!, EQKTX varchar(40)!`, []string{"MANDT", "EQUNR", "SPRAS"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.assets), func(i int, r []any) []any {
					d := g.assets[i].desc
					if len(d) > 40 {
						d = d[:40]
					}
					return append(r, sapClient, sapEQUNR(i), "E", d)
				})
			}),
		t("ILOA", `MANDT varchar(3)!, ILOAN varchar(12)!, TPLNR varchar(30)!, SWERK varchar(4)!`, []string{"MANDT", "ILOAN"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.assets), func(i int, r []any) []any {
					a := g.assets[i]
					return append(r, sapClient, sapILOAN(i), a.loc, sapWerks(g, a.site))
				})
			}),
		t("EQUZ", `MANDT varchar(3)!, EQUNR varchar(18)!, DATBI varchar(8)!, EQLFN varchar(3)!, IWERK varchar(4)!, HEQUI varchar(18)!,
			ILOAN varchar(12)!, INGRP varchar(3)!`,
			[]string{"MANDT", "EQUNR", "DATBI", "EQLFN"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.assets), func(i int, r []any) []any {
					a := g.assets[i]
					parent := ""
					if a.parent >= 0 {
						parent = sapEQUNR(a.parent)
					}
					return append(r, sapClient, sapEQUNR(i), "99991231", "001", sapWerks(g, a.site), parent, sapILOAN(i), "M01")
				})
			}),
		// A plan locked against calls (LVORM) is the demo's inactive plan;
		// STICH blank is time-based scheduling.
		t("MPLA", `MANDT varchar(3)!, WARPL varchar(12)!, ERSDT varchar(8)!, ERNAM varchar(12)!, AEDAT varchar(8)!, AENAM varchar(12)!,
			WPTXT varchar(40)!, STRAT varchar(6)!, LVORM varchar(1)!, STICH varchar(1)!, MPTYP varchar(2)!`,
			[]string{"MANDT", "WARPL"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.pms), func(i int, r []any) []any {
					p := g.pms[i]
					d := p.desc
					if len(d) > 40 {
						d = d[:40]
					}
					return append(r, sapClient, sapWARPL(i), dats(base), admin, "00000000", "", d, "", xflag(!p.active), "", "PM")
				})
			}),
		t("MMPT", `MANDT varchar(3)!, WARPL varchar(12)!, NUMMER varchar(2)!, ZYKL1 float!, ZEIEH varchar(3)!, PAK_TEXT varchar(30)!`,
			[]string{"MANDT", "WARPL", "NUMMER"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.pms), func(i int, r []any) []any {
					p := g.pms[i]
					unit := map[string]string{"DAYS": "TAG", "WEEKS": "WCH", "MONTHS": "MON", "YEARS": "JHR"}[p.unit]
					return append(r, sapClient, sapWARPL(i), "01", float64(p.freq), unit, fmt.Sprintf("%d %s", p.freq, strings.ToLower(p.unit)))
				})
			}),
		t("MPOS", `MANDT varchar(3)!, WAPOS varchar(16)!, WARPL varchar(12)!, PSTXT varchar(40)!, EQUNR varchar(18)!, TPLNR varchar(30)!,
			IWERK varchar(4)!, AUART varchar(4)!, ILART varchar(3)!`,
			[]string{"MANDT", "WAPOS"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(len(g.pms), func(i int, r []any) []any {
					p := g.pms[i]
					a := g.assets[p.asset]
					d := p.desc
					if len(d) > 40 {
						d = d[:40]
					}
					return append(r, sapClient, fmt.Sprintf("%016d", 1001+i), sapWARPL(i), d, sapEQUNR(p.asset), a.loc,
						sapWerks(g, a.site), sapOrderType[p.worktype], sapActivity[p.worktype])
				})
			}),
		t("AUFK", `MANDT varchar(3)!, AUFNR varchar(12)!, AUART varchar(4)!, AUTYP varchar(2)!, KTEXT varchar(40)!, ERNAM varchar(12)!,
			ERDAT varchar(8)!, AENAM varchar(12)!, AEDAT varchar(8)!, BUKRS varchar(4)!, WERKS varchar(4)!, OBJNR varchar(22)!,
			PHAS0 varchar(1)!, PHAS1 varchar(1)!, PHAS2 varchar(1)!, PHAS3 varchar(1)!, IDAT1 varchar(8)!, IDAT2 varchar(8)!,
			IDAT3 varchar(8)!, LOEKZ varchar(1)!, WAERS varchar(5)!`,
			[]string{"MANDT", "AUFNR"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(g.rows, func(i int, r []any) []any {
					w := g.wo(i)
					st := w.status()
					rel, teco, clsd := sapPhaseDates(&w)
					d := w.desc
					if len(d) > 40 {
						d = d[:40]
					}
					aedat, aenam := "00000000", ""
					if len(w.history) > 1 {
						aedat, aenam = dats(w.changed), sapUser(g.people[w.changedBy])
					}
					return append(r, sapClient, sapAUFNR(i), sapOrderType[w.worktype], "30", d, sapUser(g.people[w.reportedBy]),
						dats(w.reported), aenam, aedat, "1000", sapWerks(g, w.site), "OR"+sapAUFNR(i),
						xflag(st == stWaitAppr), xflag(st > stWaitAppr && st < stComplete && st != stCancelled),
						xflag(st == stComplete), xflag(st == stClosed), dats(rel), dats(teco), dats(clsd), xflag(st == stCancelled), "USD")
				})
			}, index{name: "AUFK_AEDAT", cols: []string{"MANDT", "AEDAT"}}),
		t("AFKO", `MANDT varchar(3)!, AUFNR varchar(12)!, GSTRP varchar(8)!, GLTRP varchar(8)!, GSTRS varchar(8)!, GSUZS varchar(6)!,
			GLTRS varchar(8)!, GLUZS varchar(6)!, GSTRI varchar(8)!, GSUZI varchar(6)!, GETRI varchar(8)!, GEUZI varchar(6)!, FTRMI varchar(8)!`,
			[]string{"MANDT", "AUFNR"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(g.rows, func(i int, r []any) []any {
					w := g.wo(i)
					rel, _, _ := sapPhaseDates(&w)
					return append(r, sapClient, sapAUFNR(i), dats(w.targStart), dats(w.targComp), dats(w.schedStart), tims(w.schedStart),
						dats(w.schedEnd), tims(w.schedEnd), dats(w.actStart), tims(w.actStart), dats(w.actEnd), tims(w.actEnd), dats(rel))
				})
			}),
		t("AFIH", `MANDT varchar(3)!, AUFNR varchar(12)!, ARTPR varchar(2)!, PRIOK varchar(1)!, EQUNR varchar(18)!, ILOAN varchar(12)!,
			IPHAS varchar(1)!, WARPL varchar(12)!, INGPR varchar(3)!, ILART varchar(3)!, QMNUM varchar(12)!`,
			[]string{"MANDT", "AUFNR"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(g.rows, func(i int, r []any) []any {
					w := g.wo(i)
					warpl := ""
					if w.pm >= 0 {
						warpl = sapWARPL(w.pm)
					}
					phase := map[int]string{stWaitAppr: "0", stComplete: "3", stClosed: "6", stCancelled: "0"}[w.status()]
					if phase == "" {
						phase = "2"
					}
					qmnum := ""
					if w.worktype == wtCorrective || w.worktype == wtEmergency {
						qmnum = fmt.Sprintf("%012d", 10000001+i)
					}
					return append(r, sapClient, sapAUFNR(i), "PM", fmt.Sprint(w.priority), sapEQUNR(w.asset), sapILOAN(w.asset),
						phase, warpl, "M01", sapActivity[w.worktype], qmnum)
				})
			}),
		t("JEST", `MANDT varchar(3)!, OBJNR varchar(22)!, STAT varchar(5)!, INACT varchar(1)!, CHGNR varchar(3)!`,
			[]string{"MANDT", "OBJNR", "STAT"},
			func(g *gen) iter.Seq[[]any] {
				return func(yield func([]any) bool) {
					var r []any
					for i := range g.rows {
						w := g.wo(i)
						for n, s := range sapJEST(&w) {
							if !yield(append(r[:0], sapClient, "OR"+sapAUFNR(i), s[0], s[1], fmt.Sprintf("%03d", n+1))) {
								return
							}
						}
					}
					for i := range g.assets {
						for n, s := range sapEquipmentJEST(&g.assets[i]) {
							if !yield(append(r[:0], sapClient, "IE"+sapEQUNR(i), s[0], s[1], fmt.Sprintf("%03d", n+1))) {
								return
							}
						}
					}
				}
			}),
		t("EKKO", `MANDT varchar(3)!, EBELN varchar(10)!, BUKRS varchar(4)!, BSTYP varchar(1)!, BSART varchar(4)!, LOEKZ varchar(1)!,
			AEDAT varchar(8)!, ERNAM varchar(12)!, LIFNR varchar(10)!, EKORG varchar(4)!, EKGRP varchar(3)!, WAERS varchar(5)!, BEDAT varchar(8)!`,
			[]string{"MANDT", "EBELN"},
			func(g *gen) iter.Seq[[]any] {
				return seqRows(g.nPO, func(i int, r []any) []any {
					p := g.po(i)
					return append(r, sapClient, sapEBELN(i), "1000", "F", "NB", "", dats(p.ordered),
						sapUser(g.people[p.buyer]), sapLIFNR(p.vendor), "1000", "P01", "USD", dats(p.ordered))
				})
			}),
		t("EKPO", `MANDT varchar(3)!, EBELN varchar(10)!, EBELP varchar(5)!, LOEKZ varchar(1)!, AEDAT varchar(8)!, TXZ01 varchar(40)!,
			MATNR varchar(18)!, WERKS varchar(4)!, LGORT varchar(4)!, MENGE numeric(13,3)!, MEINS varchar(3)!, NETPR numeric(11,2)!,
			PEINH numeric(5,0)!, NETWR numeric(13,2)!, ELIKZ varchar(1)!`,
			[]string{"MANDT", "EBELN", "EBELP"},
			func(g *gen) iter.Seq[[]any] {
				return func(yield func([]any) bool) {
					var r []any
					for p, li := range g.poLines {
						l := p.lines[li]
						pt := g.parts[l.part]
						d := pt.desc
						if len(d) > 40 {
							d = d[:40]
						}
						deleted := ""
						if p.status == 4 {
							deleted = "L"
						}
						if !yield(append(r[:0], sapClient, sapEBELN(p.i), fmt.Sprintf("%05d", 10*(li+1)), deleted,
							dats(p.ordered), d, sapMATNR(pt.num), sapWerks(g, p.site), "0001", l.qty, pt.uom, l.price, 1,
							round2(l.qty*l.price), xflag(l.received >= l.qty))) {
							return
						}
					}
				}
			}),
		t("EKBE", `MANDT varchar(3)!, EBELN varchar(10)!, EBELP varchar(5)!, ZEKKN varchar(2)!, VGABE varchar(1)!, GJAHR varchar(4)!,
			BELNR varchar(10)!, BUZEI varchar(4)!, BEWTP varchar(1)!, BWART varchar(3)!, BUDAT varchar(8)!, MENGE numeric(13,3)!,
			DMBTR numeric(13,2)!, WAERS varchar(5)!, CPUDT varchar(8)!, CPUTM varchar(6)!`,
			[]string{"MANDT", "EBELN", "EBELP", "ZEKKN", "VGABE", "GJAHR", "BELNR", "BUZEI"},
			func(g *gen) iter.Seq[[]any] {
				return func(yield func([]any) bool) {
					var r []any
					doc := 0
					for p, li := range g.poLines {
						l := p.lines[li]
						if l.received == 0 {
							continue
						}
						doc++
						at := p.required.Add(10 * time.Hour)
						if at.After(g.now) {
							at = g.now.Add(-time.Hour)
						}
						if !yield(append(r[:0], sapClient, sapEBELN(p.i), fmt.Sprintf("%05d", 10*(li+1)), "00", "1", at.Format("2006"),
							fmt.Sprintf("%010d", 5000000000+doc), "0001", "E", "101", dats(at), l.received, round2(l.received*l.price),
							"USD", dats(at), tims(at))) {
							return
						}
					}
				}
			}),
	}
}

// sapPhaseDates returns when an order was released, technically completed
// and closed (zero when it was not).
func sapPhaseDates(w *workOrder) (rel, teco, clsd time.Time) {
	for _, h := range w.history {
		switch h.stage {
		case stApproved:
			rel = h.at
		case stComplete:
			teco = h.at
		case stClosed:
			clsd = h.at
		}
	}
	return rel, teco, clsd
}

type sapState struct {
	nextOrder int64
	nEquip    int64
	nPO       int64
	users     []string
	maxDoc    int64
}

func sapMutator(ctx context.Context, m *Mutator) ([]mutation, error) {
	e := m.db.execer()
	st := &sapState{}
	var err error
	if st.nextOrder, err = queryInt(ctx, e, sq(`select max(cast(AUFNR as bigint)) from AUFK`)); err != nil {
		return nil, err
	}
	st.nextOrder++
	if st.nEquip, err = queryInt(ctx, e, sq(`select count(*) from EQUI`)); err != nil {
		return nil, err
	}
	if st.nPO, err = queryInt(ctx, e, sq(`select count(*) from EKKO`)); err != nil {
		return nil, err
	}
	if st.maxDoc, err = queryInt(ctx, e, sq(`select max(cast(BELNR as bigint)) from EKBE`)); err != nil {
		return nil, err
	}
	if st.maxDoc == 0 {
		st.maxDoc = 5000000000
	}
	users, err := queryStrings(ctx, e, sq(`select distinct ERNAM from AUFK order by ERNAM limit 200`))
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		st.users = append(st.users, u[0])
	}
	if st.nEquip == 0 || len(st.users) == 0 {
		return nil, fmt.Errorf("no equipment or users to create orders with")
	}
	m.state = st
	return []mutation{
		{"advance order status", 40, sapAdvance},
		{"create order", 20, sapCreate},
		{"edit order", 15, sapEdit},
		{"flag order for deletion", 2, sapDeleteFlag},
		{"edit equipment", 8, sapEditEquip},
		{"goods receipt", 10, sapReceive},
	}, nil
}

func sapOrder(ctx context.Context, m *Mutator, tx execer) ([]string, error) {
	st := m.state.(*sapState)
	return row(ctx, tx, `select AUFNR, OBJNR, PHAS0, PHAS1, PHAS2, PHAS3, LOEKZ, KTEXT from AUFK where MANDT = ? and AUFNR = ?`,
		sapClient, fmt.Sprintf("%012d", 4000001+m.r.Int64N(st.nextOrder-4000001)))
}

// sapSetStatus activates stat on an order's object and deactivates old.
func sapSetStatus(ctx context.Context, tx execer, rec changeSet, objnr, old, stat string) error {
	if old != "" {
		if err := exec1(ctx, tx, `update JEST set INACT = ? where MANDT = ? and OBJNR = ? and STAT = ?`, "X", sapClient, objnr, old); err != nil {
			return fmt.Errorf("update JEST: %w", err)
		}
		rec.add("JEST", updated, key(sapClient, objnr, old))
	}
	n, err := queryInt(ctx, tx, sq(`select count(*) from JEST where MANDT = ? and OBJNR = ?`), sapClient, objnr)
	if err != nil {
		return err
	}
	if _, err := tx.exec(ctx, sq(`insert into JEST (MANDT, OBJNR, STAT, INACT, CHGNR) values (?, ?, ?, ?, ?)`),
		sapClient, objnr, stat, "", fmt.Sprintf("%03d", n+1)); err != nil {
		return fmt.Errorf("insert JEST: %w", err)
	}
	rec.add("JEST", inserted, key(sapClient, objnr, stat))
	return nil
}

func sapAdvance(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*sapState)
	o, err := sapOrder(ctx, m, tx)
	if err != nil || o == nil || o[6] == "X" || o[5] == "X" {
		return false, err
	}
	aufnr, objnr := o[0], o[1]
	now := m.now()
	today := dats(now)
	user := pick(m.r, st.users)
	var q, old, stat string
	switch {
	case o[2] == "X": // created -> released
		q, old, stat = `update AUFK set PHAS0 = ?, PHAS1 = ?, IDAT1 = ?, AEDAT = ?, AENAM = ? where MANDT = ? and AUFNR = ?`, "I0001", "I0002"
		if err := exec1(ctx, tx, q, "", "X", today, today, user, sapClient, aufnr); err != nil {
			return false, fmt.Errorf("update AUFK: %w", err)
		}
		if err := exec1(ctx, tx, `update AFKO set FTRMI = ? where MANDT = ? and AUFNR = ?`, today, sapClient, aufnr); err != nil {
			return false, fmt.Errorf("update AFKO: %w", err)
		}
		rec.add("AFKO", updated, key(sapClient, aufnr))
	case o[3] == "X": // released -> technically complete
		old, stat = "I0002", "I0045"
		if err := exec1(ctx, tx, `update AUFK set PHAS1 = ?, PHAS2 = ?, IDAT2 = ?, AEDAT = ?, AENAM = ? where MANDT = ? and AUFNR = ?`,
			"", "X", today, today, user, sapClient, aufnr); err != nil {
			return false, fmt.Errorf("update AUFK: %w", err)
		}
		if err := exec1(ctx, tx, `update AFKO set GETRI = ?, GEUZI = ? where MANDT = ? and AUFNR = ?`, today, tims(now), sapClient, aufnr); err != nil {
			return false, fmt.Errorf("update AFKO: %w", err)
		}
		rec.add("AFKO", updated, key(sapClient, aufnr))
	case o[4] == "X": // technically complete -> closed
		old, stat = "I0045", "I0046"
		if err := exec1(ctx, tx, `update AUFK set PHAS2 = ?, PHAS3 = ?, IDAT3 = ?, AEDAT = ?, AENAM = ? where MANDT = ? and AUFNR = ?`,
			"", "X", today, today, user, sapClient, aufnr); err != nil {
			return false, fmt.Errorf("update AUFK: %w", err)
		}
	default:
		return false, nil
	}
	rec.add("AUFK", updated, key(sapClient, aufnr))
	return true, sapSetStatus(ctx, tx, rec, objnr, old, stat)
}

func sapCreate(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*sapState)
	eq, err := row(ctx, tx, `select EQUI.EQUNR, EQKT.EQKTX, EQUI.EQART, EQUZ.IWERK, EQUZ.ILOAN from EQUI
		join EQKT on EQKT.MANDT = EQUI.MANDT and EQKT.EQUNR = EQUI.EQUNR
		join EQUZ on EQUZ.MANDT = EQUI.MANDT and EQUZ.EQUNR = EQUI.EQUNR
		where EQUI.MANDT = ? order by EQUI.EQUNR limit 1 offset ?`, sapClient, m.r.Int64N(st.nEquip))
	if err != nil || eq == nil {
		return false, err
	}
	t := eqTypeByClass(eq[2])
	d := fmt.Sprintf(pick(m.r, t.fixes), eq[1])
	d = strings.ToUpper(d[:1]) + d[1:]
	if len(d) > 40 {
		d = d[:40]
	}
	aufnr := fmt.Sprintf("%012d", st.nextOrder)
	st.nextOrder++
	now := m.now()
	today := dats(now)
	user := pick(m.r, st.users)
	objnr := "OR" + aufnr
	if _, err := tx.exec(ctx, sq(`insert into AUFK (MANDT, AUFNR, AUART, AUTYP, KTEXT, ERNAM, ERDAT, AENAM, AEDAT, BUKRS, WERKS, OBJNR,
		PHAS0, PHAS1, PHAS2, PHAS3, IDAT1, IDAT2, IDAT3, LOEKZ, WAERS) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		sapClient, aufnr, "PM01", "30", d, user, today, "", "00000000", "1000", eq[3], objnr, "X", "", "", "",
		"00000000", "00000000", "00000000", "", "USD"); err != nil {
		return false, fmt.Errorf("insert AUFK: %w", err)
	}
	start := now.AddDate(0, 0, 1)
	if _, err := tx.exec(ctx, sq(`insert into AFKO (MANDT, AUFNR, GSTRP, GLTRP, GSTRS, GSUZS, GLTRS, GLUZS, GSTRI, GSUZI, GETRI, GEUZI, FTRMI)
		values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), sapClient, aufnr, dats(start), dats(start.AddDate(0, 0, 7)), dats(start), "070000",
		dats(start), "150000", "00000000", "000000", "00000000", "000000", "00000000"); err != nil {
		return false, fmt.Errorf("insert AFKO: %w", err)
	}
	if _, err := tx.exec(ctx, sq(`insert into AFIH (MANDT, AUFNR, ARTPR, PRIOK, EQUNR, ILOAN, IPHAS, WARPL, INGPR, ILART, QMNUM)
		values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), sapClient, aufnr, "PM", fmt.Sprint(1+m.r.IntN(4)), eq[0], eq[4], "0", "", "M01", "COR", ""); err != nil {
		return false, fmt.Errorf("insert AFIH: %w", err)
	}
	for _, tb := range []string{"AUFK", "AFKO", "AFIH"} {
		rec.add(tb, inserted, key(sapClient, aufnr))
	}
	return true, sapSetStatus(ctx, tx, rec, objnr, "", "I0001")
}

func sapEdit(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*sapState)
	o, err := sapOrder(ctx, m, tx)
	if err != nil || o == nil || o[5] == "X" || o[6] == "X" {
		return false, err
	}
	now := m.now()
	if m.r.IntN(2) == 0 {
		// Rescheduling touches AFKO only, which has no change date: a date
		// watermark on AUFK does not see it, as in a real system.
		start := now.AddDate(0, 0, 2+m.r.IntN(10))
		old, err := row(ctx, tx, `select GSTRS, GLTRS from AFKO where MANDT = ? and AUFNR = ?`, sapClient, o[0])
		if err != nil || old == nil || (old[0] == dats(start) && old[1] == dats(start)) {
			return false, err
		}
		if err := exec1(ctx, tx, `update AFKO set GSTRS = ?, GLTRS = ? where MANDT = ? and AUFNR = ?`,
			dats(start), dats(start), sapClient, o[0]); err != nil {
			return false, fmt.Errorf("update AFKO: %w", err)
		}
		rec.add("AFKO", updated, key(sapClient, o[0]))
		return true, nil
	}
	text := o[7]
	suffix := pick(m.r, []string{" - LOTO", " - scaffold", " - urgent", " - spares ok"})
	if len(text)+len(suffix) > 40 {
		text = text[:40-len(suffix)]
	}
	if err := exec1(ctx, tx, `update AUFK set KTEXT = ?, AEDAT = ?, AENAM = ? where MANDT = ? and AUFNR = ?`,
		text+suffix, dats(now), pick(m.r, st.users), sapClient, o[0]); err != nil {
		return false, fmt.Errorf("update AUFK: %w", err)
	}
	rec.add("AUFK", updated, key(sapClient, o[0]))
	return true, nil
}

func sapDeleteFlag(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*sapState)
	o, err := sapOrder(ctx, m, tx)
	if err != nil || o == nil || o[2] != "X" || o[6] == "X" {
		return false, err
	}
	now := m.now()
	if err := exec1(ctx, tx, `update AUFK set LOEKZ = ?, AEDAT = ?, AENAM = ? where MANDT = ? and AUFNR = ?`,
		"X", dats(now), pick(m.r, st.users), sapClient, o[0]); err != nil {
		return false, fmt.Errorf("update AUFK: %w", err)
	}
	rec.add("AUFK", updated, key(sapClient, o[0]))
	return true, sapSetStatus(ctx, tx, rec, o[1], "", "I0076")
}

func sapEditEquip(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*sapState)
	eq, err := row(ctx, tx, `select EQUNR, SERGE from EQUI where MANDT = ? order by EQUNR limit 1 offset ?`, sapClient, m.r.Int64N(st.nEquip))
	if err != nil || eq == nil {
		return false, err
	}
	now := m.now()
	serial := fmt.Sprintf("%s-R%d", strings.SplitN(eq[1], "-", 2)[0], 1+m.r.IntN(9))
	if serial == eq[1] {
		serial += "A"
	}
	if err := exec1(ctx, tx, `update EQUI set SERGE = ?, AEDAT = ?, AENAM = ? where MANDT = ? and EQUNR = ?`,
		serial, dats(now), pick(m.r, st.users), sapClient, eq[0]); err != nil {
		return false, fmt.Errorf("update EQUI: %w", err)
	}
	rec.add("EQUI", updated, key(sapClient, eq[0]))
	return true, nil
}

// sapReceive posts a goods receipt (movement type 101) for an open PO item:
// a history row in EKBE, the delivery-completed flag on EKPO, and the stock.
func sapReceive(ctx context.Context, m *Mutator, tx execer, rec changeSet) (bool, error) {
	st := m.state.(*sapState)
	ebeln := sapEBELN(int(m.r.Int64N(max(st.nPO, 1))))
	it, err := row(ctx, tx, `select EBELP, MENGE, NETPR, MATNR, WERKS, LGORT from EKPO where MANDT = ? and EBELN = ? and ELIKZ = ? and LOEKZ = ?
		order by EBELP limit 1`, sapClient, ebeln, "", "")
	if err != nil || it == nil {
		return false, err
	}
	got, err := row(ctx, tx, `select coalesce(sum(MENGE), 0) from EKBE where MANDT = ? and EBELN = ? and EBELP = ?`, sapClient, ebeln, it[0])
	if err != nil {
		return false, err
	}
	qty := atof(it[1]) - atof(got[0])
	now := m.now()
	today := dats(now)
	if err := exec1(ctx, tx, `update EKPO set ELIKZ = ?, AEDAT = ? where MANDT = ? and EBELN = ? and EBELP = ?`, "X", today, sapClient, ebeln, it[0]); err != nil {
		return false, fmt.Errorf("update EKPO: %w", err)
	}
	rec.add("EKPO", updated, key(sapClient, ebeln, it[0]))
	if qty <= 0 {
		return true, nil
	}
	st.maxDoc++
	belnr := fmt.Sprintf("%010d", st.maxDoc)
	if _, err := tx.exec(ctx, sq(`insert into EKBE (MANDT, EBELN, EBELP, ZEKKN, VGABE, GJAHR, BELNR, BUZEI, BEWTP, BWART, BUDAT, MENGE,
		DMBTR, WAERS, CPUDT, CPUTM) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), sapClient, ebeln, it[0], "00", "1",
		now.Format("2006"), belnr, "0001", "E", "101", today, qty, round2(qty*atof(it[2])), "USD", today, tims(now)); err != nil {
		return false, fmt.Errorf("insert EKBE: %w", err)
	}
	rec.add("EKBE", inserted, key(sapClient, ebeln, it[0], "00", "1", now.Format("2006"), belnr, "0001"))
	n, err := tx.exec(ctx, sq(`update MARD set LABST = LABST + ? where MANDT = ? and MATNR = ? and WERKS = ? and LGORT = ?`),
		qty, sapClient, it[3], it[4], it[5])
	if err != nil {
		return false, fmt.Errorf("update MARD: %w", err)
	}
	if n == 1 {
		rec.add("MARD", updated, key(sapClient, it[3], it[4], it[5]))
	}
	return true, nil
}
