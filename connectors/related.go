package connectors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/connectors/model"
	"github.com/plantbridge/plantbridge/connectors/profiles"
)

// Fields computed from the rows of another table: a status_set (SAP JEST:
// one row per status of an object) or a ref_list whose items come from a
// table (SAP MPOS: the items of a maintenance plan). A join would repeat
// the record once per row, so these rows are read per page, like lines.

// Source kinds of fields filled from related rows.
const (
	srcStatusSet sourceKind = 100 + iota
	srcRelatedList
)

// relatedPlan reads the rows of another table that belong to the records
// of a page and computes one field from them.
type relatedPlan struct {
	field   *fieldPlan
	table   *dialect.Table
	parent  []int         // select indexes of the record's match columns
	match   []dialect.Col // the related table's match columns, alias c
	cols    []dialect.Col // match columns first, then the value columns
	meta    []*dialect.Column
	filters []dialect.Filter
	order   []dialect.Col

	// Status sets: indexes into cols of the code and inactive columns
	// (-1 without one), and each listed code's rank, 0 winning.
	code, inactive int
	inactiveValue  string
	rank           map[string]int

	// Ref lists: per item, indexes into cols of the key columns.
	items [][]int
}

// compileRelated compiles a status_set or a ref_list with from.
func compileRelated(r *resolver, fp *fieldPlan, f *profiles.Field) error {
	if r.s == nil {
		return fmt.Errorf("status_set and from are not supported in lines")
	}
	rel := f.From
	if f.StatusSet != nil {
		rel = &f.StatusSet.Related
	}
	t := r.s.Table(rel.Table)
	if t == nil {
		return fmt.Errorf("table %q does not exist", rel.Table)
	}
	rp := &relatedPlan{field: fp, table: t, code: -1, inactive: -1}
	add := func(name string) (int, error) {
		col := t.Column(name)
		if col == nil {
			return -1, fmt.Errorf("column %q does not exist in table %s", name, t.Name)
		}
		for i := len(rp.match); i < len(rp.cols); i++ {
			if rp.cols[i].Name == col.Name {
				return i, nil
			}
		}
		rp.cols = append(rp.cols, dialect.Col{Alias: "c", Name: col.Name})
		rp.meta = append(rp.meta, col)
		return len(rp.cols) - 1, nil
	}
	for _, pc := range profiles.SortedKeys(rel.Match) {
		pi, err := r.col(pc)
		if err != nil {
			return err // errDropped too: the field goes with its optional join
		}
		col := t.Column(rel.Match[pc])
		if col == nil {
			return fmt.Errorf("column %q does not exist in table %s", rel.Match[pc], t.Name)
		}
		rp.parent = append(rp.parent, pi)
		rp.match = append(rp.match, dialect.Col{Alias: "c", Name: col.Name})
		rp.cols = append(rp.cols, rp.match[len(rp.match)-1])
		rp.meta = append(rp.meta, col)
	}
	for i, w := range rel.Where {
		col := t.Column(w.Column)
		if col == nil {
			return fmt.Errorf("where[%d]: column %q does not exist in table %s", i, w.Column, t.Name)
		}
		rp.filters = append(rp.filters, makeFilter(dialect.Col{Alias: "c", Name: col.Name}, w))
	}
	rp.order = append(rp.order, rp.match...)
	if ss := f.StatusSet; ss != nil {
		fp.kind = srcStatusSet
		var err error
		if rp.code, err = add(ss.CodeColumn); err != nil {
			return fmt.Errorf("code_column: %w", err)
		}
		if ss.Inactive != nil {
			if rp.inactive, err = add(ss.Inactive.Column); err != nil {
				return fmt.Errorf("inactive: %w", err)
			}
			rp.inactiveValue = strings.TrimSpace(ss.Inactive.Value)
		}
		rp.rank = make(map[string]int, len(ss.Precedence))
		codes := make([]any, len(ss.Precedence))
		for i, code := range ss.Precedence {
			rp.rank[code] = i
			codes[i] = code
		}
		// Only the listed codes can win; an object carries many others
		// (SAP: user statuses, CNF, PRC …), so leave them in the database.
		rp.filters = append(rp.filters, dialect.Filter{Col: rp.cols[rp.code], Op: dialect.OpIn, Values: codes})
		rp.order = append(rp.order, rp.cols[rp.code])
	} else {
		fp.kind = srcRelatedList
		fp.refModel = f.RefList
		for _, it := range f.Items {
			var ix []int
			for _, name := range it {
				i, err := add(name)
				if err != nil {
					return fmt.Errorf("items: %w", err)
				}
				ix = append(ix, i)
				rp.order = append(rp.order, rp.cols[i])
			}
			rp.items = append(rp.items, ix)
		}
	}
	fp.rel = rp
	return nil
}

// relatedKeys returns, for one row, the match values of each related plan.
func relatedKeys(pl *plan, conv []any) [][]any {
	out := make([][]any, len(pl.related))
	for i, rp := range pl.related {
		vals := make([]any, len(rp.parent))
		for j, pi := range rp.parent {
			vals[j] = conv[pi]
		}
		out[i] = vals
	}
	return out
}

