package connectors

import (
	"errors"
	"fmt"
	"time"

	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/connectors/profiles"
)

// This file holds what date-only change columns and SAP's text dates need:
// the date_overlap window over one or more columns, DATS positions, the
// time of day kept in a column of its own, and the logging of dates that
// are not dates.

// compileAlso resolves date_overlap's further change columns: base-table
// columns of the same kind as the watermark column.
func compileAlso(r *resolver, probs *profiles.Problems, path string, cols []string) []int {
	var out []int
	wm := r.pl.meta[r.pl.wm]
	for i, name := range cols {
		idx, err := r.col(name)
		if err == nil && idx >= r.pl.nBase {
			err = fmt.Errorf("change columns must be base-table columns")
		}
		if err != nil {
			probs.Add(fmt.Sprintf("%s[%d]", path, i), "%v", err)
			continue
		}
		r.asTime(idx)
		if k := r.pl.meta[idx].Kind; k != wm.Kind {
			probs.Add(fmt.Sprintf("%s[%d]", path, i), "%s is %s, the watermark column %s is %s", r.pl.meta[idx].Name, k, wm.Name, wm.Kind)
			continue
		}
		out = append(out, idx)
	}
	return out
}

// overlapFrom returns the lower bound of a date_overlap read from the
// stored position value, in bindable form, or ok=false to read everything
// (a DATS position that is no date).
func (c *SQLConnector) overlapFrom(pl *plan, wm any) (any, bool) {
	col := pl.meta[pl.wm]
	switch v := wm.(type) {
	case time.Time:
		return c.bind(col, v.Add(-pl.overlap)), true
	case string:
		d, ok, err := dialect.ParseDats(v)
		if !ok || err != nil {
			return nil, false
		}
		// Whole days: an overlap of 36h re-reads two days, never less.
		return d.Add(-pl.overlap).Format(dialect.DatsLayout), true
	}
	return nil, false
}

// applyOverlap limits q to rows changed at or after from in the watermark
// column or, with also columns, in any of them.
func (c *SQLConnector) applyOverlap(pl *plan, q *dialect.Select, from any) {
	if len(pl.also) == 0 {
		q.After = &dialect.Keyset{Cols: []dialect.Col{pl.cols[pl.wm]}, Values: []any{from}, Inclusive: true}
		return
	}
	changed := dialect.Filter{Op: dialect.OpAny}
	for _, i := range append([]int{pl.wm}, pl.also...) {
		changed.Any = append(changed.Any, dialect.Filter{Col: pl.cols[i], Op: dialect.OpGE, Values: []any{from}})
	}
	q.Filters = append(q.Filters, changed)
}

// overlapMark computes the watermarks of a date_overlap read. Rows come
// ordered by the watermark column, so after any batch every row still
// unread has a value at least that of the batch's last row: that value,
// never less than the stored one, is safe to store. Values of the also
// columns do not follow the order (a new SAP order has an empty AEDAT and
// today's ERDAT), so they count only at the end of the read, when every row
// of the window has been emitted.
type overlapMark struct {
	c      *SQLConnector
	pl     *plan
	stored any // the position value the read started from
	seen   any // the largest change date read so far, in any change column
	unsent int // records of the last fetched page not yet in a batch
}

// page notes a fetched page.
func (o *overlapMark) page(p *page) {
	if o.pl.strategy != profiles.DateOverlap {
		return
	}
	o.unsent = len(p.recs)
	for i := range p.recs {
		for _, idx := range append([]int{o.pl.wm}, o.pl.also...) {
			o.seen = o.c.wmMax(o.pl, o.seen, o.c.alsoValue(o.pl, idx, p.recs[i].RemoteData[o.pl.cols[idx].Name]))
		}
	}
}

// position returns the position to store with batch b, whose last record
// is at lastPos; lastPage says whether the page is the read's last.
func (o *overlapMark) position(b *Batch, lastPos position, lastPage bool) position {
	o.unsent -= len(b.Records)
	v := o.c.wmMax(o.pl, o.stored, lastPos.wm)
	if lastPage && o.unsent <= 0 {
		v = o.c.wmMax(o.pl, v, o.seen)
	}
	o.stored = v
	// The key is of no use to date_overlap, which always re-reads the window.
	return position{wm: v}
}

// full returns the watermark to store at the end of a full re-sync that
// started when the largest change date was top: the larger of top and the
// dates read, so that a largest value that is no date (and so not top) does
// not hold the watermark back; fallback when there is neither.
func (o *overlapMark) full(top any, fallback string) string {
	v := o.c.wmMax(o.pl, top, o.seen)
	if v == nil {
		return fallback
	}
	return o.c.encodeWatermark(o.pl, position{wm: v})
}

