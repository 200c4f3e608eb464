package connectors

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/plantbridge/plantbridge/connectors/dialect"
	"github.com/plantbridge/plantbridge/connectors/model"
)

// mapper turns converted row values into records for one read.
type mapper struct {
	c  *SQLConnector
	pl *plan
	// syn holds, per enum field with synonyms, site code → internal code,
	// loaded at the start of the read so that synonym changes apply without
	// a restart.
	syn map[string]map[string]string
	// rid is the remote id of the record being mapped; pending holds the
	// invalid dates of its row and bad counts those of the read, for the
	// warnings about them.
	rid     string
	pending []badValue
	bad     int
	// conv converts the values of the rows this mapper maps.
	conv *dialect.Converter
	// refs caches the ids of referenced records: a page refers to the same
	// assets, locations and people over and over, and each id is a hash.
	refs map[refKey]any
}

// refKey names a referenced record by its model and key parts, so that a
// cache hit needs no joined key; keys of more than three parts are joined
// into p0. n, the number of parts, keeps keys of different lengths apart.
type refKey struct {
	model      string
	n          int
	p0, p1, p2 string
}

// maxRefs bounds the reference cache so that memory stays flat however
// many distinct records a read refers to.
const maxRefs = 1 << 14

func (c *SQLConnector) newMapper(ctx context.Context, pl *plan) (*mapper, error) {
	m := &mapper{c: c, pl: pl, conv: dialect.NewConverter(c.loc), refs: map[refKey]any{}}
	for _, f := range pl.fields {
		if f.synonyms == nil {
			continue
		}
		syn, err := c.loadSynonyms(ctx, f)
		if err != nil {
			return nil, err
		}
		if syn != nil {
			if m.syn == nil {
				m.syn = map[string]map[string]string{}
			}
			m.syn[f.name] = syn
		}
	}
	return m, nil
}

// value converts a driver value of col, trimming the padding of a
// fixed-width column.
func (m *mapper) value(col *dialect.Column, v any) (any, error) {
	cv, err := m.conv.Value(col.Kind, v)
	if err != nil || !col.Padded {
		return cv, err
	}
	return dialect.TrimPadding(cv), nil
}

// loadSynonyms reads a synonym domain when its table exists. A site code
// that maps to several internal codes (different organizations) keeps the
// first one read.
func (c *SQLConnector) loadSynonyms(ctx context.Context, f *fieldPlan) (map[string]string, error) {
	c.mu.Lock()
	s := c.schema
	c.mu.Unlock()
	t := s.Table(f.synonyms.Table)
	if t == nil {
		return nil, nil
	}
	colName := func(n, def string) *dialect.Column {
		if n == "" {
			n = def
		}
		return t.Column(n)
	}
	dc := colName(f.synonyms.DomainColumn, "DOMAINID")
	ic := colName(f.synonyms.InternalColumn, "MAXVALUE")
	vc := colName(f.synonyms.ValueColumn, "VALUE")
	if dc == nil || ic == nil || vc == nil {
		c.log.Warn("synonym table lacks columns; mapping fixed values only", "table", t.Name)
		return nil, nil
	}
	q := dialect.Select{Table: t.Name, Alias: "t",
		Columns: []dialect.Col{{Alias: "t", Name: vc.Name}, {Alias: "t", Name: ic.Name}},
		Filters: []dialect.Filter{{Col: dialect.Col{Alias: "t", Name: dc.Name}, Op: dialect.OpIn, Values: []any{f.synonyms.Domain}}},
		OrderBy: []dialect.Col{{Alias: "t", Name: vc.Name}, {Alias: "t", Name: ic.Name}}}
	sqlText, args, err := c.d.BuildSelect(q)
	if err != nil {
		return nil, err
	}
	rows, err := c.db.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return nil, wrap("read synonyms", t.Name, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var v, iv any
		if err := rows.Scan(&v, &iv); err != nil {
			return nil, err
		}
		vs, is := strings.TrimRight(text(v), " "), strings.TrimRight(text(iv), " ")
		if _, dup := out[vs]; !dup && vs != "" {
			out[vs] = is
		}
	}
	return out, rows.Err()
}