// fillRelated computes the related fields of a page's records; keys holds
// each record's relatedKeys. Records are looked up in chunks, as lines are.
func (c *SQLConnector) fillRelated(ctx context.Context, pl *plan, m *mapper, p *page, keys [][][]any) error {
	for ri, rp := range pl.related {
		var rows [][]any
		idx := map[string]bool{}
		for r := range p.recs {
			vals := keys[r][ri]
			k := tupleKey(vals)
			if idx[k] {
				continue
			}
			idx[k] = true
			row := make([]any, len(vals))
			for i, v := range vals {
				row[i] = c.bind(rp.meta[i], v)
			}
			rows = append(rows, row)
		}
		got := map[string]*relatedValue{}
		chunk := 900 / max(1, len(rp.match))
		for s := 0; s < len(rows); s += chunk {
			e := min(s+chunk, len(rows))
			q := dialect.Select{Table: rp.table.Name, Alias: "c", Columns: rp.cols, Filters: rp.filters,
				KeysIn: &dialect.KeysIn{Cols: rp.match, Rows: rows[s:e]}, OrderBy: rp.order}
			if err := c.scanRelated(ctx, rp, m, q, got); err != nil {
				return fmt.Errorf("read %s: %w", rp.table.Name, err)
			}
		}
		f := rp.field
		for r := range p.recs {
			v := got[tupleKey(keys[r][ri])]
			fields := p.recs[r].Fields
			switch f.kind {
			case srcStatusSet:
				var code any
				if v != nil {
					code = v.code
				}
				if f.typ == model.Enum {
					m.enum(fields, f, code)
					p.size[r] += relatedSizeOf(model.RemoteSibling(f.name), fields[model.RemoteSibling(f.name)])
				} else {
					fields[f.name] = coerce(f, code)
				}
			default:
				ids := []string{}
				if v != nil {
					ids = v.ids
				}
				fields[f.name] = ids
			}
			p.size[r] += relatedSizeOf(f.name, fields[f.name])
		}
	}
	if pl.strategy == profiles.RowHash {
		// A status that changed in its own table changes the record.
		for r := range p.recs {
			p.hash[r] = relatedHash(p.hash[r], pl, p.recs[r])
		}
	}
	return nil
}

// relatedHash folds a record's related fields into its row hash.
func relatedHash(h string, pl *plan, rec model.Record) string {
	s := sha256.New()
	s.Write([]byte(h))
	var buf []byte
	for _, rp := range pl.related {
		for _, name := range []string{rp.field.name, model.RemoteSibling(rp.field.name)} {
			buf = append(buf[:0], name...)
			buf = append(buf, 0)
			switch v := rec.Fields[name].(type) {
			case []string:
				for _, id := range v {
					buf = appendValue(buf, id)
					buf = append(buf, 2)
				}
			default:
				buf = appendValue(buf, v)
			}
			buf = append(buf, 1)
			s.Write(buf)
		}
	}
	return hex.EncodeToString(s.Sum(nil)[:16])
}

// relatedValue is what the rows of one record give: the winning code so
// far, or the referenced ids.
type relatedValue struct {
	code string
	rank int
	ids  []string
	seen map[string]bool
}

func (c *SQLConnector) scanRelated(ctx context.Context, rp *relatedPlan, m *mapper, q dialect.Select, got map[string]*relatedValue) error {
	sqlText, args, err := c.d.BuildSelect(q)
	if err != nil {
		return err
	}
	convert := func(col *dialect.Column, v any) (any, error) { return m.value(col, v) }
	return c.queryEach(ctx, sqlText, args, rp.meta, convert, func(conv []any) error {
		k := tupleKey(conv[:len(rp.match)])
		v := got[k]
		if rp.code >= 0 {
			// CHAR columns may come back padded; codes compare trimmed.
			if rp.inactive >= 0 && strings.TrimSpace(text(conv[rp.inactive])) == rp.inactiveValue {
				return nil
			}
			code := strings.TrimSpace(text(conv[rp.code]))
			rank, ok := rp.rank[code]
			if !ok || v != nil && v.rank <= rank {
				return nil
			}
			if v == nil {
				v = &relatedValue{}
				got[k] = v
			}
			v.code, v.rank = code, rank
			return nil
		}
		if v == nil {
			v = &relatedValue{ids: []string{}, seen: map[string]bool{}}
			got[k] = v
		}
		for _, it := range rp.items {
			id := m.ref(rp.field.refModel, it, conv)
			if id == nil || v.seen[id.(string)] {
				continue
			}
			v.seen[id.(string)] = true
			v.ids = append(v.ids, id.(string))
		}
		return nil
	})
}

// relatedSizeOf estimates the encoded size of a field filled after mapping.
func relatedSizeOf(name string, v any) int { return len(name) + 4 + estimateSize(v) }