// alsoValue turns the converted value of an also column back into position
// form: DATS text, or the wall-clock time.
func (c *SQLConnector) alsoValue(pl *plan, idx int, v any) any {
	t, ok := v.(time.Time)
	if !ok {
		return nil
	}
	wall := dialect.UTCToLocal(t, c.loc)
	if pl.meta[idx].Kind == dialect.KindDats {
		return wall.Format(dialect.DatsLayout)
	}
	return wall
}

// wmMax returns the later of two position values. A DATS value that is no
// date never wins: stored as a watermark it would make every later read a
// full one, or skip rows.
func (c *SQLConnector) wmMax(pl *plan, a, b any) any {
	valid := func(v any) bool {
		switch x := v.(type) {
		case time.Time:
			return true
		case string:
			_, ok, err := dialect.ParseDats(x)
			return ok && err == nil
		}
		return false
	}
	switch {
	case !valid(b):
		return a
	case !valid(a):
		return b
	}
	switch x := a.(type) {
	case time.Time:
		if y, ok := b.(time.Time); ok && y.After(x) {
			return y
		}
	case string:
		if y, ok := b.(string); ok && y > x {
			return y
		}
	}
	return a
}

// datsPosition is the position form of a DATS column: its text, which
// compares and binds like the column.
func datsPosition(raw any) any {
	switch x := raw.(type) {
	case nil:
		return nil
	case string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(raw)
}

// timeOfDay is a column holding the time of day of a time field.
type timeOfDay struct {
	idx    int // select index
	column string
}

// compileTimeOfDay adds a time_column to a time field mapped to a column.
func compileTimeOfDay(r *resolver, fp *fieldPlan, column string) error {
	if fp.kind != srcColumn {
		return fmt.Errorf("time_column needs a date column")
	}
	i, err := r.col(column)
	if err != nil {
		return fmt.Errorf("time_column: %w", err)
	}
	fp.timeOfDay = &timeOfDay{idx: i, column: r.pl.meta[i].Name}
	// A date and a separate time are not one writable column.
	fp.writeCols = nil
	return nil
}

// withTimeOfDay adds the time of day in tod (TIMS text) to the date d (an
// instant of local midnight, as date columns convert). A blank time keeps
// the date; a time that is no time of day gives null and a warning.
func (m *mapper) withTimeOfDay(f *fieldPlan, d any, tod any) any {
	t, ok := d.(time.Time)
	if !ok {
		return d
	}
	off, ok, err := dialect.ParseTims(text(tod))
	if err != nil {
		m.warnInvalid(f.timeOfDay.column, tod, err)
		return nil
	}
	if !ok {
		return t
	}
	// Back to the wall-clock date: local midnight may not exist (a DST
	// change at midnight), but its date survives the round trip.
	wall := dialect.UTCToLocal(t, m.c.loc)
	y, mo, day := wall.Date()
	return dialect.LocalToUTC(time.Date(y, mo, day, 0, 0, 0, 0, time.UTC).Add(off), m.c.loc)
}

// maxInvalidLogged bounds the warnings about invalid dates per read: a
// table full of them should not flood the log.
const maxInvalidLogged = 20

// badValue is an invalid date met while converting a row, logged once the
// row's remote id is known.
type badValue struct {
	column string
	raw    any
	err    error
}

// invalid handles a conversion error of column: an invalid date becomes
// null and is logged with the record; anything else stays an error.
func (m *mapper) invalid(column string, raw any, err error) (any, error) {
	if !errors.Is(err, dialect.ErrInvalidDate) {
		return nil, err
	}
	m.pending = append(m.pending, badValue{column: column, raw: raw, err: err})
	return nil, nil
}

// flushInvalid logs the invalid values of the row just mapped.
func (m *mapper) flushInvalid() {
	for _, b := range m.pending {
		m.warnInvalid(b.column, b.raw, b.err)
	}
	m.pending = m.pending[:0]
}

func (m *mapper) warnInvalid(column string, raw any, err error) {
	m.bad++
	switch {
	case m.bad <= maxInvalidLogged:
		m.c.log.Warn("invalid date read as null", "model", m.pl.name, "remote_id", m.rid, "column", column, "value", fmt.Sprint(raw), "err", err)
	case m.bad == maxInvalidLogged+1:
		m.c.log.Warn("more invalid dates read as null; not logging each", "model", m.pl.name)
	}
}