// record maps one row; it returns the record and its estimated encoded size.
func (m *mapper) record(conv []any) (model.Record, int) {
	pl := m.pl
	rid := m.remoteID(conv)
	m.rid = rid
	m.flushInvalid()
	rec := model.Record{
		ID:       model.RecordID(m.c.cfg.ConnectionID, pl.name, rid),
		RemoteID: rid,
		Model:    pl.name,
		Fields:   make(map[string]any, len(pl.fields)+pl.enumFields+len(pl.children)),
	}
	size := 200 + len(rec.ID) + len(rid)
	// One allocation for both times.
	var times *[2]time.Time
	if pl.created >= 0 {
		if t, ok := conv[pl.created].(time.Time); ok {
			times = new([2]time.Time)
			times[0] = t
			rec.RemoteCreatedAt = &times[0]
		}
	}
	if pl.updated >= 0 {
		if t, ok := conv[pl.updated].(time.Time); ok {
			if times == nil {
				times = new([2]time.Time)
			}
			times[1] = t
			rec.RemoteUpdatedAt = &times[1]
		}
	}
	size += 2
	for _, f := range pl.fields {
		size += m.field(rec.Fields, f, conv)
	}
	if len(pl.customF) > 0 {
		rec.CustomFields = make(map[string]any, len(pl.customF))
		size += 2
		for _, f := range pl.customF {
			size += m.field(rec.CustomFields, f, conv)
		}
	}
	rd := make(map[string]any, pl.nBase)
	for i, v := range conv[:pl.nBase] {
		name := pl.cols[i].Name
		rd[name] = v
		size += len(name) + 4 + estimateSize(v)
	}
	rec.RemoteData = rd
	return rec, size
}

// remoteID joins the key columns of a row.
func (m *mapper) remoteID(conv []any) string {
	key := m.pl.key
	if len(key) == 1 {
		if s := text(conv[key[0]]); !strings.ContainsAny(s, "/%") {
			return s
		}
	}
	var buf [4]string
	parts := buf[:0]
	for _, k := range key {
		parts = append(parts, text(conv[k]))
	}
	return model.JoinKey(parts)
}

// field computes one field into out and returns the estimated encoded
// size of what it wrote, so that a record is sized without walking its map
// again.
func (m *mapper) field(out map[string]any, f *fieldPlan, conv []any) int {
	var v any
	switch f.kind {
	case srcColumn:
		v = conv[f.idx[0]]
		if f.timeOfDay != nil {
			v = m.withTimeOfDay(f, v, conv[f.timeOfDay.idx])
		}
	case srcCoalesce:
		for _, i := range f.idx {
			if x := conv[i]; x != nil && text(x) != "" {
				v = x
				break
			}
		}
	case srcConcat:
		var parts []string
		for _, i := range f.idx {
			if s := strings.TrimSpace(text(conv[i])); s != "" {
				parts = append(parts, s)
			}
		}
		if len(parts) > 0 {
			v = strings.Join(parts, f.sep)
		}
	case srcConst:
		v = f.constant
	case srcRef:
		id := m.ref(f.refModel, f.idx, conv)
		out[f.name] = id
		return len(f.name) + 4 + estimateSize(id)
	case srcRefList:
		ids := make([]string, 0, len(f.items))
		for _, it := range f.items {
			if id := m.ref(f.refModel, it, conv); id != nil {
				ids = append(ids, id.(string))
			}
		}
		out[f.name] = ids
		return len(f.name) + 4 + estimateSize(ids)
	case srcStatusSet, srcRelatedList:
		return 0 // filled, and sized, per page by fillRelated
	}
	if f.typ == model.Enum {
		u, native := m.enumValues(f, v)
		if u == nil && f.mapBy >= 0 && f.kind != srcConst && conv[f.mapBy] != nil {
			if x, ok := f.mapByVals[text(conv[f.mapBy])]; ok {
				u = x
			}
		}
		out[f.name] = u
		out[f.remote] = native
		return len(f.name) + len(f.remote) + 8 + estimateSize(u) + estimateSize(native)
	}
	x := coerce(f, v)
	out[f.name] = x
	return len(f.name) + 4 + estimateSize(x)
}

func (m *mapper) ref(refModel string, idx []int, conv []any) any {
	var buf [4]string
	parts := buf[:0]
	for _, k := range idx {
		s := text(conv[k])
		if s == "" || s[0] == ' ' && strings.TrimSpace(s) == "" {
			// Blank is no reference: SAP keeps an empty character field
			// as a blank, not as NULL.
			return nil
		}
		parts = append(parts, s)
	}
	rk := refKey{model: refModel, n: len(parts)}
	switch len(parts) {
	case 3:
		rk.p2 = parts[2]
		fallthrough
	case 2:
		rk.p1 = parts[1]
		fallthrough
	case 1:
		rk.p0 = parts[0]
	default:
		rk.p0 = model.JoinKey(parts)
	}
	if id, ok := m.refs[rk]; ok {
		return id
	}
	var id any = model.RecordID(m.c.cfg.ConnectionID, refModel, model.JoinKey(parts))
	if len(m.refs) >= maxRefs {
		clear(m.refs)
	}
	m.refs[rk] = id
	return id
}

// enum sets the normalized value of an enum and its remote_ sibling.
func (m *mapper) enum(out map[string]any, f *fieldPlan, v any) {
	out[f.name], out[f.remote] = m.enumValues(f, v)
}

// enumValues returns the normalized value of an enum and its remote_
// sibling, the native code. The native code is translated through the
// synonym domain first, so a site's own code for an internal status maps
// like the internal one.
func (m *mapper) enumValues(f *fieldPlan, v any) (unified, native any) {
	if f.kind == srcConst || v == nil {
		return v, nil
	}
	code, ok := v.(string)
	switch {
	case ok && (code == "" || code[len(code)-1] != ' '):
		// Kept as the interface value it came in, which is not boxed again.
		native = v
	case ok:
		// Trailing blanks are no part of a code (SAP's empty field is one
		// blank even in a VARCHAR column).
		code = strings.TrimRight(code, " ")
		native = code
	default:
		code = text(v)
		native = code
	}
	internal := code
	if syn := m.syn[f.name]; syn != nil {
		if iv, ok := syn[code]; ok {
			internal = iv
		}
	}
	return f.unified[internal], native
}

// text renders a converted value as the string a native code or key part
// is compared with.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

// coerce converts a value to the field's type; a value that does not fit
// becomes null rather than failing the whole read. A value that already has
// the type is returned as the interface value it came in, which costs no
// allocation.
func coerce(f *fieldPlan, v any) any {
	if v == nil {
		if f.typ == model.Bool && f.trueValues != nil {
			// A flag whose true codes are listed: NULL is none of them, as
			// an Infor EAM check box left NULL is unchecked ('-').
			return f.inverted
		}
		return nil
	}
	switch f.typ {
	case model.String:
		if _, ok := v.(string); ok {
			return v
		}
		return text(v)
	case model.Int:
		switch x := v.(type) {
		case int64:
			return v
		case uint64:
			return int64(x)
		case float64:
			return int64(x)
		case bool:
			if x {
				return int64(1)
			}
			return int64(0)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(text(v)), 10, 64)
		if err != nil {
			if d, err := strconv.ParseFloat(strings.TrimSpace(text(v)), 64); err == nil {
				return int64(d)
			}
			return nil
		}
		return n
	case model.Decimal:
		s, ok := v.(string)
		if !ok {
			s = text(v)
		}
		if f.scale != 0 {
			d, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil
			}
			return strconv.FormatFloat(d/f.scale, 'f', -1, 64)
		}
		if ok {
			return v
		}
		return s
	case model.Bool:
		var b bool
		if f.trueValues != nil {
			b = f.trueValues[text(v)]
		} else {
			switch x := v.(type) {
			case bool:
				b = x
			case int64:
				b = x != 0
			case float64:
				b = x != 0
			default:
				switch strings.ToUpper(strings.TrimSpace(text(v))) {
				case "1", "Y", "YES", "TRUE", "T":
					b = true
				}
			}
		}
		if f.inverted {
			b = !b
		}
		return b
	case model.Time:
		if _, ok := v.(time.Time); ok {
			return v
		}
		return nil
	}
	return v
}
